"""Suppressions: from the tenant spec or a construct's marker, always reported, never silent."""

from __future__ import annotations

from core.spec import Suppression
from infra.policy import (
    POLICY_RULE_ID,
    RULES,
    Severity,
    SuppressionEntry,
    SynthStack,
    check_stack,
    spec_suppressions,
)
from infra.policy.model import RULE_ID_PATTERN


def _break_versioning(doc):
    doc["resource"]["aws_s3_bucket_versioning"]["data_versioning"]["versioning_configuration"] = [
        {"status": "Suspended"}
    ]


def test_a_spec_suppression_accepts_the_finding_and_is_reported(policy_doc):
    # given a bucket without versioning and a spec suppression for it
    _break_versioning(policy_doc)
    suppressions = spec_suppressions(
        [
            Suppression(
                rule_id="TM-S3-002", reason="scratch data, recreated nightly", address="aws_s3_bucket.*"
            )
        ]
    )
    # when the rules run
    result = check_stack(SynthStack("acme", policy_doc), suppressions)
    # then the finding is kept, marked suppressed with its reason, and the stack passes
    assert [(f.rule_id, f.address, f.suppressed) for f in result.findings] == [
        ("TM-S3-002", "aws_s3_bucket.data", True)
    ]
    assert result.findings[0].suppressed_by == SuppressionEntry(
        "TM-S3-002", "scratch data, recreated nightly", "aws_s3_bucket.*", "spec"
    )
    assert result.passed and result.unused_suppressions == []


def test_a_suppression_for_other_addresses_does_not_apply(policy_doc):
    _break_versioning(policy_doc)
    suppressions = [SuppressionEntry("TM-S3-002", "only the models bucket", "aws_s3_bucket.models", "spec")]
    result = check_stack(SynthStack("acme", policy_doc), suppressions)
    assert [(f.rule_id, f.suppressed) for f in result.findings] == [("TM-S3-002", False)]
    assert not result.passed
    assert result.unused_suppressions == suppressions


def test_a_construct_marker_suppresses_its_own_resource(policy_doc):
    # given the construct wrote a suppression into the bucket's // metadata
    _break_versioning(policy_doc)
    policy_doc["resource"]["aws_s3_bucket"]["data"]["//"]["tenantml"] = {
        "suppressions": [{"rule_id": "TM-S3-002", "reason": "versioned by the replication target instead"}]
    }
    result = check_stack(SynthStack("acme", policy_doc))
    assert [(f.rule_id, f.suppressed_by) for f in result.findings] == [
        (
            "TM-S3-002",
            SuppressionEntry(
                "TM-S3-002", "versioned by the replication target instead", "aws_s3_bucket.data", "construct"
            ),
        )
    ]
    assert result.passed


def test_a_marker_without_a_reason_is_a_finding(policy_doc):
    _break_versioning(policy_doc)
    policy_doc["resource"]["aws_s3_bucket"]["data"]["//"]["tenantml"] = {
        "suppressions": [{"rule_id": "TM-S3-002", "reason": "no"}]
    }
    result = check_stack(SynthStack("acme", policy_doc))
    assert [(f.rule_id, f.suppressed) for f in result.findings] == [
        (POLICY_RULE_ID, False),
        ("TM-S3-002", False),
    ]
    assert "needs a written reason of at least 10 characters" in result.findings[0].message
    assert not result.passed


def test_an_unknown_rule_id_is_a_finding(policy_doc):
    suppressions = spec_suppressions([Suppression(rule_id="TM-S3-999", reason="a typo in the rule id")])
    result = check_stack(SynthStack("acme", policy_doc), suppressions)
    assert [(f.rule_id, f.address, f.message) for f in result.findings] == [
        (POLICY_RULE_ID, "suppressions[0]", "spec suppression names unknown rule TM-S3-999")
    ]
    assert not result.passed


def test_the_suppression_rule_cannot_be_suppressed(policy_doc):
    suppressions = [SuppressionEntry(POLICY_RULE_ID, "I would rather not hear about it", "*", "spec")]
    result = check_stack(SynthStack("acme", policy_doc), suppressions)
    assert [(f.rule_id, f.suppressed) for f in result.findings] == [(POLICY_RULE_ID, False)]


def test_warnings_are_reported_but_do_not_fail(policy_doc):
    del policy_doc["resource"]["aws_lambda_function"]["monitor"]["reserved_concurrent_executions"]
    result = check_stack(SynthStack("acme", policy_doc))
    assert [(f.rule_id, f.severity) for f in result.warnings] == [("TM-LAMBDA-002", Severity.WARNING)]
    assert result.passed


def test_rule_ids_are_unique_and_match_the_spec_pattern():
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert all(RULE_ID_PATTERN.match(i) for i in ids)
    assert all(r.explanation and r.title for r in RULES)


def test_every_rule_is_documented():
    from pathlib import Path

    docs = (Path(__file__).resolve().parents[3] / "docs" / "preview.md").read_text()
    assert [r.id for r in RULES if f"| `{r.id}` |" not in docs] == []
