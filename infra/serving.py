"""Serving on AWS: the image repository, and a SageMaker endpoint rolled out blue/green behind guardrail alarms.

SageMaker endpoint configurations and models are immutable: Terraform replaces them on any change. Their
names therefore carry a hash of their content and both are ``create_before_destroy``, so a change (a new
pinned version, another instance type) creates a new configuration and *updates* the endpoint to it,
which SageMaker runs as a blue/green deployment: the canary share of capacity first, a bake time under
the guardrail alarms, then the rest; an alarm firing during the deployment rolls it back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from core.errors import ConstructPropsError, Problem
from core.follow import aws_follow_bake_seconds, follow_guardrails
from core.naming import Naming
from core.spec import TenantSpec
from infra import actions
from infra.alerting import AlarmProps, AlertTopic
from infra.core import PRIMARY_ID, Resource, Scope, TenantConstruct, is_token
from infra.identity import ServiceRole
from infra.keys import TenantKey

#: the SageMaker inference container contract the serving image follows
CONTAINER_PORT = 8080
MODEL_DIR = "/opt/ml/model"
SERVING_CONFIG_ENV = "TENANTML_SERVING_CONFIG"
#: the feature store's online table, for servers of tenants with feature views (TenantResources reads it)
FEATURES_TABLE_ENV = "TENANTML_FEATURES_TABLE"
VARIANT_NAME = "primary"
#: untagged layers left by failed pushes go after this long; tagged images are kept up to a count
UNTAGGED_IMAGE_DAYS = 7
KEPT_IMAGES = 30


def content_hash(value: Any, length: int = 10) -> str:
    """A short, stable digest of a JSON-able value (tokens hash as their text)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


#: how often a following server reads the champion alias (doubling up to the cap while it cannot)
FOLLOW_POLL_SECONDS = 30.0
FOLLOW_MAX_BACKOFF_SECONDS = 120.0


@dataclass(frozen=True, kw_only=True)
class FollowProps:
    """How a server that follows the registry's champion alias rolls to a new one (the image's
    ``ServerConfig.follow``): a canary of ``canary_percent`` of its requests, baked under the
    guardrails (``core.follow.follow_guardrails`` derives them from the tenant spec)."""

    bake_seconds: float
    max_error_rate: float
    max_p99_ms: float
    min_requests: int
    canary_percent: int = 10
    poll_seconds: float = FOLLOW_POLL_SECONDS
    max_backoff_seconds: float = FOLLOW_MAX_BACKOFF_SECONDS

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.bake_seconds <= 24 * 3600:
            problems.append(
                Problem("follow.bake_seconds", "must be above 0 and at most a day", self.bake_seconds)
            )
        if not 0 <= self.max_error_rate <= 1:
            problems.append(
                Problem("follow.max_error_rate", "must be a fraction from 0 to 1", self.max_error_rate)
            )
        if not self.max_p99_ms > 0:
            problems.append(Problem("follow.max_p99_ms", "must be positive", self.max_p99_ms))
        if self.min_requests < 1:
            problems.append(Problem("follow.min_requests", "must be at least 1", self.min_requests))
        if not 1 <= self.canary_percent <= 50:
            problems.append(Problem("follow.canary_percent", "must be 1 to 50", self.canary_percent))
        if not 0 < self.poll_seconds <= self.max_backoff_seconds <= 3600:
            problems.append(
                Problem(
                    "follow.poll_seconds",
                    "must be above 0 and at most max_backoff_seconds, itself at most 3600",
                    (self.poll_seconds, self.max_backoff_seconds),
                )
            )
        if problems:
            raise ConstructPropsError(problems)

    @classmethod
    def from_spec(cls, spec: TenantSpec) -> FollowProps:
        """The tenant's own alarm thresholds over a bake as long as its SageMaker canary's, and its
        canary share (the same derivation as ``tenantml up``'s followers, bake length aside)."""
        return cls(
            **follow_guardrails(spec, bake_seconds=aws_follow_bake_seconds(spec)),
            canary_percent=spec.serving.canary_percent,
        )

    def to_config(self) -> dict[str, Any]:
        return {
            "poll_seconds": self.poll_seconds,
            "max_backoff_seconds": self.max_backoff_seconds,
            "strategy": "canary",
            "canary_weight": self.canary_percent / 100,
            "bake_seconds": self.bake_seconds,
            "max_error_rate": self.max_error_rate,
            "max_p99_ms": self.max_p99_ms,
            "min_requests": self.min_requests,
        }


