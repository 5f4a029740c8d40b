"""The few places where the emulator reaches into moto itself, because its API lacks a call.

Only possible when moto runs in this process (``tenantml up`` starts it in-process); each
function says which call moto 5.2.5 lacks. moto is pinned exactly in ``pyproject.toml``
because of this module: check these functions whenever moto is upgraded.
"""

from __future__ import annotations

import contextvars
import functools
import json
import re
import threading
from typing import Any
from urllib.parse import unquote

from tenantml.emulator.kms_access import Caller, KeyPolicyAnswer, key_policy_answer, kms_key_uses, s3_key_uses
from tenantml.emulator.service_keys import SERVICES as KEY_USING_SERVICES
from tenantml.emulator.service_keys import key_access_denied, service_key_uses
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
    if not is_in_process(endpoint):
        return False
    return add_aws_managed_policy(account_id, arn)


def add_aws_managed_policy(account_id: str, arn: str) -> bool:
    """:func:`ensure_aws_managed_policy` for a moto known to be in this process."""
    match = _AWS_MANAGED_ARN.match(arn)
    if not match:
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
    "add_aws_managed_policy",
    "add_model_package_deletion",
    "add_permission_boundaries",
    "defer_default_amis",
    "defer_kms_key_pairs",
    "ensure_aws_managed_policy",
    "fix_kinesis_put_concurrency",
    "fix_policy_condition_semantics",
]


_conditions_fixed = False

#: request context the emulator stands for: clients reach AWS over HTTPS, even if the last hop to
#: the emulator is plain HTTP on loopback
EMULATED_REQUEST_CONTEXT = {"aws:SecureTransport": "true"}


#: the operators :func:`_conditions_met` evaluates (moto 5.2.5 knows only ``StringEquals``)
_EVALUATED_OPERATORS = frozenset({"Bool", "Null", "StringNotEquals"})

#: condition keys an S3 object request carries, from its headers (moto passes none to bucket policies)
_S3_REQUEST_VALUES: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "tenantml_s3_request_values", default=None
)
#: request header -> condition key; AWS reads these from the request only, never from bucket defaults
_S3_CONDITION_HEADERS = {
    "x-amz-server-side-encryption": "s3:x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id": "s3:x-amz-server-side-encryption-aws-kms-key-id",
}


def _listed(expected: Any) -> list[str]:
    return [str(v) for v in (expected if isinstance(expected, list) else [expected])]


def _conditions_met(conditions: dict[str, Any], values: dict[str, str]) -> bool | None:
    """IAM's ``Bool``, ``Null`` and ``StringNotEquals`` operators (moto 5.2.5 treats them as met).

    None when another operator is present (moto's own check then decides). As on AWS: ``Bool`` on
    a key the request does not carry is not met; ``Null: true`` is met when the key is absent,
    ``Null: false`` when present; ``StringNotEquals`` (a negated operator) is met when the key is
    absent or its value is none of the listed ones.
    """
    if not conditions or not set(conditions) <= _EVALUATED_OPERATORS:
        return None
    for key, expected in conditions.get("Bool", {}).items():
        actual = values.get(key)
        if actual is None or str(actual).lower() not in {v.lower() for v in _listed(expected)}:
            return False
    for key, expected in conditions.get("Null", {}).items():
        absent = values.get(key) is None
        if absent != (_listed(expected)[0].lower() == "true"):
            return False
    for key, expected in conditions.get("StringNotEquals", {}).items():
        actual = values.get(key)
        if actual is not None and str(actual) in _listed(expected):
            return False
    return True


