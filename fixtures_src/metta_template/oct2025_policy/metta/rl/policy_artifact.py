"""``policy_architecture_to_string``: the ``modelarchitecture.txt`` text of an ``.mpt`` file.

The rule, as Metta's ``metta/rl/policy_artifact.py`` (6ddad6cebc) applied it:
``<module>.<qualname>(key=repr(value), ...)`` over ``model_dump(mode="json")`` minus
``class_path``; ``components`` and ``action_probs_config`` are dumped with a ``class_path`` entry
added; every mapping is rebuilt with sorted keys; the keyword arguments are sorted by name; a
config with no fields left is just the dotted class path.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


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


def policy_architecture_to_string(architecture: Any) -> str:
    data = architecture.model_dump(mode="json")
    data.pop("class_path", None)
    if "components" in data:
        data["components"] = [_with_class_path(c) for c in architecture.components]
    action_probs = getattr(architecture, "action_probs_config", None)
    if action_probs is not None:
        data["action_probs_config"] = _with_class_path(action_probs)
    if not data:
        return _qualified(architecture)
    data = _sorted(data)
    arguments = ", ".join(f"{key}={data[key]!r}" for key in sorted(data))
    return f"{_qualified(architecture)}({arguments})"
