"""The inert unpicklers: build a checkpoint's object graph while calling only vetted code.

Both resolve every global through the allowlist (``find_class``): vetted callables, or a
fresh ``Placeholder`` subclass that records what it is given and runs nothing. They
differ in how much of the pickle they must watch:

- ``InertUnpickler`` is the pure-Python ``pickle._Unpickler`` with four opcodes replaced,
  so that every call goes through ``_call`` and every BUILD through ``_build``. It opens
  anything, slowly.
- ``FastInertUnpickler`` is the C unpickler with the same ``find_class``. Its REDUCE and
  BUILD run unwatched, so it is used only when the static scan proved them harmless
  (``needs_watching``): every call names a global, no global is a class a plugin vetted,
  and every BUILD sets the state of a placeholder, an ordered dict or a numpy object it
  builds in two steps (``_deferred``), never of a tensor or a vetted class. So whatever it
  calls, directly or through an attribute a BUILD gave an ordered dict (APPENDS looks up
  ``extend``), is a vetted callable or a placeholder type.
"""

from __future__ import annotations

import collections
import io
import pickle
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from checkpoint._picklenames import resolve_global
from checkpoint._tensorpickle import MalformedError, StorageSource, storage_of
from checkpoint.errors import UnsafeCheckpointError
from compat.engine import _rebuild
from compat.engine._allowlist import Allowlist, canonical, looks_like_function
from compat.engine._deferred import DEFERRED, TWO_STEP_BUILDS, settle
from compat.engine._placeholder import AttributeRef, Placeholder, placeholder_type
from compat.engine._scan import PERSISTENT, PickleScan

__all__ = ["FastInertUnpickler", "InertUnpickler", "needs_watching"]

_Op = Callable[["InertUnpickler"], None]
#: The standard BUILD, for instances of classes a plugin or the caller vetted.
_PICKLE_BUILD: Any = pickle._Unpickler.dispatch[pickle.BUILD[0]]
#: Callables whose results the C unpickler may BUILD: the state lands in an ordered dict's
#: attributes or in a placeholder (``copyreg._reconstructor`` and legacy module classes,
#: which ``FastInertUnpickler.persistent_load`` restricts to placeholders, make only those).
_INERT_BUILD_TARGETS = frozenset({"collections.OrderedDict", "copyreg._reconstructor", PERSISTENT})
#: Methods the unpicklers look up on an object (APPEND(S), ADDITEMS): an ``extend`` a BUILD
#: set as an attribute would be called, e.g. a vetted class, ``__init__`` and all.
_LOOKED_UP = frozenset({"append", "extend", "add"})


def needs_watching(scan: PickleScan, allowlist: Allowlist) -> bool:
    """Whether the pickle ``scan`` describes must be read by the opcode-watching unpickler."""
    if scan.opaque_builds or scan.dynamic_calls or scan.sparse_memo:
        return True
    try:
        if any(allowlist.is_contributed(allowlist.resolve(name)) for name in scan.globals):
            return True  # vetted classes of plugins get pickle's own BUILD, watched
        return not all(_builds_inertly(name, allowlist) for name in scan.built)
    except LookupError:  # the dangerous set: refused before any unpickling
        return True


def _builds_inertly(name: str, allowlist: Allowlist) -> bool:
    if canonical(name) in _INERT_BUILD_TARGETS:
        return True
    resolved = allowlist.resolve(name)
    return resolved is None or id(resolved) in TWO_STEP_BUILDS


class _Resolver:
    """``find_class`` and ``persistent_load``, shared by both unpicklers."""

    def __init__(
        self,
        data: bytes | bytearray | memoryview,
        *,
        source: str,
        allowlist: Allowlist,
        storages: StorageSource | None = None,
    ) -> None:
        # BytesIO, whose read(n) never allocates more than it holds. (The C unpickler
        # allocates a counted operand before reading it; the static scan, which runs first,
        # has checked every declared length against the data.)
        self.stream = io.BytesIO(data)
        super().__init__(self.stream, encoding="utf-8")  # type: ignore[call-arg]
        self._source = source
        self._allowlist = allowlist
        self._storages = storages
        self._types: dict[str, type[Placeholder]] = {}

    @property
    def placeholders(self) -> Counter[str]:
        """How many inert objects of each class were built."""
        return Counter({name: kind.built for name, kind in self._types.items() if kind.built})

    def load(self) -> Any:
        return super().load()  # type: ignore[misc]

    def _refuse(self, what: str) -> UnsafeCheckpointError:
        return UnsafeCheckpointError(
            f"the pickle {what}; it was refused and nothing ran. Only open this file with "
            "compat.load after checking where it came from, or re-export it from a trusted copy",
            self._source,
        )

    def find_class(self, module: str, name: str) -> Any:
        qualified = canonical(resolve_global(module, name))
        try:
            resolved = self._allowlist.resolve(qualified)
        except LookupError:
            raise self._refuse(f"references {qualified}, which is never run") from None
        if resolved is not None:
            return resolved
        return self._inert_type(qualified, is_call=looks_like_function(qualified))

    def _inert_type(self, qualified: str, *, is_call: bool) -> type[Placeholder]:
        """The one placeholder class of ``qualified`` in this load."""
        if qualified not in self._types:
            self._types[qualified] = placeholder_type(qualified, is_call=is_call)
        return self._types[qualified]

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid:
            raise MalformedError("a persistent id is not a tuple")
        kind = pid[0].decode("ascii") if isinstance(pid[0], bytes) else pid[0]
        if kind == "module" and len(pid) == 4:
            return self._module_class(pid[1])  # a legacy nn.Module class with its source
        if kind != "storage" or self._storages is None:
            raise MalformedError(f"unexpected persistent id {kind!r}")
        return storage_of(pid, self._storages)

    def _module_class(self, cls: object) -> object:
        return cls


