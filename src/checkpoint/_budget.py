"""The resource budget of reading one file (README, "Resource budget"; SECURITY.md).

Reading a file may make this distribution hold at most ``max(4 x file size, 256 MiB)``
beyond the file's own tensors: every length, count and shape a file declares is checked
against it before anything is allocated.
"""

from __future__ import annotations

__all__ = ["BUDGET_FACTOR", "BUDGET_FLOOR", "memory_budget"]

BUDGET_FACTOR = 4
BUDGET_FLOOR = 256 << 20


def memory_budget(file_size: int) -> int:
    """The bytes reading a file of ``file_size`` may allocate."""
    return max(BUDGET_FACTOR * file_size, BUDGET_FLOOR)
