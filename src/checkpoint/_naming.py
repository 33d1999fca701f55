"""File names: the v1 scheme and the legacy schemes it must still recognise.

A v1 checkpoint of run ``r`` at epoch 5 is ``r.e00000005.pt`` (weights),
``r.e00000005.yaml`` (sidecar, committed last) and optionally
``r.e00000005.trainer.pt`` (trainer state). The epoch is zero-padded to eight
digits so that names sort by epoch; larger epochs still parse.

The legacy schemes are those of SPEC §3, as Metta wrote them: ``model_0005.pt``
(PolicyStore), ``<run>__e5__s1000__t12__sc9000.pt`` (Sep 2025; ``sc`` is
``int(score * 10000)``), ``<run>:v5.pt`` (Sep 2025), ``<run>:v5.mpt`` (Oct 2025),
the bundle ``<run>:v5/`` or ``<run>:v5.zip`` (Jan 2026) and ``trainer_state.pt``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from .errors import InvalidCheckpointRequestError

WEIGHTS_SUFFIX = ".pt"
SIDECAR_SUFFIX = ".yaml"
TRAINER_SUFFIX = ".trainer.pt"
EPOCH_DIGITS = 8

_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=@,-]*")
_V1_NAME = re.compile(r"(?P<run>.+)\.e(?P<epoch>\d{8,})(?P<suffix>\.trainer\.pt|\.pt|\.yaml)")


class FileRole(Enum):
    WEIGHTS = "weights"
    SIDECAR = "sidecar"
    TRAINER = "trainer"


_ROLE_BY_SUFFIX = {
    WEIGHTS_SUFFIX: FileRole.WEIGHTS,
    SIDECAR_SUFFIX: FileRole.SIDECAR,
    TRAINER_SUFFIX: FileRole.TRAINER,
}


def validate_run_name(run_name: str) -> str:
    """Reject names that could escape the run directory or break the scheme."""
    if not isinstance(run_name, str) or not _RUN_NAME.fullmatch(run_name) or ".." in run_name:
        raise InvalidCheckpointRequestError(
            f"invalid run name {run_name!r}: use letters, digits and . _ - + = @ , "
            "starting with a letter or digit, with no path separators, whitespace or '..'"
        )
    return run_name


def validate_epoch(epoch: int) -> int:
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise InvalidCheckpointRequestError(f"invalid epoch {epoch!r}: epochs are integers >= 0")
    return epoch


def stem(run_name: str, epoch: int) -> str:
    return f"{run_name}.e{epoch:0{EPOCH_DIGITS}d}"


@dataclass(frozen=True, slots=True)
class V1Name:
    run_name: str
    epoch: int
    role: FileRole


def parse_v1_name(filename: str) -> V1Name | None:
    match = _V1_NAME.fullmatch(filename)
    if match is None or not _RUN_NAME.fullmatch(match["run"]):
        return None
    return V1Name(match["run"], int(match["epoch"]), _ROLE_BY_SUFFIX[match["suffix"]])


@dataclass(frozen=True, slots=True)
class LegacyName:
    """What a legacy file name tells about its checkpoint."""

    scheme: str
    run_name: str | None
    epoch: int | None
    agent_step: int | None = None
    total_time: int | None = None
    score: float | None = None


_LEGACY_SCHEMES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("policy_store", re.compile(r"model_(?P<epoch>\d+)\.pt")),
    (
        "simple_checkpoint_manager",
        re.compile(
            r"(?P<run>.+?)__e(?P<epoch>\d+)__s(?P<agent_step>\d+)"
            r"__t(?P<total_time>\d+)__sc(?P<score>-?\d+)\.pt"
        ),
    ),
    ("wandb_artifact", re.compile(r"(?P<run>.+):v(?P<epoch>\d+)\.pt")),
    ("policy_artifact", re.compile(r"(?P<run>.+):v(?P<epoch>\d+)\.mpt")),
    ("checkpoint_bundle", re.compile(r"(?P<run>.+):v(?P<epoch>\d+)(?:\.zip)?")),
    ("trainer_state", re.compile(r"trainer_state\.pt")),
)

#: ``sc`` in ``<run>__e5__s1000__t12__sc9000.pt`` is ``int(score * 10000)`` (Metta's
#: ``CheckpointManager`` of Sep 2025, which read it back as ``int(sc) / 10000.0``).
SCORE_SCALE = 10000.0


def _number(fields: dict[str, str | None], key: str) -> int | None:
    value = fields.get(key)
    return int(value) if value is not None else None


def parse_legacy_name(filename: str) -> LegacyName | None:
    """Recognise the file-name schemes of SPEC §3 that predate v1.

    A bundle (``<run>:v5``) is recognised by its directory name as well as by its zip's.
    The score of a Sep 2025 name is ``sc / 10000``; a negative one (``sc-5000``, which
    Metta wrote for a negative score but could not read back) is recognised too.
    """
    for scheme, pattern in _LEGACY_SCHEMES:
        match = pattern.fullmatch(filename)
        if match is None:
            continue
        fields = match.groupdict()
        score = _number(fields, "score")
        return LegacyName(
            scheme=scheme,
            run_name=fields.get("run"),
            epoch=_number(fields, "epoch"),
            agent_step=_number(fields, "agent_step"),
            total_time=_number(fields, "total_time"),
            score=score / SCORE_SCALE if score is not None else None,
        )
    return None
