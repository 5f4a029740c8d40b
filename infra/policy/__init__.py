"""Policy as code over synthesized Terraform JSON, in the spirit of cdk-nag.

``RULES`` lists every rule (id, severity, title, explanation); ``check_stack`` runs them over
one tenant's ``cdk.tf.json`` and applies suppressions. See ``docs/preview.md`` for the list.

    from infra.policy import SynthStack, check_stack, spec_suppressions
    result = check_stack(SynthStack("churn", doc), spec_suppressions(spec.suppressions))
"""

from infra.policy.engine import POLICY_RULE_ID, StackPolicyResult, check_stack, spec_suppressions
from infra.policy.model import Finding, Result, Rule, Severity, Status, SuppressionEntry
from infra.policy.rules import RULES, RULES_BY_ID
from infra.policy.stack import MARKER_KEY, SynthResource, SynthStack

__all__ = [
    "MARKER_KEY",
    "POLICY_RULE_ID",
    "RULES",
    "RULES_BY_ID",
    "Finding",
    "Result",
    "Rule",
    "Severity",
    "StackPolicyResult",
    "Status",
    "SuppressionEntry",
    "SynthResource",
    "SynthStack",
    "check_stack",
    "spec_suppressions",
]
