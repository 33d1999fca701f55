"""The built-in ``materialisers`` plugin: plain-data views of common config and space classes.

Checkpoints pickle OmegaConf configs and gym(nasium) spaces whole; the safe loader keeps
them inert, and these views turn them into the plain data they describe, without importing
or calling anything from those packages.
"""

from __future__ import annotations

from collections.abc import Callable

from compat.host._hookspecs import InertObject, Materialiser, hookimpl

Plain = Callable[[object], object]

_OMEGACONF_CONTAINERS = ("dictconfig.DictConfig", "listconfig.ListConfig")
_OMEGACONF_NODES = (
    "AnyNode",
    "StringNode",
    "IntegerNode",
    "FloatNode",
    "BooleanNode",
    "EnumNode",
    "PathNode",
    "BytesNode",
)
_GYM_SPACES = (
    "box.Box",
    "discrete.Discrete",
    "multi_discrete.MultiDiscrete",
    "multi_binary.MultiBinary",
    "dict.Dict",
    "tuple.Tuple",
    "text.Text",
)
_GYM_PRIVATE_KEPT = {"_shape": "shape"}


def _state(obj: InertObject) -> dict[str, object]:
    state = obj.state
    if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict):
        state = state[0]  # (__dict__, slots)
    return {str(key): value for key, value in state.items()} if isinstance(state, dict) else {}


def omegaconf_content(obj: InertObject, plain: Plain) -> object:
    """A DictConfig or ListConfig: its ``_content`` (nodes already resolved by ``plain``)."""
    return plain(_state(obj).get("_content"))


def omegaconf_value(obj: InertObject, plain: Plain) -> object:
    """A value node: its ``_val``."""
    return plain(_state(obj).get("_val"))


def gym_space(obj: InertObject, plain: Plain) -> object:
    """A gym(nasium) space: its class name and public fields (``_shape`` as ``shape``).

    The random generator a space may carry is dropped.
    """
    view: dict[str, object] = {"space": obj.qualified_name().rpartition(".")[2]}
    for key, value in _state(obj).items():
        if key in _GYM_PRIVATE_KEPT:
            view[_GYM_PRIVATE_KEPT[key]] = plain(value)
        elif not key.startswith("_") and key != "np_random":
            view[key] = plain(value)
    return view


@hookimpl
def compat_materialisers() -> dict[str, Materialiser]:
    views: dict[str, Materialiser] = {}
    for container in _OMEGACONF_CONTAINERS:
        views[f"omegaconf.{container}"] = omegaconf_content
    for node in _OMEGACONF_NODES:
        views[f"omegaconf.nodes.{node}"] = omegaconf_value
    for package in ("gymnasium", "gym"):
        for space in _GYM_SPACES:
            views[f"{package}.spaces.{space}"] = gym_space
    return views
