"""No ``Any`` leaks through the public API: front doors and env methods have precise returns.

``mypy marl_vvc`` (CI) catches a function that returns ``Any`` where it declares a type; this
test catches the declarations themselves: no public function or method of the package's front
doors is annotated ``-> Any``. (``info`` dicts are ``dict[str, Any]`` by the Gymnasium and
PettingZoo conventions and stay allowed.)
"""

from __future__ import annotations

import inspect

import pytest

import marl_vvc
from marl_vvc.envs.anm6 import ANM6EasyEnv
from marl_vvc.envs.base import AgentSpaces, CoreEnv

ENV_CLASSES = [marl_vvc.VVCParallelEnv, marl_vvc.PowerGymEnv, ANM6EasyEnv, marl_vvc.CapSwitchEnv]


def _public_callables() -> list[tuple[str, object]]:
    found = [
        (n, getattr(marl_vvc, n))
        for n in marl_vvc.__all__
        if inspect.isfunction(getattr(marl_vvc, n))
    ]
    for cls in [*ENV_CLASSES, CoreEnv, AgentSpaces]:
        for name, member in vars(cls).items():
            if name.startswith("_"):
                continue
            if isinstance(member, property):
                member = member.fget
            if inspect.isfunction(member):
                found.append((f"{cls.__name__}.{name}", member))
    return found


def test_the_front_doors_are_covered() -> None:
    names = {n for n, _ in _public_callables()}
    assert {"parallel_env", "env", "make_env", "CoreEnv.task", "PowerGymEnv.hold_action"} <= names


@pytest.mark.parametrize(
    ("name", "func"), _public_callables(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_no_public_return_is_any(name: str, func: object) -> None:
    annotation = inspect.signature(func).return_annotation  # type: ignore[arg-type]
    assert annotation is not inspect.Signature.empty, f"{name} has no return annotation"
    assert str(annotation) not in {"Any", "typing.Any"}, f"{name} returns Any"
