"""Helpers that turn a working implementation into a deprecated shim.

All of them route through ``_deprecate.emit``, which finds the caller by skipping this
module's frames, so they stack (``@deprecated`` over ``@renamed_kwarg``) and still point
at the user's line.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar, cast

from compat.deprecations import Deprecation
from compat.host._deprecate import emit

_T = TypeVar("_T")
_P = ParamSpec("_P")
_R = TypeVar("_R")


def deprecated(deprecation: Deprecation) -> Callable[[_T], _T]:
    """Decorate a function, method, class, property, classmethod or staticmethod.

    A function or method warns when called; a property when read, set or deleted; a class
    when instantiated directly and when subclassed (at the ``class`` statement).
    """

    def decorate(obj: _T) -> _T:
        return cast(_T, _deprecate(obj, deprecation))

    return decorate


def deprecated_attributes(
    module: str, attributes: Mapping[str, tuple[Deprecation, object]]
) -> Callable[[str], object]:
    """Build a module's PEP 562 ``__getattr__`` that serves deprecated names.

    ``__getattr__ = deprecated_attributes(__name__, {"OLD": (OLD_ENTRY, new_value)})``
    """

    def __getattr__(name: str) -> object:
        try:
            deprecation, value = attributes[name]
        except KeyError:
            raise AttributeError(f"module {module!r} has no attribute {name!r}") from None
        emit(deprecation, owner=module)
        return value

    return __getattr__


def renamed_kwarg(
    old: str, new: str, deprecation: Deprecation
) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Accept keyword `old` as a deprecated spelling of `new`."""

    def decorate(func: Callable[_P, _R]) -> Callable[_P, _R]:
        owner = getattr(func, "__module__", "")

        @functools.wraps(func)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            if old in kwargs:
                if new in kwargs:
                    raise TypeError(
                        f"{func.__qualname__}() got {old!r} and its new name {new!r}; "
                        f"pass only {new!r}"
                    )
                emit(deprecation, owner=owner)
                kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        return wrapper

    return decorate


def _deprecate(obj: object, deprecation: Deprecation) -> object:
    if isinstance(obj, type):
        return _deprecate_class(obj, deprecation)
    if isinstance(obj, property):
        fget, fset, fdel = (
            _deprecate_call(accessor, deprecation) if accessor else None
            for accessor in (obj.fget, obj.fset, obj.fdel)
        )
        return property(fget, fset, fdel, obj.__doc__)
    if isinstance(obj, classmethod | staticmethod):
        return type(obj)(_deprecate_call(obj.__func__, deprecation))
    if callable(obj):
        return _deprecate_call(obj, deprecation)
    raise TypeError(
        f"compat.deprecated cannot wrap {obj!r}; use deprecated_attributes for module values"
    )


def _deprecate_call(func: Callable[..., _R], deprecation: Deprecation) -> Callable[..., _R]:
    owner = getattr(func, "__module__", "")

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> _R:
        emit(deprecation, owner=owner)
        return func(*args, **kwargs)

    return wrapper


def _deprecate_class(cls: type[_T], deprecation: Deprecation) -> type[_T]:
    owner = cls.__module__
    init = cls.__init__
    own_init_subclass = cls.__dict__.get("__init_subclass__")

    @functools.wraps(init)
    def __init__(self: _T, *args: Any, **kwargs: Any) -> None:
        if type(self) is cls:
            emit(deprecation, owner=owner)
        init(self, *args, **kwargs)

    def __init_subclass__(subclass: type[_T], /, **kwargs: Any) -> None:
        emit(deprecation, owner=owner)
        if own_init_subclass is not None:
            own_init_subclass.__get__(None, subclass)(**kwargs)
        else:
            # mypy cannot type super() of a class known only at run time
            super(cls, subclass).__init_subclass__(**kwargs)  # type: ignore[misc]

    type.__setattr__(cls, "__init__", __init__)
    type.__setattr__(cls, "__init_subclass__", classmethod(__init_subclass__))
    return cls
