"""Episode reports and influence maps as PNG files (``marl-vvc plot``).

Drawn from :func:`marl_vvc.tools.recording.record_episode` and the env's public
``influence_weights()``; readable from 13 to 8,500 nodes: devices are grouped by kind (one
panel per kind present, aggregated above :data:`MAX_LINES` devices), rewards are coloured by
kind, legends sit outside the axes and the influence map uses a log colour scale. No
process-wide matplotlib backend is set: figures render through their own Agg canvas.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from marl_vvc.tools.tables import plural

#: Above this many devices of a kind, their lines are aggregated.
MAX_LINES = 6
#: At most this many agents get a bar of their own in the per-agent totals.
MAX_BARS = 30
KIND_COLOURS = {
    "capacitor": "tab:blue",
    "regulator": "tab:orange",
    "battery": "tab:green",
    "generator": "tab:olive",
    "storage": "tab:purple",
}
TERM_COLOURS = {"loss": "tab:orange", "voltage": "tab:red", "control": "tab:gray"}
TERM_COLOURS["penalty"] = "black"
OUTSIDE = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "fontsize": 7, "frameon": False}


def _figure(rows: int, height: float = 2.4) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(9, height * rows), dpi=110, layout="constrained")


def _save(fig: Any, path: Path) -> Path:
    """Write ``fig`` as PNG through its own Agg canvas."""
    fig.savefig(path)
    return path


def _title(data: dict[str, Any]) -> str:
    day = "" if data["profile"] is None else f", profile {data['profile']}"
    return f"{data['system']} — policy {data['policy']}{day}"


def device_groups(data: dict[str, Any]) -> dict[str, list[str]]:
    """Agents grouped by kind, kinds in order of first appearance (one panel each)."""
    groups: dict[str, list[str]] = {}
    for agent, kind in zip(data["agents"], data["kinds"], strict=True):
        groups.setdefault(kind, []).append(agent)
    return groups


def voltage_figure(data: dict[str, Any]) -> Any:
    """Voltages the agents observe (envelope) and the share of buses outside the band."""
    fig = _figure(2, 2.2)
    top, low = fig.subplots(2, 1, sharex=True)
    steps = np.arange(1, len(data["reward"]) + 1)
    vq = data["vq"]
    if vq is None:
        top.text(0.5, 0.5, "the agents observe no voltages", ha="center", transform=top.transAxes)
    else:
        top.fill_between(steps, vq[:, 0], vq[:, 4], color="tab:blue", alpha=0.2, label="min–max")
        top.fill_between(steps, vq[:, 1], vq[:, 3], color="tab:blue", alpha=0.4, label="5–95 %")
        top.plot(steps, vq[:, 2], color="tab:blue", label="median")
        for limit in data.get("band") or ():
            top.axhline(limit, color="tab:red", linestyle="--", linewidth=1)
        top.legend(title="observed voltages", **OUTSIDE)
    top.set(ylabel="voltage (pu)", title=f"Voltages — {_title(data)}")
    share = 100.0 * data["violating"]
    low.bar(steps, share, color="tab:red", width=0.8)
    low.set(xlabel="step", ylabel="buses outside\nthe band (%)")
    _integer_steps(low)
    low.set_ylim(0, max(5.0, 1.1 * float(share.max(initial=0.0))))
    return fig


def _device_panel(ax: Any, kind: str, names: list[str], values: np.ndarray) -> None:
    """Lines per device (few) or an aggregate (many) of a ``(steps + 1, devices)`` matrix."""
    x = np.arange(values.shape[0])
    colour = KIND_COLOURS.get(kind, "tab:gray")
    if len(names) <= MAX_LINES:
        for i, name in enumerate(names):
            offset = 0.04 * i if kind == "capacitor" else 0.0  # keep equal statuses apart
            ax.step(x, values[:, i] + offset, where="post", label=name)
        ax.legend(**OUTSIDE)
        if kind == "capacitor":
            ax.set_ylim(-0.15, 1.15 + 0.04 * len(names))
            ax.set_yticks([0, 1], ["open", "closed"])
        return
    known = ~np.isnan(values).all(axis=1)  # no position at reset (generators, switching)
    x, values = x[known], values[known]
    if kind == "capacitor":
        ax.step(x, values.sum(axis=1), where="post", color=colour, label="closed banks")
    else:
        for i in range(len(names)):
            ax.step(x, values[:, i], where="post", color="0.6", linewidth=0.6, alpha=0.6)
        ax.fill_between(
            x,
            np.nanmin(values, axis=1),
            np.nanmax(values, axis=1),
            step="post",
            color=colour,
            alpha=0.2,
            label="min–max",
        )
        ax.step(x, np.nanmedian(values, axis=1), where="post", color=colour, label="median")
    ax.legend(title=plural(len(names), kind), **OUTSIDE)


_YLABELS = {
    "capacitor": "capacitor",
    "regulator": "tap position",
    "battery": "battery P\n(/ rating)",
    "generator": "generator P\n(MW)",
    "storage": "storage P (MW,\n+ discharge)",
}


def device_figure(data: dict[str, Any]) -> Any:
    """One panel per device kind present: what the devices applied, step by step."""
    groups = device_groups(data)
    fig = _figure(max(1, len(groups)), 2.0)
    axes = np.atleast_1d(fig.subplots(max(1, len(groups)), 1, sharex=True, squeeze=False)[:, 0])
    for ax, (kind, names) in zip(axes, groups.items(), strict=False):
        values = np.column_stack([data["values"][a] for a in names])
        _device_panel(ax, kind, names, values)
        ax.set(ylabel=_YLABELS.get(kind, kind))
    axes[0].set(title=f"Device actions — {_title(data)}")
    axes[-1].set(xlabel="step (0 = reset)")
    _integer_steps(axes[-1])
    return fig


def reward_figure(data: dict[str, Any]) -> Any:
    """Stacked reward terms per step and the global reward."""
    fig = _figure(1, 3.2)
    ax = fig.add_subplot()
    steps = np.arange(1, len(data["reward"]) + 1)
    stack = _Stack(len(steps))
    for key, colour in TERM_COLOURS.items():
        ax.bar(steps, data[key], 0.8, bottom=stack.base(data[key]), color=colour, label=key)
    ax.plot(steps, data["reward"], "k.-", label="reward")
    ax.set(xlabel="step", ylabel="reward term", title=f"Reward components — {_title(data)}")
    _integer_steps(ax)
    ax.legend(**OUTSIDE)
    return fig


class _Stack:
    """Bottoms of stacked bars of mixed sign: positives pile up, negatives pile down."""

    def __init__(self, n: int) -> None:
        self.above, self.below = np.zeros(n), np.zeros(n)

    def base(self, part: np.ndarray) -> np.ndarray:
        """Bottom of ``part``'s bars; the stack then grows by ``part``."""
        part = np.asarray(part, dtype=float)
        out = np.where(part < 0, self.below, self.above)
        self.below = self.below + np.minimum(part, 0)
        self.above = self.above + np.maximum(part, 0)
        return out


