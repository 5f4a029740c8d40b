"""The tenant's training pipeline on Step Functions: the state machine, its role, its logs.

The definition is :func:`infra.orchestration_definition.pipeline_definition` (a pure function);
this construct declares it as a STANDARD state machine that logs to a KMS-encrypted log group and
traces with X-Ray, runs as its own role (trusted by ``states.amazonaws.com`` for this account only),
and grants that role exactly what the definition does: pass the job role to SageMaker, run and
stop the tenant's own training and processing jobs, manage the EventBridge rules ``.sync`` needs,
write the run input and failure object to the artifacts bucket, and publish to ``alerts``. The job
role gets what its jobs do (:meth:`PipelineStateMachine.grant_job_role`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.naming import Naming
from core.spec import ModelSpec
from infra import actions
from infra.alerting import AlertTopic, grant_put_metrics
from infra.core import PRIMARY_ID, Resource, Scope, TenantConstruct
from infra.identity import ServiceRole, ServiceRoleProps
from infra.keys import TenantKey
from infra.orchestration_definition import PipelineDefinitionProps, pipeline_definition_json
from infra.registry import ModelRegistry
from infra.serving import ImageRepository
from infra.storage import SecureBucket


def training_hyperparameters(model: ModelSpec) -> dict[str, str]:
    """The training job's hyperparameters for a model spec: the fields of
    ``pipelines.training.train.TrainingConfig.from_spec`` as the strings SageMaker takes (a test
    holds the two equal; infrastructure may not import the training code)."""
    return {
        "model_name": model.name,
        "problem": model.problem.value,
        "target": model.target,
        "primary_metric": model.primary_metric,
        "estimator": model.estimator,
        "n_trials": str(model.search_trials),
        "timeout_seconds": str(model.search_timeout_seconds),
        "parallel_trials": str(model.search_parallel_trials),
    }


@dataclass(frozen=True, kw_only=True)
class PipelineStateMachineProps:
    naming: Naming
    key: TenantKey
    boundary_arn: str
    account_id: str
    partition: str
    model_name: str
    images: ImageRepository
    #: the tag of the tenant's one image (tags are immutable in the repository)
    image_tag: str
    #: the role every job of the pipeline runs as
    job_role: ServiceRole
    data: SecureBucket
    artifacts: SecureBucket
    models: SecureBucket
    alerts: AlertTopic
    registry: ModelRegistry
    metrics_namespace: str
    hyperparameters: Mapping[str, str]
    search_timeout_seconds: int
    log_retention_days: int = 30
    #: the model spec (JSON-ready) the step commands read, and the retraining window
    model_spec: Mapping[str, Any] = field(default_factory=dict)
    retraining_window_hours: int = 24


class PipelineStateMachine(TenantConstruct):
    def __init__(self, scope: Scope, construct_id: str, props: PipelineStateMachineProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        naming = props.naming
        self.state_machine_name = naming.name("pipeline")
        self.image_uri = props.images.image_uri(props.image_tag)
        self.role = ServiceRole(
            self,
            "Role",
            ServiceRoleProps(
                naming=naming,
                component="pipeline-sfn",
                description=f"Step Functions: the training pipeline of {naming.tenant}",
                assumed_by=("states.amazonaws.com",),
                boundary_arn=props.boundary_arn,
                source_account=props.account_id,
            ),
        )
        self.log_group = Resource(
            self,
            "Logs",
            "aws_cloudwatch_log_group",
            {
                # the prefix AWS recommends for vended logs keeps the resource policy small
                "name": f"/aws/vendedlogs/states/{self.state_machine_name}",
                "retention_in_days": props.log_retention_days,
                "kms_key_id": props.key.key_arn,
            },
        )
        definition = PipelineDefinitionProps(
            prefix=naming.prefix,
            tenant=naming.tenant,
            model_name=props.model_name,
            image_uri=self.image_uri,
            job_role_arn=props.job_role.role_arn,
            artifacts_bucket=props.artifacts.bucket_id,
            models_bucket=props.models.bucket_id,
            kms_key_arn=props.key.key_arn,
            alerts_topic_arn=props.alerts.topic_arn,
            model_package_group=props.registry.group_name,
            hyperparameters=dict(props.hyperparameters),
            search_timeout_seconds=props.search_timeout_seconds,
            model_spec=props.model_spec,
            retraining_window_hours=props.retraining_window_hours,
        )
        self.definition = definition
        self.state_machine = Resource(
            self,
            PRIMARY_ID,
            "aws_sfn_state_machine",
            {
                "name": self.state_machine_name,
                "type": "STANDARD",
                "role_arn": self.role.role_arn,
                "definition": pipeline_definition_json(definition),
                "logging_configuration": [
                    {
                        "log_destination": f"{self.log_group.arn_ref}:*",
                        "include_execution_data": True,
                        "level": "ALL",
                    }
                ],
                "tracing_configuration": [{"enabled": True}],
            },
            # the role must hold its grants before Step Functions validates the logging and the role
            depends_on=self.role.attachments,
        )
        self._grant_machine_role()
        self.grant_job_role(props.job_role)

    @property
    def state_machine_arn(self) -> str:
        return self.state_machine.arn_ref

    def _arn(self, service: str, resource: str) -> str:
        p = self.props
        region = "" if service == "iam" else p.naming.region
        return f"arn:{p.partition}:{service}:{region}:{p.account_id}:{resource}"

    def _job_arns(self, kind: str) -> str:
        return self._arn("sagemaker", f"{kind}-job/{self.props.naming.prefix}-*")

    def _grant_machine_role(self) -> None:
        p, role = self.props, self.role
        role.grant(
            "PassJobRole",
            actions.IAM_PASS_ROLE,
            [p.job_role.role_arn],
            StringEquals={"iam:PassedToService": "sagemaker.amazonaws.com"},
        )
        role.grant("RunTrainingJobs", actions.SAGEMAKER_TRAINING, [self._job_arns("training")])
        role.grant("RunProcessingJobs", actions.SAGEMAKER_PROCESSING, [self._job_arns("processing")])
        role.grant(
            "TagJobs", actions.SAGEMAKER_JOB_TAGS, [self._job_arns("training"), self._job_arns("processing")]
        )
        role.grant(
            "SyncJobRules",
            actions.EVENTS_SYNC_RULE,
            [self._arn("events", f"rule/{rule}") for rule in actions.SFN_SYNC_RULES],
        )
        # Start writes the run input, RecordFailure the failure object, ReadDecision reads the decision
        p.artifacts.grant_read_write(role)
        p.alerts.grant_publish(role)
        role.grant("LogDelivery", actions.SFN_LOG_DELIVERY, ["*"])
        role.grant("Traces", actions.XRAY_WRITE + actions.XRAY_SAMPLING, ["*"])

    def grant_job_role(self, role: ServiceRole) -> None:
        """What the pipeline's jobs do as ``role``: pull the image, log, publish metrics, read their
        channels, write their outputs, use the registry and clean up after a failed run."""
        p = self.props
        p.images.grant_pull(role)
        role.grant(
            "JobLogs",
            actions.SAGEMAKER_JOB_LOGS,
            [
                arn
                for group in actions.SAGEMAKER_JOB_LOG_GROUPS
                for arn in (
                    self._arn("logs", f"log-group:{group}"),
                    self._arn("logs", f"log-group:{group}:log-stream:{p.naming.prefix}-*"),
                )
            ],
        )
        grant_put_metrics(role, p.metrics_namespace)
        p.data.grant_read(role)
        p.artifacts.grant_read_write(role)
        p.models.grant_read_write(role)
        # cleanup removes every version of what a failed run put into the models bucket
        role.grant("DeleteRunObjectVersions", actions.S3_DELETE_VERSION, [f"{p.models.bucket_arn}/*"])
        p.registry.grant_read(role)
        p.registry.grant_write(role)

    def grant_start_execution(self, role: ServiceRole) -> None:
        """Let ``role`` start runs (the execution name is the run id, so a duplicate start is refused)."""
        role.grant("StartPipeline", actions.SFN_START, [self.state_machine_arn])
