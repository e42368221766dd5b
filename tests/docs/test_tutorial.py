"""docs/tutorial.md runs as written: every command and code block, from an empty folder.

The page's rule is "run from the repository root, paths relative to it". Here every
repo-relative path (``docs/…``, ``examples/…``) is made absolute and everything runs from an
empty temporary folder, which also shows that nothing depends on the working folder. Shell
commands run as subprocesses with their own HOME, TMPDIR and Ray folders (as in
``tests/examples/test_training.py``: this process never imports ray); Python blocks are exec'd
in one namespace. A ``text`` block right after a command or Python block is its output, and is
compared with what really printed (numbers to the precision shown).
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib.util
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import marl_vvc

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "tutorial.md"
TUTORIAL = REPO / "docs" / "tutorial"
FEEDER = TUTORIAL / "feeder"
YAML = TUTORIAL / "my_feeder.yaml"

#: The page's commands in order, each with the modules it needs; every one is checked below.
COMMANDS = (
    ("marl-vvc list --env docs/tutorial/feeder/Master.dss", ()),
    ("marl-vvc list --env docs/tutorial/my_feeder.yaml", ()),
    ("marl-vvc eval --env docs/tutorial/my_feeder.yaml --profiles 300:303 --quiet", ()),
    ("python examples/train_rllib.py", ("ray", "torch")),
    ("marl-vvc eval --checkpoint", ("ray", "torch")),
    ("python examples/train_sb3.py", ("stable_baselines3", "torch")),
    ("marl-vvc plot", ()),
    ("marl-vvc eval --env docs/tutorial/my_feeder.yaml --profiles 300:303 --json", ()),
)

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
_REPO_PATH = re.compile(r"(?<![\w./-])(?=(?:docs|examples)/)")
_DECIMAL = re.compile(r"(-?\d+\.\d+)")


@dataclass(frozen=True)
class Block:
    """A fenced block of the page and the ``text`` block right after it, if any."""

    lang: str
    body: str
    output: str | None


def _blocks() -> list[Block]:
    text = DOC.read_text()
    fences = list(_FENCE.finditer(text))
    blocks = []
    for i, fence in enumerate(fences):
        nxt = fences[i + 1] if i + 1 < len(fences) else None
        adjacent = nxt is not None and not text[fence.end() : nxt.start()].strip()
        output = nxt.group(2) if adjacent and nxt.group(1) == "text" else None
        blocks.append(Block(fence.group(1), fence.group(2), output))
    return blocks


def _commands(body: str) -> list[str]:
    """Shell commands of a bash block (continuation lines joined, comments dropped)."""
    joined = re.sub(r"\\\n\s*", "", body)
    lines = [line.strip() for line in joined.splitlines()]
    return [" ".join(line.split()) for line in lines if line and not line.startswith("#")]


def _absolute(text: str) -> str:
    return _REPO_PATH.sub(f"{REPO}/", text)


def _relative(text: str) -> str:
    return text.replace(f"{REPO}/", "")


def _assert_same_output(actual: str, expected: str, what: str) -> None:
    """Equal line by line; decimals to the precision printed on the page."""
    got, want = actual.strip().splitlines(), expected.strip().splitlines()
    assert len(got) == len(want), f"{what}: printed\n{actual}\npage shows\n{expected}"
    for line, page in zip(got, want, strict=True):
        parts, shown = _DECIMAL.split(line.strip()), _DECIMAL.split(page.strip())
        assert len(parts) == len(shown), f"{what}: {line!r} != {page!r}"
        assert parts[0::2] == shown[0::2], f"{what}: {line!r} != {page!r}"
        for value, ref in zip(parts[1::2], shown[1::2], strict=True):
            tol = 1.5 * 10.0 ** -len(ref.split(".")[1])
            assert float(value) == pytest.approx(float(ref), abs=tol), f"{what}: {line!r}"


def _tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _missing(modules: tuple[str, ...]) -> list[str]:
    # find_spec does not import the module (importing ray here would change os.environ)
    return [m for m in modules if importlib.util.find_spec(m) is None]


@dataclass
class Ran:
    """A page command and what it printed (None: skipped for a missing module)."""

    command: str
    block: Block
    stdout: str | None


@pytest.fixture(scope="module")
def feeder_before() -> dict[str, str]:
    return _tree_digest(TUTORIAL)


@pytest.fixture(scope="module")
def shell(
    tmp_path_factory: pytest.TempPathFactory, feeder_before: dict[str, str]
) -> Iterator[tuple[Path, dict[str, Ran]]]:
    """Run every bash command of the page, in order, from an empty folder."""
    root = tmp_path_factory.mktemp("tutorial_shell")
    cwd, home, tmpdir = root / "work", root / "home", root / "tmp"
    for folder in (cwd, home, tmpdir):
        folder.mkdir()
    ray_tmp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # socket paths stay < 108 bytes
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin')}",
        "HOME": str(home),
        "RAY_AUTH_MODE": "disabled",
        "RAY_TMPDIR": str(ray_tmp),
        "TMPDIR": str(tmpdir),
        "MPLBACKEND": "Agg",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
    }
    ran: dict[str, Ran] = {}
    try:
        for block in (b for b in _blocks() if b.lang == "bash"):
            for command in _commands(block.body):
                key = next((k for k, _ in COMMANDS if command.startswith(k)), command)
                needs = dict(COMMANDS).get(key, ())
                if _missing(needs):
                    ran[key] = Ran(command, block, None)
                    continue
                proc = subprocess.run(
                    ["bash", "-c", _absolute(command)],
                    cwd=cwd,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                    check=False,
                )
                assert proc.returncode == 0, f"{command}\n{proc.stdout}\n{proc.stderr[-4000:]}"
                ran[key] = Ran(command, block, _relative(proc.stdout))
        yield cwd, ran
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


def _stdout(shell: tuple[Path, dict[str, Ran]], key: str) -> str:
    ran = shell[1][key]
    if ran.stdout is None:
        missing = ", ".join(_missing(dict(COMMANDS)[key]))
        pytest.skip(f"needs {missing} (pip install 'marl-vvc[rl]')")
    return ran.stdout


@pytest.fixture(scope="module")
def python(
    tmp_path_factory: pytest.TempPathFactory, feeder_before: dict[str, str]
) -> tuple[Path, dict, list[tuple[Block, str]]]:
    """Exec every Python block of the page in one namespace, from an empty folder."""
    cwd = tmp_path_factory.mktemp("tutorial_python")
    namespace: dict = {"__name__": "tutorial"}
    printed = []
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        for block in (b for b in _blocks() if b.lang == "python"):
            out = io.StringIO()
            with contextlib.redirect_stdout(out):
                exec(compile(_absolute(block.body), str(DOC), "exec"), namespace)
            printed.append((block, _relative(out.getvalue())))
    return cwd, namespace, printed


def _table(text: str) -> dict[str, list[float]]:
    """Rows ``policy return loss voltage control penalty viol% diverged episodes``."""
    rows = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 9 and parts[0] in {"ppo", "random", "hold", "dss", "oracle"}:
            rows[parts[0]] = [float(p) for p in parts[1:]]
    return rows


def _json_rows(text: str) -> dict[str, dict]:
    rows = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return {row["policy"]: row for row in rows}


def _parts(row: dict) -> float:
    return row["loss"] + row["voltage"] + row["control"] + row["penalty"]


# ---------------------------------------------------------------------- the page itself
def test_every_command_on_the_page_is_checked() -> None:
    commands = [c for b in _blocks() if b.lang == "bash" for c in _commands(b.body)]
    assert len(commands) == len(COMMANDS)
    for command, (prefix, _) in zip(commands, COMMANDS, strict=True):
        assert command.startswith(prefix), command
    assert all(b.lang in {"bash", "python", "text", "dss", "yaml"} for b in _blocks())


def test_the_feeder_and_yaml_are_shown_as_written() -> None:
    dss = [b.body for b in _blocks() if b.lang == "dss"]
    assert dss[0] == (FEEDER / "Master.dss").read_text()
    body = (FEEDER / "network" / "feeder.dss").read_text().splitlines()
    assert all(line in body for line in dss[1].splitlines())
    (yaml,) = [b.body for b in _blocks() if b.lang == "yaml"]
    assert yaml == YAML.read_text()
    assert "Redirect network/feeder.dss" in dss[0] and "BusCoords network/buscoords.csv" in dss[0]


def test_the_feeder_has_coordinates_for_some_buses(python: tuple) -> None:
    _, _, printed = python
    (out,) = [out for block, out in printed if "print(env.bus_names)" in block.body]
    buses = set(ast.literal_eval(out.splitlines()[1]))
    lines = (FEEDER / "network" / "buscoords.csv").read_text().splitlines()
    with_xy = {line.split(",")[0].strip() for line in lines if line.strip()}
    assert with_xy < buses and buses - with_xy == {"b6"}


def test_the_image_on_the_page_is_a_small_png() -> None:
    (ref,) = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", DOC.read_text())
    path = DOC.parent / ref
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and 5_000 < len(data) < 100_000


# ---------------------------------------------------------------------- outputs shown
def test_shell_outputs_match_the_page(shell: tuple[Path, dict[str, Ran]]) -> None:
    shown = {key: r for key, r in shell[1].items() if r.block.output is not None}
    assert len(shown) == 4  # two lists, the baseline table, the plot files
    for key, ran in shown.items():
        assert len(_commands(ran.block.body)) == 1
        _assert_same_output(_stdout(shell, key), ran.block.output, ran.command)


def test_python_outputs_match_the_page(python: tuple) -> None:
    _, _, printed = python
    assert sum(block.output is not None for block, _ in printed) == 3
    for block, out in printed:
        if block.output is None:
            assert out == "", f"printed output the page does not show:\n{out}"
        else:
            _assert_same_output(out, block.output, block.body.splitlines()[-1])


# ---------------------------------------------------------------------- 2. discovery
def test_discovery_makes_an_agent_of_each_controllable_device(
    shell: tuple[Path, dict[str, Ran]],
) -> None:
    text = "\n".join(p.read_text() for p in sorted(FEEDER.rglob("*.dss")))
    caps = re.findall(r"^New Capacitor\.(\w+)", text, flags=re.M | re.I)
    regs = re.findall(r"^New RegControl\.\w+ transformer=(\w+)", text, flags=re.M | re.I)
    bats = re.findall(r"^New Storage\.(\w+)", text, flags=re.M | re.I)
    transformers = re.findall(r"^New Transformer\.(\w+)", text, flags=re.M | re.I)
    expected = (
        [f"capacitor_{c}" for c in caps]
        + [f"regulator_{t}" for t in transformers if t in regs]
        + [f"battery_{b}" for b in bats]
    )
    assert expected == ["capacitor_cap_b3", "capacitor_cap_b6", "regulator_reg1", "battery_batt_b4"]
    listed = _stdout(shell, COMMANDS[0][0]).splitlines()[2:]
    assert [line.split()[0] for line in listed] == expected
    chosen = _stdout(shell, COMMANDS[1][0]).splitlines()[2:]
    assert [line.split()[0] for line in chosen] == [a for a in expected if a != "capacitor_cap_b6"]


def test_the_circuit_start_beats_the_rule_start(python: tuple) -> None:
    _, _, printed = python
    (start,) = [out for block, out in printed if "initial_state=start" in block.body]
    terms = dict(re.findall(r"^(\w+)\s+tap \d+, hold-still voltage term (\S+)$", start, re.M))
    assert set(terms) == {"circuit", "rule"}
    assert float(terms["rule"]) < float(terms["circuit"]) < 0.0


def test_the_baselines_table_adds_up(shell: tuple[Path, dict[str, Ran]]) -> None:
    rows = _table(_stdout(shell, COMMANDS[2][0]))
    assert set(rows) == {"random", "hold", "dss", "oracle"}
    for ret, loss, voltage, control, penalty, viol, diverged, n in rows.values():
        assert ret == pytest.approx(loss + voltage + control + penalty, abs=3e-3)
        assert 0.0 <= viol <= 100.0 and diverged == 0 and n == 3
    assert rows["hold"][0] > rows["dss"][0] > rows["random"][0]  # the room to learn
    assert rows["oracle"][0] > rows["dss"][0] and rows["oracle"][5] < rows["dss"][5]


# ---------------------------------------------------------------------- 4. reward term
def test_the_wrapper_adds_its_term_and_keeps_the_split(python: tuple) -> None:
    _, ns, _ = python
    wrapped = ns["NearNominal"](marl_vvc.parallel_env(str(YAML)), weight=5.0)
    bare = marl_vvc.parallel_env(str(YAML))
    assert wrapped.n_voltages == 27  # 9 three-phase buses
    wrapped.reset(seed=3, options={"profile": 120})
    bare.reset(seed=3, options={"profile": 120})
    rng = np.random.default_rng(0)
    steps = 0
    while wrapped.agents:
        actions = {a: int(rng.integers(wrapped.action_space(a).n)) for a in wrapped.agents}
        _, rewards, _, _, infos = wrapped.step(actions)
        _, base_rewards, _, _, base_infos = bare.step(actions)
        v = bare.state()[:27].astype(float)
        extra = -5.0 * np.abs(v - 1.0).mean()
        for agent, info in infos.items():
            assert info["near_nominal"] == pytest.approx(extra, rel=1e-6)
            glob = base_infos[agent]["global_reward"] + extra
            assert info["global_reward"] == pytest.approx(glob, rel=1e-6)
            assert rewards[agent] == pytest.approx(base_rewards[agent] + extra / 3, rel=1e-6)
        assert math.fsum(rewards.values()) == pytest.approx(infos[agent]["global_reward"], abs=1e-9)
        assert extra < 0.0
        steps += 1
    assert steps == 24
    wrapped.close()
    bare.close()


def test_the_random_episode_on_the_page_adds_the_term(python: tuple) -> None:
    _, ns, printed = python
    (out,) = [out for block, out in printed if "parallel_api_test(" in block.body]
    ret, extra = (float(x) for x in re.findall(r"-?\d+\.\d+", out.splitlines()[0]))
    assert ret == pytest.approx(ns["episode_return"], abs=1e-3)
    assert ret < extra < 0.0
    assert "Passed Parallel API test" in out


# ---------------------------------------------------------------------- 5. training
def test_rllib_trains_one_iteration_and_the_checkpoint_scores_the_same(
    shell: tuple[Path, dict[str, Ran]],
) -> None:
    out = _stdout(shell, "python examples/train_rllib.py")
    assert "trained 1 iterations, 240 env steps" in out
    rows = _table(out)
    assert set(rows) == {"ppo", "random", "hold", "dss", "oracle"}
    for ret, loss, voltage, control, penalty, _viol, diverged, n in rows.values():
        assert ret == pytest.approx(loss + voltage + control + penalty, abs=3e-3)
        assert diverged == 0 and n == 2
    ckpt = shell[0] / "runs" / "tutorial" / "rllib" / "checkpoint"
    info = json.loads((ckpt / "marl_vvc_run.json").read_text())
    assert info["system"] == str(YAML) and info["iterations"] == 1
    modules = ckpt / "learner_group" / "learner" / "rl_module"
    kinds = {p.name for p in modules.iterdir() if p.is_dir()}
    assert kinds == {"capacitor", "regulator", "battery"}  # one module per device kind
    scored = _json_rows(_stdout(shell, "marl-vvc eval --checkpoint"))
    assert list(scored) == ["rllib", "hold"]
    assert scored["rllib"]["return"] == pytest.approx(rows["ppo"][0], abs=1e-3)
    assert scored["hold"]["return"] == pytest.approx(rows["hold"][0], abs=1e-3)
    assert [e["profile"] for e in scored["rllib"]["episodes"]] == [300, 301]


def test_sb3_trains_and_saves_a_model(shell: tuple[Path, dict[str, Ran]]) -> None:
    out = _stdout(shell, "python examples/train_sb3.py")
    rows = _table(out)
    assert set(rows) == {"ppo", "random", "hold", "dss"}
    for ret, loss, voltage, control, penalty, _viol, diverged, n in rows.values():
        assert ret == pytest.approx(loss + voltage + control + penalty, abs=3e-3)
        assert diverged == 0 and n == 2
    run = shell[0] / "runs" / "tutorial" / "sb3"
    assert (run / "model.zip").stat().st_size > 10_000
    info = json.loads((run / "marl_vvc_run.json").read_text())
    assert info["mode"] == "single" and info["system"] == str(YAML)


# ---------------------------------------------------------------------- 6. plots
def test_plot_writes_readable_pngs(shell: tuple[Path, dict[str, Ran]]) -> None:
    from matplotlib.image import imread

    paths = _stdout(shell, "marl-vvc plot").split()
    names = [Path(p).name for p in paths]
    assert names == [
        "voltage_envelope.png",
        "device_actions.png",
        "reward_components.png",
        "agent_rewards.png",
        "influence.png",
    ]
    for path in paths:
        image = imread(shell[0] / path)
        assert image.shape[0] >= 300 and image.shape[1] >= 600, path
        assert image[..., :3].std() > 0.05, f"{path} is nearly blank"


def test_the_plotted_dss_episode_is_as_described() -> None:
    env = marl_vvc.parallel_env(str(YAML), controls="opendss")  # the plot's dss policy
    env.reset(seed=0, options={"profile": 300})
    violating = []
    while env.agents:
        _, _, _, _, infos = env.step(env.hold_actions())
        info = infos["regulator_reg1"]
        assert info["n_buses"] == 9
        violating.append(info["violating_buses"])
    env.close()
    text = DOC.read_text()
    assert "from step 7 to step 17" in text and "five of the nine buses" in text
    assert [t for t, n in enumerate(violating, 1) if n] == list(range(7, 18))
    assert max(violating) == 5


def test_eval_json_rows_add_up_and_match_the_table(shell: tuple[Path, dict[str, Ran]]) -> None:
    rows = _json_rows(_stdout(shell, COMMANDS[-1][0]))
    table = _table(_stdout(shell, COMMANDS[2][0]))
    assert list(rows) == ["random", "hold", "dss", "oracle"]
    for name, row in rows.items():
        assert row["n"] == 3 and row["converged"] and row["diverged"] == 0
        assert 0.0 <= row["violation_rate"] <= 1.0
        assert row["return"] == pytest.approx(_parts(row), abs=1e-9)
        assert [e["profile"] for e in row["episodes"]] == [300, 301, 302]
        for episode in row["episodes"]:
            assert episode["steps"] == 24
            assert episode["return"] == pytest.approx(_parts(episode), abs=1e-9)
        assert row["return"] == pytest.approx(table[name][0], abs=1e-3)


def test_the_feeder_map_is_drawn(python: tuple) -> None:
    from matplotlib.image import imread

    cwd, _, _ = python
    image = imread(cwd / "feeder_map.png")[..., :3]
    assert image.shape[:2] == (480, 640)
    colours = np.unique((image.reshape(-1, 3) * 255).round().astype(int), axis=0)
    assert len(colours) > 50  # buses coloured by voltage, a colour bar, markers


# ---------------------------------------------------------------------- nothing written
def test_the_tutorial_folder_is_left_unchanged(
    shell: tuple[Path, dict[str, Ran]], python: tuple, feeder_before: dict[str, str]
) -> None:
    assert _tree_digest(TUTORIAL) == feeder_before
    assert sorted(p.name for p in shell[0].iterdir()) == ["runs"]
    assert sorted(p.name for p in python[0].iterdir()) == ["feeder_map.png"]
