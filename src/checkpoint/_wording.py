"""Wording shared by every message this distribution prints."""

from __future__ import annotations

__all__ = ["plural"]

_IRREGULAR = {"class": "classes", "index": "indexes", "entry": "entries"}


def plural(count: int, noun: str) -> str:
    """``"1 file"``, ``"3 files"``, ``"2 classes"``."""
    return f"{count} {noun if count == 1 else _IRREGULAR.get(noun, noun + 's')}"
