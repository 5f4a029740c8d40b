"""The emulator's state file: round trip, atomic writes, and refusing corrupt or edited files."""

from __future__ import annotations

import json
import os

import pytest

from core.errors import EmulatorStateError
from tenantml.emulator.state import State, StateEntry, config_hash, load_state


def _state(tmp_path) -> State:
    state = State(path=tmp_path / "state" / "churn.json")
    state.put(
        StateEntry(
            "aws_s3_bucket.data",
            "aws_s3_bucket",
            {"bucket": "tenantml-churn-dev-data", "tags": {"team": "retention"}},
            {"id": "tenantml-churn-dev-data", "arn": "arn:aws:s3:::tenantml-churn-dev-data"},
            region="eu-west-1",
        )
    )
    state.put(
        StateEntry(
            "aws_s3_bucket_versioning.data",
            "aws_s3_bucket_versioning",
            {"bucket": "tenantml-churn-dev-data", "versioning_configuration": {"status": "Enabled"}},
            {"id": "tenantml-churn-dev-data"},
            ("aws_s3_bucket.data",),
            region="eu-west-1",
        )
    )
    state.set_outputs({"data_bucket_name": "tenantml-churn-dev-data"})
    return state


def test_given_a_written_state_when_loaded_then_every_entry_and_output_comes_back(tmp_path):
    written = _state(tmp_path)

    loaded = load_state(written.path)

    assert loaded.entries == written.entries
    assert loaded.outputs == {"data_bucket_name": "tenantml-churn-dev-data"}
    assert loaded.serial == 3
    entry = loaded.get("aws_s3_bucket_versioning.data")
    assert entry.dependencies == ("aws_s3_bucket.data",)
    assert entry.config_hash == config_hash(entry.config)
    assert loaded.get("aws_s3_bucket.data").values["arn"] == "arn:aws:s3:::tenantml-churn-dev-data"


def test_given_no_file_when_loaded_then_the_state_is_empty(tmp_path):
    state = load_state(tmp_path / "nothing.json")

    assert len(state) == 0 and state.serial == 0


def test_given_each_change_when_saved_then_the_file_is_rewritten_and_no_temporary_file_remains(tmp_path):
    state = _state(tmp_path)

    state.remove("aws_s3_bucket_versioning.data")

    assert json.loads(state.path.read_text())["resources"].keys() == {"aws_s3_bucket.data"}
    assert sorted(os.listdir(state.path.parent)) == ["churn.json"]


def test_given_a_crash_while_writing_when_the_rename_fails_then_the_old_file_is_intact(tmp_path, monkeypatch):
    state = _state(tmp_path)
    before = state.path.read_bytes()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        state.remove("aws_s3_bucket.data")

    assert state.path.read_bytes() == before
    assert sorted(os.listdir(state.path.parent)) == ["churn.json"]


def test_given_a_truncated_file_when_loaded_then_the_error_names_the_file_and_the_json_problem(tmp_path):
    state = _state(tmp_path)
    state.path.write_text(state.path.read_text()[:120])

    with pytest.raises(EmulatorStateError) as err:
        load_state(state.path)

    assert str(err.value).startswith(f"emulator state file {state.path} is not valid JSON (line ")
    assert "nothing was applied" in str(err.value)


def test_given_a_hand_edited_file_when_loaded_then_the_checksum_mismatch_is_reported(tmp_path):
    state = _state(tmp_path)
    content = json.loads(state.path.read_text())
    content["resources"]["aws_s3_bucket.data"]["attributes"]["arn"] = "arn:aws:s3:::someone-else"
    state.path.write_text(json.dumps(content, indent=2))

    with pytest.raises(EmulatorStateError) as err:
        load_state(state.path)

    assert f"emulator state file {state.path} does not match its checksum" in str(err.value)
    assert "it was edited or truncated" in str(err.value)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c.update(format="terraform"), "is not an emulator state file (format 'terraform'"),
        (lambda c: c.update(version=99), "has version 99, and this tenantml reads version 1"),
        (lambda c: c.pop("resources"), "is missing 'resources'"),
        (
            lambda c: c["resources"]["aws_s3_bucket.data"].update(type="aws_sqs_queue"),
            "has resource aws_s3_bucket.data: type 'aws_sqs_queue' that does not match its address",
        ),
        (
            lambda c: c["resources"]["aws_s3_bucket.data"]["config"].update(bucket="other"),
            "has resource aws_s3_bucket.data: a config that does not match its config_hash",
        ),
    ],
)
def test_given_a_state_with_a_wrong_field_when_loaded_then_the_error_says_what_is_wrong(
    tmp_path, edit, message
):
    from tenantml.emulator.state import _checksum

    state = _state(tmp_path)
    content = json.loads(state.path.read_text())
    edit(content)
    content["checksum"] = _checksum(content)  # re-sealed: only the field itself is wrong
    state.path.write_text(json.dumps(content))

    with pytest.raises(EmulatorStateError) as err:
        load_state(state.path)

    assert message in str(err.value)
    assert str(state.path) in str(err.value)
