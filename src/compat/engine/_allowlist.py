"""Which globals a checkpoint may name, and what each one resolves to in the inert engine.

The decision is allowlist-based: a global is either vetted here (or by a plugin), or it is
never called. The dangerous set only decides the wording of a refusal and makes that
refusal unconditional, even when the caller passed ``trust=True`` (SPEC §8).
"""

from __future__ import annotations

import collections
import functools
import importlib
from collections.abc import Iterable
from enum import StrEnum

from checkpoint._picklenames import WALK
from checkpoint._tensorpickle import STORAGE_TYPES, tensor_globals
from checkpoint.errors import PluginError
from compat.engine import _rebuild
from compat.host._hookspecs import SafeGlobals

__all__ = [
    "TRUST_REFUSED",
    "WEIGHTS_ONLY",
    "Allowlist",
    "Category",
    "canonical",
    "classify",
    "is_dangerous",
    "looks_like_function",
]


class Category(StrEnum):
    """What a global is, as far as a static reading of the pickle can tell."""

    TENSOR = "tensor machinery"
    CONTAINER = "standard container"
    NUMPY = "numpy"
    REFERENCE = "inert reference"
    PLUGIN = "allowed by a plugin"
    DANGEROUS = "known dangerous"
    UNKNOWN = "unknown"


#: Whole modules (and their submodules) whose globals are refused even with trust.
_DANGEROUS_MODULES = frozenset(
    {
        "os",
        "posix",
        "nt",
        "subprocess",
        "_posixsubprocess",
        "sys",
        "runpy",
        "pickle",
        "_pickle",
        "marshal",
        "importlib",
        "ctypes",
        "_ctypes",
        "shutil",
        "socket",
        "pty",
        "code",
        "codeop",
        "timeit",
        "multiprocessing",
        "webbrowser",
        "cProfile",
        "profile",
        "pdb",
        "bdb",
        "trace",
        "pydoc",
        "pkgutil",
    }
)

_GETTERS = ("attrgetter", "methodcaller", "itemgetter")

#: Single globals refused even with trust: they evaluate code, import, open or unpickle.
_DANGEROUS_NAMES = frozenset(
    {
        *(
            f"builtins.{name}"
            for name in (
                "eval",
                "exec",
                "compile",
                "__import__",
                "setattr",
                "delattr",
                "open",
                "input",
                "breakpoint",
                "globals",
                "locals",
                "vars",
            )
        ),
        "numpy.testing._private.utils.runstring",
        "numpy.load",
        "numpy.lib.npyio.load",
        "torch.load",
        "torch.serialization.load",
        "torch.storage._load_from_bytes",
        "torch._tensor._rebuild_from_type_v2",
        "torch.hub.load",
        "torch.fx.graph_module._exec_with_source",
        "torch.fx.graph_module._forward_from_src",
        "torch.jit.load",
        "torch.jit._serialization.load",
        *(f"{module}.{getter}" for module in ("operator", "_operator") for getter in _GETTERS),
    }
)


#: Refused only by ``load(trust=True)``, where unpickling is real: on the inert path these
#: make inert references (SPEC §8 as amended).
TRUST_REFUSED = frozenset({"builtins.getattr"})


def _vetted() -> dict[str, tuple[Category, object]]:
    tensor, container, numpy = Category.TENSOR, Category.CONTAINER, Category.NUMPY
    table: dict[str, tuple[Category, object]] = {
        name: (tensor, value) for name, value in tensor_globals().items()
    }
    table |= {
        "collections.OrderedDict": (container, collections.OrderedDict),
        "collections.defaultdict": (container, _rebuild.make_defaultdict),
        "copyreg._reconstructor": (container, _rebuild.reconstruct_placeholder),
        "_codecs.encode": (container, _rebuild.codecs_encode),
        "builtins.bytes": (container, _rebuild.make_bytes),
        "builtins.bytearray": (container, _rebuild.make_bytearray),
        "builtins.long": (container, int),
        "builtins.object": (container, object),
        "typing.Any": (container, _rebuild.Reference("typing.Any")),
        "builtins.getattr": (Category.REFERENCE, _rebuild.attribute_reference),
        "numpy.core.multiarray._reconstruct": (numpy, _rebuild.numpy_reconstruct),
        "numpy.core.multiarray.scalar": (numpy, _rebuild.numpy_scalar),
        "numpy.core.numeric._frombuffer": (numpy, _rebuild.numpy_frombuffer),
        "numpy.ndarray": (numpy, _rebuild.NDARRAY),
        "numpy.dtype": (numpy, _rebuild.numpy_dtype),
    }
    for kind in (int, float, complex, bool, slice):
        table[f"builtins.{kind.__name__}"] = (container, kind)
    checked = {
        "list": _rebuild.make_list,
        "tuple": _rebuild.make_tuple,
        "set": _rebuild.make_set,
        "frozenset": _rebuild.make_frozenset,
        "dict": _rebuild.make_dict,
        "str": _rebuild.make_str,
    }
    for name, constructor in checked.items():
        table[f"builtins.{name}"] = (container, constructor)
    return table


_VETTED = _vetted()
_VETTED_CALLABLES = frozenset(id(value) for _, value in _VETTED.values() if callable(value))

