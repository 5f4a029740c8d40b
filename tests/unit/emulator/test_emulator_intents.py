"""Write-ahead intents in the emulator state: written before the call, read back after a crash."""

from __future__ import annotations

import json

import pytest

from core.errors import EmulatorStateError
from tenantml.emulator.state import Intent, State, StateEntry, load_state

BUCKET = {"bucket": "tenantml-churn-dev-data", "tags": {"team": "retention"}}


def _begun(tmp_path) -> State:
    state = State(path=tmp_path / "churn.json")
    state.begin(
        Intent.of("aws_s3_bucket.data", "aws_s3_bucket", "create", BUCKET, "eu-west-1", ("aws_kms_key.k",))
    )
    return state


def test_given_an_intent_begun_when_the_file_is_read_by_another_process_then_the_intent_is_there(tmp_path):
    _begun(tmp_path)

    loaded = load_state(tmp_path / "churn.json")

    (intent,) = loaded.intents.values()
    assert intent == Intent(
        "aws_s3_bucket.data",
        "aws_s3_bucket",
        "create",
        BUCKET,
        "eu-west-1",
        ("aws_kms_key.k",),
        {"bucket": "tenantml-churn-dev-data"},
    )
    assert len(loaded) == 0


def test_given_an_intent_when_its_result_is_recorded_then_the_file_has_the_entry_and_no_intents_key(tmp_path):
    state = _begun(tmp_path)

    state.put(StateEntry("aws_s3_bucket.data", "aws_s3_bucket", BUCKET, {"id": "tenantml-churn-dev-data"}))

    content = json.loads((tmp_path / "churn.json").read_text())
    assert "intents" not in content and list(content["resources"]) == ["aws_s3_bucket.data"]
    assert load_state(tmp_path / "churn.json").intents == {}


def test_given_an_intent_edited_by_hand_when_loaded_then_the_checksum_names_the_file(tmp_path):
    _begun(tmp_path)
    path = tmp_path / "churn.json"
    content = json.loads(path.read_text())
    content["intents"]["aws_s3_bucket.data"]["action"] = "delete"
    path.write_text(json.dumps(content))

    with pytest.raises(EmulatorStateError, match=r"churn\.json does not match its checksum"):
        load_state(path)
