"""``PolicyArchitecture`` with ``to_spec()``, the string stored as ``architecture_spec``.

The rule (Metta ``agent/src/metta/agent/policy.py`` at 47b0d081ad; the same rule as the
October 2025 ``modelarchitecture.txt``): ``<module>.<qualname>(key=repr(value), ...)`` over
``model_dump(mode="json")`` minus ``class_path``; ``components`` and ``action_probs_config`` are
dumped with a ``class_path`` entry added; mappings are rebuilt with sorted keys; keyword arguments
are sorted by name; a config with no fields left is just the dotted class path.
"""

from __future__ import annotations

from typing import Any, ClassVar

from mettagrid.base_config import Config
from pydantic import BaseModel, ConfigDict, Field

from metta.agent.components.component_config import ComponentConfig


def _qualified(obj: object) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _with_class_path(component: BaseModel) -> dict[str, Any]:
    data = component.model_dump(mode="json")
    data["class_path"] = _qualified(component)
    return data


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


class PolicyArchitecture(Config):
    class_path: str
    model_config: ClassVar[ConfigDict] = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    components: list[ComponentConfig] = Field(default_factory=list)
    action_probs_config: ComponentConfig

    def to_spec(self) -> str:
        data = self.model_dump(mode="json")
        data.pop("class_path", None)
        if "components" in data:
            data["components"] = [_with_class_path(c) for c in self.components]
        if self.action_probs_config is not None:
            data["action_probs_config"] = _with_class_path(self.action_probs_config)
        if not data:
            return _qualified(self)
        data = _sorted(data)
        arguments = ", ".join(f"{key}={data[key]!r}" for key in sorted(data))
        return f"{_qualified(self)}({arguments})"
