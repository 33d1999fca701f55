"""The ``policy_store`` plugin: serves the metta.agent PolicyX modules as warning shims."""

from __future__ import annotations

import compat
from compat import LegacyAlias
from compat.deprecations import (
    MOCK_POLICY_RECORD_MODULE,
    MOCKS_MODULE,
    POLICY_CACHE_MODULE,
    POLICY_METADATA_MODULE,
    POLICY_RECORD_MODULE,
    POLICY_STORE_MODULE,
)

_PACKAGE = "compat_policy_store"


@compat.hookimpl
def compat_legacy_aliases() -> list[LegacyAlias]:
    return [
        LegacyAlias(
            deprecation.name,
            f"{_PACKAGE}.{deprecation.name.removeprefix('metta.agent.')}",
            deprecation,
        )
        for deprecation in (
            POLICY_STORE_MODULE,
            POLICY_RECORD_MODULE,
            POLICY_METADATA_MODULE,
            POLICY_CACHE_MODULE,
            MOCKS_MODULE,
            MOCK_POLICY_RECORD_MODULE,
        )
    ]
