"""How an unpickler resolves the name of a global, for every reader in this distribution.

``pickle.Unpickler.find_class`` does not use a global's name as written: a protocol-2 pickle
names Python 2 modules (``__builtin__``, ``copy_reg``, ``commands``, ``cPickle``), which it
maps to Python 3's through ``_compat_pickle``, and from protocol 4 a name may be a dotted
path walked attribute by attribute (``torch.serialization`` + ``os.system`` reaches
``os.system``). torch's own unpickler adds one module rename. A reader that classified the
name as written would judge one global and let the unpickler resolve another, so every
reader here (the manager's weights-only reader, the engine's static scan, its inert
unpicklers and its trusted one) resolves names with this one function first.

The Python 2 mapping is applied whatever the protocol: a Python 2 module name means nothing
else in Python 3, so judging it as what it maps to can only be stricter.
"""

from __future__ import annotations

import pickle

__all__ = ["WALK", "resolve_global"]

#: Separates a module from an attribute walk: ``"torch.serialization:os.system"``.
WALK = ":"
#: ``torch.load``'s own renames (``torch.serialization``'s ``load_module_mapping``).
_TORCH_MODULES = {"torch.tensor": "torch._tensor"}
_COMPAT = pickle._compat_pickle  # type: ignore[attr-defined]  # the tables find_class uses


def resolve_global(module: str, name: str) -> str:
    """``module.name`` as an unpickler resolves it; ``module:dotted.name`` for a walk."""
    if (module, name) in _COMPAT.NAME_MAPPING:
        module, name = _COMPAT.NAME_MAPPING[(module, name)]
    elif module in _COMPAT.IMPORT_MAPPING:
        module = _COMPAT.IMPORT_MAPPING[module]
    module = _TORCH_MODULES.get(module, module)
    return f"{module}{WALK if '.' in name else '.'}{name}"
