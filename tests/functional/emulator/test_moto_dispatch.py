"""moto's request dispatch without its per-request scans still finds every action, including ones added later."""

from __future__ import annotations

from moto.core import responses
from moto.core.responses import BaseResponse


def test_given_the_emulator_running_when_a_response_class_gains_an_action_after_a_dispatch_then_the_action_is_found(
    emulator,
):
    # given: the dispatch speed-up installed (the emulator started) and a response class whose
    # action names were looked up once
    class ExampleResponse(BaseResponse):
        def describe_things(self) -> str:
            return "things"

    assert responses.method_names_from_class.__module__ == "tenantml.emulator.moto_internals"
    before = responses.method_names_from_class(ExampleResponse)

    # when: an action is added to the class afterwards, as the emulator adds moto's missing ones
    ExampleResponse.delete_thing = lambda self: "deleted"  # type: ignore[attr-defined]
    after = responses.method_names_from_class(ExampleResponse)

    # then: the first lookup had only the original action, the second sees the new one too
    assert "describe_things" in before and "delete_thing" not in before
    assert {"describe_things", "delete_thing"} <= set(after)
