"""KMS as AWS authorizes it: the key policy first, then, where it delegates, the caller's IAM.

moto 5.2.5 never reads a key policy: under enforcement a KMS request passed on the caller's
identity policy alone, and S3 stored and served SSE-KMS objects without asking whether the
caller may use the key. On AWS (https://docs.aws.amazon.com/kms/latest/developerguide/determining-access.html):

- every request on a key needs the **key policy** to allow it, either to the caller directly
  (its role, session or user ARN, or ``*``) or to the caller's account root
  (``arn:aws:iam::<account>:root``), which delegates to that account's IAM policies: then the
  caller's identity policies and its permission boundary must allow it too;
- a principal of another account needs both: the key policy naming it (or its account) and its
  own IAM allowing it;
- an explicit Deny anywhere wins;
- S3 uses the bucket key on the caller's behalf: putting an SSE-KMS object needs
  ``kms:GenerateDataKey``, reading one ``kms:Decrypt``, with ``kms:ViaService`` set to S3.

This module finds the keys a request uses (:func:`kms_key_uses`, :func:`s3_key_uses`; alias names
and alias ARNs resolve to their key, so a grant on the key ARN covers a request naming the alias)
and answers what the key policy says (:func:`key_policy_answer`). Parsed key policies are cached
per key and policy text, so a request costs one dictionary look-up and a few pattern matches.
The caller's IAM side is evaluated by :mod:`tenantml.emulator.moto_internals`, which calls this.

Known gap: a cross-account request that both policies allow is then answered by moto from the
caller's account, where the key does not exist (``NotFoundException``); our stacks grant no
cross-account key use.
"""

from __future__ import annotations

import base64
import binascii
import enum
import functools
import json
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse


class KeyPolicyAnswer(enum.Enum):
    """What a key policy says about one request."""

    #: an explicit Deny statement applies
    DENY = "deny"
    #: an Allow names the caller itself (role ARN or ``*``): the caller's boundary still caps it
    DIRECT = "direct"
    #: an Allow names the caller's exact session or user ARN: nothing else is needed
    DIRECT_SESSION = "direct-session"
    #: an Allow names the caller's account root: the caller's IAM policies decide
    DELEGATED = "delegated"
    #: no statement applies: denied
    NONE = "none"


@dataclass(frozen=True)
class Caller:
    """Who signed: the principal's ARN (``assumed-role`` session or user), account and role name."""

    arn: str
    account: str
    role_name: str | None = None


@dataclass(frozen=True)
class _Statement:
    deny: bool
    principals: tuple[str, ...]  # the "AWS" principals; a "*" principal is ("*",)
    actions: tuple[re.Pattern[str], ...]
    not_actions: tuple[re.Pattern[str], ...]
    resources: tuple[re.Pattern[str], ...]
    conditions: Mapping[str, Mapping[str, Any]]


class _Unevaluable(Exception):
    """A condition operator this module does not evaluate."""


