"""PEP 562 lazy attributes for a package ``__init__``.

Importing ``checkpoint.errors`` or ``compat`` must not import torch or pluggy: the
legacy-import finder, the CLI's listing verbs and error handling need neither.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module


def lazy_attributes(
    package: str, table: dict[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` resolving ``table`` (public name -> defining module).

    A name equal to its module's last component is the module itself.
    """
    namespace = import_module(package).__dict__

    def __getattr__(name: str) -> object:
        try:
            module_name = table[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        module = import_module(module_name)
        value = module if module_name == f"{package}.{name}" else getattr(module, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *table})

    return __getattr__, __dir__
