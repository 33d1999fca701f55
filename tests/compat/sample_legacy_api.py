"""Deprecated shims for the warning tests, in a module of their own as real shims are.

A use from the shim's own top-level package is the library talking to itself and does not
warn, so the shims cannot live in the test modules that call them.
"""

from __future__ import annotations

import compat
from compat import Deprecation

FUNCTION = Deprecation("sample.old_function", "0.1", "9.0", "sample.new_function", "rename")
METHOD = Deprecation("sample.Service.old_method", "0.1", "9.0", "Service.new_method", "rename")
PROPERTY = Deprecation("sample.Service.size", "0.1", "9.0", "Service.capacity", "rename")
CLASS = Deprecation("sample.OldThing", "0.1", "9.0", "sample.NewThing", "swap the class")
ATTRIBUTE = Deprecation("sample.OLD_NAME", "0.1", "9.0", "sample.NEW_NAME", "rename")
KEYWORD = Deprecation("sample.make_cache(size=)", "0.1", "9.0", "capacity=", "rename it")
ELSEWHERE = Deprecation(
    "acme.thing", "1.0", "2.0", "acme.other", "ask acme", distribution="acme-compat"
)

NEW_NAME = "new"


@compat.deprecated(FUNCTION)
def old_function(value: int) -> int:
    return value * 2


def internal_use() -> int:
    """The library calling its own shim: neither warns nor counts."""
    return old_function(1)


def elsewhere() -> None:
    compat.warn_deprecated(ELSEWHERE)


class Service:
    def __init__(self) -> None:
        self._capacity = 1

    @compat.deprecated(METHOD)
    def old_method(self) -> str:
        return "method"

    def _get_size(self) -> int:
        return self._capacity

    def _set_size(self, value: int) -> None:
        self._capacity = value

    size = compat.deprecated(PROPERTY)(property(_get_size, _set_size))


@compat.deprecated(CLASS)
class OldThing:
    def __init__(self, value: int) -> None:
        self.value = value


@compat.renamed_kwarg("size", "capacity", KEYWORD)
def make_cache(capacity: int = 10) -> int:
    return capacity


__getattr__ = compat.deprecated_attributes(__name__, {"OLD_NAME": (ATTRIBUTE, NEW_NAME)})
