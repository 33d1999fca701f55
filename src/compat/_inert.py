"""The inert unpickler: builds a checkpoint's object graph while calling only vetted code.

It is the pure-Python ``pickle._Unpickler`` with four opcodes replaced, because the C
unpickler would call whatever a REDUCE or BUILD names: every call goes through
``_call`` (vetted callables and placeholder classes only) and every BUILD through
``_build`` (placeholders, checked numpy state, attribute dicts of ordered dicts).
"""

from __future__ import annotations

import collections
import io
import pickle
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from checkpoint.errors import UnsafeCheckpointError

from . import _rebuild
from ._allowlist import Allowlist, canonical, looks_like_function
from ._placeholder import Placeholder, placeholder_type
from ._storages import StorageSource

__all__ = ["InertUnpickler"]

_Op = Callable[["InertUnpickler"], None]
#: The standard BUILD, for instances of classes a plugin or the caller vetted.
_PICKLE_BUILD: Any = pickle._Unpickler.dispatch[pickle.BUILD[0]]


class InertUnpickler(pickle._Unpickler):
    """Unpickle ``data`` into plain containers, tensors, numpy arrays and placeholders.

    Raises ``UnsafeCheckpointError`` for a dangerous global or a call of anything not
    vetted; any other exception means the pickle is malformed.
    """

    # Set by ``pickle._Unpickler.load``; typeshed does not declare them.
    stack: list[Any]
    append: Callable[[Any], None]

    def __init__(
        self,
        data: bytes | bytearray | memoryview,
        *,
        source: str,
        allowlist: Allowlist,
        storages: StorageSource | None = None,
    ) -> None:
        self.stream = io.BytesIO(data)
        super().__init__(self.stream, encoding="utf-8")
        self._source = source
        self._allowlist = allowlist
        self._storages = storages
        self._types: dict[str, type[Placeholder]] = {}
        #: How many inert objects of each class were built.
        self.placeholders: Counter[str] = Counter()

    def _refuse(self, what: str) -> UnsafeCheckpointError:
        return UnsafeCheckpointError(
            f"the pickle {what}; it was refused and nothing ran. Only open this file with "
            "compat.load after checking where it came from, or re-export it from a trusted copy",
            self._source,
        )

    def find_class(self, module: str, name: str) -> Any:
        qualified = canonical(f"{module}.{name}")
        try:
            resolved = self._allowlist.resolve(qualified)
        except LookupError:
            raise self._refuse(f"references {qualified}, which is never run") from None
        if resolved is not None:
            return resolved
        if qualified not in self._types:
            self._types[qualified] = placeholder_type(qualified)
        return self._types[qualified]

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid:
            raise _rebuild.MalformedError("a persistent id is not a tuple")
        kind = pid[0].decode("ascii") if isinstance(pid[0], bytes) else pid[0]
        if kind == "module" and len(pid) == 4:
            return pid[1]  # a legacy nn.Module class with its source: the class itself
        if kind != "storage" or len(pid) not in (5, 6) or self._storages is None:
            raise _rebuild.MalformedError(f"unexpected persistent id {kind!r}")
        storage_type, key, _location, numel = pid[1:5]
        if len(pid) == 6 and pid[5] is not None:
            raise _rebuild.MalformedError("storage views (torch < 0.4) are not supported")
        if isinstance(key, bytes):
            key = key.decode("ascii")
        if not isinstance(storage_type, _rebuild.StorageType):
            raise _rebuild.MalformedError("a storage persistent id names no storage type")
        if not isinstance(key, str) or type(numel) is not int or numel < 0:
            raise _rebuild.MalformedError("a storage persistent id has a bad key or size")
        data = self._storages.get(key, storage_type.dtype, numel)
        return _rebuild.StorageRef(data, storage_type.dtype)

    def _call(self, func: object, args: object, kwargs: object = None) -> object:
        if not isinstance(args, tuple) or not isinstance(kwargs, dict | None):
            raise _rebuild.MalformedError("call arguments are not a tuple")
        keywords: dict[str, Any] = kwargs or {}
        if isinstance(func, type) and issubclass(func, Placeholder):
            if looks_like_function(func.name):
                raise self._refuse(f"calls {func.qualified_name()}, a function that is not vetted")
            obj = func(*args, **keywords)
            self.placeholders[func.qualified_name()] += 1
            return obj
        if self._allowlist.is_vetted_callable(func):
            result: object = func(*args, **keywords)  # type: ignore[operator]
            if isinstance(result, Placeholder):
                self.placeholders[type(result).qualified_name()] += 1
            return result
        raise self._refuse(f"calls {func!r}, which is not a vetted callable")

    def _new(self, cls: object, args: object, kwargs: object) -> object:
        """NEWOBJ: a contributed class gets pickle's own ``cls.__new__(cls, *args)`` (its
        ``__init__`` never runs, its state comes by BUILD); anything else goes through
        ``_call`` (placeholders record the arguments, vetted callables are called)."""
        if isinstance(cls, type) and self._allowlist.is_contributed(cls):
            if not isinstance(args, tuple) or not isinstance(kwargs, dict | None):
                raise _rebuild.MalformedError("NEWOBJ arguments are not a tuple")
            return cls.__new__(cls, *args, **(kwargs or {}))
        return self._call(cls, args, kwargs)

    def _instantiate(self, klass: Any, args: list[Any]) -> None:
        self.append(self._call(klass, tuple(args)))

    def _build(self, inst: object, state: object) -> None:
        if isinstance(inst, Placeholder):
            inst.__setstate__(state)
        elif type(inst) is np.ndarray:
            _rebuild.check_ndarray_state(state)
            inst.__setstate__(state)  # type: ignore[arg-type]
        elif isinstance(inst, np.dtype):
            _rebuild.check_dtype_state(inst, state)
            inst.__setstate__(state)  # type: ignore[attr-defined]
        elif isinstance(inst, collections.OrderedDict) and isinstance(state, dict):
            for key, value in state.items():
                if not isinstance(key, str) or key.startswith("__"):
                    raise _rebuild.MalformedError(f"{key!r} is not a plain attribute name")
                setattr(inst, key, value)
        elif self._allowlist.is_contributed(type(inst)):
            self.stack.append(state)  # a class a plugin or the caller vetted: pickle's own BUILD
            _PICKLE_BUILD(self)
        else:
            raise _rebuild.MalformedError(f"the pickle sets the state of a {type(inst).__name__}")


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
