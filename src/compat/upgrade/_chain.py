"""Running the converter chain that plugins contribute through ``compat_converters``.

The chain is resolved in the calling process (so its plugin switches apply) and is a plain
mapping of module-level functions, which ``ckpt migrate`` ships to its worker processes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from checkpoint.errors import UnconvertibleCheckpointError
from compat.host._hookspecs import Converter, ConverterKey
from compat.host._pluginhost import get_host

#: The format a chain ends at; a v1 checkpoint starts there and is left as it is.
TERMINAL: ConverterKey = ("v1", "1")
#: The first-party plugin whose converters cover the legacy formats.
FIRST_PARTY = "converters"
#: More steps than any real chain takes: a longer one is a loop between plugins.
MAX_STEPS = 64

ConverterIndex = Mapping[ConverterKey, Converter]


def converter_index() -> dict[ConverterKey, Converter]:
    """Every enabled plugin's converters; on a clash the plugin that ran first wins."""
    index: dict[ConverterKey, Converter] = {}
    for contributed in get_host().hook.compat_converters():
        for key, converter in contributed.items():
            index.setdefault(key, converter)
    return index


def _step_name(key: ConverterKey, converter: Converter) -> str:
    name = getattr(converter, "__qualname__", type(converter).__qualname__)
    return f"{key[0]}@{key[1]}: {getattr(converter, '__module__', '?')}.{name}"


def _no_converter(key: ConverterKey, index: ConverterIndex) -> str:
    """Why no converter applies, and the fix: enable ours if it is off, else add one."""
    known = ", ".join(sorted({fmt for fmt, version in index if version == "0"})) or "none"
    message = f"no enabled plugin converts format {key[0]!r} version {key[1]!r} (known: {known})"
    off = get_host().disablement(FIRST_PARTY)
    if off is not None:
        return f"{message}; the `{FIRST_PARTY}` plugin is off ({off.reason}): {off.remedy}"
    return f"{message}; a plugin can add one through the compat_converters hook"


def run_chain(
    draft: dict[str, object], index: ConverterIndex, source: Path
) -> tuple[dict[str, object], list[str]]:
    """Apply converters until the draft is v1; return it and the steps applied, in order."""
    applied: list[str] = []
    key = (str(draft.get("format")), str(draft.get("version")))
    while key != TERMINAL:
        converter = index.get(key)
        if converter is None:
            raise UnconvertibleCheckpointError(_no_converter(key, index), source)
        if len(applied) >= MAX_STEPS:
            raise UnconvertibleCheckpointError(
                f"the converter chain did not reach v1 in {MAX_STEPS} steps ({applied[-1]}); "
                "a plugin's converters loop: disable it",
                source,
            )
        try:
            result = converter(dict(draft))
        except Exception as exc:
            raise UnconvertibleCheckpointError(
                f"converter {_step_name(key, converter)} failed ({type(exc).__name__}: {exc}); "
                "report it to the plugin's authors, or disable that plugin",
                source,
            ) from exc
        if not isinstance(result, dict):
            raise UnconvertibleCheckpointError(
                f"converter {_step_name(key, converter)} returned a "
                f"{type(result).__name__}, not a dict; report it to the plugin's authors",
                source,
            )
        applied.append(_step_name(key, converter))
        draft = result
        key = (str(draft.get("format")), str(draft.get("version")))
    return draft, applied
