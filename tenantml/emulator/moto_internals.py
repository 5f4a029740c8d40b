"""The few places where the emulator reaches into moto itself, because its API lacks a call.

Only possible when moto runs in this process (``tenantml up`` starts it in-process); each
function says which call moto 5.2.5 lacks. moto is pinned exactly in ``pyproject.toml``
because of this module: check these functions whenever moto is upgraded.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from typing import Any

from tenantml.emulator.session import is_in_process

_model_package_deletion_added = False


def add_model_package_deletion() -> None:
    """Answer ``DeleteModelPackage`` and ``DeleteModelPackageGroup`` as SageMaker does.

    moto 5.2.5 implements neither: both answer HTTP 500 "has not been implemented" and the
    server logs a traceback. Without them, ``tenantml destroy`` (another process, which reaches
    the emulator only through the API) left every registered version behind, and the re-applied
    group still named a champion whose artifact was gone. As on AWS, a group that still holds
    versions cannot be deleted (``ConflictException``): delete its versions first. Process-wide
    and idempotent; ``tests/functional/emulator/test_model_package_deletion.py`` pins the
    behaviour.
    """
    global _model_package_deletion_added
    if _model_package_deletion_added:
        return
    from moto.core.responses import EmptyResult
    from moto.sagemaker.exceptions import ConflictException, ValidationError
    from moto.sagemaker.models import SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    def delete_model_package(self: Any, model_package_name: str) -> None:
        arn = self.model_package_name_mapping.get(model_package_name, model_package_name)
        if self.model_packages.pop(arn, None) is None:
            raise ValidationError(f"Model package {model_package_name} not found")
        # the mapping also maps a name (for versions: the group's) to its latest ARN
        for key, value in list(self.model_package_name_mapping.items()):
            if value == arn:
                del self.model_package_name_mapping[key]

    def delete_model_package_group(self: Any, model_package_group_name: str) -> None:
        name = model_package_group_name.split("/")[-1]  # a name or an ARN, as on AWS
        group = self.describe_model_package_group(name)  # ValidationException when it does not exist
        versions = [p for p in self.model_packages.values() if p.model_package_group_name == name]
        if versions:
            raise ConflictException(
                f"Model Package Group {group.arn} cannot be deleted because it contains "
                f"{len(versions)} model package(s); delete them first"
            )
        del self.model_package_groups[name]

    def respond_delete_model_package(self: Any) -> Any:
        self.sagemaker_backend.delete_model_package(self._get_param("ModelPackageName"))
        return EmptyResult()

    def respond_delete_model_package_group(self: Any) -> Any:
        self.sagemaker_backend.delete_model_package_group(self._get_param("ModelPackageGroupName"))
        return EmptyResult()

    SageMakerModelBackend.delete_model_package = delete_model_package
    SageMakerModelBackend.delete_model_package_group = delete_model_package_group
    SageMakerResponse.delete_model_package = respond_delete_model_package
    SageMakerResponse.delete_model_package_group = respond_delete_model_package_group
    _model_package_deletion_added = True


_AWS_MANAGED_ARN = re.compile(r"^arn:aws[a-z-]*:iam::aws:policy/(?:.*/)?([^/]+)$")


@functools.lru_cache(maxsize=1)
def _aws_managed_policy_data() -> dict[str, Any]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return json.loads(aws_managed_policies_data)


def ensure_aws_managed_policy(endpoint: str, account_id: str, arn: str) -> bool:
    """Make one AWS managed policy (``arn:aws:iam::aws:policy/...``) known to moto's IAM.

    moto knows AWS managed policies only when its IAM backend is created with
    ``MOTO_IAM_LOAD_MANAGED_POLICIES=true``, which loads all ~1,300 of them and makes every
    IAM reset cost about half a second. The stacks attach a handful, so the emulator adds
    just those, from the same data moto ships. False when moto is not in this process or
    does not know the policy.
    """
    match = _AWS_MANAGED_ARN.match(arn)
    if not match or not is_in_process(endpoint):
        return False
    from moto.iam.models import AWSManagedPolicy, iam_backends

    backend = iam_backends[account_id]["global"]
    if arn in backend.managed_policies:
        return True
    data = _aws_managed_policy_data().get(match.group(1))
    if data is None:
        return False
    policy = AWSManagedPolicy.from_data(match.group(1), account_id, backend.region_name, data)
    if policy.arn != arn:
        return False
    backend.aws_managed_policies.append(policy)
    backend.managed_policies[policy.arn] = policy
    return True


__all__ = [
    "add_model_package_deletion",
    "ensure_aws_managed_policy",
    "fix_kinesis_put_concurrency",
    "fix_policy_condition_semantics",
]


_conditions_fixed = False

#: request context the emulator stands for: clients reach AWS over HTTPS, even if the last hop to
#: the emulator is plain HTTP on loopback
EMULATED_REQUEST_CONTEXT = {"aws:SecureTransport": "true"}


def _bool_conditions_met(conditions: dict[str, Any], values: dict[str, str]) -> bool | None:
    """IAM's ``Bool`` operator (moto 5.2.5 ignores it); None when other operators are present."""
    if set(conditions) != {"Bool"}:
        return None
    for key, expected in conditions["Bool"].items():
        actual = values.get(key)
        if actual is None:  # a condition on a key the request does not carry is not met
            return False
        allowed = expected if isinstance(expected, list) else [expected]
        if str(actual).lower() not in {str(v).lower() for v in allowed}:
            return False
    return True


