"""Where a conversion writes: a v1 run directory, run name and epoch.

``compat.convert(src, dst)`` takes ``dst`` as a v1 weights name (``<run>.e<8 digits>.pt``,
which fixes run and epoch) or an existing directory (run named after the source, epoch
from its content or legacy name). Any other name is refused with the name to use instead.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from checkpoint import run_name_of_directory
from checkpoint._naming import FileRole, parse_legacy_name, parse_v1_name, validate_run_name
from checkpoint._store import remote_url
from checkpoint.errors import ConversionTargetError

_NOT_IN_RUN_NAMES = re.compile(r"[^A-Za-z0-9._+=@,-]+")
#: Names that only count steps, of a run named by the directory: transformers'
#: ``checkpoint-500/``, Lightning's ``epoch=3-step=400.ckpt`` and ``last.ckpt``.
_COUNTER_NAMES = re.compile(
    r"checkpoint[-_]\d+|epoch=\d+-step=\d+(-v\d+)?\.ckpt|last(-v\d+)?\.ckpt"
)


@dataclass(frozen=True, slots=True)
class Target:
    run_dir: Path
    run_name: str
    #: Fixed by the destination's name; ``None``: the content's (or legacy name's) epoch, else 0.
    epoch: int | None = None
    #: The epoch a trainer state that tells none pairs with (``migrate``: the newest in its run).
    trainer_epoch: int = 0
    #: A stem the caller chose instead of the v1 name (``new.pt``): the files are renamed to
    #: it once committed, and no manager lists them.
    stem: str | None = None


def safe_run_name(name: str) -> str:
    """``name`` made into a valid run name (``daphne:v100`` -> ``daphne_v100``)."""
    cleaned = _NOT_IN_RUN_NAMES.sub("_", name).replace("..", "_").lstrip("._+=@,-")
    return validate_run_name(cleaned or "run")


def run_name_for(source: Path) -> str:
    """The run a file belongs to: from its v1 or legacy name, its directory, or its stem.
    A name that only counts steps (``checkpoint-500/``, ``epoch=3-step=400.ckpt``) belongs
    to the run of its directory."""
    if _COUNTER_NAMES.fullmatch(source.name):
        return safe_run_name(run_name_of_directory(source.parent))
    v1 = parse_v1_name(source.name)
    if v1 is not None:
        return v1.run_name
    legacy = parse_legacy_name(source.name)
    if legacy is not None and legacy.run_name:
        return safe_run_name(legacy.run_name)
    if legacy is not None:
        return safe_run_name(run_name_of_directory(source.parent))
    return safe_run_name(source.stem)


def target_of(source: Path | str, destination: str | os.PathLike[str]) -> Target:
    """Where ``ckpt convert SRC DST`` and ``compat.convert`` write.

    ``DST`` is a directory (existing, or ending in ``/``: created), a v1 name
    ``<run>.e<8 digits>.pt`` (run and epoch fixed), or any other ``name.pt``, written as is
    with its sidecar beside it (``name.yaml``). Both are local: a URL goes through
    ``compat.upgrade._remote``, which stages it locally first.
    """
    for location in (source, destination):
        if remote_url(location) is not None:  # a Path would fold s3://b/run/ into s3:/b/run
            raise ValueError(f"{location}: a URL, not a local path")
    source = Path(source)
    text = str(destination)
    path = Path(destination)
    if path.is_dir() or text.endswith(("/", "\\")):
        return Target(path, run_name_for(source))
    parsed = parse_v1_name(path.name)
    if parsed is not None and parsed.role is FileRole.WEIGHTS:
        return Target(path.parent, parsed.run_name, parsed.epoch)
    if path.suffix != ".pt" or path.name.endswith((".trainer.pt", ".yaml")):
        raise ConversionTargetError(
            "is not a name for weights: name it <something>.pt (a v1 name like "
            f"{run_name_for(source)}.e00000005.pt makes it one of a run's checkpoints), or "
            "end it with / to write into a directory",
            path,
        )
    return Target(path.parent, run_name_for(source), stem=path.name.removesuffix(".pt"))


def v1_name_hint(target: Target, epoch: int) -> str | None:
    """For a free-form name, the warning that managers list only v1 names, and the v1 name."""
    if target.stem is None:
        return None
    return (
        f"{target.stem}.pt is not a v1 checkpoint name, so CheckpointManager and `ckpt ls` "
        f"will not list it; name it {target.run_name}.e{epoch:08d}.pt to make it one of the "
        f"checkpoints of run {target.run_name!r}"
    )
