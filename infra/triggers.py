"""Lambda event handlers and the triggers that run them (S3, Kinesis, SNS).

Every function gets its own role (capped by the tenant boundary), an encrypted dead-letter
queue, reserved concurrency and a log group with retention, none of which props can remove.

A failed asynchronous event reaches the dead-letter queue by one path only, the on-failure
destination of the function's event invoke config (``dead_letter_config`` is not set: with both,
Lambda delivers the event twice). The destination is the richer of the two: its record carries the
request payload together with the error type, message and stack trace, the condition
(``RetriesExhausted``, ``EventAgeExceeded``) and the attempt count, where a ``dead_letter_config``
message carries the payload alone with the error in message attributes; and it lives in its own
resource, so changing it never updates the function. Kinesis batches are not asynchronous
invokes: their on-failure destination is the event source mapping's, a separate, single path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import ConstructPropsError, Problem
from core.naming import Naming
from infra import actions
from infra.assets import build_lambda_bundle, build_lambda_layer, check_function_package
from infra.core import PRIMARY_ID, Resource, Scope, TenantConstruct
from infra.identity import ServiceRole, ServiceRoleProps
from infra.keys import TenantKey
from infra.layers import LAYER_RUNTIME, SharedLayers
from infra.storage import SecureBucket
from infra.streaming import InferenceStream

RUNTIME = LAYER_RUNTIME


@dataclass(frozen=True, kw_only=True)
class PythonFunctionProps:
    naming: Naming
    handler_package: str
    description: str
    key: TenantKey
    boundary_arn: str
    build_dir: Path
    account_id: str
    environment: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: int = 60
    memory_mb: int = 512
    reserved_concurrency: int = 5
    log_retention_days: int = 30
    max_retry_attempts: int = 2
    layers: tuple[str, ...] = ()
    #: the tenant's shared layers (one version per distinct content); None: the function builds its own
    shared_layers: SharedLayers | None = None

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.timeout_seconds <= 900:
            problems.append(
                Problem("timeout_seconds", "Lambda allows 1 to 900 seconds", self.timeout_seconds)
            )
        if not 128 <= self.memory_mb <= 10240:
            problems.append(Problem("memory_mb", "Lambda allows 128 to 10240 MB", self.memory_mb))
        if self.reserved_concurrency < 1:
            problems.append(
                Problem(
                    "reserved_concurrency",
                    "must be at least 1 (0 would disable the function)",
                    self.reserved_concurrency,
                )
            )
        if not 0 <= self.max_retry_attempts <= 2:
            problems.append(
                Problem(
                    "max_retry_attempts", "asynchronous invokes retry 0 to 2 times", self.max_retry_attempts
                )
            )
        reserved = sorted(k for k in self.environment if k.startswith("AWS_"))
        if reserved:
            problems.append(Problem("environment", "AWS_* variables are reserved by Lambda", reserved))
        if problems:
            raise ConstructPropsError(problems)

    @property
    def component(self) -> str:
        return self.handler_package.replace("_", "-")


class PythonFunction(TenantConstruct):
    def __init__(self, scope: Scope, construct_id: str, props: PythonFunctionProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        naming = props.naming
        self.function_name = naming.name(props.component, "function")
        self.role = ServiceRole(
            self,
            "Role",
            ServiceRoleProps(
                naming=naming,
                component=f"fn-{props.component}",
                description=props.description,
                assumed_by=("lambda.amazonaws.com",),
                boundary_arn=props.boundary_arn,
            ),
        )
        self.dead_letters = Resource(
            self,
            "DeadLetters",
            "aws_sqs_queue",
            {
                "name": naming.name(f"{props.component}-dlq", "queue"),
                "kms_master_key_id": props.key.key_arn,
                "kms_data_key_reuse_period_seconds": 300,
                "message_retention_seconds": 1_209_600,
            },
        )
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        log_group = Resource(
            self,
            "Logs",
            "aws_cloudwatch_log_group",
            {
                "name": self.log_group_name,
                "retention_in_days": props.log_retention_days,
                "kms_key_id": props.key.key_arn,
            },
        )
        self.role.grant("WriteLogs", actions.LOGS_WRITE, [f"{log_group.arn_ref}:*"])
        self.role.grant("SendDeadLetters", actions.SQS_SEND, [self.dead_letters.arn_ref])
        self.role.grant("WriteTraces", actions.XRAY_WRITE, ["*"])
        props.key.grant_encrypt_decrypt(self.role)

        bundle = build_lambda_bundle(props.handler_package, props.build_dir)
        code_path = self.add_file_asset("Code", bundle.path.resolve(), bundle.sha256_hex[:32])
        # the third-party libraries the handler imports that the runtime lacks, as the function's one layer
        layers = list(props.layers)
        shared = props.shared_layers.layer_for(props.handler_package) if props.shared_layers else None
        layer_bundle = shared[1] if shared else build_lambda_layer(props.handler_package, props.build_dir)
        if shared is not None:
            check_function_package(
                self.function_name, bundle, [(f"{props.handler_package}-layer.zip", shared[1])]
            )
            self.layer = shared[0]
            layers.insert(0, self.layer.arn_ref)
        elif layer_bundle is not None:
            check_function_package(
                self.function_name, bundle, [(f"{props.handler_package}-layer.zip", layer_bundle)]
            )
            layer_code_path = self.add_file_asset(
                "LayerCode", layer_bundle.path.resolve(), layer_bundle.sha256_hex[:32]
            )
            self.layer = Resource(
                self,
                "Layer",
                "aws_lambda_layer_version",
                {
                    "layer_name": naming.name(f"{props.component}-deps", "function"),
                    "description": f"third-party libraries of {self.function_name}",
                    "filename": layer_code_path,
                    "source_code_hash": layer_bundle.source_code_hash,
                    "compatible_runtimes": [RUNTIME],
                },
            )
            layers.insert(0, self.layer.arn_ref)
        else:
            check_function_package(self.function_name, bundle, [])
        self.function = Resource(
            self,
            PRIMARY_ID,
            "aws_lambda_function",
            {
                "function_name": self.function_name,
                "description": props.description,
                "role": self.role.role_arn,
                "runtime": RUNTIME,
                "handler": f"lambdas.{props.handler_package}.handler.handler",
                "filename": code_path,
                "source_code_hash": bundle.source_code_hash,
                "timeout": props.timeout_seconds,
                "memory_size": props.memory_mb,
                "reserved_concurrent_executions": props.reserved_concurrency,
                "layers": layers or None,
                "environment": [
                    {
                        "variables": {
                            "POWERTOOLS_SERVICE_NAME": f"tenantml-{props.component}",
                            "TENANTML_TENANT": naming.tenant,
                            **props.environment,
                        }
                    }
                ],
                "tracing_config": [{"mode": "Active"}],
                "logging_config": [{"log_format": "JSON", "log_group": self.log_group_name}],
            },
            # the role's policy (logs, and the dead-letter queue the invoke config below names, which
            # Lambda checks when the config is written) exists before the function can run
            depends_on=[log_group, self.role.policy],
        )
        Resource(
            self,
            "AsyncRetries",
            "aws_lambda_function_event_invoke_config",
            {
                "function_name": self.function.ref("function_name"),
                "maximum_retry_attempts": props.max_retry_attempts,
                "destination_config": [{"on_failure": [{"destination": self.dead_letters.arn_ref}]}],
            },
        )

    @property
    def function_arn(self) -> str:
        return self.function.arn_ref

    def add_s3_trigger(self, bucket: SecureBucket, *prefixes: str) -> None:
        """Run on every object created under each of ``prefixes`` (S3 allows one notification
        resource per bucket: all of them go in it)."""
        permission = Resource(
            self,
            "AllowS3",
            "aws_lambda_permission",
            {
                "statement_id": "AllowS3Invoke",
                "action": "lambda:InvokeFunction",
                "function_name": self.function.ref("function_name"),
                "principal": "s3.amazonaws.com",
                "source_arn": bucket.bucket_arn,
                "source_account": self.props.account_id,
            },
        )
        Resource(
            self,
            "S3Notification",
            "aws_s3_bucket_notification",
            {
                "bucket": bucket.bucket_id,
                "lambda_function": [
                    {
                        "id": f"{self.props.component}-on-{prefix.strip('/').replace('/', '-') or 'any'}",
                        "lambda_function_arn": self.function_arn,
                        "events": ["s3:ObjectCreated:*"],
                        "filter_prefix": prefix,
                    }
                    for prefix in prefixes
                ],
            },
            depends_on=[permission],
        )

    def add_schedule_trigger(self, schedule_expression: str, *, description: str) -> Resource:
        """Run on an EventBridge schedule (``rate(15 minutes)``, ``cron(...)``); only this rule may invoke."""
        rule = Resource(
            self,
            "Schedule",
            "aws_cloudwatch_event_rule",
            {
                "name": self.props.naming.name(f"{self.props.component}-schedule"),
                "description": description,
                "schedule_expression": schedule_expression,
                "state": "ENABLED",
            },
        )
        permission = Resource(
            self,
            "AllowSchedule",
            "aws_lambda_permission",
            {
                "statement_id": "AllowScheduleInvoke",
                "action": "lambda:InvokeFunction",
                "function_name": self.function.ref("function_name"),
                "principal": "events.amazonaws.com",
                "source_arn": rule.arn_ref,
            },
        )
        Resource(
            self,
            "ScheduleTarget",
            "aws_cloudwatch_event_target",
            {"rule": rule.ref("name"), "target_id": self.props.component, "arn": self.function_arn},
            depends_on=[permission],
        )
        return rule

    def add_kinesis_trigger(
        self, stream: InferenceStream, *, batch_size: int = 500, window_seconds: int = 1
    ) -> None:
        """Consume ``stream`` with partial batch failure reports; failed batches go to the dead-letter queue.

        ``window_seconds`` trades cost for latency: a batch smaller than ``batch_size`` waits that
        long for more records. 1 s keeps a drifted batch's alert within the 5 s issue 6 asks for
        (the monitor, the alarm evaluation and the alarm Lambda need the other 4), while bounding
        the monitor to one invocation per second per shard; at 5 s the window alone used the
        whole budget. Each invocation is one monitoring window, so a window must still hold
        ``monitoring.drift_min_rows`` rows to be scored: at 1 s that needs 200 rows/s of traffic.
        """
        stream.grant_read(self.role)
        Resource(
            self,
            "StreamMapping",
            "aws_lambda_event_source_mapping",
            {
                "function_name": self.function_arn,
                "event_source_arn": stream.stream_arn,
                "starting_position": "LATEST",
                "batch_size": batch_size,
                "maximum_batching_window_in_seconds": window_seconds,
                "function_response_types": ["ReportBatchItemFailures"],
                "bisect_batch_on_function_error": True,
                "maximum_retry_attempts": 3,
                "destination_config": [{"on_failure": [{"destination_arn": self.dead_letters.arn_ref}]}],
            },
        )

    def add_sns_trigger(self, topic_arn: str) -> None:
        permission = Resource(
            self,
            "AllowSns",
            "aws_lambda_permission",
            {
                "statement_id": "AllowSnsInvoke",
                "action": "lambda:InvokeFunction",
                "function_name": self.function.ref("function_name"),
                "principal": "sns.amazonaws.com",
                "source_arn": topic_arn,
            },
        )
        Resource(
            self,
            "TopicSubscription",
            "aws_sns_topic_subscription",
            {"topic_arn": topic_arn, "protocol": "lambda", "endpoint": self.function_arn},
            depends_on=[permission],
        )
