"""One session per account: each account's clients are made once and sign into that account."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tenantml.emulator import iam_enforcement
from tenantml.emulator.session import EMULATOR_ACCOUNT_ID, AwsSession

OTHER_ACCOUNT = "111122223333"


@pytest.fixture
def enforced(aws: AwsSession) -> Iterator[AwsSession]:
    """IAM enforced for this test only (accounts are told apart by the administrators' keys)."""
    previous = iam_enforcement.set_enforced(True)
    try:
        yield aws
    finally:
        iam_enforcement.set_enforced(previous)


def test_given_a_session_when_another_account_is_asked_for_twice_then_its_clients_are_made_once_and_sign_into_it(
    enforced,
):
    # given: the other account's administrator exists
    iam_enforcement.ensure_admin(OTHER_ACCOUNT)

    # when: the other account's session is asked for twice, once from a sibling in another region
    first = enforced.for_account(OTHER_ACCOUNT)
    second = enforced.for_region("us-east-1").for_account(OTHER_ACCOUNT)

    # then: both use one client per service and region, which lands in the other account; the
    # default account keeps its own, and asking back from the other account returns to it
    assert first.client("sts") is second.client("sts", "eu-west-1")
    assert first.client("sts").get_caller_identity()["Account"] == OTHER_ACCOUNT
    assert first.caller_account() == OTHER_ACCOUNT
    assert enforced.client("sts") is not first.client("sts")
    assert enforced.client("sts").get_caller_identity()["Account"] == EMULATOR_ACCOUNT_ID
    assert first.for_account(EMULATOR_ACCOUNT_ID).client("sts") is enforced.client("sts")
    assert second.region == "us-east-1" and first.region == "eu-west-1"