def _integer_steps(ax: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _totals_panel(ax: Any, data: dict[str, Any]) -> None:
    """Episode total of every agent (the largest :data:`MAX_BARS`, the rest as one bar)."""
    totals = data["agent_rewards"].sum(axis=0)
    order = np.argsort(totals)  # most negative first
    shown = order[:MAX_BARS]
    labels = [data["agents"][i] for i in shown]
    values = list(totals[shown])
    colours = [KIND_COLOURS.get(data["kinds"][i], "tab:gray") for i in shown]
    if len(order) > MAX_BARS:
        labels.append(f"{len(order) - MAX_BARS} others")
        values.append(float(totals[order[MAX_BARS:]].sum()))
        colours.append("0.6")
    ax.bar(np.arange(len(values)), values, color=colours)
    ax.set_xticks(np.arange(len(values)), labels, rotation=90, fontsize=6)
    ax.set(ylabel="episode total")


def agent_reward_figure(data: dict[str, Any]) -> Any:
    """Per-agent rewards: summed by device kind per step, and per agent over the episode.

    With the ``split`` reward the kinds add up to the global reward; with ``shared`` rewards
    every agent gets it whole.
    """
    fig = _figure(2, 3.0)
    top, low = fig.subplots(2, 1)
    shares = data["agent_rewards"]
    steps = np.arange(1, shares.shape[0] + 1)
    stack = _Stack(len(steps))
    for kind, names in device_groups(data).items():
        cols = [data["agents"].index(a) for a in names]
        part = shares[:, cols].sum(axis=1)
        top.bar(
            steps,
            part,
            0.8,
            bottom=stack.base(part),
            color=KIND_COLOURS.get(kind, "tab:gray"),
            label=plural(len(names), kind),
        )
    top.plot(steps, data["reward"], "k.-", label="global reward")
    top.set(xlabel="step", ylabel="agent rewards", title=f"Per-agent rewards — {_title(data)}")
    _integer_steps(top)
    top.legend(title="summed by device kind", **OUTSIDE)
    _totals_panel(low, data)
    return fig


def episode_report(data: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write the episode report of :func:`~marl_vvc.tools.recording.record_episode` as PNGs.

    Returns:
        ``voltage_envelope.png``, ``device_actions.png``, ``reward_components.png`` and
        ``agent_rewards.png`` in ``out_dir``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = {
        "voltage_envelope": voltage_figure,
        "device_actions": device_figure,
        "reward_components": reward_figure,
        "agent_rewards": agent_reward_figure,
    }
    return [_save(draw(data), out / f"{name}.png") for name, draw in figures.items()]


def influence_figure(weights: np.ndarray, agents: list[str], buses: list[str], title: str) -> Any:
    """Heat map of ``weights`` (agents × buses) on a log colour scale."""
    from matplotlib.colors import LogNorm

    w = np.asarray(weights, dtype=float)
    positive = w[w > 0]
    floor = max(float(positive.min()) if positive.size else 1e-4, 1e-4)
    fig = _figure(1, min(2.6 + 0.22 * len(agents), 9.0))
    ax = fig.add_subplot()
    im = ax.imshow(
        np.clip(w, floor, None),
        aspect="auto",
        cmap="viridis",
        norm=LogNorm(floor, 1.0),
        interpolation="antialiased",
    )
    ax.set_yticks(range(len(agents)), agents, fontsize=max(4, min(8, 400 // max(len(agents), 1))))
    step = max(1, len(buses) // 40)
    ax.set_xticks(range(0, len(buses), step), buses[::step], rotation=90, fontsize=6)
    xlabel = f"bus ({len(buses)}, one label per {step})" if step > 1 else "bus"
    ax.set(xlabel=xlabel, title=title)
    fig.colorbar(im, ax=ax, label="share (log scale)")
    return fig


def influence_report(data: dict[str, Any], path: str | Path) -> Path | None:
    """The influence map of a recorded episode's env as PNG (None: the env has none)."""
    if data.get("influence") is None:
        return None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    title = f"{data['system']}: share of each bus's voltage violation charged to each agent"
    fig = influence_figure(data["influence"], data["agents"], data["buses"], title)
    return _save(fig, path)


def influence_map(system: str | None, path: str | Path, **env_kwargs: Any) -> Path | None:
    """Heat map of each agent's share ``W[i, b]`` of each bus's voltage violation.

    Returns:
        The PNG, or None when the env has no influence weights (e.g. ANM6Easy).
    """
    import marl_vvc

    env = marl_vvc.parallel_env(system, **env_kwargs)
    try:
        weights = env.influence_weights()
        agents, buses = list(env.possible_agents), list(env.bus_names)
    finally:
        env.close()
    if weights is None:
        return None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    name = system if system is not None else env_kwargs.get("circuit")
    title = f"{name}: share of each bus's voltage violation charged to each agent"
    return _save(influence_figure(weights, agents, buses, title), path)
