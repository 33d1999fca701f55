"""Ground truth for ``PolicyRecord.num_params()`` on the real Metta files, by a route that
shares no code with the safe engine.

The shared MANIFEST lists no parameter counts, and Metta's classes are not installed. So
the record is read by torch's own weights-only unpickler (``torch.load(weights_only=True)``,
which never imports anything), told to build each class the file names as a stand-in:
an empty ``nn.Module`` subclass for Metta's agent and layer classes, torch's real
``nn.Module`` classes for torch's, inert objects for numpy, omegaconf and gymnasium values.
``nn.Module.__setstate__`` restores each module's ``_parameters`` and ``_modules``, so
``policy.parameters()`` is torch's own, and the count is Metta's own expression,
``sum(p.numel() for p in policy.parameters() if p.requires_grad)``.
"""

from __future__ import annotations

import importlib
import pickletools
import zipfile
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from pathlib import Path
from typing import Any

import torch
from torch import nn

#: Metta classes that were ``nn.Module`` subclasses (agents and their layers).
_MODULE_PREFIXES = ("metta.agent.lib.", "metta.agent.component_polic", "metta.agent.policies.")
_MODULE_CLASSES = ("metta.agent.metta_agent.MettaAgent",)
#: PolicyMetadata is a dict subclass; torch's unpickler fills only real dicts.
_DICTS = ("metta.agent.policy_metadata.PolicyMetadata",)


class _Inert:
    """A value of a library that is not installed (numpy, omegaconf, gymnasium)."""

    def __setstate__(self, state: object) -> None:
        self.pickled_state = state


def _inert_call(*args: object, **kwargs: object) -> _Inert:
    return _Inert()


def _data_pickle(path: Path) -> bytes:
    with zipfile.ZipFile(path) as archive:
        [name] = [n for n in archive.namelist() if n.endswith("/data.pkl")]
        return archive.read(name)


def _globals(data: bytes) -> set[tuple[str, str]]:
    """``(module, name)`` of every global the pickle names (GLOBAL and STACK_GLOBAL)."""
    found: set[tuple[str, str]] = set()
    strings: list[str] = []
    for opcode, arg, _ in pickletools.genops(data):
        if opcode.name == "GLOBAL":
            module, name = str(arg).split(" ", 1)
            if (module, name) in NAME_MAPPING:  # protocol 2 names, as unpicklers map them
                module, name = NAME_MAPPING[module, name]
            found.add((IMPORT_MAPPING.get(module, module), name))
        elif opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(str(arg))
        elif opcode.name == "STACK_GLOBAL":
            found.add((strings[-2], strings[-1]))
    return found


def _stand_in(module: str, name: str) -> object:
    qualified = f"{module}.{name}"
    if module in ("builtins", "collections", "_codecs", "typing") or module.startswith("torch"):
        return getattr(importlib.import_module(module), name)
    if qualified in _DICTS:
        return dict
    if qualified in _MODULE_CLASSES or qualified.startswith(_MODULE_PREFIXES):
        return type(name, (nn.Module,), {"__module__": module})
    if name[:1].isupper():
        return type(name, (_Inert,), {"__module__": module})
    return _inert_call


def policy_of_record(path: Path) -> nn.Module:
    """The agent a pickled PolicyRecord wraps, rebuilt from stand-ins by torch."""
    safe: list[Any] = [(_Inert, f"{__name__}._Inert")]
    for module, name in sorted(_globals(_data_pickle(path))):
        if module == "torch._utils" or (module == "torch" and name.endswith("Storage")):
            continue  # torch's weights-only unpickler has its own
        safe.append((_stand_in(module, name), f"{module}.{name}"))
    with torch.serialization.safe_globals(safe):
        record = torch.load(path, weights_only=True, map_location="cpu")
    attributes = getattr(record, "pickled_state", None)
    assert isinstance(attributes, dict), f"{path}: not a pickled record"
    policy = attributes["_cached_policy"]
    assert isinstance(policy, nn.Module)
    return policy


def trainable_parameters(path: Path) -> int:
    policy = policy_of_record(path)
    return sum(p.numel() for p in policy.parameters() if p.requires_grad)