def fix_policy_condition_semantics() -> None:
    """Evaluate ``Bool``, ``Null`` and ``StringNotEquals`` conditions in policies (moto 5.2.5 treats them as met).

    moto's condition check knows only ``StringEquals`` and counts any other operator as met.
    So the TLS-only bucket policy every tenant bucket carries ("deny s3:* when
    aws:SecureTransport is false") denied every request to the emulator, and the state bucket's
    "deny PutObject unless the SSE header is aws:kms" statements denied every upload. Here those
    operators are evaluated (:func:`_conditions_met`) against the request's values, with
    ``aws:SecureTransport`` true (the emulator stands for AWS's HTTPS endpoints) and, for S3
    object requests, the ``s3:x-amz-server-side-encryption*`` keys from the request's headers
    only (AWS does not count a bucket's default encryption); a statement whose condition is
    not met does not apply. A bucket policy's denial is S3's ``AccessDenied`` error (moto
    answers a bare 403). Process-wide and idempotent;
    ``tests/functional/emulator/test_moto_policy_conditions.py`` and the state bucket tests in
    ``tests/functional/emulator/test_bootstrap.py`` pin the behaviour.
    """
    global _conditions_fixed
    if _conditions_fixed:
        return
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult
    from moto.s3.exceptions import S3AccessDeniedError
    from moto.s3.responses import S3Response

    original = IAMPolicyStatement.is_action_permitted
    key_response = S3Response._key_response

    @functools.wraps(key_response)
    def s3_key_response(self: Any, request: Any, full_url: str) -> Any:
        headers = request.headers
        carried = {key: headers[h] for h, key in _S3_CONDITION_HEADERS.items() if headers.get(h)}
        token = _S3_REQUEST_VALUES.set(carried)
        try:
            answer = key_response(self, request, full_url)
        finally:
            _S3_REQUEST_VALUES.reset(token)
        if isinstance(answer, tuple) and answer[0] == 403 and not answer[2]:
            raise S3AccessDeniedError()  # the bucket policy denied it: S3's error, not a bare 403
        return answer

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
            values = {
                **EMULATED_REQUEST_CONTEXT,
                **(_S3_REQUEST_VALUES.get() or {}),
                **(incoming_condition_values or {}),
            }
            if _conditions_met(conditions, values) is False:
                return PermissionResult.NEUTRAL
        return original(self, action, resource, principal, incoming_condition_values)

    IAMPolicyStatement.is_action_permitted = is_action_permitted
    S3Response._key_response = s3_key_response
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
    _fix_kinesis_shard_scans()
    _kinesis_fixed = True


def _fix_kinesis_shard_scans() -> None:
    """Make a shard's put and read cost independent of how many records it holds (moto 5.2.5).

    moto finds a shard's newest sequence number with ``list(records.keys())[-1]`` on every put, and
    ``GetRecords`` walks every record from the oldest to find those after the iterator: a stream
    that has taken n records costs O(n) per put and per read, so an hour of traffic (or 20 tenants'
    monitors polling) slows down quadratically. A shard's sequence numbers are the consecutive
    integers ``oldest..newest`` (each put takes newest + 1; expiry removes from the oldest end), so
    both are answered by position. Same results as moto's (pinned by
    ``tests/functional/emulator/test_moto_kinesis_concurrency.py``).
    """
    from moto.kinesis.models import Shard

    def get_min_sequence_number(self: Any) -> int:
        return next(iter(self.records)) if self.records else 0

    def get_max_sequence_number(self: Any) -> int:
        return next(reversed(self.records)) if self.records else 0

    def get_records(self: Any, last_sequence_id: str, limit: int | None) -> tuple[list[Any], int, int]:
        last = int(last_sequence_id)
        if not self.records:
            return [], last, 0
        oldest, newest = next(iter(self.records)), next(reversed(self.records))
        first = max(last + 1, oldest)
        end = newest if limit is None else min(newest, first + limit - 1)
        results = [self.records[n] for n in range(first, end + 1) if n in self.records]
        if not results:
            return [], last, 0
        behind = self.records[newest].created_at - results[-1].created_at
        return results, results[-1].sequence_number, int(behind * 1000)

    Shard.get_min_sequence_number = get_min_sequence_number
    Shard.get_max_sequence_number = get_max_sequence_number
    Shard.get_records = get_records


_dispatch_sped_up = False


def speed_up_request_dispatch() -> None:
    """Take two per-request scans out of moto's server (moto 5.2.5), which every call paid.

    - ``DomainDispatcherApplication.get_backend_for_host`` lists moto's package directory and
      stats each of its ~180 entries (``backends.list_of_moto_modules``) up to twice per request,
      while holding the dispatcher's one lock: every concurrent request queued behind that disk
      scan. The directory does not change while the process runs, so it is read once.
    - ``BaseResponse.call_action`` finds the action's method with ``inspect.getmembers`` over the
      whole response class on every request. The names are cached per class; the key includes
      the size of each class's namespace, so a method added later (as
      :func:`add_model_package_deletion` does) is seen.

    Together about a third of the server's time per request (``benchmarks/plan_bench.py``).
    Process-wide and idempotent; behaviour is unchanged (the same backend, the same methods).
    """
    global _dispatch_sped_up
    if _dispatch_sped_up:
        return
    from moto import backends
    from moto.core import responses, utils

    module_names = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: module_names  # type: ignore[assignment]

    @functools.lru_cache(maxsize=1024)
    def names(clazz: type, _namespace_sizes: tuple[int, ...]) -> frozenset[str]:
        return frozenset(utils.method_names_from_class(clazz))

    def method_names_from_class(clazz: type) -> frozenset[str]:
        return names(clazz, tuple(len(vars(k)) for k in clazz.__mro__))

    responses.method_names_from_class = method_names_from_class  # type: ignore[assignment]
    _dispatch_sped_up = True


