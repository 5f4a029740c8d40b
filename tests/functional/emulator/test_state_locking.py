"""Two applies of one tenant never interleave: the second waits for the first, or fails having changed nothing."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest

from core.errors import EmulatorStateLockedError
from tenantml.emulator.apply import ApplyResult, ProgressEvent, apply, destroy
from tenantml.emulator.file_lock import FileLock
from tenantml.emulator.state import load_state, lock_path

#: an upper bound for each wait on the other thread, not a measurement
TIMEOUT_S = 60


def test_given_an_apply_half_way_when_a_second_apply_of_the_tenant_starts_then_it_waits_and_finds_nothing_to_do(
    aws, small_stack, tmp_path
):
    # given: a first apply held right after its first resource was created
    state_file = tmp_path / "demo.json"
    first_is_half_way, let_first_finish, second_is_waiting = (
        threading.Event(),
        threading.Event(),
        threading.Event(),
    )
    waits: list[str] = []
    results: dict[str, ApplyResult | BaseException] = {}

    def hold_after_the_first_resource(event: ProgressEvent) -> None:
        if event.phase == "done" and not first_is_half_way.is_set():
            first_is_half_way.set()
            let_first_finish.wait(TIMEOUT_S)

    def second_waits(message: str) -> None:
        waits.append(message)
        second_is_waiting.set()

    def run(name: str, **kwargs: Any) -> None:
        try:
            results[name] = apply(small_stack, state_file, aws, **kwargs)
        except BaseException as err:  # noqa: BLE001 - handed to the test thread, which asserts on it
            results[name] = err

    first = threading.Thread(
        target=run, args=("first",), kwargs={"on_progress": hold_after_the_first_resource}
    )
    first.start()
    assert first_is_half_way.wait(TIMEOUT_S)

    # when: a second apply of the same tenant starts meanwhile
    second = threading.Thread(target=run, args=("second",), kwargs={"on_lock_wait": second_waits})
    second.start()
    try:
        assert second_is_waiting.wait(TIMEOUT_S), results
    finally:
        let_first_finish.set()
        first.join(TIMEOUT_S)
        second.join(TIMEOUT_S)

    # then: it said whom it waits for, and ran after the first had finished, with nothing left to do
    assert waits == [
        (
            f"emulator state file {state_file} is in use by process {os.getpid()} (another apply, plan or destroy "
            "of this tenant); waiting up to 300 s for it to finish"
        )
    ]
    first_result, second_result = results["first"], results["second"]
    assert isinstance(first_result, ApplyResult), first_result
    assert isinstance(second_result, ApplyResult), second_result
    assert second_result.applied == ()
    assert len(load_state(state_file)) == len(first_result.applied)


def test_given_a_tenant_state_held_elsewhere_when_applied_then_it_fails_naming_the_holder_and_creates_nothing(
    aws, small_stack, tmp_path
):
    # given: another process's apply holds the state (a second descriptor conflicts like another process)
    state_file = tmp_path / "demo.json"
    other = FileLock(lock_path(state_file))
    assert other.try_acquire()
    try:
        # when / then
        with pytest.raises(EmulatorStateLockedError) as locked:
            apply(small_stack, state_file, aws, lock_timeout=0.2)
        with pytest.raises(EmulatorStateLockedError):
            destroy(state_file, aws, lock_timeout=0.2)
    finally:
        other.release()
    assert str(locked.value) == (
        f"emulator state file {state_file} is still in use by process {os.getpid()} after 0.2 s (another apply, "
        "plan or destroy of this tenant). Nothing was changed; let it finish, or stop it, and run again."
    )
    assert locked.value.exit_code == 1
    assert not state_file.exists()
    assert aws.client("s3").list_buckets()["Buckets"] == []

    # and once the holder is done, the apply goes through
    assert apply(small_stack, state_file, aws, lock_timeout=0.2).changed
