"""Gymnasium registration: the same ids as before, and no YAML read at import."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import gymnasium
import pytest

import marl_vvc
from marl_vvc.systems import yaml_io
from marl_vvc.systems.names import available_systems
from marl_vvc.systems.registration import GYM_ANM_SYSTEMS, is_anm, is_anm_name

EXPECTED_IDS = {
    f"marl_vvc/{base}{variant}-v0"
    for base in ("13Bus", "34Bus", "123Bus", "8500Node")
    for variant in ("", "_cbat", "_soc", "_cbat_soc")
} | {"marl_vvc/ANM6Easy-v0"}


def test_registered_ids_are_unchanged() -> None:
    ids = {key for key in gymnasium.registry if key.startswith("marl_vvc/")}
    assert ids == EXPECTED_IDS
    spec = gymnasium.registry["marl_vvc/ANM6Easy-v0"]
    assert spec.entry_point == "marl_vvc.envs.anm6:ANM6EasyEnv" and spec.kwargs == {
        "system": "ANM6Easy"
    }
    spec = gymnasium.registry["marl_vvc/13Bus_cbat_soc-v0"]
    assert spec.entry_point == "marl_vvc.envs.single:PowerGymEnv"
    assert spec.kwargs == {"system": "13Bus_cbat_soc"} and spec.max_episode_steps is None


def test_family_table_agrees_with_the_files() -> None:
    assert {base for base in available_systems() if is_anm(base)} == GYM_ANM_SYSTEMS
    assert is_anm_name("ANM6Easy") and not is_anm_name("13Bus_cbat") and not is_anm_name(None)


def test_importing_marl_vvc_reads_no_yaml() -> None:
    script = textwrap.dedent(
        """
        import sys

        opened = []

        def hook(event, args):
            if event == "open" and str(args[0]).lower().endswith((".yaml", ".yml")):
                opened.append(str(args[0]))

        sys.addaudithook(hook)
        import marl_vvc
        from marl_vvc.systems import yaml_io

        assert not opened, opened
        assert yaml_io.cached_files() == (), yaml_io.cached_files()
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_choosing_the_single_agent_env_reads_no_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(path):
        raise AssertionError(f"read {path}")

    monkeypatch.setattr(yaml_io, "_parse_file", refuse)
    monkeypatch.setattr(yaml_io, "_cache", {})
    assert marl_vvc._anm_systems() == GYM_ANM_SYSTEMS


@pytest.mark.parametrize("env_id", ["marl_vvc/13Bus-v0", "marl_vvc/ANM6Easy-v0"])
def test_registered_envs_build(env_id: str) -> None:
    env = gymnasium.make(env_id)
    try:
        env.reset(seed=0)
    finally:
        env.close()
