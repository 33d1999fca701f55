"""Every deprecated name of checkpoint-compat, in one place.

Each constant below is one deprecated API: what it is, since which version, the version
that removes it, what replaces it and a one-line migration hint. Shims refer to these
constants and never spell a deprecation inline, so this module is the whole removal
schedule (the CHANGELOG repeats each ``removed_in``). To deprecate something, add a
constant here and pass it to ``compat.deprecated`` (or a sibling helper) in the shim.
Third-party plugins keep their own registry module the same way, with
``distribution=`` naming their own package so ``removed_in`` is compared with its version.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Deprecation:
    """One deprecated API and its way out."""

    #: What the caller wrote, e.g. ``"metta.agent.policy_store.PolicyStore"``.
    name: str
    #: First version that warns.
    deprecated_in: str
    #: First version whose shim raises ``RemovedAPIError`` instead of working.
    removed_in: str
    #: What to use instead, e.g. ``"checkpoint.CheckpointManager"``.
    replacement: str
    #: One line on how to migrate a call site.
    hint: str
    #: The distribution whose installed version is compared with ``removed_in``.
    distribution: str = "checkpoint-compat"

    def __post_init__(self) -> None:
        from packaging.version import Version

        if Version(self.deprecated_in) >= Version(self.removed_in):
            raise ValueError(
                f"{self.name}: deprecated_in {self.deprecated_in} must come before "
                f"removed_in {self.removed_in}"
            )

    def warning_message(self) -> str:
        return (
            f"{self.name} is deprecated since {self.distribution} {self.deprecated_in} and is "
            f"removed in {self.removed_in}; use {self.replacement} instead. {self.hint}"
        )


# -- Deprecated APIs ----------------------------------------------------------------------
# One constant per deprecated name, grouped by the plugin that shims it. None yet: the
# policy_store plugin adds the PolicyStore/PolicyRecord/PolicyCache entries here.
