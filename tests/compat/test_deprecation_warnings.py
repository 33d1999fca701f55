"""Deprecation shims: caller-pointing warnings, once per site, strict mode, removal."""

from __future__ import annotations

import inspect
import warnings

import pytest
import sample_legacy_api as sample
from host_helpers import next_line

import compat
from checkpoint.errors import CheckpointCompatError, CompatDeprecationWarning, RemovedAPIError
from compat.host import _deprecate
from compat.host._ledger import LEDGER


def test_function_warning_points_at_the_caller() -> None:
    with pytest.warns(CompatDeprecationWarning) as record:
        line = next_line()
        assert sample.old_function(2) == 4
    assert (record[0].filename, record[0].lineno) == (__file__, line)
    message = str(record[0].message)
    assert "sample.old_function is deprecated since checkpoint-compat 0.1" in message
    assert "removed in 9.0; use sample.new_function instead. rename" in message


def test_method_property_class_attribute_and_keyword_point_at_the_caller() -> None:
    service = sample.Service()
    with pytest.warns(CompatDeprecationWarning) as record:
        method_line = next_line()
        assert service.old_method() == "method"
        get_line = next_line()
        assert service.size == 1
        set_line = next_line()
        service.size = 5
        class_line = next_line()
        thing = sample.OldThing(3)
        attribute_line = next_line()
        assert sample.OLD_NAME == "new"
        import_line = next_line()
        from sample_legacy_api import OLD_NAME  # noqa: F401

        keyword_line = next_line()
        assert sample.make_cache(size=7) == 7
    sites = [(w.filename, w.lineno) for w in record]
    lines = [method_line, get_line, set_line, class_line, attribute_line, import_line]
    assert sites == [(__file__, line) for line in [*lines, keyword_line]]
    assert thing.value == 3
    assert service._capacity == 5


def test_subclassing_warns_at_the_class_statement_but_instances_of_it_do_not() -> None:
    with pytest.warns(CompatDeprecationWarning) as record:

        class Mine(sample.OldThing):
            pass

    line = inspect.getsourcelines(Mine)[1]
    assert [(w.filename, w.lineno) for w in record] == [(__file__, line)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Mine(4).value == 4


def test_new_keyword_alone_does_not_warn_and_both_spellings_are_an_error() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sample.make_cache(capacity=3) == 3
    with pytest.raises(TypeError, match="'size' and its new name 'capacity'"):
        sample.make_cache(size=1, capacity=2)


def test_each_call_site_warns_once_and_every_call_is_counted() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loop_line = next_line()
        for _ in range(3):
            sample.old_function(1)
        other_line = next_line()
        sample.old_function(1)
    assert [w.lineno for w in caught] == [loop_line + 1, other_line]
    counts = {record["site"]: record["count"] for record in LEDGER.records()}
    assert counts == {f"{__file__}:{loop_line + 1}": 3, f"{__file__}:{other_line}": 1}


def test_a_new_catch_warnings_block_sees_the_site_again() -> None:
    for _ in range(2):
        with pytest.warns(CompatDeprecationWarning) as record:
            line = next_line()
            sample.old_function(1)
        assert [(w.filename, w.lineno) for w in record] == [(__file__, line)]


def test_the_library_using_its_own_shims_neither_warns_nor_counts() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sample.internal_use() == 2
    assert LEDGER.records() == []


def test_strict_mode_raises_at_every_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPAT_STRICT", "1")
    for _ in range(2):
        with pytest.raises(CompatDeprecationWarning, match="strict because COMPAT_STRICT=1"):
            sample.old_function(1)
    assert LEDGER.records()[0]["count"] == 2


def test_an_error_filter_raises_every_time_too() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", CompatDeprecationWarning)
        for _ in range(2):
            with pytest.raises(CompatDeprecationWarning):
                sample.old_function(1)


@pytest.mark.parametrize(
    ("installed", "removed"), [("8.9", False), ("9.0rc1", False), ("9.0", True), ("10.2", True)]
)
def test_removed_in_is_compared_with_the_installed_version(
    monkeypatch: pytest.MonkeyPatch, installed: str, removed: bool
) -> None:
    monkeypatch.setattr(_deprecate, "installed_version", lambda distribution: installed)
    if not removed:
        with pytest.warns(CompatDeprecationWarning):
            assert sample.old_function(1) == 2
        return
    with pytest.raises(RemovedAPIError) as raised:
        sample.old_function(1)
    assert str(raised.value) == (
        "sample.old_function was removed in checkpoint-compat 9.0: "
        "use sample.new_function instead. rename"
    )
    assert isinstance(raised.value, CheckpointCompatError)


def test_removed_in_uses_the_version_of_the_entrys_own_distribution(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    versions = {"checkpoint-compat": "99.0", "acme-compat": "1.5"}
    monkeypatch.setattr(_deprecate, "installed_version", versions.get)
    with pytest.warns(CompatDeprecationWarning, match="acme.thing is deprecated since acme-compat"):
        line = next_line()
        sample.elsewhere()
    assert LEDGER.records()[0]["site"] == f"{__file__}:{line}"
    versions["acme-compat"] = "2.0"
    with pytest.raises(RemovedAPIError, match=r"removed in acme-compat 2\.0"):
        sample.elsewhere()


def test_an_entry_must_be_removed_after_it_is_deprecated() -> None:
    with pytest.raises(ValueError, match="must come before"):
        compat.Deprecation("x", "2.0", "1.0", "y", "z")


def test_only_decoratable_things_are_accepted() -> None:
    with pytest.raises(TypeError, match="use deprecated_attributes"):
        compat.deprecated(sample.FUNCTION)(42)


def test_missing_module_attributes_still_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'NOPE'"):
        _ = sample.NOPE
