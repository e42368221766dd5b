"""Engine resources: really freeing OpenDSS contexts, scratch folders, the closed stand-in.

Part of :mod:`marl_vvc.core.engine`, which alone imports OpenDSS's packages and hands their
objects in. Every file OpenDSS writes (``show``/``export`` output, RegControl debug traces)
goes to a private scratch folder per engine, removed on ``close()``, when the engine is
collected, or at interpreter exit.

dss-python 0.15.7 and OpenDSSDirect.py 0.9.4 register every context in class-level
``WeakKeyDictionary`` objects (``CffiApiUtil._ctx_to_util``, ``OpenDSSDirect._ctx_to_dss``,
``IDSS._ctx_to_dss``, ``EventCallbackManager._ctx_to_manager``) whose values hold the key
strongly. The context handle therefore never dies, ``ffi.gc`` never calls ``ctx_Dispose`` and
each create/close cycle kept ~1.45 MB. :func:`release_context` takes a context out of those
registries so that it is disposed, for real, once the engine drops it. Contexts are never
pooled: a reused context would carry state that ``ClearAll`` keeps (``DefaultBaseFrequency``,
``DataPath``), so every engine gets a brand-new one.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any, NoReturn

from marl_vvc.errors import EngineError

_REGISTRY_NAMES = ("_ctx_to_util", "_ctx_to_dss", "_ctx_to_manager")


def context_registries(*owners: object) -> tuple[Any, ...]:
    """The per-context registries (``{ctx: wrapper}`` dicts) found on dss-python's classes.

    Args:
        owners: Classes that may keep one (missing ones are skipped: then contexts leak).
    """
    found = (getattr(owner, name, None) for owner in owners for name in _REGISTRY_NAMES)
    return tuple(r for r in found if r is not None)


def open_context(odd: Any, wrapper: type) -> Any:
    """A new private context, wrapped so that bulk reads return numpy arrays.

    ``AllowChangeDir`` is process-wide in DSS C-API and ``NewContext`` itself moves to the
    folder the library was loaded from while it is on: it is turned off first (and again
    before every compile). No editor is ever started.

    Args:
        odd: The ``opendssdirect`` module.
        wrapper: ``opendssdirect.OpenDSSDirect.OpenDSSDirect``.
    """
    odd.Basic.AllowChangeDir(False)
    dss = wrapper(odd.NewContext()._api_util, prefer_lists=False)
    dss.Basic.AllowEditor(False)
    return dss


def scratch_folder(owner: object) -> tuple[Path, weakref.finalize]:
    """A new private folder for OpenDSS output and the finaliser that removes it.

    Args:
        owner: The folder is also removed when this object is garbage-collected.
    """
    path = Path(tempfile.mkdtemp(prefix="marl_vvc_dss_"))
    return path, weakref.finalize(owner, shutil.rmtree, path, ignore_errors=True)


def _no_callbacks() -> None:
    """Stands in for ``CffiApiUtil.unregister_callbacks`` once a context is released."""


def release_context(dss: Any, registries: tuple[Any, ...], error: type[Exception]) -> None:
    """Clear a context and unregister it, so that it is disposed once ``dss`` is dropped.

    Args:
        dss: The context's OpenDSSDirect wrapper; unusable afterwards.
        registries: From :func:`context_registries`.
        error: OpenDSS's exception type.
    """
    try:
        dss.Basic.ClearAll()
    except error:  # pragma: no cover - nothing left to clear
        pass
    util = dss._api_util
    ctx = util.ctx
    unregister = getattr(util, "unregister_callbacks", None)
    if unregister is not None:
        unregister()
        # Its finaliser would look the context up again and re-create a manager holding it.
        util.unregister_callbacks = _no_callbacks
    for registry in registries:
        registry.pop(ctx, None)
    # Dispose of the context now, in this thread: left to the garbage collector, the disposal
    # would run in whatever thread collects it, and the OpenDSS runtime can crash in threads
    # it did not expect.
    release = getattr(util.ffi, "release", None)
    if release is not None and type(ctx).__name__ == "__CDataGCP":
        release(ctx)


class ClosedContext:
    """What an engine holds after ``close()``: any use raises :class:`EngineError`.

    It replaces the context wrapper, the raw CFFI library and the bound helpers, so the hot
    path needs no "is it closed?" test and a closed engine can never reach freed memory.

    Args:
        master: The circuit the engine had compiled (named in the message).
    """

    __slots__ = ("_message",)

    def __init__(self, master: object) -> None:
        self._message = (
            f"engine closed: the OpenDSS context of {master} was released by close(); "
            "create a new OpenDSSEngine"
        )

    def _fail(self, *_args: object, **_kwargs: object) -> NoReturn:
        raise EngineError(self._message)

    def __getattr__(self, name: str) -> NoReturn:
        if name.startswith("__"):  # protocol probes (copy, pickle) see a plain object
            raise AttributeError(name)
        self._fail()

    __call__ = _fail
    __getitem__ = _fail
