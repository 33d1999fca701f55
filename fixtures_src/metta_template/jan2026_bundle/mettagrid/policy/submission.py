"""``SubmissionPolicySpec``: the model whose ``model_dump_json()`` is ``policy_spec.json``.

Fields, in declaration order (which is the JSON order): ``class_path``, ``data_path``
(default None), ``init_kwargs`` (default {}), ``setup_script`` (default None).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

POLICY_SPEC_FILENAME = "policy_spec.json"


class SubmissionPolicySpec(BaseModel):
    class_path: str
    data_path: str | None = None
    init_kwargs: dict[str, Any] = Field(default_factory=dict)
    setup_script: str | None = None