def follow_problems(follow: FollowProps | None, workers: int, field: str = "workers") -> list[Problem]:
    """A following server is one process (the router, its model servers and the watch)."""
    if follow is not None and workers != 1:
        return [
            Problem(
                field,
                "must be 1: a server that follows the champion alias runs in one process; "
                "scale with replicas or instances",
                workers,
            )
        ]
    return []


def serving_config(
    *,
    serving_format: str,
    stream_name: str,
    region: str,
    source: Mapping[str, Any],
    alias_poll_seconds: float | None = None,
    follow: FollowProps | None = None,
) -> str:
    """``TENANTML_SERVING_CONFIG`` for the serving image: where the model comes from and where
    inference logs go (the monitor Lambda reads them from the stream). Written as plain JSON so the
    stacks need not import ``pipelines``; tests parse it with ``pipelines.serving.config.ServerConfig``.

    ``alias_poll_seconds``: the server waits for a source alias that names no version yet, polling
    the registry from this interval (``/ping`` 503 meanwhile), instead of failing.
    ``follow``: the server follows the source's champion alias as it moves (and waits for it)."""
    return json.dumps(
        {
            "source": dict(source),
            "serving_format": serving_format,
            "inference_log": {"stream_name": stream_name, "region": region},
            **({"alias_poll_seconds": alias_poll_seconds} if alias_poll_seconds is not None else {}),
            **({"follow": follow.to_config()} if follow is not None else {}),
        },
        sort_keys=True,
        separators=(",", ":"),
    )


# ---------------------------------------------------------------------------------------------------------
# The image repository
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ImageRepositoryProps:
    naming: Naming
    key: TenantKey
    kept_images: int = KEPT_IMAGES

    def __post_init__(self) -> None:
        if not 1 <= self.kept_images <= 1000:
            raise ConstructPropsError([Problem("kept_images", "must be 1 to 1000", self.kept_images)])


