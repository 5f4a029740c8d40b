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
    return None


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
    - for Kinesis, SNS, KMS, the SageMaker registry and SageMaker jobs the resource ARN is taken from the request
      (:func:`_request_resource`), so a statement scoped to one tenant's stream, topic, key or
      model group does not cover another's. For the other services moto knows no resource: a
      request there matches an Allow statement by its action whatever the statement's
      resources (a documented approximation, more permissive than AWS, never less);
    - a denial is AWS's error for the service's protocol: ``AccessDeniedException`` in JSON for
      JSON services (Kinesis, KMS, Lambda, SageMaker, ...), moto's ``AccessDenied`` XML otherwise
      (moto answers JSON services with XML, which the SDKs read as a bare HTTP 403);
    - a request without a body (and no form) is signed over the empty payload, as the SDKs sign it (moto
      hashes its parsed parameters, so every bodiless Lambda call failed its signature check);
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
    from moto.iam.access_control import (
        IAMPolicy,
        IAMPolicyStatement,
        IAMRequest,
        IAMRequestBase,
        PermissionResult,
    )

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

    def permitted_to(self: Any, action: str, resource: str, context: dict[str, str]) -> None:
        """Deny unless the identity policies allow ``action`` on ``resource`` and the boundary does too."""
        self._tenantml_action, self._tenantml_resource = action, resource
        permitted = False
        for policy in self._access_key.collect_policies():
            result = IAMPolicy(policy).is_action_permitted(action, resource, None, context)
            if result == PermissionResult.DENIED:
                self._raise_access_denied()
            permitted = permitted or result == PermissionResult.PERMITTED
        if permitted and action == self._action and self._is_assuming_role_operation(resource):
            permitted = self._check_role_trust_relationship(resource)
        if permitted:
            boundary = _permissions_boundary(self._access_key)
            if boundary is not None:
                result = IAMPolicy(boundary).is_action_permitted(action, resource, None, context)
                permitted = result == PermissionResult.PERMITTED
        if not permitted:
            self._raise_access_denied()

    def check_action_permitted(self: Any, resource: str) -> None:
        if self._action == "sts:GetCallerIdentity":
            return
        values = _request_values(self)
        if resource == "*":
            resource = _request_resource(self, values) or _UNKNOWN_RESOURCE
        context = _request_conditions(self, values)
        permitted_to(self, self._action, resource, context)
        passed = PASSED_ROLES.get(self._action)
        if passed is not None and isinstance(values.get(passed[0]), str):
            # AWS authorizes the role handed to the service as a second action of the same caller
            passing = {**context, "iam:PassedToService": passed[1]}
            permitted_to(self, "iam:PassRole", values[passed[0]], passing)

    signature_check = IAMRequestBase.check_signature

    @functools.wraps(signature_check)
    def check_signature(self: Any) -> None:
        from tenantml.emulator.kinesis_cbor import TRANSCODED_HEADER

        if self._headers.get(TRANSCODED_HEADER):  # signed over the CBOR body moto never sees
            return
        signature_check(self)

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
        if not _speaks_json(self._service):
            xml_access_denied(self)
        from moto.core.exceptions import JsonRESTError

        resource = getattr(self, "_tenantml_resource", "*")
        action = getattr(self, "_tenantml_action", self._action)
        raise JsonRESTError(
            "AccessDeniedException",
            f"User: {self._access_key.arn} is not authorized to perform: {action} on resource: "
            f"{resource} because no identity-based policy allows the {action} action",
        )

    IAMPolicyStatement.is_action_permitted = is_action_permitted
    IAMPolicyStatement._check_element_matches = check_element_matches
    IAMRequestBase.check_action_permitted = check_action_permitted
    IAMRequestBase.check_signature = check_signature
    IAMRequestBase._create_aws_request = create_aws_request
    IAMRequest._raise_access_denied = raise_access_denied
    _boundaries_added = True


#: the resource moto's IAM check is given when nobody knows it (see :func:`add_permission_boundaries`)
_UNKNOWN_RESOURCE = "*"
