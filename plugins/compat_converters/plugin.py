"""The hook implementation that contributes the first-party converter chain."""

from __future__ import annotations

from collections.abc import Mapping

import compat
from compat import Converter

from ._chain import INDEX


@compat.hookimpl
def compat_converters() -> Mapping[tuple[str, str], Converter]:
    return INDEX
