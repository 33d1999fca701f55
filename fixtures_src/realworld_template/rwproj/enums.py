"""User-side enums that end up in pickled hyper-parameters."""

import enum


class Mode(enum.Enum):
    """A plain Enum in a LightningModule's hparams."""

    FAST = "fast"
    SLOW = "slow"


class Stage(enum.IntEnum):
    """An IntEnum (pickled by value before 3.11 and from 3.11.5 on, by name in 3.11.0-3.11.4)."""

    WARMUP = 1
    MAIN = 2