_amis_deferred = False
#: the EC2 backend's collections that loading Amazon's AMIs fills (each AMI gets a volume and a snapshot)
_AMI_FILLED = ("amis", "snapshots", "volumes")


def defer_default_amis() -> None:
    """Load Amazon's public AMIs into an account's EC2 backend when it first reads them, not when it is made.

    moto 5.2.5 builds an EC2 backend per account and region and fills it with ~1,300 AMIs, each
    with a volume and a snapshot made with random ids: about 0.17 s per backend, before the
    request that made it is answered. Under ``up`` each tenant has its own account, so every
    tenant paid it in one or two regions, and nothing in a tenant's stack reads those AMIs (launch
    templates name their image through SSM; moto does not check image ids unless
    ``MOTO_ENABLE_AMI_VALIDATION`` is set). The AMIs, their volumes and snapshots are loaded the
    first time any of the three collections is read, so ``DescribeImages``, ``DescribeSnapshots``
    and ``DescribeVolumes`` answer exactly as before. Process-wide and idempotent.
    """
    global _amis_deferred
    if _amis_deferred:
        return
    from moto.ec2.models import EC2Backend
    from moto.ec2.models.amis import AmiBackend

    load_amis = AmiBackend._load_amis
    lock = threading.RLock()

    def mark_pending(self: Any) -> None:
        self.__dict__["_tenantml_amis_pending"] = True

    def collection(name: str) -> property:
        def get(self: Any) -> Any:
            if self.__dict__.get("_tenantml_amis_pending"):
                with lock:  # one loader; another reader waits for the whole catalogue
                    if self.__dict__.get("_tenantml_amis_pending"):
                        self.__dict__["_tenantml_amis_pending"] = False
                        load_amis(self)
            return self.__dict__[f"_tenantml_{name}"]

        def set_(self: Any, value: Any) -> None:
            self.__dict__[f"_tenantml_{name}"] = value

        return property(get, set_)

    AmiBackend._load_amis = mark_pending  # type: ignore[method-assign]
    for name in _AMI_FILLED:
        setattr(EC2Backend, name, collection(name))
    _amis_deferred = True


_kms_key_pairs_deferred = False


def defer_kms_key_pairs() -> None:
    """Generate a KMS key's private key when it first signs, verifies or shows its public key.

    moto 5.2.5 makes an RSA-2048 key pair for every key it creates, symmetric ones included
    (``moto.kms.models.Key.__init__``), about 0.1 s of CPU each while the request waits; every
    tenant creates its own keys. Only ``Sign``, ``Verify`` and ``GetPublicKey`` read the pair, so
    it is made on first use, for the key's own ``KeySpec``, exactly as moto would have made it.
    Process-wide and idempotent.
    """
    global _kms_key_pairs_deferred
    if _kms_key_pairs_deferred:
        return
    from moto.kms import models

    generate = models.generate_private_key
    lock = threading.Lock()
    pending = object()

    def get(self: Any) -> Any:
        if self.__dict__.get("_tenantml_private_key", pending) is pending:
            with lock:
                if self.__dict__.get("_tenantml_private_key", pending) is pending:
                    self.__dict__["_tenantml_private_key"] = generate(self.key_spec)
        return self.__dict__["_tenantml_private_key"]

    def set_(self: Any, value: Any) -> None:
        self.__dict__["_tenantml_private_key"] = value

    models.generate_private_key = lambda _key_spec: pending  # type: ignore[assignment]
    models.Key.private_key = property(get, set_)  # type: ignore[attr-defined]
    _kms_key_pairs_deferred = True


_boundaries_added = False
#: SigV4 signing names that differ from botocore's service names
_SIGNING_NAMES = {"monitoring": "cloudwatch", "states": "stepfunctions"}