class ImageRepository(TenantConstruct):
    """The tenant's ECR repository for the one training-and-serving image: immutable tags (a tag always
    names the same image, so a pinned deployment cannot drift), scan on push, encrypted with the tenant key."""

    def __init__(self, scope: Scope, construct_id: str, props: ImageRepositoryProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        self.repository_name = props.naming.name("images")
        self.repository = Resource(
            self,
            PRIMARY_ID,
            "aws_ecr_repository",
            {
                "name": self.repository_name,
                "image_tag_mutability": "IMMUTABLE",
                "image_scanning_configuration": [{"scan_on_push": True}],
                "encryption_configuration": [{"encryption_type": "KMS", "kms_key": props.key.key_arn}],
            },
        )
        rules = [
            {
                "rulePriority": 1,
                "description": f"Expire untagged images after {UNTAGGED_IMAGE_DAYS} days",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": UNTAGGED_IMAGE_DAYS,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"Keep the last {props.kept_images} images",
                "selection": {
                    "tagStatus": "any",
                    "countType": "imageCountMoreThan",
                    "countNumber": props.kept_images,
                },
                "action": {"type": "expire"},
            },
        ]
        self.lifecycle = Resource(
            self,
            "Lifecycle",
            "aws_ecr_lifecycle_policy",
            {
                "repository": self.repository.ref("name"),
                "policy": json.dumps({"rules": rules}, sort_keys=True, separators=(",", ":")),
            },
        )

    @property
    def repository_arn(self) -> str:
        return self.repository.arn_ref

    @property
    def repository_url(self) -> str:
        return self.repository.ref("repository_url")

    def image_uri(self, tag: str) -> str:
        return f"{self.repository_url}:{tag}"

    def grant_pull(self, role: ServiceRole) -> None:
        role.grant("PullImages", actions.ECR_PULL, [self.repository_arn])
        role.grant("ImageLogin", actions.ECR_AUTH, ["*"])
        self.props.key.grant_decrypt(role)


# ---------------------------------------------------------------------------------------------------------
# The SageMaker endpoint
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class GuardrailProps:
    """The alarms that roll a deployment back: error rate and p99 model latency of the endpoint."""

    error_rate: float
    latency_p99_ms: float
    period_seconds: int = 60
    evaluation_periods: int = 3
    datapoints_to_alarm: int = 2


@dataclass(frozen=True, kw_only=True)
class SageMakerEndpointProps:
    naming: Naming
    key: TenantKey
    role: ServiceRole
    alerts: AlertTopic
    partition: str
    account_id: str
    #: the registry's model package group (a literal name: it is part of the version's ARN)
    model_package_group: str
    model_name: str
    model_version: int
    serving_format: Literal["sklearn", "onnx"] = "sklearn"
    stream_name: str
    #: the feature store's online table (tenants with feature views): the server looks features up in it
    features_table: str | None = None
    subnet_ids: Sequence[str]
    vpc_id: str
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    canary_percent: int = 10
    bake_minutes: int = 10
    guardrails: GuardrailProps

    def __post_init__(self) -> None:
        problems = []
        if self.model_version < 1:
            problems.append(
                Problem(
                    "model_version", "must be 1 or more (registry versions start at 1)", self.model_version
                )
            )
        if not is_token(self.instance_type) and not self.instance_type.startswith("ml."):
            problems.append(
                Problem("instance_type", "SageMaker endpoints need an ml.* instance type", self.instance_type)
            )
        if not 1 <= self.instance_count <= 100:
            problems.append(Problem("instance_count", "must be 1 to 100", self.instance_count))
        if not 1 <= self.canary_percent <= 50:
            problems.append(Problem("canary_percent", "must be 1 to 50", self.canary_percent))
        if not 0 <= self.bake_minutes <= 60:
            problems.append(
                Problem(
                    "bake_minutes", "must be 0 to 60 (SageMaker waits at most an hour)", self.bake_minutes
                )
            )
        if not self.subnet_ids:
            problems.append(
                Problem("subnet_ids", "the endpoint runs in the tenant's private subnets; give at least one")
            )
        if problems:
            raise ConstructPropsError(problems)


class SageMakerEndpoint(TenantConstruct):
    """A SageMaker model of one pinned registry version, an endpoint configuration, and an endpoint that
    deploys changes blue/green with a canary and rolls back when a guardrail alarm fires."""

    def __init__(self, scope: Scope, construct_id: str, props: SageMakerEndpointProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        naming = props.naming
        self.endpoint_name = naming.name(props.model_name)
        self.package_arn = (
            f"arn:{props.partition}:sagemaker:{naming.region}:{props.account_id}:model-package/"
            f"{props.model_package_group}/{props.model_version}"
        )
        group = Resource(
            self,
            "SecurityGroup",
            "aws_security_group",
            {
                "name": naming.name("endpoint"),
                "description": "tenantml SageMaker endpoint: no inbound access",
                "vpc_id": props.vpc_id,
            },
        )
        Resource(
            self,
            "HttpsOut",
            "aws_vpc_security_group_egress_rule",
            {
                "security_group_id": group.id_ref,
                "description": "HTTPS to S3, Kinesis and the registry",
                "ip_protocol": "tcp",
                "from_port": 443,
                "to_port": 443,
                "cidr_ipv4": "0.0.0.0/0",
            },
        )
        environment = {
            SERVING_CONFIG_ENV: serving_config(
                serving_format=props.serving_format,
                stream_name=props.stream_name,
                region=naming.region,
                source={"kind": "directory", "path": MODEL_DIR},
            ),
        }
        if props.features_table is not None:
            environment[FEATURES_TABLE_ENV] = props.features_table
        container = {"model_package_name": self.package_arn, "environment": environment}
        vpc = {"subnets": list(props.subnet_ids), "security_group_ids": [group.id_ref]}
        model_digest = content_hash({"container": container, "vpc": vpc, "role": props.role.role_arn}, 8)
        self.model = Resource(
            self,
            "Model",
            "aws_sagemaker_model",
            {
                "name": naming.name(f"v{props.model_version}-{model_digest}"),
                "execution_role_arn": props.role.role_arn,
                "primary_container": [container],
                "vpc_config": [vpc],
                # the server writes inference logs to Kinesis, which an isolated container cannot reach
                "enable_network_isolation": False,
                "lifecycle": {"create_before_destroy": True},
            },
        )
        variant = {
            "variant_name": VARIANT_NAME,
            "model_name": self.model.ref("name"),
            "instance_type": props.instance_type,
            "initial_instance_count": props.instance_count,
            "initial_variant_weight": 1,
        }
        config_body = {"production_variants": [variant], "kms_key_arn": props.key.key_arn}
        # the model's own name is in the hash through its digest: a new model is a new configuration
        config_digest = content_hash({**config_body, "model": model_digest})
        self.config = Resource(
            self,
            "Config",
            "aws_sagemaker_endpoint_configuration",
            {
                "name": naming.name(f"config-{config_digest}"),
                **config_body,
                "lifecycle": {"create_before_destroy": True},
            },
        )
        self.guardrail_alarms = self._guardrails(props)
        bake_seconds = props.bake_minutes * 60
        self.endpoint = Resource(
            self,
            PRIMARY_ID,
            "aws_sagemaker_endpoint",
            {
                "name": self.endpoint_name,
                "endpoint_config_name": self.config.ref("name"),
                "deployment_config": [
                    {
                        "blue_green_update_policy": [
                            {
                                "traffic_routing_configuration": [
                                    {
                                        "type": "CANARY",
                                        "wait_interval_in_seconds": bake_seconds,
                                        "canary_size": [
                                            {"type": "CAPACITY_PERCENT", "value": props.canary_percent}
                                        ],
                                    }
                                ],
                                # the old fleet stays up for a while after the shift: a late alarm still rolls back fast
                                "termination_wait_in_seconds": min(bake_seconds, 3600),
                                "maximum_execution_timeout_in_seconds": min(
                                    14400, max(600, 2 * bake_seconds + 1800)
                                ),
                            }
                        ],
                        "auto_rollback_configuration": [
                            {
                                "alarms": [
                                    {"alarm_name": alarm.ref("alarm_name")} for alarm in self.guardrail_alarms
                                ],
                            }
                        ],
                    }
                ],
            },
        )

    def _guardrails(self, props: SageMakerEndpointProps) -> list[Resource]:
        g = props.guardrails
        # literal names, not references: the endpoint refers to the alarms, so they cannot refer back
        dimensions = {"EndpointName": self.endpoint_name, "VariantName": VARIANT_NAME}
        common: dict[str, Any] = {
            "namespace": "AWS/SageMaker",
            "dimensions": dimensions,
            "period_seconds": g.period_seconds,
            "evaluation_periods": g.evaluation_periods,
            "datapoints_to_alarm": g.datapoints_to_alarm,
        }
        return [
            # Invocation5XXErrors is 1 per failed and 0 per good invocation: its average is the error rate
            props.alerts.add_alarm(
                AlarmProps(
                    component="endpoint-errors",
                    metric_name="Invocation5XXErrors",
                    threshold=g.error_rate,
                    statistic="Average",
                    description=f"Endpoint {self.endpoint_name}: 5xx rate above {g.error_rate:.2%} (deployment guardrail)",
                    **common,
                )
            ),
            # ModelLatency is in microseconds
            props.alerts.add_alarm(
                AlarmProps(
                    component="endpoint-latency-p99",
                    metric_name="ModelLatency",
                    threshold=g.latency_p99_ms * 1000,
                    statistic=None,
                    extended_statistic="p99",
                    description=f"Endpoint {self.endpoint_name}: p99 model latency above {g.latency_p99_ms} ms "
                    "(deployment guardrail)",
                    **common,
                )
            ),
        ]

    @property
    def invoke_url(self) -> str:
        naming = self.props.naming
        suffix = "amazonaws.com.cn" if naming.partition == "aws-cn" else "amazonaws.com"
        return (
            f"https://runtime.sagemaker.{naming.region}.{suffix}/endpoints/{self.endpoint_name}/invocations"
        )

    def grant_execution(self, role: ServiceRole) -> None:
        """What the endpoint's execution role needs beyond model and registry reads: ENIs in the VPC
        and its container logs."""
        naming = self.props.naming
        role.grant("EndpointNetwork", actions.SAGEMAKER_VPC_ACCESS, ["*"])
        log_group = (
            f"arn:{self.props.partition}:logs:{naming.region}:{self.props.account_id}:"
            f"log-group:/aws/sagemaker/Endpoints/{self.endpoint_name}"
        )
        role.grant("EndpointLogs", actions.SAGEMAKER_ENDPOINT_LOGS, [log_group, f"{log_group}:*"])
