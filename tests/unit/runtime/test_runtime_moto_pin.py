"""The moto internals the Lambda runtime hooks into: fail loudly when moto changes shape."""

from __future__ import annotations

import moto

from core.errors import MotoInternalsChangedError
from tenantml.emulator.runtime import moto_hooks
from tenantml.emulator.runtime.moto_hooks import CallSite, HookTarget, find_shape_problems


def test_given_the_installed_moto_then_it_is_the_pinned_release():
    assert moto.__version__ == moto_hooks.PINNED_MOTO_VERSION


def test_given_the_installed_moto_then_every_hooked_function_and_call_site_has_the_expected_shape():
    assert find_shape_problems() == []


def test_given_the_installed_moto_then_checking_it_raises_nothing():
    moto_hooks.check_moto_internals()


def test_given_a_hook_target_whose_signature_changed_then_the_problem_names_it_and_both_signatures():
    changed = HookTarget(
        "moto.awslambda.models", "LambdaFunction.invoke", ("self", "body", "headers"), "runs Invoke"
    )

    (problem,) = find_shape_problems((changed,), ())

    assert problem == (
        "moto.awslambda.models.LambdaFunction.invoke has parameters "
        "('self', 'body', 'request_headers', 'response_headers'), expected ('self', 'body', 'headers'); "
        "it runs Invoke"
    )


def test_given_a_hook_target_that_is_gone_then_the_problem_says_so():
    gone = HookTarget("moto.awslambda.models", "LambdaFunction._run_in_docker", ("self",), "runs code")

    (problem,) = find_shape_problems((gone,), ())

    assert problem.startswith("moto.awslambda.models.LambdaFunction._run_in_docker is gone (")
    assert problem.endswith("; it runs code")


def test_given_a_call_site_that_no_longer_calls_the_hook_then_the_problem_names_the_missing_call():
    site = CallSite(
        "moto.s3.notifications", "send_event", ("_invoke_awslambda", "_invoke_lambda_v2"), "S3 to Lambda"
    )

    (problem,) = find_shape_problems((), (site,))

    assert problem == "moto.s3.notifications.send_event no longer uses _invoke_lambda_v2; S3 to Lambda"


def test_given_shape_problems_when_reported_then_the_error_lists_each_and_says_what_to_do():
    error = MotoInternalsChangedError(["a is gone", "b changed"], "9.9.9")

    assert str(error) == (
        "moto 9.9.9 does not have the internals the Lambda runtime hooks into (2 problem(s)):\n"
        "  - a is gone\n  - b changed\n"
        "install the moto version pinned in pyproject.toml, or update tenantml/emulator/runtime/moto_hooks.py"
    )


def test_given_no_runtime_installed_then_moto_functions_are_the_originals():
    from moto.awslambda.models import LambdaFunction

    assert moto_hooks.installed_runtime() is None
    assert LambdaFunction.invoke.__qualname__ == "LambdaFunction.invoke"