@functools.lru_cache(maxsize=64)
def _speaks_json(signing_name: str) -> bool:
    """Whether the service answers in JSON (``AccessDeniedException``) rather than XML (``AccessDenied``)."""
    import botocore.session
    from botocore.exceptions import UnknownServiceError

    try:
        model = botocore.session.get_session().get_service_model(
            _SIGNING_NAMES.get(signing_name, signing_name)
        )
    except UnknownServiceError:
        return False
    return model.metadata.get("protocol") in ("json", "rest-json")


def _request_values(request: Any) -> dict[str, Any]:
    """The request's parameters: the form or query values, else the JSON body."""
    values: dict[str, Any] = {}
    for key, value in (request._data or {}).items():
        values[key] = value[0] if isinstance(value, list) and value else value
    body = request._body
    if body and body[:1] == b"{":
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            values.update(parsed)
    return values


def _request_resource(request: Any, values: dict[str, Any]) -> str | None:
    """The ARN a request acts on, for the services whose resource moto 5.2.5 does not name.

    moto hands its IAM check ``"*"`` for every service but S3, SQS, IAM and STS, and a
    statement scoped to an ARN never matches ``"*"``. None when the request names no resource
    this function knows.
    """
    service, region, account = request._service, request._region, request.account_id
    if service == "kinesis":
        if isinstance(values.get("StreamARN"), str):
            return values["StreamARN"]
        if isinstance(values.get("StreamName"), str):
            return f"arn:aws:kinesis:{region}:{account}:stream/{values['StreamName']}"
    if service == "sns":
        for key in ("TopicArn", "TargetArn"):
            if isinstance(values.get(key), str):
                return values[key]
    if service == "kms":
        key_id = values.get("KeyId")
        if isinstance(key_id, str) and not key_id.startswith("alias/") and ":alias/" not in key_id:
            return key_id if key_id.startswith("arn:") else f"arn:aws:kms:{region}:{account}:key/{key_id}"
    if service == "states":
        for key in ("stateMachineArn", "executionArn"):
            if isinstance(values.get(key), str):
                return values[key]
    if service == "sagemaker":
        for key, kind in _SAGEMAKER_JOB_NAMES.items():
            if isinstance(values.get(key), str):  # SageMaker ARNs spell names in lower case
                return f"arn:aws:sagemaker:{region}:{account}:{kind}/{values[key].lower()}"
        for key in ("ModelPackageGroupName", "ModelPackageName"):
            value = values.get(key)
            if isinstance(value, str):
                if value.startswith("arn:"):
                    return value
                if key == "ModelPackageGroupName":
                    return f"arn:aws:sagemaker:{region}:{account}:model-package-group/{value.lower()}"
    if service == "logs":
        return _log_resource(values, region, account)
    if service == "lambda":
        match = _FUNCTION_IN_PATH.search(request._path)
        if match:
            name = unquote(match.group(1))
            return name if name.startswith("arn:") else f"arn:aws:lambda:{region}:{account}:function:{name}"
    if service == "ecr" and isinstance(values.get("repositoryName"), str):
        registry = values.get("registryId") or account
        return f"arn:aws:ecr:{region}:{registry}:repository/{values['repositoryName']}"
    return None


def _request_resources(request: Any, values: dict[str, Any]) -> list[str]:
    """Every ARN a DynamoDB or Glue request acts on, each of which IAM checks the action against.

    A batch names several tables (``RequestItems``), and Glue authorizes a call on the catalog,
    the database and the table it reaches (GetTable needs all three). Empty for other services
    and for requests naming none of them.
    """
    service, region, account = request._service, request._region, request.account_id
    if isinstance(values.get("ResourceArn"), str):  # tagging, either service
        return [values["ResourceArn"]] if service in ("dynamodb", "glue") else []
    if service == "dynamodb":
        names = [values["TableName"]] if isinstance(values.get("TableName"), str) else []
        if isinstance(values.get("RequestItems"), dict):
            names += sorted(values["RequestItems"])
        arns = [
            n if n.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{n}" for n in names
        ]
        if len(arns) == 1 and isinstance(values.get("IndexName"), str):  # a query of an index
            return [f"{arns[0]}/index/{values['IndexName']}"]
        return arns
    if service == "glue":
        catalog = f"arn:aws:glue:{region}:{account}:catalog"
        database = values.get("DatabaseName")
        table = values.get("TableName")
        named = values.get("Name")
        for key in ("DatabaseInput", "TableInput"):
            if isinstance(values.get(key), dict) and isinstance(values[key].get("Name"), str):
                named = values[key]["Name"]
        if not isinstance(database, str):  # a database call: its name is Name or DatabaseInput.Name
            database, named = (named if isinstance(named, str) else None), None
        if not isinstance(table, str):
            table = named if isinstance(named, str) else None
        found = [catalog]
        if database:
            found.append(f"arn:aws:glue:{region}:{account}:database/{database}")
            if table:
                found.append(f"arn:aws:glue:{region}:{account}:table/{database}/{table}")
        return found
    return []


