"""The KMS key uses Kinesis, SNS and SQS make as the caller for server-side encryption.

moto 5.2.5 stores a stream's, topic's or queue's KMS key and never uses it: under enforcement a
role allowed ``kinesis:PutRecord`` wrote to a KMS-encrypted stream without any right on its key.
On AWS the service calls KMS with the caller's credentials, so the caller needs the key too:

- **Kinesis** (https://docs.aws.amazon.com/streams/latest/dev/permissions-user-key-KMS.html):
  producers (``PutRecord``, ``PutRecords``) need ``kms:GenerateDataKey``, consumers
  (``GetRecords``) ``kms:Decrypt``; the encryption context is the stream ARN
  (``kms:EncryptionContext:aws:kinesis:arn``); a denial is ``KMSAccessDeniedException``.
- **SNS** (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html): a publisher
  (``Publish``, ``PublishBatch``) needs ``kms:GenerateDataKey*`` and ``kms:Decrypt`` (the
  documented cost, two KMS requests per publisher and data key period, is these two); the
  context is ``kms:EncryptionContext:aws:sns:topicArn``; a denial is ``KMSAccessDenied`` (400).
- **SQS** (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html):
  a producer (``SendMessage``, ``SendMessageBatch``) needs ``kms:GenerateDataKey`` and
  ``kms:Decrypt`` (two requests per producer and period, as SQS's cost formula ``2 * P + C``
  counts them), a consumer (``ReceiveMessage``) ``kms:Decrypt``; the context is
  ``kms:EncryptionContext:aws:sqs:arn``; a denial is ``KMS.AccessDeniedException`` (the SQS JSON
  error ``KmsAccessDenied`` with its query-compatible code, which the SDKs report).

Every use carries ``kms:ViaService`` (``<service>.<region>.amazonaws.com``, set by the caller of
:func:`service_key_uses`), so a key policy that allows a role only through one service evaluates
as on AWS. Keys under AWS-managed aliases (``alias/aws/sns``) are not in moto's backend and need
nothing, as AWS's managed key policies allow every principal of the account through the service.

Known gaps: AWS reuses a data key for up to 5 minutes (``KmsDataKeyReusePeriodSeconds``), so a
revoked grant may keep working that long there and stops at once here; a consumer of an empty
queue is checked too; deliveries made by the services themselves (SNS to its subscribers, Lambda
to its dead-letter queue and event sources) use the service's own access, which nothing here can
sign as (the emulator's runtime delivers as the account's administrator).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from typing import Any, ClassVar

from tenantml.emulator.kms_access import find_key

#: request action -> the KMS actions the service performs as the caller on the resource's key
KEY_ACTIONS: dict[str, tuple[str, ...]] = {
    "kinesis:PutRecord": ("kms:GenerateDataKey",),
    "kinesis:PutRecords": ("kms:GenerateDataKey",),
    "kinesis:GetRecords": ("kms:Decrypt",),
    "sns:Publish": ("kms:GenerateDataKey", "kms:Decrypt"),
    "sns:PublishBatch": ("kms:GenerateDataKey", "kms:Decrypt"),
    "sqs:SendMessage": ("kms:GenerateDataKey", "kms:Decrypt"),
    "sqs:SendMessageBatch": ("kms:GenerateDataKey", "kms:Decrypt"),
    "sqs:ReceiveMessage": ("kms:Decrypt",),
}

#: the services whose denials :func:`key_access_denied` answers
SERVICES = frozenset(action.split(":", 1)[0] for action in KEY_ACTIONS)

#: the encryption context each service passes to KMS: condition key prefix for the resource ARN
_CONTEXT_KEYS = {
    "kinesis": "kms:EncryptionContext:aws:kinesis:arn",
    "sns": "kms:EncryptionContext:aws:sns:topicArn",
    "sqs": "kms:EncryptionContext:aws:sqs:arn",
}


def service_key_uses(
    action: str, values: dict[str, Any], resource: str, account: str, region: str
) -> tuple[list[tuple[str, Any]], dict[str, str]]:
    """``(KMS action, key)`` pairs the request makes as the caller, and the encryption context.

    ``values``: the request's parameters; ``resource``: the ARN the request acts on when known
    (SQS: moto's queue ARN). Empty when the resource is not encrypted with a key moto holds, or
    does not exist (the service then answers with its own error).
    """
    kms_actions = KEY_ACTIONS.get(action)
    if kms_actions is None:
        return [], {}
    service = action.split(":", 1)[0]
    if service == "kinesis":
        arn, key_ref = _stream_key(values, account, region)
    elif service == "sns":
        arn, key_ref = _topic_key(values.get("TopicArn"))
    else:
        arn, key_ref = _queue_key(resource)
    if arn is None or not key_ref:
        return [], {}
    _, _, _, key_region, key_account, _ = arn.split(":", 5)
    key = _resolve(key_ref, key_account, key_region)
    if key is None:
        return [], {}
    return [(kms_action, key) for kms_action in kms_actions], {_CONTEXT_KEYS[service]: arn}


def _stream_key(values: dict[str, Any], account: str, region: str) -> tuple[str | None, str | None]:
    from moto.kinesis.models import kinesis_backends

    arn, name = values.get("StreamARN"), values.get("StreamName")
    if isinstance(arn, str) and arn.startswith("arn:") and "/" in arn:
        _, _, _, region, account, rest = arn.split(":", 5)
        name = rest.split("/", 1)[1]
    elif not isinstance(name, str) and isinstance(values.get("ShardIterator"), str):
        name = _stream_of_iterator(values["ShardIterator"])  # GetRecords names only its iterator
    if (
        not isinstance(name, str)
        or account not in kinesis_backends
        or region not in kinesis_backends[account]
    ):
        return None, None
    stream = kinesis_backends[account][region].streams.get(name)
    if stream is None or stream.encryption_type != "KMS":
        return None, None
    return stream.arn, stream.key_id


@functools.lru_cache(maxsize=4096)
def _stream_of_iterator(iterator: str) -> str | None:
    """The stream name inside one of moto's shard iterators (a consumer reuses each one once)."""
    from moto.kinesis.utils import decompose_shard_iterator

    try:
        return decompose_shard_iterator(iterator)[0]
    except Exception:  # noqa: BLE001 - not an iterator moto made: moto answers with its own error
        return None


def _topic_key(arn: Any) -> tuple[str | None, str | None]:
    from moto.sns.models import sns_backends

    if not isinstance(arn, str) or arn.count(":") < 5:
        return None, None
    _, _, _, region, account, _ = arn.split(":", 5)
    if account not in sns_backends or region not in sns_backends[account]:
        return None, None
    topic = sns_backends[account][region].topics.get(arn)
    return (arn, topic.kms_master_key_id) if topic is not None else (None, None)


def _queue_key(arn: str) -> tuple[str | None, str | None]:
    from moto.sqs.models import sqs_backends

    if not arn.startswith("arn:aws:sqs:") or arn.count(":") != 5:
        return None, None
    _, _, _, region, account, name = arn.split(":", 5)
    if account not in sqs_backends or region not in sqs_backends[account]:
        return None, None
    queue = sqs_backends[account][region].queues.get(name)
    return (arn, getattr(queue, "kms_master_key_id", None)) if queue is not None else (None, None)


#: (key id, key ARN, alias name or alias ARN; account; region) -> moto's key. Every stream, topic
#: and queue request asks for its resource's key, and an alias resolves by scanning every key of
#: the region; a hit is still checked against the backend (the key not deleted, the alias not
#: moved), which costs two dictionary look-ups
_resolved: dict[tuple[str, str, str], Any] = {}
_resolved_lock = threading.Lock()


def _resolve(key_ref: str, account: str, region: str) -> Any:
    cache_key = (key_ref, account, region)
    key = _resolved.get(cache_key)
    if key is not None and _still_valid(key, key_ref):
        return key
    key = find_key(key_ref, account, region)
    if key is not None:
        with _resolved_lock:
            _resolved[cache_key] = key
    return key


def _still_valid(key: Any, key_ref: str) -> bool:
    from moto.kms.models import kms_backends

    _, _, _, region, account, _ = key.arn.split(":", 5)
    if kms_backends[account][region].keys.get(key.id) is not key:
        return False
    alias = key_ref.split(":", 5)[-1] if key_ref.startswith("arn:") else key_ref
    return not alias.startswith("alias/") or alias in key.aliases


# --- the services' errors -------------------------------------------------------------------


def key_access_denied(service: str, message: str) -> Exception:
    """The error ``service`` answers when KMS denied its use of the key for the caller."""
    return _error_classes()[service](message)


@functools.cache
def _error_classes() -> dict[str, type[Exception]]:
    from moto.core.exceptions import AccessDeniedError, JsonRESTError

    class KinesisKMSAccessDenied(JsonRESTError):
        code = 400

        def __init__(self, message: str) -> None:
            super().__init__("KMSAccessDeniedException", message)

    class SnsKMSAccessDenied(AccessDeniedError):
        """SNS's query-protocol XML error ``KMSAccessDenied``, HTTP 400 (botocore's model says so)."""

        code = 400

        def __init__(self, message: str) -> None:
            super(AccessDeniedError, self).__init__("KMSAccessDenied", message)

    class SqsKmsAccessDenied(JsonRESTError):
        """SQS speaks JSON, with the query protocol's code in ``x-amzn-query-error`` for the SDKs."""

        code = 400

        def __init__(self, message: str) -> None:
            super().__init__("com.amazonaws.sqs#KmsAccessDenied", message)

        #: added to the response by ``moto_internals.add_permission_boundaries`` (moto sends no
        #: headers with a denial)
        response_headers: ClassVar[Mapping[str, str]] = {
            "x-amzn-query-error": "KMS.AccessDeniedException;Sender"
        }

    return {"kinesis": KinesisKMSAccessDenied, "sns": SnsKMSAccessDenied, "sqs": SqsKmsAccessDenied}


__all__ = ["KEY_ACTIONS", "SERVICES", "key_access_denied", "service_key_uses"]
