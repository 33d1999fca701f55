"""Suite-wide settings: hypothesis profiles and the location of shared fixtures."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# "ci" is deterministic so a red CI run reproduces; "long" is for local soak runs.
settings.register_profile(
    "ci",
    derandomize=True,
    max_examples=200,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.register_profile(
    "long", max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "torch_matrix: runs part of the suite again on older torch releases in cached venvs "
        "(tests/torch_versions/; deselect with -m 'not torch_matrix')",
    )
