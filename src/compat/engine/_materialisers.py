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
_GYM_PRIVATE_KEPT = {"_shape": "shape", "_np_random": "np_random"}


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
    """A gym(nasium) space: its class name and public fields, ``_shape`` as ``shape``, and
    ``_np_random`` as ``np_random`` (the generator's plain view: its bit generator's state,
    so a resumed run samples the same actions)."""
    view: dict[str, object] = {"space": obj.qualified_name().rpartition(".")[2]}
    for key, value in _state(obj).items():
        if key in _GYM_PRIVATE_KEPT:
            view[_GYM_PRIVATE_KEPT[key]] = plain(value)
        elif not key.startswith("_"):
            view[key] = plain(value)
    return view


def numpy_generator(obj: InertObject, plain: Plain) -> object:
    """A ``numpy.random.Generator``: its ``bit_generator.state`` dict, as numpy takes it back.

    numpy 1.x pickles that state on the generator; numpy 2 on the bit generator it gets as
    its argument."""
    state = _state(obj)
    bit_generator = obj.args[0] if obj.args else None
    if "bit_generator" not in state and hasattr(bit_generator, "qualified_name"):
        state = _state(bit_generator)  # type: ignore[arg-type]
    return plain(state)


@hookimpl
def compat_materialisers() -> dict[str, Materialiser]:
    views: dict[str, Materialiser] = {}
    for container in _OMEGACONF_CONTAINERS:
        views[f"omegaconf.{container}"] = omegaconf_content
    for node in _OMEGACONF_NODES:
        views[f"omegaconf.nodes.{node}"] = omegaconf_value
    views["numpy.random._pickle.__generator_ctor"] = numpy_generator
    for package in ("gymnasium", "gym"):
        for space in _GYM_SPACES:
            views[f"{package}.spaces.{space}"] = gym_space
    return views
