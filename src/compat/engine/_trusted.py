"""``load(trust=True)``: real objects of importable classes, and calls of vetted functions only.

Trusted unpickling builds what the file describes with the real classes, for the caller
who made the file and wants its objects back (``LoadResult.agent``). It is still not
``torch.load(weights_only=False)``, which calls whatever a file names:

- names are resolved as the unpickler resolves them (``resolve_global``); the dangerous set
  is refused, and so are the modules whose classes reach files, processes or the network
  when merely constructed (``io``, ``zipfile``, ``logging``...);
- an attribute walk (``module:a.b``) is followed step by step and refused where a step is a
  module, i.e. where it would leave the module the file named;
- a class may be instantiated (its ``__init__``, or ``__new__`` and ``__setstate__``, run:
  that is what trust means), but a function is called only if it is vetted: the checked
  rebuilds of the inert engine, and the few real constructors pickles use
  (``copyreg._reconstructor``, numpy's random generators). Anything else called, and
  anything that calls the result of a call, is refused;
- storages are read by the engine's own checked readers, from the bytes the scan read.
"""

from __future__ import annotations

import copyreg
import importlib
import pickle
from types import ModuleType
from typing import Any

from checkpoint._picklenames import WALK, resolve_global
from checkpoint._tensorpickle import MalformedError, StorageSource, storage_of
from checkpoint.errors import UnsafeCheckpointError
from compat.engine._allowlist import Allowlist, canonical, is_dangerous

__all__ = ["TRUSTED_FUNCTIONS", "TRUST_REFUSED_MODULES", "TrustedUnpickler"]

#: Modules whose classes touch files, processes, threads or the network when constructed.
TRUST_REFUSED_MODULES = frozenset(
    {
        "io",
        "_io",
        "pathlib",
        "zipfile",
        "tarfile",
        "tempfile",
        "logging",
        "fileinput",
        "mmap",
        "sqlite3",
        "shelve",
        "dbm",
        "http",
        "urllib",
        "ftplib",
        "smtplib",
        "asyncio",
        "threading",
        "_thread",
        "signal",
        "selectors",
        "select",
    }
)
#: Real functions pickles call, which trusted unpickling calls too (by resolved name).
TRUSTED_FUNCTIONS = frozenset(
    {
        "copyreg._reconstructor",
        "numpy.random._pickle.__generator_ctor",
        "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random._pickle.__randomstate_ctor",
    }
)
#: Vetted callables of the inert engine that build placeholders: trust builds real objects.
_REAL_INSTEAD = {"copyreg._reconstructor": copyreg._reconstructor}  # type: ignore[attr-defined]


class TrustedUnpickler(pickle._Unpickler):
    """The pure-Python unpickler with resolved, checked globals and checked calls."""

    stack: list[Any]
    append: Any

    def __init__(
        self,
        data: bytes | bytearray,
        *,
        source: str,
        allowlist: Allowlist,
        storages: StorageSource | None = None,
    ) -> None:
        import io

        self.stream = io.BytesIO(data)
        super().__init__(self.stream, encoding="utf-8")
        self._source = source
        self._allowlist = allowlist
        self._storages = storages
        self._callable: set[int] = set()

    @property
    def placeholders(self) -> dict[str, int]:
        return {}

    def _refuse(self, what: str) -> UnsafeCheckpointError:
        return UnsafeCheckpointError(
            f"refused with trust=True, nothing more was run: the pickle {what}. Load it "
            "without trust=True: the inert engine reads it without calling anything",
            self._source,
        )

    def find_class(self, module: str, name: str) -> Any:
        qualified = canonical(resolve_global(module, name))
        target_module, _, walk = qualified.partition(WALK)
        if not walk:
            target_module, _, walk = qualified.rpartition(".")
        if is_dangerous(qualified) or target_module.split(".")[0] in TRUST_REFUSED_MODULES:
            raise self._refuse(f"names {qualified}")
        dotted = qualified.replace(WALK, ".")
        if dotted in _REAL_INSTEAD:
            found: object = _REAL_INSTEAD[dotted]
        else:
            vetted = self._allowlist.resolve(qualified)
            found = vetted if vetted is not None else self._import(target_module, walk, qualified)
        if self._allowlist.is_vetted_callable(found) or dotted in TRUSTED_FUNCTIONS:
            self._callable.add(id(found))
        return found

    def _import(self, module: str, walk: str, qualified: str) -> object:
        try:
            found: object = importlib.import_module(module)
            for step in walk.split("."):
                found = getattr(found, step)
                if isinstance(found, ModuleType):
                    raise self._refuse(f"walks out of module {module} to {found.__name__}")
        except (ImportError, AttributeError) as exc:
            raise MalformedError(f"{qualified} cannot be imported ({exc})") from exc
        return found

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid:
            raise MalformedError("a persistent id is not a tuple")
        kind = pid[0].decode("ascii") if isinstance(pid[0], bytes) else pid[0]
        if kind == "module" and len(pid) == 4 and isinstance(pid[1], type):
            return pid[1]  # a legacy nn.Module class, named by the pickle like any class
        if kind != "storage" or self._storages is None:
            raise MalformedError(f"unexpected persistent id {kind!r}")
        return storage_of(pid, self._storages)

    def _call(self, func: object, args: object, kwargs: object = None) -> object:
        if not isinstance(args, tuple) or not isinstance(kwargs, dict | None):
            raise MalformedError("call arguments are not a tuple")
        if isinstance(func, type) or id(func) in self._callable:
            return func(*args, **(kwargs or {}))  # type: ignore[operator]
        name = getattr(func, "__qualname__", type(func).__qualname__)
        raise self._refuse(f"calls {name}, a function trust=True does not call")

    def _instantiate(self, klass: Any, args: list[Any]) -> None:
        """INST and OBJ: calls, like REDUCE."""
        self.append(self._call(klass, tuple(args)))

    def _new(self, cls: object, args: object, kwargs: object) -> object:
        if not isinstance(cls, type) or not isinstance(args, tuple):
            raise MalformedError("NEWOBJ of something that is not a class")
        return cls.__new__(cls, *args, **(kwargs if isinstance(kwargs, dict) else {}))


def _load_reduce(self: TrustedUnpickler) -> None:
    args = self.stack.pop()
    self.stack[-1] = self._call(self.stack[-1], args)


def _load_newobj(self: TrustedUnpickler) -> None:
    args = self.stack.pop()
    self.stack[-1] = self._new(self.stack[-1], args, None)


def _load_newobj_ex(self: TrustedUnpickler) -> None:
    kwargs = self.stack.pop()
    args = self.stack.pop()
    self.stack[-1] = self._new(self.stack[-1], args, kwargs)


_DISPATCH: dict[int, Any] = dict(pickle._Unpickler.dispatch)
_DISPATCH[pickle.REDUCE[0]] = _load_reduce
_DISPATCH[pickle.NEWOBJ[0]] = _load_newobj
_DISPATCH[pickle.NEWOBJ_EX[0]] = _load_newobj_ex
TrustedUnpickler.dispatch = _DISPATCH
