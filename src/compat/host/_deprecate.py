"""Emitting one deprecation: find the caller, count the use, refuse removed APIs, warn once.

The caller is the first frame outside this machinery (this module, the shim helpers, the
legacy-import loader and importlib's bootstrap), so a warning points at the user's line
however many wrappers, descriptors or import frames sit in between. A use from inside the
top-level package that owns the shim is the library talking to itself: it neither warns
nor counts, which is how "shown for code outside the library" is decided.
"""

from __future__ import annotations

import functools
import sys
import threading
import warnings
from pathlib import Path
from types import FrameType

from checkpoint.errors import CompatDeprecationWarning, RemovedAPIError
from compat.deprecations import Deprecation
from compat.host._config import ENV_STRICT, env_flag
from compat.host._ledger import LEDGER, CallSite

_HERE = Path(__file__).parent
_MACHINERY = frozenset(str(_HERE / name) for name in ("_deprecate.py", "_shims.py", "_aliases.py"))

# Python hides DeprecationWarning outside __main__; ours must reach the code that has to
# migrate. The filter covers this one category and stays out of the way of explicit -W options.
if not sys.warnoptions:
    warnings.filterwarnings("default", category=CompatDeprecationWarning)


def warn_deprecated(deprecation: Deprecation, *, stacklevel: int = 2) -> None:
    """Warn that the function calling this is deprecated, as ``warnings.warn`` would.

    `stacklevel` counts frames outside the compat machinery: 1 is the function calling
    ``warn_deprecated``, 2 (the default) its caller. Counted in the usage ledger; raises
    under ``COMPAT_STRICT=1`` and once the installed version reaches ``removed_in``.
    """
    shim = _outside_frame(1)
    emit(deprecation, owner=shim.f_globals.get("__name__", "") if shim else "", depth=stacklevel)


def emit(deprecation: Deprecation, *, owner: str, depth: int = 1) -> None:
    """Report one use of `deprecation` by the `depth`-th frame outside the machinery.

    `owner` is the module defining the shim; uses from its own top-level package are ignored.
    """
    caller = _outside_frame(depth)
    if caller is None or _package(caller.f_globals.get("__name__", "")) == _package(owner):
        return
    site = CallSite(caller.f_code.co_filename, caller.f_lineno)
    LEDGER.record(deprecation, site)
    if is_removed(deprecation):
        raise RemovedAPIError(
            deprecation.name,
            deprecation.distribution,
            deprecation.removed_in,
            deprecation.replacement,
            deprecation.hint,
        )
    message = deprecation.warning_message()
    if env_flag(ENV_STRICT):
        raise CompatDeprecationWarning(f"{message} (at {site}; strict because {ENV_STRICT}=1)")
    key = deprecation.name, site
    if _WARNED.claim(key):
        try:
            warnings.warn_explicit(
                message,
                CompatDeprecationWarning,
                site.filename,
                site.lineno,
                module=caller.f_globals.get("__name__", "<unknown>"),
            )
        except BaseException:
            _WARNED.release(key)
            raise


def is_removed(deprecation: Deprecation) -> bool:
    from packaging.version import Version

    installed = installed_version(deprecation.distribution)
    return installed is not None and Version(installed) >= Version(deprecation.removed_in)


@functools.cache
def installed_version(distribution: str) -> str | None:
    """The installed version of `distribution` (tests patch this to reach ``removed_in``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


class _WarnedSites:
    """The (API, call site) pairs that already warned, so each warns once.

    Kept by us rather than by the ``warnings`` registry so it holds under an "always" filter
    (pytest installs one for DeprecationWarning). Forgotten whenever ``warnings.catch_warnings``
    swaps in a new filter list, so every such block (a pytest test, ``pytest.warns``) sees
    the first use at each site again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._filters: object = None
        self._seen: set[tuple[str, CallSite]] = set()

    def claim(self, key: tuple[str, CallSite]) -> bool:
        with self._lock:
            if self._filters is not warnings.filters:
                self._filters = warnings.filters
                self._seen.clear()
            if key in self._seen:
                return False
            self._seen.add(key)
            return True

    def release(self, key: tuple[str, CallSite]) -> None:
        with self._lock:
            self._seen.discard(key)


_WARNED = _WarnedSites()


def _outside_frame(depth: int) -> FrameType | None:
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if not _is_machinery(frame.f_code.co_filename):
            depth -= 1
            if depth == 0:
                return frame
        frame = frame.f_back
    return None


def _is_machinery(filename: str) -> bool:
    return filename in _MACHINERY or ("importlib" in filename and "_bootstrap" in filename)


def _package(module: str) -> str:
    return module.partition(".")[0]
