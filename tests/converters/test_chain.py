"""The converter chain: each step is pure and documented, and the host chains them safely."""

from __future__ import annotations

import copy
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

import compat
import compat.plugins
from checkpoint.errors import UnconvertibleCheckpointError
from compat.upgrade._chain import TERMINAL, converter_index, run_chain
from compat_converters import INDEX

SOURCE = Path("model_0005.pt")


def _draft(fmt: str, **parts: object) -> dict[str, object]:
    draft: dict[str, object] = {
        "format": fmt,
        "version": "0",
        "state_dict": OrderedDict(w=torch.ones(2)),
        "metadata": {},
        "trainer_state": None,
        "file_name": None,
        "legacy_classes": [],
    }
    return {**draft, **parts}


def test_every_step_documents_the_format_it_upgrades() -> None:
    for key, converter in INDEX.items():
        assert converter.__doc__, key
        assert callable(converter)


@pytest.mark.parametrize("key", sorted(INDEX))
def test_steps_do_not_mutate_their_input(key: tuple[str, str]) -> None:
    draft = _draft(key[0], version=key[1], metadata={"epoch": 1, "nested": {"a": [1]}})
    draft["figures"] = {"epoch": None}
    before = copy.deepcopy(draft)
    INDEX[key](draft)
    assert draft.keys() == before.keys()
    assert draft["metadata"] == before["metadata"]
    assert draft["figures"] == before["figures"]


def test_a_policy_record_gives_figures_and_legacy_metadata() -> None:
    metadata = {"epoch": 5, "agent_step": 100, "train_time": 2.5, "score": 0.5, "generation": 1}
    draft, steps = run_chain(_draft("policy_record", metadata=metadata), INDEX, SOURCE)
    assert (draft["format"], draft["version"]) == TERMINAL
    assert draft["figures"] == {"epoch": 5, "agent_step": 100, "total_time": 2.5, "score": 0.5}
    assert draft["legacy_metadata"] == metadata
    assert [step.split(":")[0] for step in steps] == ["policy_record@0", "draft@1"]


def test_figures_of_the_wrong_type_stay_only_in_legacy_metadata() -> None:
    metadata = {"epoch": -1, "agent_step": "many", "train_time": float("inf"), "score": True}
    draft, _ = run_chain(_draft("policy_record", metadata=metadata), INDEX, SOURCE)
    assert draft["figures"] == dict.fromkeys(("epoch", "agent_step", "total_time", "score"))
    assert draft["legacy_metadata"] == metadata


def test_the_file_name_fills_only_what_the_content_lacks() -> None:
    name = {"scheme": "simple_checkpoint_manager", "run_name": "r", "epoch": 5,
            "agent_step": 1000, "total_time": 12, "score": 9000.0}  # fmt: skip
    draft, _ = run_chain(
        _draft("policy_record", metadata={"epoch": 7}, file_name=name), INDEX, SOURCE
    )
    assert draft["figures"] == {"epoch": 7, "agent_step": 1000, "total_time": 12.0, "score": 9000.0}


def test_a_trainer_state_picks_its_optimizer_and_keeps_the_rest() -> None:
    optimizer = {"state": {}, "param_groups": [{"lr": 0.1, "params": [0]}]}
    trainer = {"optimizer_state_dict": optimizer, "agent_step": 9, "update": 3}
    draft, _ = run_chain(
        _draft("trainer_state", state_dict={}, metadata={"agent_step": 9}, trainer_state=trainer),
        INDEX,
        SOURCE,
    )
    assert draft["trainer_state"] == {
        "optimizer": optimizer,
        "extra": {"agent_step": 9, "update": 3},
    }
    assert draft["figures"]["agent_step"] == 9  # type: ignore[index]


def test_a_format_without_a_converter_is_a_clear_error() -> None:
    """With the converters plugin on, the advice is to add a converter, not to enable it."""
    with pytest.raises(UnconvertibleCheckpointError) as caught:
        run_chain(_draft("exotic"), INDEX, SOURCE)
    message = str(caught.value)
    assert "no enabled plugin converts format 'exotic' version '0'" in message
    assert "raw_dict" in message and "compat_converters hook" in message
    assert "plugins enable" not in message


def test_a_looping_chain_is_stopped() -> None:
    def loop(draft: dict[str, object]) -> dict[str, object]:
        return {**draft}

    with pytest.raises(UnconvertibleCheckpointError, match="loop"):
        run_chain(_draft("custom"), {("custom", "0"): loop}, SOURCE)


def test_a_broken_converter_names_itself() -> None:
    def broken(draft: dict[str, object]) -> dict[str, object]:
        raise KeyError("boom")

    with pytest.raises(UnconvertibleCheckpointError, match=r"broken failed \(KeyError"):
        run_chain(_draft("custom"), {("custom", "0"): broken}, SOURCE)


def test_third_party_converters_join_the_chain_and_the_first_to_run_wins() -> None:
    class ThirdParty:
        @staticmethod
        @compat.hookimpl
        def compat_converters() -> dict[tuple[str, str], compat.Converter]:
            def from_mine(draft: dict[str, object]) -> dict[str, object]:
                """My format: already a draft."""
                return {**draft, "format": "draft", "version": "1", "figures": {}}

            return {("mine", "0"): from_mine, ("draft", "1"): from_mine}

    compat.plugins.register(ThirdParty(), "third_party_converters")
    try:
        index = converter_index()
    finally:
        compat.plugins.unregister("third_party_converters")
    assert index[("mine", "0")].__name__ == "from_mine"
    assert index[("draft", "1")].__name__ == "from_mine"  # registered last, so it ran first
    assert index[("policy_record", "0")] is INDEX[("policy_record", "0")]


def test_disabling_the_plugin_removes_its_converters() -> None:
    with compat.plugins.disabled("converters"):
        assert ("policy_record", "0") not in converter_index()
    assert ("policy_record", "0") in converter_index()
