"""The lazy ``compat`` namespace: every public name resolves, nothing loads before it is used."""

from __future__ import annotations

import importlib

import pytest

import compat


def test_every_public_name_resolves_to_its_definition() -> None:
    assert sorted(compat._LAZY) == sorted(compat.__all__)
    for name, module_name in compat._LAZY.items():
        module = importlib.import_module(module_name)
        expected = module if module_name == f"compat.{name}" else getattr(module, name)
        assert getattr(compat, name) is expected
    assert compat.plugins.__name__ == "compat.plugins"


def test_dir_lists_the_lazy_names() -> None:
    assert set(compat.__all__) <= set(dir(compat))


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="module 'compat' has no attribute 'nope'"):
        _ = compat.nope
