"""The host's own plugin: audits what other plugins contribute before the host relies on it.

Essential (see ``ESSENTIAL_PLUGINS`` in ``_checkpoint_compat_startup``): without it a plugin
could alias ``json`` or ``compat`` itself and take over the imports of unrelated code.
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Iterable

from compat.host._hookspecs import LegacyAlias, hookimpl
from compat.host._pluginhost import report_problem

_OWN_PACKAGES = frozenset({"compat", "checkpoint"})


@hookimpl(wrapper=True)
def compat_legacy_aliases() -> Generator[
    None, list[Iterable[LegacyAlias]], list[list[LegacyAlias]]
]:
    """Drop (and report) aliases that are malformed, shadow a protected name, or repeat one."""
    declared = yield
    accepted: dict[str, LegacyAlias] = {}
    kept: list[list[LegacyAlias]] = []
    for aliases in declared:
        kept.append([])
        for alias in aliases:
            problem = _problem_with(alias, accepted)
            if problem is None:
                accepted[alias.legacy] = alias
                kept[-1].append(alias)
            else:
                report_problem(
                    f"compat alias {alias.legacy!r} -> {alias.target!r} is refused: {problem}"
                )
    return kept


def _problem_with(alias: LegacyAlias, accepted: dict[str, LegacyAlias]) -> str | None:
    if not all(
        part.isidentifier() for name in (alias.legacy, alias.target) for part in name.split(".")
    ):
        return "both names must be dotted module paths"
    root = alias.legacy.partition(".")[0]
    if root in sys.stdlib_module_names:
        return f"it would shadow the standard library module {root!r}"
    if root in _OWN_PACKAGES:
        return f"it would shadow checkpoint-compat's own package {root!r}"
    if alias.legacy in accepted:
        return f"{accepted[alias.legacy].target!r} already serves it"
    return None