#: Lambda's REST paths name the function: /2015-03-31/functions/<name or ARN>/...
_FUNCTION_IN_PATH = re.compile(r"/functions/([^/?]+)")


def _log_resource(values: dict[str, Any], region: str, account: str) -> str | None:
    """A log stream's ARN when the request names one, else its log group's (as IAM evaluates them:
    ``arn:aws:logs:<region>:<account>:log-group:<group>[:log-stream:<stream>]``)."""
    group = values.get("logGroupName") or values.get("logGroupIdentifier")
    if not isinstance(group, str):
        return None
    arn = group if group.startswith("arn:") else f"arn:aws:logs:{region}:{account}:log-group:{group}"
    stream = values.get("logStreamName")
    return f"{arn.removesuffix(':*')}:log-stream:{stream}" if isinstance(stream, str) else arn


#: request parameter naming a SageMaker job -> the job's ARN resource type
_SAGEMAKER_JOB_NAMES = {"TrainingJobName": "training-job", "ProcessingJobName": "processing-job"}

#: actions that hand a role to a service, which AWS authorizes as ``iam:PassRole`` on that role too:
#: action -> (request parameter naming the role, the service it is passed to: ``iam:PassedToService``)
PASSED_ROLES: dict[str, tuple[str, str]] = {
    "sagemaker:CreateTrainingJob": ("RoleArn", "sagemaker.amazonaws.com"),
    "sagemaker:CreateProcessingJob": ("RoleArn", "sagemaker.amazonaws.com"),
}


def _request_conditions(request: Any, values: dict[str, Any]) -> dict[str, str]:
    """Condition keys the request carries (moto passes none to identity policies)."""
    context = dict(EMULATED_REQUEST_CONTEXT)
    context["aws:PrincipalArn"] = request._access_key.arn
    context["aws:PrincipalAccount"] = request.account_id
    if request._service == "monitoring" and isinstance(values.get("Namespace"), str):
        context["cloudwatch:namespace"] = values["Namespace"]
    return context


def _permissions_boundary(access_key: Any) -> Any:
    """The managed policy capping the signing principal (a role's or a user's boundary), or None."""
    from moto.iam.access_control import AssumedRoleAccessKey
    from moto.iam.exceptions import NotFoundException

    backend = access_key.backend
    try:
        if isinstance(access_key, AssumedRoleAccessKey):
            arn = backend.get_role(access_key._owner_role_name).permissions_boundary_arn
        else:
            arn = getattr(backend.get_user(access_key._owner_user_name), "permissions_boundary_arn", None)
    except NotFoundException:
        return None
    if not arn:
        return None
    policy = backend.managed_policies.get(arn)
    if policy is None:  # AWS refuses a boundary that does not exist; deny rather than ignore it
        return '{"Statement": []}'
    return policy


def _deny(request: Any, action: str, resource: str, reason: str, via_service: str | None = None) -> None:
    """Answer with AWS's AccessDenied for ``action`` on ``resource``, saying why as AWS does.

    ``via_service``: the service that used a key on the caller's behalf; S3 answers a denied key
    use with its own ``AccessDenied`` XML error, whose message names the KMS action and key;
    Kinesis, SNS and SQS with their KMS access errors (:func:`~tenantml.emulator.service_keys.key_access_denied`).
    """
    request._tenantml_action, request._tenantml_resource, request._tenantml_reason = action, resource, reason
    if via_service == "s3":
        from moto.s3.exceptions import S3ClientError

        raise S3ClientError("AccessDenied", _denial_message(request))
    if via_service in KEY_USING_SERVICES:  # Kinesis, SNS, SQS: their own KMS access error
        raise key_access_denied(via_service, _denial_message(request))
    request._raise_access_denied()