class InertUnpickler(_Resolver, pickle._Unpickler):
    """Unpickle ``data`` into plain containers, tensors, numpy arrays and placeholders.

    Raises ``UnsafeCheckpointError`` for a dangerous global or a call of anything not
    vetted; any other exception means the pickle is malformed.
    """

    # Set by ``pickle._Unpickler.load``; typeshed does not declare them.
    stack: list[Any]
    append: Callable[[Any], None]

    def _call(self, func: object, args: object, kwargs: object = None) -> object:
        if not isinstance(args, tuple) or not isinstance(kwargs, dict | None):
            raise MalformedError("call arguments are not a tuple")
        if (isinstance(func, type) and issubclass(func, Placeholder)) or (
            self._allowlist.is_vetted_callable(func)
        ):
            return func(*args, **(kwargs or {}))  # type: ignore[operator]
        if self._allowlist.is_renamed(func):
            raise self._refuse(
                f"calls {func!r}, the current class of a rename, which is rebuilt only from its "
                "state (its __init__ never runs)"
            )
        if isinstance(func, Placeholder | AttributeRef):  # cloudpickle's _builtin_type(...)(...)
            return self._inert_type(f"{func.qualified_name()}()", is_call=True)(
                *args, **(kwargs or {})
            )
        raise self._refuse(f"calls {func!r}, which is not a vetted callable")

    def _new(self, cls: object, args: object, kwargs: object) -> object:
        """NEWOBJ: a contributed class gets pickle's own ``cls.__new__(cls, *args)`` (its
        ``__init__`` never runs, its state comes by BUILD); anything else goes through
        ``_call`` (placeholders record the arguments, vetted callables are called)."""
        if isinstance(cls, type) and self._allowlist.is_contributed(cls):
            if not isinstance(args, tuple) or not isinstance(kwargs, dict | None):
                raise MalformedError("NEWOBJ arguments are not a tuple")
            return cls.__new__(cls, *args, **(kwargs or {}))
        return self._call(cls, args, kwargs)

    def _instantiate(self, klass: Any, args: list[Any]) -> None:
        self.append(self._call(klass, tuple(args)))

    def _build(self, inst: object, state: object) -> None:
        if isinstance(inst, Placeholder):
            inst.__setstate__(state)
        elif type(inst) is np.ndarray:
            _rebuild.build_ndarray(inst, state)
        elif isinstance(inst, np.dtype):
            _rebuild.build_dtype(inst, state)
        elif isinstance(inst, collections.OrderedDict) and isinstance(state, dict):
            for key, value in state.items():
                if not isinstance(key, str) or key.startswith("__") or key in _LOOKED_UP:
                    raise MalformedError(f"{key!r} is not a plain attribute name")
                setattr(inst, key, value)
        elif self._allowlist.is_contributed(type(inst)):
            self.stack.append(state)  # a class a plugin or the caller vetted: pickle's own BUILD
            _PICKLE_BUILD(self)
        else:
            raise MalformedError(f"the pickle sets the state of a {type(inst).__name__}")


class FastInertUnpickler(_Resolver, pickle.Unpickler):
    """The C unpickler with the inert ``find_class``, for pickles ``needs_watching`` clears.

    Numpy arrays and dtypes are built in two steps (``_deferred``). A legacy module class
    from a persistent id must be a placeholder here, so that what calling it makes is one
    too. ``load`` raises ``Unsettled`` for the rare graph that needs the watching unpickler.
    """

    _deferred = False

    def find_class(self, module: str, name: str) -> Any:
        found = super().find_class(module, name)
        deferred = DEFERRED.get(id(found))
        if deferred is None:
            return found
        self._deferred = True
        return deferred

    def load(self) -> Any:
        root = super().load()
        return settle(root) if self._deferred else root

    def _module_class(self, cls: object) -> object:
        if not (isinstance(cls, type) and issubclass(cls, Placeholder)):
            raise MalformedError("a legacy module persistent id names no inert class")
        return cls


def _load_call(self: InertUnpickler) -> None:
    """REDUCE ``func(*args)``, through ``_call``."""
    args = self.stack.pop()
    self.stack[-1] = self._call(self.stack[-1], args)


def _load_newobj(self: InertUnpickler) -> None:
    args = self.stack.pop()
    self.stack[-1] = self._new(self.stack[-1], args, None)


def _load_newobj_ex(self: InertUnpickler) -> None:
    kwargs = self.stack.pop()
    args = self.stack.pop()
    self.stack[-1] = self._new(self.stack[-1], args, kwargs)


def _load_build(self: InertUnpickler) -> None:
    state = self.stack.pop()
    self._build(self.stack[-1], state)


_OPS: dict[bytes, _Op] = {
    pickle.REDUCE: _load_call,
    pickle.NEWOBJ: _load_newobj,
    pickle.NEWOBJ_EX: _load_newobj_ex,
    pickle.BUILD: _load_build,
}
_DISPATCH: dict[int, Any] = dict(pickle._Unpickler.dispatch)
_DISPATCH.update({code[0]: op for code, op in _OPS.items()})
InertUnpickler.dispatch = _DISPATCH
