"""Episode reports and influence maps as PNG files (``marl-vvc plot``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from marl_vvc.tools.baselines import hold_actions, random_actions


def record_episode(
    system: str = "13Bus",
    *,
    policy: str = "random",
    profile: int | None = None,
    seed: int = 0,
    **env_kwargs: Any,
) -> dict[str, Any]:
    """Run one episode of the parallel env and keep what the report draws.

    Returns:
        Arrays over steps: ``vmin``, ``vmax``, ``vq`` (5/50/95 % node-voltage quantiles),
        ``caps``, ``taps``, ``battery_kw``, ``loss``, ``voltage``, ``control``, ``reward`` and
        ``agent_rewards`` (steps × agents), plus ``agents``, ``limits`` and ``system``.
    """
    import marl_vvc

    env = marl_vvc.parallel_env(system, **env_kwargs)
    core = env.core
    rng = np.random.default_rng(seed)
    options = None if profile is None else {"profile": profile}
    env.reset(seed=seed, options=options)
    rows: dict[str, list[Any]] = {
        k: []
        for k in (
            "vmin",
            "vmax",
            "vq",
            "caps",
            "taps",
            "battery_kw",
            "loss",
            "voltage",
            "control",
            "reward",
            "agent_rewards",
        )
    }

    def snap() -> None:
        v = core.snapshot.v
        rows["vmin"].append(v.min())
        rows["vmax"].append(v.max())
        rows["vq"].append(np.quantile(v, [0.05, 0.5, 0.95]))
        rows["caps"].append(core.cap_status)
        rows["taps"].append(core.tap_index)
        rows["battery_kw"].append(-core.snapshot.battery_kw)

    snap()
    while env.agents:
        if policy == "dss":
            out = core.step_controllers()
            shares = env.splitter(out.terms, out.device_costs, out.violation)
            if core.t >= core.config.horizon:
                env.agents = []
        else:
            acts = random_actions(core, rng) if policy == "random" else hold_actions(core)
            _, rewards, *_ = env.step(acts)
            out = core.last_outcome
            shares = np.array([rewards[a] for a in env.possible_agents])
        snap()
        rows["loss"].append(out.terms.loss)
        rows["voltage"].append(out.terms.voltage)
        rows["control"].append(out.terms.control)
        rows["reward"].append(out.reward)
        rows["agent_rewards"].append(shares)
    result = {k: np.asarray(v) for k, v in rows.items()}
    result.update(
        cap_names=[c.name for c in core.capacitors],
        reg_names=[r.name for r in core.regulators],
        bat_names=[b.name for b in core.batteries],
        agents=list(env.possible_agents),
        system=system,
        policy=policy,
        limits=(core.config.v_min, core.config.v_max),
        profile=core.profile_index,
        step_hours=core.config.step_hours,
    )
    env.close()
    return result


def _figure(rows: int, height: float = 2.4) -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    return Figure(figsize=(8, height * rows), dpi=110, layout="constrained")


def episode_report(data: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write the episode report of :func:`record_episode` as four PNG files."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hours = np.arange(len(data["vmin"])) * data["step_hours"]
    steps = hours[1:]
    lo, hi = data["limits"]
    title = f"{data['system']} — policy {data['policy']}, profile {data['profile']}"
    paths = []

    fig = _figure(1, 3.6)
    ax = fig.add_subplot()
    ax.fill_between(
        hours, data["vmin"], data["vmax"], color="tab:blue", alpha=0.2, label="all nodes (min–max)"
    )
    ax.fill_between(
        hours,
        data["vq"][:, 0],
        data["vq"][:, 2],
        color="tab:blue",
        alpha=0.4,
        label="5–95 % of nodes",
    )
    ax.plot(hours, data["vq"][:, 1], color="tab:blue", label="median node")
    for limit in (lo, hi):
        ax.axhline(limit, color="tab:red", linestyle="--", linewidth=1)
    ax.set(xlabel="hour", ylabel="voltage (pu)", title=f"Voltage envelope — {title}")
    ax.legend(loc="best", fontsize=8)
    paths.append(out / "voltage_envelope.png")
    fig.savefig(paths[-1])

    fig = _figure(3)
    axes = fig.subplots(3, 1, sharex=True)
    for ax, key, names, offset in (
        (axes[0], "caps", data["cap_names"], 0.04),
        (axes[1], "taps", data["reg_names"], 0.0),
        (axes[2], "battery_kw", data["bat_names"], 0.0),
    ):
        for i, name in enumerate(names):
            ax.step(hours, data[key][:, i] + offset * i, where="post", label=name)
        if names:
            ax.legend(loc="upper right", fontsize=7, ncol=min(len(names), 6))
    axes[0].set(ylabel="capacitor\nstatus", yticks=[0, 1], title=f"Device actions — {title}")
    axes[1].set(ylabel="tap position")
    axes[2].axhline(0, color="0.5", linewidth=0.8)
    axes[2].set(ylabel="battery kW\n(+ discharge)", xlabel="hour")
    paths.append(out / "device_actions.png")
    fig.savefig(paths[-1])

    fig = _figure(1, 3.4)
    ax = fig.add_subplot()
    width = 0.8 * data["step_hours"]
    bottom = np.zeros(len(steps))
    for key, colour in (("loss", "tab:orange"), ("voltage", "tab:red"), ("control", "tab:gray")):
        ax.bar(steps, data[key], width, bottom=bottom, color=colour, label=key)
        bottom = bottom + data[key]
    ax.plot(steps, data["reward"], "k.-", label="reward")
    ax.set(xlabel="hour", ylabel="reward term", title=f"Reward components — {title}")
    ax.legend(loc="best", fontsize=8)
    paths.append(out / "reward_components.png")
    fig.savefig(paths[-1])

    fig = _figure(1, 3.6)
    ax = fig.add_subplot()
    shares = data["agent_rewards"]
    bottom = np.zeros(len(steps))
    cmap = _cmap(len(data["agents"]))
    for i, agent in enumerate(data["agents"]):
        ax.bar(steps, shares[:, i], width, bottom=bottom, label=agent, color=cmap(i))
        bottom = bottom + shares[:, i]
    ax.plot(steps, data["reward"], "k.-", label="global reward")
    ax.set(xlabel="hour", ylabel="reward", title=f"Per-agent reward shares — {title}")
    ax.legend(loc="lower left", fontsize=7, ncol=2)
    paths.append(out / "agent_rewards.png")
    fig.savefig(paths[-1])
    return paths


def _cmap(n: int) -> Any:
    import matplotlib

    return matplotlib.colormaps["tab20" if n > 10 else "tab10"]


def influence_map(system: str, path: str | Path, **env_kwargs: Any) -> Path:
    """Heat map of each agent's share ``W[i, b]`` of each bus's voltage violation."""
    import marl_vvc

    env = marl_vvc.parallel_env(system, **env_kwargs)
    weights = env.influence.bus_weights
    buses = env.core.bus_names
    fig = _figure(1, 1.2 + 0.35 * len(env.possible_agents))
    ax = fig.add_subplot()
    im = ax.imshow(weights, aspect="auto", cmap="viridis", vmin=0, vmax=1)
    ax.set_yticks(range(len(env.possible_agents)), env.possible_agents, fontsize=8)
    step = max(1, len(buses) // 40)
    ax.set_xticks(range(0, len(buses), step), buses[::step], rotation=90, fontsize=7)
    ax.set(
        xlabel="bus", title=f"{system}: share of each bus's voltage violation charged to each agent"
    )
    fig.colorbar(im, ax=ax, label="share W[agent, bus]")
    env.close()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