def _denial_message(request: Any) -> str:
    action = getattr(request, "_tenantml_action", request._action)
    resource = getattr(request, "_tenantml_resource", "*")
    reason = getattr(request, "_tenantml_reason", "because no identity-based policy allows")
    return (
        f"User: {request._access_key.arn} is not authorized to perform: {action} on resource: {resource} "
        + (reason if reason.startswith("with ") else f"{reason} the {action} action")
    )


def _identity_allows(
    request: Any, action: str, resource: str, context: dict[str, str], via_service: str | None = None
) -> bool:
    """Whether an identity policy of the signer allows; AccessDenied at once on an explicit Deny."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    permitted = False
    for policy in request._access_key.collect_policies():
        result = IAMPolicy(policy).is_action_permitted(action, resource, None, context)
        if result == PermissionResult.DENIED:
            _deny(request, action, resource, "with an explicit deny in an identity-based policy", via_service)
        permitted = permitted or result == PermissionResult.PERMITTED
    return permitted


def _boundary_allows(request: Any, action: str, resource: str, context: dict[str, str]) -> bool:
    """Whether the signer's permission boundary (if any) allows."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    boundary = _permissions_boundary(request._access_key)
    if boundary is None:
        return True
    return (
        IAMPolicy(boundary).is_action_permitted(action, resource, None, context) == PermissionResult.PERMITTED
    )


def _authorize_key_use(
    request: Any, action: str, key: Any, context: dict[str, str], via_service: str | None = None
) -> None:
    """KMS's access check for ``action`` on ``key`` (see :mod:`tenantml.emulator.kms_access`).

    The key policy must allow, directly or by delegating to the caller's account; when it
    delegates, or the key is another account's, the caller's identity policies and boundary
    must allow too; a Deny anywhere wins. ``via_service``: the service using the key on the
    caller's behalf (``s3``, ``kinesis``, ``sns``, ``sqs``), whose denial is that service's error
    naming the KMS action.
    """
    access_key = request._access_key
    caller = Caller(access_key.arn, request.account_id, getattr(access_key, "_owner_role_name", None))
    key_region = key.arn.split(":")[3]
    key_context = {name.lower(): value for name, value in context.items()}
    key_context["kms:calleraccount"] = request.account_id
    if via_service:
        key_context["kms:viaservice"] = f"{via_service}.{key_region}.amazonaws.com"
    reason = None
    answer = key_policy_answer(key, action, caller, key_context)
    if answer == KeyPolicyAnswer.DENY:
        reason = "with an explicit deny in a resource-based policy"
    elif answer == KeyPolicyAnswer.NONE:
        reason = "because no resource-based policy allows"
    else:
        identity = _identity_allows(request, action, key.arn, context, via_service)
        boundary = _boundary_allows(request, action, key.arn, context)
        needs_iam = answer == KeyPolicyAnswer.DELEGATED or key.account_id != request.account_id
        if needs_iam and not identity:
            reason = "because no identity-based policy allows"
        elif answer != KeyPolicyAnswer.DIRECT_SESSION and not boundary:
            reason = "because no permissions boundary allows"
    if reason is not None:
        _deny(request, action, key.arn, reason, via_service)


def _sns_authorization_error(message: str) -> Exception:
    """SNS's 403 ``AuthorizationError`` (moto's ``AccessDenied`` XML error with SNS's code)."""
    from moto.core.exceptions import AccessDeniedError

    class AuthorizationError(AccessDeniedError):
        def __init__(self) -> None:
            super(AccessDeniedError, self).__init__("AuthorizationError", message)

    return AuthorizationError()


#: query-compatible services (their JSON errors carry the query protocol's codes) by signing name
_QUERY_COMPATIBLE = frozenset({"monitoring"})