#: What torch's own weights-only unpickler accepts without extra safe globals.
WEIGHTS_ONLY = (
    frozenset(name for name, (category, _) in _VETTED.items() if category is Category.TENSOR)
    | {"collections.OrderedDict", "_codecs.encode"}
    | {"builtins.set", "builtins.complex"}
)
"""(``bytearray`` is left out: torch's weights-only unpickler takes ``bytearray(n)`` and
allocates ``n`` bytes, so such files go to the inert engine, whose ``bytearray`` never does.)"""


def canonical(name: str) -> str:
    """One spelling per global: numpy 2's ``numpy._core``, ``torch.cuda`` storages. (Python 2
    names were resolved already: ``checkpoint._picklenames.resolve_global``.)"""
    module, _, attr = name.rpartition(".")
    if module.startswith("numpy._core."):
        module = "numpy.core." + module.removeprefix("numpy._core.")
    elif (module == "torch.cuda" and attr in STORAGE_TYPES) or (
        module == "torch.storage" and attr == "UntypedStorage"
    ):
        module = "torch"
    return f"{module}.{attr}"


#: Dangerous modules that other modules commonly import: a global ``pkg.mod.os`` is the module
#: ``os`` itself, reached as an attribute of ``pkg.mod``. (``profile``, ``trace`` or ``code``
#: are left out here: they are common names of functions too.)
_IMPORTED_MODULES = frozenset(
    {"os", "posix", "nt", "sys", "subprocess", "builtins", "shutil", "socket", "pickle"}
    | {"_pickle", "marshal", "importlib", "ctypes", "runpy", "pty", "multiprocessing"}
)


def _names_dangerous(dotted: str) -> bool:
    return dotted in _DANGEROUS_NAMES or dotted.split(".", 1)[0] in _DANGEROUS_MODULES


@functools.lru_cache(maxsize=4096)  # a pure function of the name; files repeat their globals
def is_dangerous(name: str) -> bool:
    """Whether ``name`` (as ``resolve_global`` gives it) is in the set refused on every path.

    An attribute walk (``module:a.b.c``) leaves its module wherever a step is a module it
    imported, which no static reading can rule out: so each tail of the walk is judged as
    a name of its own (``torch.serialization:os.system`` names ``os.system``).
    """
    name = canonical(name)
    module, _, walk = name.partition(WALK)
    if _names_dangerous(name.replace(WALK, ".")) or _names_dangerous(module):
        return True
    steps = walk.split(".") if walk else [name.rpartition(".")[2]]
    return any(step in _IMPORTED_MODULES for step in steps) or any(
        _names_dangerous(".".join(steps[start:])) for start in range(1, len(steps))
    )


def looks_like_function(name: str) -> bool:
    """A lowercase last component: a function (its call is an inert call), not a class."""
    return name.rpartition(".")[2].lstrip("_")[:1].islower()


def classify(name: str, allowlist: Allowlist | None = None) -> Category:
    """The category of one global, read from its name alone (nothing is imported)."""
    if is_dangerous(name):
        return Category.DANGEROUS
    name = canonical(name).replace(WALK, ".")
    if name in _VETTED:
        return _VETTED[name][0]
    if allowlist is not None and name in allowlist.extra:
        return Category.PLUGIN
    return Category.UNKNOWN


class Allowlist:
    """The vetted table plus what plugins or the caller contribute (``SafeGlobals``)."""

    def __init__(self, contributions: Iterable[SafeGlobals] = ()) -> None:
        #: ``"module.Name"`` as written in files -> the importable object path it rebuilds as.
        self.extra: dict[str, str] = {}
        #: The old names of ``renames``: their classes are rebuilt, never called.
        self.renamed: set[str] = set()
        for contribution in contributions:
            for name in contribution.get("allow", ()):
                self.extra[canonical(name)] = name
            for old, new in contribution.get("renames", {}).items():
                self.extra[canonical(old)] = new
                self.renamed.add(canonical(old))
        self._resolved: dict[str, object] = {}
        self._renamed_ids: set[int] = set()

    def resolve(self, name: str) -> object | None:
        """The object ``name`` stands for, or ``None`` when it must stay inert.

        Raises ``LookupError`` for the dangerous set, which no contribution can allow.
        """
        if is_dangerous(name):
            raise LookupError(name)
        name = canonical(name).replace(WALK, ".")  # a vetted nested class is named dotted
        if name in _VETTED:
            return _VETTED[name][1]
        target = self.extra.get(name)
        if target is None:
            return None
        if target not in self._resolved:
            module, _, attr = target.rpartition(".")
            try:
                self._resolved[target] = getattr(importlib.import_module(module), attr)
                if name in self.renamed:
                    self._renamed_ids.add(id(self._resolved[target]))
            except (ImportError, AttributeError) as exc:
                raise PluginError(
                    f"safe global {name!r} is to be rebuilt as {target!r}, which cannot be "
                    f"imported ({exc}); fix the compat_safe_globals entry that names it"
                ) from exc
        return self._resolved[target]

    def is_contributed(self, obj: object) -> bool:
        """Whether ``obj`` is a class or function a plugin or the caller vetted."""
        return any(obj is value for value in self._resolved.values())

    def is_renamed(self, obj: object) -> bool:
        """Whether ``obj`` is the current class of a rename: rebuilt from state, never called."""
        return id(obj) in self._renamed_ids

    def is_vetted_callable(self, obj: object) -> bool:
        """Whether ``obj`` may be called with arguments taken from a file."""
        return id(obj) in _VETTED_CALLABLES or (
            self.is_contributed(obj) and not self.is_renamed(obj)
        )
