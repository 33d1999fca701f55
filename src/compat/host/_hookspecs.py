# mypy: disable-error-code="empty-body"
# (a hook specification is a signature and a docstring; plugins supply the bodies)
"""The hooks a compat plugin may implement: the contract between the host and its plugins.

A plugin is a module (or any object) with functions named after these hooks and decorated
with ``compat.hookimpl``; it implements only the hooks it needs. In one process the host
calls them in this order:

1. ``compat_configure`` once, right after the plugins found at start-up are registered.
   It is historic: a plugin registered later gets the same call at registration, so it is
   always the first hook any plugin sees.
2. ``compat_legacy_aliases`` right after that, and again after each enable, disable,
   register or unregister (the alias table is rebuilt).
3. ``compat_legacy_api_used`` after each use of a deprecated API, once the use is counted.
4. ``compat_safe_globals``, ``compat_choose_load_strategy``, ``compat_materialisers``,
   ``compat_checkpoint_layouts`` and ``compat_converters`` when the safe loading engine opens
   or converts a file.
5. ``compat_resolve_uri`` when legacy code names a remote URI (``wandb://``), and
   ``compat_add_to_wandb_artifact`` when it uploads a checkpoint (``add_to_wandb_run``).

Within one hook, pluggy's order applies: later-registered plugins run first, ``tryfirst`` /
``trylast`` move an implementation to the front or back, and ``wrapper=True`` implementations
(new-style hook wrappers, for timing or auditing) surround all the others.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol, TypedDict

import pluggy

if TYPE_CHECKING:
    from packaging.version import Version

    from compat.deprecations import Deprecation
    from compat.host._config import Settings
    from compat.host._ledger import CallSite

PROJECT = "compat"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class LegacyAlias(NamedTuple):
    """A legacy module path and the module that serves it now."""

    #: What old code imports, e.g. ``"metta.agent.policy_store"``.
    legacy: str
    #: The module imported in its place; ``import legacy`` returns this very module object.
    target: str
    #: The registry entry whose warning fires when the legacy path is imported.
    deprecation: Deprecation


class SafeGlobals(TypedDict, total=False):
    """What a plugin lets the safe loader resolve for real, by ``"module.QualName"``."""

    #: Classes or functions vetted as safe to rebuild from a file.
    allow: Sequence[str]
    #: Old global -> the current one to rebuild it as (a class that moved or was renamed).
    renames: Mapping[str, str]


class LoadStrategy(Protocol):
    """How to read one kind of weights-only file on the running torch.

    Called only for files whose every global torch's weights-only unpickler accepts and
    that the engine's own C unpickler may not read (its static scan could not prove every
    BUILD harmless); it returns the unpickled object, or ``None`` to leave the file to the
    inert engine's opcode-watching unpickler.
    """

    #: Recorded as ``LoadResult.strategy``, e.g. ``"torch>=2.6 weights_only+mmap"``.
    name: str

    def __call__(self, path: Path, /) -> object | None: ...


class Converter(Protocol):
    """One upgrade step of a legacy checkpoint's plain data (a pure function).

    ``compat.convert`` starts from a draft at ``format`` = the detected format
    (``policy_record``, ``agent``, ``state_dict``, ``raw_dict``, ``trainer_state``,
    ``optimizer``) and ``version`` = ``"0"``, holding ``state_dict`` (name -> tensor),
    ``metadata``, ``trainer_state``, ``file_name`` (what a legacy name tells) and
    ``legacy_classes``. It applies the converter keyed by the draft's (format, version)
    until it reaches ``("v1", "1")``, which must hold ``state_dict``, ``figures``
    (``epoch``, ``agent_step``, ``total_time``, ``score``; ``None`` when unknown),
    ``legacy_metadata`` and ``trainer_state`` (``{"optimizer": ..., "extra": {...}}`` or
    ``None``). Return a new dict; never mutate the argument. Converters must be
    module-level functions: ``ckpt migrate`` pickles them to its worker processes.
    """

    def __call__(self, checkpoint: dict[str, object], /) -> dict[str, object]: ...


class InertObject(Protocol):
    """An object of a class the safe loader kept inert: what its pickle said, nothing run."""

    args: tuple[object, ...]
    kwargs: dict[str, object]
    #: What ``__setstate__`` would have received (usually the instance ``__dict__``).
    state: object
    #: SETITEM pairs (dict subclasses) and appends (list subclasses).
    items: dict[object, object]
    listitems: list[object]

    def qualified_name(self) -> str: ...


class BundleMember(NamedTuple):
    """How the engine reads one file of a checkpoint made of several (a ``Layout``)."""

    #: Its key in the combined checkpoint: ``"state_dict"`` for the weights; training state
    #: by name (``"optimizer"``, ``"scheduler"``, ``"rng"``...); anything else is metadata.
    role: str
    #: ``"checkpoint"``: any file ``compat.load`` reads (a torch pickle, safetensors);
    #: ``"json"``; ``"text"``; ``"pickled_json"``: JSON whose ``":serialized:"`` values are
    #: base64 pickles (Stable-Baselines3's ``data``), each read by the inert engine.
    reader: Literal["checkpoint", "json", "text", "pickled_json"]


class Layout(Protocol):
    """A checkpoint stored as several files: a directory, or a zip archive of them.

    The engine reads every member through its own safe readers; a layout only says which
    files make one checkpoint and what each is.
    """

    #: The format converters are keyed by, e.g. ``"transformers_trainer"``.
    name: str

    def members(self, names: Collection[str], /) -> Mapping[str, BundleMember] | None:
        """``file name -> member`` if the files ``names`` (one directory, or one archive,
        not recursive) are a checkpoint of this layout, else ``None``. Files it leaves out
        are ignored."""
        ...


#: Turns an inert object into plain data; the second argument converts nested values
#: (with the engine's depth and cycle limits), e.g. ``plain(obj.state["_content"])``.
Materialiser = Callable[[InertObject, Callable[[object], object]], object]

#: (source format, source format version), e.g. ``("policy_record", "1")``.
ConverterKey = tuple[str, str]


@hookspec(historic=True)
def compat_configure(settings: Settings) -> None:
    """Receive the resolved switches (``[tool.compat]`` table included) before anything else.

    Called once per process after start-up registration, and for a late plugin at its
    registration. Return nothing.
    """


@hookspec
def compat_legacy_aliases() -> Iterable[LegacyAlias]:
    """Declare the legacy module paths this plugin serves.

    Called when the host starts and whenever the set of plugins changes. Return the
    aliases. One may not shadow the standard library or this distribution's own packages
    (the essential ``core`` plugin drops such entries and reports them). A top-level name
    missing from ``_checkpoint_compat_startup.LEGACY_PREFIXES`` is importable only once the host has
    loaded in the process (any ``compat.plugins`` call or first-party legacy import does).
    """


@hookspec
def compat_safe_globals() -> SafeGlobals:
    """Contribute classes the safe loader may rebuild, and renames of moved classes.

    Called when the safe loading engine builds its allowlist. Return a ``SafeGlobals``.
    """


@hookspec
def compat_materialisers() -> Mapping[str, Materialiser]:
    """Contribute plain-data views of classes the safe loader keeps inert.

    Called when ``compat.load`` turns metadata, configs and trainer counters into plain
    data. Return ``{"module.QualName": materialiser}``; a class no plugin materialises is
    shown as its attributes under ``"__class__"``. A key contributed by a plugin that ran
    earlier keeps that plugin's materialiser.
    """


@hookspec
def compat_checkpoint_layouts() -> Iterable[Layout]:
    """Contribute layouts of checkpoints stored as several files (a directory or an archive).

    Called when the engine meets a directory or a zip archive that is not a torch file. The
    first layout (in hook order) whose ``members`` accepts the files wins. Return layouts.
    """


@hookspec(firstresult=True)
def compat_choose_load_strategy(file_format: str, torch_version: Version) -> LoadStrategy | None:
    """Choose how to load a file of `file_format` on the running `torch_version`.

    Called when the engine opens a weights-only file its C unpickler may not read; the
    first non-``None`` result wins. Return a ``LoadStrategy``, or ``None`` to let the next
    plugin decide.
    """


@hookspec
def compat_converters() -> Mapping[ConverterKey, Converter]:
    """Contribute converters keyed by (source format, source format version).

    Called when the engine builds its conversion chain. Return the mapping; a key already
    contributed by a plugin that ran earlier keeps that plugin's converter.
    """


@hookspec(firstresult=True)
def compat_resolve_uri(uri: str) -> Sequence[Path] | None:
    """Turn a remote checkpoint URI (``wandb://...``, ``s3://...``) into local files.

    Called when legacy code names a URI whose scheme the shims cannot open themselves; the
    first non-``None`` result wins. Return the local checkpoint paths (downloaded or cached),
    or ``None`` if this plugin does not serve the scheme.
    """


@hookspec(firstresult=True)
def compat_add_to_wandb_artifact(
    name: str,
    artifact_type: str,
    metadata: Mapping[str, object],
    file_path: str,
    additional_files: Sequence[str],
    wandb_run: object,
) -> str | None:
    """Upload a checkpoint file as a W&B artifact, as the PolicyStore's
    ``add_to_wandb_artifact`` did (``wandb.Artifact(name, type=artifact_type,
    metadata=metadata)`` holding ``file_path`` as ``model.pt`` and each additional file,
    logged to ``wandb_run``).

    Called when legacy code calls ``PolicyStore.add_to_wandb_run``, ``add_to_wandb_sweep``
    or ``add_to_wandb_artifact``; the first non-``None`` result wins. ``wandb_run`` is the
    run the store was built with (``None`` if none). Return the artifact's qualified name,
    or ``None`` to leave the upload to another plugin.
    """


@hookspec
def compat_legacy_api_used(deprecation: Deprecation, site: CallSite) -> None:
    """Observe one use of a deprecated API at `site` (for telemetry or audits).

    Called after the usage ledger counted it, in the thread that made the call, while the
    host is loaded. Return nothing; an exception propagates to the legacy caller.
    """