def add_permission_boundaries() -> None:
    """Evaluate permission boundaries, and name the resource, in moto's IAM check (moto 5.2.5 does neither).

    Replaces ``IAMRequestBase.check_action_permitted``, moto's check of a signed request
    against the principal's identity policies, which runs only while IAM is enforced
    (``iam_enforcement.set_enforced``). As on AWS:

    - an explicit Deny in any identity policy denies; otherwise some policy must Allow;
    - when the role (or user) has a permission boundary, the boundary must Allow too: what is
      allowed is the intersection of identity policies and boundary (moto ignores boundaries);
    - an action that hands a role to a service (:data:`PASSED_ROLES`: ``CreateTrainingJob``,
      ``CreateProcessingJob``) also needs ``iam:PassRole`` on that role, with
      ``iam:PassedToService`` in the request context, as AWS checks it;
    - for Kinesis, SNS, the SageMaker registry and jobs, CloudWatch Logs, Lambda and ECR the resource ARN is
      taken from the request (:func:`_request_resource`), so a statement scoped to one tenant's
      stream, topic, model group, log group, function or repository does not cover another's;
    - a DynamoDB or Glue request is checked against every resource it reaches (:func:`_request_resources`):
      each table of a batch, and Glue's catalog, database and table, as AWS authorizes them;
    - a KMS request on a key (an alias resolves to its key) is decided by the key policy with IAM,
      and an S3 object request under SSE-KMS also needs the caller's use of the object's key
      (:func:`_authorize_key_use`, :mod:`tenantml.emulator.kms_access`), as do writes and reads on
      a KMS-encrypted Kinesis stream, SNS topic or SQS queue (:mod:`tenantml.emulator.service_keys`).
      For the other services moto knows no resource: a
      request there matches an Allow statement by its action whatever the statement's
      resources (a documented approximation, more permissive than AWS, never less);
    - a denial is AWS's error for the service's protocol: ``AccessDeniedException`` in JSON for
      JSON services (Kinesis, KMS, Lambda, SageMaker, ...), moto's ``AccessDenied`` XML otherwise
      (moto answers JSON services with XML, which the SDKs read as a bare HTTP 403);
    - a request without a body (and no form) is signed over the empty payload, as the SDKs sign it (moto
      hashes its parsed parameters, so every bodiless Lambda call failed its signature check);
    - a Kinesis CBOR request (which :mod:`~tenantml.emulator.kinesis_cbor` hands moto as JSON) has
      its signature checked over the CBOR body and content type its client signed;
    - condition values the request carries are passed (``aws:SecureTransport``,
      ``aws:PrincipalArn``, ``cloudwatch:namespace``), and a statement whose condition is not
      met does not apply (moto turns an unmet condition on an Allow into a Deny).

    ``sts:GetCallerIdentity`` is always allowed, as on AWS. Process-wide and idempotent;
    ``tests/functional/emulator/test_iam_enforcement.py`` pins the behaviour.
    """
    global _boundaries_added
    if _boundaries_added:
        return
    fix_policy_condition_semantics()
    from moto.iam.access_control import IAMPolicyStatement, IAMRequest, IAMRequestBase, PermissionResult

    statement_check = IAMPolicyStatement.is_action_permitted
    element_matches = IAMPolicyStatement._check_element_matches

    @functools.wraps(statement_check)
    def is_action_permitted(self: Any, action: str, resource: str = "*", *args: Any, **kwargs: Any) -> Any:
        result = statement_check(self, action, resource, *args, **kwargs)
        if result == PermissionResult.DENIED and self._statement.get("Effect") == "Allow":
            return PermissionResult.NEUTRAL  # an Allow whose principal or condition does not match
        return result

    @functools.wraps(element_matches)
    def check_element_matches(self: Any, statement_element: Any, value: str) -> bool:
        if (
            statement_element == "Resource"
            and value == _UNKNOWN_RESOURCE
            and self._statement["Effect"] == "Allow"
        ):
            return True  # an unknown resource may be any: Deny statements still match only "*"
        return element_matches(self, statement_element, value)

    def check_action_permitted(self: Any, resource: str) -> None:
        if self._action == "sts:GetCallerIdentity":
            return
        values = _request_values(self)
        context = _request_conditions(self, values)
        if self._service == "kms":
            uses = kms_key_uses(self._action, values, self.account_id, self._region)
            if uses:  # a request on a key: its key policy decides, with IAM where it delegates
                for action, key in uses:
                    _authorize_key_use(self, action, key, context)
                return
        also: list[str] = []
        if resource == "*":
            resource, *also = _request_resources(self, values) or [
                _request_resource(self, values) or _UNKNOWN_RESOURCE
            ]
        self._tenantml_resource = resource
        permitted = _identity_allows(self, self._action, resource, context)
        if permitted and self._is_assuming_role_operation(resource):
            permitted = self._check_role_trust_relationship(resource)
        if permitted and not _boundary_allows(self, self._action, resource, context):
            _deny(self, self._action, resource, "because no permissions boundary allows")
        if not permitted:
            self._raise_access_denied()
        for other in also:  # the request's further resources (a batch's tables, Glue's database and table)
            if not _identity_allows(self, self._action, other, context):
                _deny(self, self._action, other, "because no identity-based policy allows")
            if not _boundary_allows(self, self._action, other, context):
                _deny(self, self._action, other, "because no permissions boundary allows")
        passed = PASSED_ROLES.get(self._action)
        if passed is not None and isinstance(values.get(passed[0]), str):
            # AWS authorizes the role handed to the service as a second action of the same caller
            role, passing = values[passed[0]], {**context, "iam:PassedToService": passed[1]}
            if not _identity_allows(self, "iam:PassRole", role, passing):
                _deny(self, "iam:PassRole", role, "because no identity-based policy allows")
            if not _boundary_allows(self, "iam:PassRole", role, passing):
                _deny(self, "iam:PassRole", role, "because no permissions boundary allows")
        if self._service == "s3":  # SSE-KMS: S3 uses the object's key as the caller
            for action, key in s3_key_uses(self._action, self._method, self._path, resource, self._headers):
                _authorize_key_use(self, action, key, context, via_service="s3")
        if self._service in KEY_USING_SERVICES:  # SSE-KMS: the service uses the resource's key as the caller
            uses, encryption_context = service_key_uses(
                self._action, values, resource, self.account_id, self._region
            )
            for action, key in uses:
                _authorize_key_use(self, action, key, {**context, **encryption_context}, self._service)

    signature_check = IAMRequestBase.check_signature

    @functools.wraps(signature_check)
    def check_signature(self: Any) -> None:
        from tenantml.emulator.kinesis_cbor import TRANSCODED_HEADER, signed_request

        if not self._headers.get(TRANSCODED_HEADER):
            signature_check(self)
            return
        # signed over the CBOR body and content type the client sent, not the JSON moto sees
        signed = signed_request()
        if signed is None:
            self._raise_signature_does_not_match()
        body, content_type = signed
        headers = {
            k: v for k, v in self._headers.items() if k.lower() not in ("content-type", "content-length")
        }
        kept = self._body, self._headers
        self._body, self._headers = body, {**headers, "Content-Type": content_type}
        try:
            signature_check(self)
        finally:
            self._body, self._headers = kept

    make_request = IAMRequestBase._create_aws_request

    @functools.wraps(make_request)
    def create_aws_request(self: Any) -> Any:
        request = make_request(self)
        form = "x-www-form-urlencoded" in self._headers.get("Content-Type", "")
        if not self._body and not form:  # moto signs its parsed parameters instead (Lambda: the headers)
            request.data = b""
        return request

    xml_access_denied = IAMRequest._raise_access_denied

    def raise_access_denied(self: Any) -> None:
        from moto.core.exceptions import JsonRESTError

        if self._service in _QUERY_COMPATIBLE and "json" in self._headers.get("Content-Type", ""):
            # current SDKs speak JSON to CloudWatch, which answers with the query protocol's code;
            # moto's XML error left them a bare "403"
            raise JsonRESTError("AccessDenied", _denial_message(self))
        if self._service == "sns":  # SNS says AuthorizationError where other query services say AccessDenied
            raise _sns_authorization_error(_denial_message(self))
        if not _speaks_json(self._service):
            xml_access_denied(self)

        raise JsonRESTError("AccessDeniedException", _denial_message(self))

    from moto.core.authorization import ActionAuthenticatorMixin
    from werkzeug.exceptions import HTTPException

    authorize = ActionAuthenticatorMixin._authenticate_and_authorize_normal_action

    @functools.wraps(authorize)
    def authorize_normal_action(self: Any, resource: str = "*") -> None:
        try:
            authorize(self, resource)
        except HTTPException as denied:
            # moto answers a denial with its body and status only; SQS's KMS denial also needs the
            # x-amzn-query-error header, from which the SDKs read its code
            self.response_headers.update(getattr(denied, "response_headers", {}))
            raise

    IAMPolicyStatement.is_action_permitted = is_action_permitted
    IAMPolicyStatement._check_element_matches = check_element_matches
    IAMRequestBase.check_action_permitted = check_action_permitted
    IAMRequestBase.check_signature = check_signature
    IAMRequestBase._create_aws_request = create_aws_request
    IAMRequest._raise_access_denied = raise_access_denied
    ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = authorize_normal_action
    _boundaries_added = True


#: the resource moto's IAM check is given when nobody knows it (see :func:`add_permission_boundaries`)
_UNKNOWN_RESOURCE = "*"