@functools.lru_cache(maxsize=1024)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """IAM's wildcards: ``*`` any run of characters, ``?`` one character."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _listed(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else (str(value),)


def _principals(principal: Any) -> tuple[str, ...]:
    if principal == "*":
        return ("*",)
    if isinstance(principal, dict):
        return _listed(principal.get("AWS"))  # Service and Federated principals never sign a request here
    return ()


def _parse(policy: str) -> tuple[_Statement, ...]:
    document = json.loads(policy)
    raw = document.get("Statement", [])
    statements = []
    for statement in raw if isinstance(raw, list) else [raw]:
        statements.append(
            _Statement(
                deny=statement.get("Effect") == "Deny",
                principals=_principals(statement.get("Principal")),
                actions=tuple(_glob(a, True) for a in _listed(statement.get("Action"))),
                not_actions=tuple(_glob(a, True) for a in _listed(statement.get("NotAction"))),
                resources=tuple(_glob(r, False) for r in _listed(statement.get("Resource", "*"))),
                conditions=statement.get("Condition") or {},
            )
        )
    return tuple(statements)


#: key ARN -> (the policy text it was parsed from, its statements); the text is compared by
#: identity, which changes with every PutKeyPolicy (moto stores the request's new string)
_parsed: dict[str, tuple[str, tuple[_Statement, ...]]] = {}
_parsed_lock = threading.Lock()


def _statements(key: Any) -> tuple[_Statement, ...]:
    policy = key.policy
    cached = _parsed.get(key.arn)
    if cached is not None and cached[0] is policy:
        return cached[1]
    statements = _parse(policy)
    with _parsed_lock:
        _parsed[key.arn] = (policy, statements)
    return statements


def _principal_match(principals: tuple[str, ...], caller: Caller) -> KeyPolicyAnswer | None:
    best: KeyPolicyAnswer | None = None
    for principal in principals:
        if principal == caller.arn:
            return KeyPolicyAnswer.DIRECT_SESSION
        if principal == "*":
            best = KeyPolicyAnswer.DIRECT
        elif principal in (caller.account, f"arn:aws:iam::{caller.account}:root"):
            best = best or KeyPolicyAnswer.DELEGATED
        elif (
            caller.role_name
            and principal.startswith(f"arn:aws:iam::{caller.account}:role/")
            and principal.rsplit("/", 1)[-1] == caller.role_name  # a role ARN may carry a path
        ):
            best = KeyPolicyAnswer.DIRECT
    return best


#: operators whose condition holds when the request lacks the key (AWS's negated operators)
_NEGATED = ("StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike")


def _value_matches(operator: str, actual: str, expected: tuple[str, ...]) -> bool:
    if operator in ("StringEquals", "StringNotEquals"):
        return actual in expected
    if operator in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        return actual.lower() in {e.lower() for e in expected}
    if operator in ("StringLike", "StringNotLike", "ArnLike", "ArnNotLike", "ArnEquals", "ArnNotEquals"):
        return any(_glob(e, False).match(actual) for e in expected)
    if operator == "Bool":
        return actual.lower() in {e.lower() for e in expected}
    raise _Unevaluable(operator)


def _conditions_met(conditions: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]) -> bool:
    """Every condition holds (keys compared case-insensitively, as IAM does); ``context`` keys are lower case."""
    for raw_operator, pairs in conditions.items():
        operator = raw_operator.split(":")[-1]  # ForAnyValue:/ForAllValues: on single values
        if_exists = operator.endswith("IfExists")
        operator = operator.removesuffix("IfExists")
        for key, raw_expected in pairs.items():
            actual = context.get(key.lower())
            if operator == "Null":
                if (actual is None) != (str(raw_expected).lower() == "true"):
                    return False
                continue
            if actual is None:
                if if_exists or operator in _NEGATED:
                    continue
                return False
            matched = _value_matches(operator, actual, _listed(raw_expected))
            if matched == (operator in _NEGATED):
                return False
    return True


def key_policy_answer(key: Any, action: str, caller: Caller, context: Mapping[str, str]) -> KeyPolicyAnswer:
    """What ``key``'s policy says about ``caller`` doing ``action`` (``kms:Decrypt``) on it.

    ``context``: the request's condition keys, lower case (``kms:calleraccount``, ``kms:viaservice``,
    ``aws:principalarn``, ...). A condition operator this module does not know makes an Allow
    not apply and a Deny apply: stricter than AWS rather than more permissive.
    """
    answer = KeyPolicyAnswer.NONE
    rank = {KeyPolicyAnswer.NONE: 0, KeyPolicyAnswer.DELEGATED: 1, KeyPolicyAnswer.DIRECT: 2}
    rank[KeyPolicyAnswer.DIRECT_SESSION] = 3
    for statement in _statements(key):
        if statement.not_actions:
            if any(p.match(action) for p in statement.not_actions):
                continue
        elif not any(p.match(action) for p in statement.actions):
            continue
        if not any(p.match(key.arn) for p in statement.resources):
            continue
        who = _principal_match(statement.principals, caller)
        if who is None:
            continue
        try:
            applies = _conditions_met(statement.conditions, context)
        except _Unevaluable:
            applies = statement.deny
        if not applies:
            continue
        if statement.deny:
            return KeyPolicyAnswer.DENY
        if rank[who] > rank[answer]:
            answer = who
    return answer


# --- which keys a request uses ------------------------------------------------------------


def find_key(key_id: str, account: str, region: str) -> Any:
    """moto's key for a key id, key ARN, alias name or alias ARN (an ARN names its own account and
    region); None when there is none (moto then answers the request with its own NotFound)."""
    from moto.kms.models import kms_backends

    if key_id.startswith("arn:"):
        parts = key_id.split(":", 5)
        if len(parts) < 6:
            return None
        region, account, key_id = parts[3], parts[4], parts[5]
        key_id = key_id.removeprefix("key/")
    if account not in kms_backends or region not in kms_backends[account]:
        return None  # never create a backend just to look
    backend = kms_backends[account][region]
    if key_id.startswith("alias/"):
        return next((k for k in list(backend.keys.values()) if key_id in k.aliases), None)
    return backend.keys.get(key_id)


def _key_in_ciphertext(blob: Any, account: str, region: str) -> Any:
    """The key a ciphertext blob (base64, as the request carries it) was encrypted under."""
    if not isinstance(blob, str):
        return None
    try:
        from moto.kms.utils import _deserialize_ciphertext_blob

        key_id = _deserialize_ciphertext_blob(base64.b64decode(blob)).key_id
    except (ValueError, binascii.Error, UnicodeDecodeError, Exception):  # noqa: BLE001 - not a blob moto made
        return None
    return find_key(key_id, account, region)


def kms_key_uses(action: str, values: Mapping[str, Any], account: str, region: str) -> list[tuple[str, Any]]:
    """``(IAM action, key)`` pairs a KMS request needs allowed; empty when it names no key that exists."""
    if action == "kms:ReEncrypt":  # two permissions: from the source key, to the destination key
        uses = [
            ("kms:ReEncryptFrom", _key_in_ciphertext(values.get("CiphertextBlob"), account, region)),
            ("kms:ReEncryptTo", _find(values.get("DestinationKeyId"), account, region)),
        ]
        return [(a, k) for a, k in uses if k is not None]
    key = _find(values.get("KeyId"), account, region) or _find(values.get("TargetKeyId"), account, region)
    if key is None and action == "kms:Decrypt":
        key = _key_in_ciphertext(values.get("CiphertextBlob"), account, region)
    return [(action, key)] if key is not None else []


def _find(key_id: Any, account: str, region: str) -> Any:
    return find_key(key_id, account, region) if isinstance(key_id, str) and key_id else None


def _bucket(name: str) -> Any:
    from moto.s3.models import s3_backends

    owner = s3_backends.bucket_accounts.get(name)
    if owner is None:
        return None
    partition, account = owner
    return s3_backends[account][partition].buckets.get(name)


def s3_key_uses(
    action: str, method: str, path: str, resource: str, headers: Mapping[str, str]
) -> list[tuple[str, Any]]:
    """The KMS uses S3 makes on the caller's behalf for an object request (SSE-KMS).

    Writing an object (``PutObject``, a multipart upload's start and parts) generates a data key
    under the key the request names, else the bucket's default key; reading one
    (``GetObject``, not ``HEAD``) decrypts with the key the object was stored under; a copy reads
    its source too. Objects under S3-managed or AWS-managed keys need nothing.
    """
    if not resource.startswith("arn:aws:s3:::") or "/" not in resource:
        return []
    bucket_name, _, object_key = resource[len("arn:aws:s3:::") :].partition("/")
    query = parse_qs(urlparse(path).query, keep_blank_values=True)
    uses: list[tuple[str, Any]] = []
    if action == "s3:PutObject" and (method == "PUT" or (method == "POST" and "uploads" in query)):
        bucket = _bucket(bucket_name)
        if bucket is None:
            return []
        key_id = headers.get("x-amz-server-side-encryption-aws-kms-key-id")
        if key_id is None and not headers.get("x-amz-server-side-encryption"):
            default = (bucket.encryption or {}).get("Rule", {}).get("ApplyServerSideEncryptionByDefault", {})
            if default.get("SSEAlgorithm") in ("aws:kms", "aws:kms:dsse"):
                key_id = default.get("KMSMasterKeyID")
        key = _find(key_id, bucket.account_id, bucket.region_name)
        if key is not None:
            uses.append(("kms:GenerateDataKey", key))
        source = headers.get("x-amz-copy-source")
        if source and method == "PUT":
            from urllib.parse import unquote

            source_bucket, _, source_key = unquote(source.split("?")[0]).lstrip("/").partition("/")
            uses += _decrypt_use(source_bucket, source_key, None)
    elif action in ("s3:GetObject", "s3:GetObjectVersion") and method == "GET" and "uploadId" not in query:
        uses += _decrypt_use(bucket_name, object_key, (query.get("versionId") or [None])[0])
    return uses


def _decrypt_use(bucket_name: str, object_key: str, version_id: str | None) -> list[tuple[str, Any]]:
    bucket = _bucket(bucket_name)
    if bucket is None:
        return []
    if version_id is None:
        stored = bucket.keys.get(object_key)
    else:
        stored = next((v for v in bucket.keys.getlist(object_key, []) if v.version_id == version_id), None)
    if stored is None or getattr(stored, "encryption", None) not in ("aws:kms", "aws:kms:dsse"):
        return []
    key = _find(stored.kms_key_id, bucket.account_id, bucket.region_name)
    return [("kms:Decrypt", key)] if key is not None else []


__all__ = [
    "Caller",
    "KeyPolicyAnswer",
    "find_key",
    "key_policy_answer",
    "kms_key_uses",
    "s3_key_uses",
]