def fix_policy_condition_semantics() -> None:
    """Evaluate ``Bool`` conditions in resource policies (moto 5.2.5 treats them as always met).

    moto's condition check knows only ``StringEquals`` and counts any other operator as met.
    So the TLS-only bucket policy every tenant bucket carries ("deny s3:* when
    aws:SecureTransport is false") denies every request to the emulator. Here ``Bool``
    conditions are evaluated against the request's values, with ``aws:SecureTransport`` true
    (the emulator stands for AWS's HTTPS endpoints); a statement whose condition is not met
    does not apply. Process-wide and idempotent;
    ``tests/functional/emulator/test_moto_policy_conditions.py`` pins the behaviour.
    """
    global _conditions_fixed
    if _conditions_fixed:
        return
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult

    original = IAMPolicyStatement.is_action_permitted

    @functools.wraps(original)
    def is_action_permitted(
        self: Any,
        action: str,
        resource: str = "*",
        principal: str | None = None,
        incoming_condition_values: dict[str, str] | None = None,
    ) -> Any:
        conditions = self._statement.get("Condition")
        if conditions:
            values = {**EMULATED_REQUEST_CONTEXT, **(incoming_condition_values or {})}
            if _bool_conditions_met(conditions, values) is False:
                return PermissionResult.NEUTRAL
        return original(self, action, resource, principal, incoming_condition_values)

    IAMPolicyStatement.is_action_permitted = is_action_permitted
    _conditions_fixed = True


_kinesis_fixed = False
#: one lock per stream, by (account, region, stream name); a deleted and re-created stream reuses its lock
_STREAM_LOCKS: dict[tuple[str, str, str], threading.Lock] = {}


def _stream_lock(backend: Any, stream_arn: str | None, stream_name: str | None) -> threading.Lock:
    stream = backend.describe_stream(stream_arn=stream_arn, stream_name=stream_name)
    # dict.setdefault is atomic under the GIL: two first callers get the same lock
    return _STREAM_LOCKS.setdefault(
        (backend.account_id, backend.region_name, stream.stream_name), threading.Lock()
    )


def fix_kinesis_put_concurrency() -> None:
    """Serialize ``PutRecord``/``PutRecords``/``GetRecords`` per stream (moto 5.2.5 loses records).

    moto numbers a shard's next record "highest sequence number + 1" with no lock (its source
    says "not safe for concurrency"), and its werkzeug server answers each request in its own
    thread. Two concurrent ``PutRecords`` calls (two server workers logging inferences) can take
    the same number, and the second record silently replaces the first while both callers are
    told it was stored. ``GetRecords`` iterates the same dict, which a concurrent put can change
    under it. Holding one lock per stream around the backend's three methods makes each call
    atomic, as on real Kinesis. Process-wide and idempotent;
    ``tests/functional/emulator/test_moto_kinesis_concurrency.py`` pins the behaviour.
    """
    global _kinesis_fixed
    if _kinesis_fixed:
        return
    from moto.kinesis.models import KinesisBackend
    from moto.kinesis.utils import decompose_shard_iterator

    put_record, put_records, get_records = (
        KinesisBackend.put_record,
        KinesisBackend.put_records,
        KinesisBackend.get_records,
    )

    @functools.wraps(put_record)
    def locked_put_record(
        self: Any, stream_arn: str | None, stream_name: str | None, *args: Any, **kwargs: Any
    ) -> Any:
        with _stream_lock(self, stream_arn, stream_name):
            return put_record(self, stream_arn, stream_name, *args, **kwargs)

    @functools.wraps(put_records)
    def locked_put_records(
        self: Any, stream_arn: str | None, stream_name: str | None, *args: Any, **kwargs: Any
    ) -> Any:
        with _stream_lock(self, stream_arn, stream_name):
            return put_records(self, stream_arn, stream_name, *args, **kwargs)

    @functools.wraps(get_records)
    def locked_get_records(
        self: Any, stream_arn: str | None, shard_iterator: str, *args: Any, **kwargs: Any
    ) -> Any:
        try:
            stream_name = decompose_shard_iterator(shard_iterator)[0]
        except Exception:  # noqa: BLE001 - not an iterator moto made: let moto answer with its own error
            return get_records(self, stream_arn, shard_iterator, *args, **kwargs)
        with _stream_lock(self, stream_arn, stream_name):
            return get_records(self, stream_arn, shard_iterator, *args, **kwargs)

    KinesisBackend.put_record = locked_put_record
    KinesisBackend.put_records = locked_put_records
    KinesisBackend.get_records = locked_get_records
    _kinesis_fixed = True
