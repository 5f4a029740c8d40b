"""``TenantPlatformStack``: everything one tenant owns, composed from ``infra/`` constructs.

The stack reads nothing from the environment and never calls AWS: the tenant spec is its
only input, and its outputs (names and ARNs) are the only thing pipelines learn from it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.contract import BATCH_PREFIX, LIVE_QUALITY_METRIC, live_quality_dimensions, metrics_namespace
from core.feature_layout import LANDING_PREFIX, glue_database
from core.naming import Naming
from core.platform import PlatformSpec, state_bucket_name, state_key, state_key_alias, tenant_account
from core.spec import TenantSpec
from infra import actions
from infra.alerting import AlarmProps, AlertTopic, AlertTopicProps, grant_put_metrics
from infra.cdk import Construct, TerraformProvider, TerraformProviderGeneratorMetadata
from infra.compute import Ec2Fleet, Ec2FleetProps, EksCluster, EksClusterProps, FleetServing
from infra.core import DataSource, Scope, TenantConstruct, TenantStack
from infra.feature_store import FeatureStore, FeatureStoreProps
from infra.flow_logs import VpcFlowLog, VpcFlowLogProps
from infra.identity import (
    PermissionBoundary,
    PermissionBoundaryProps,
    ServiceLinkedRole,
    ServiceLinkedRoleProps,
    ServiceRole,
    ServiceRoleProps,
)
from infra.job_alerts import FailedJobAlertProps, FailedJobAlerts
from infra.keys import TenantKey, TenantKeyProps
from infra.kubernetes import serving_names, serving_pods_role
from infra.layers import SharedLayers
from infra.network import Network, NetworkProps
from infra.orchestration import PipelineStateMachine, PipelineStateMachineProps, training_hyperparameters
from infra.registry import ModelRegistry, ModelRegistryProps
from infra.serving import (
    FollowProps,
    GuardrailProps,
    ImageRepository,
    ImageRepositoryProps,
    SageMakerEndpoint,
    SageMakerEndpointProps,
)
from infra.state import StateBackendProps, configure_state_backend
from infra.storage import TenantStorage, TenantStorageProps
from infra.streaming import InferenceStream, InferenceStreamProps
from infra.triggers import PythonFunction, PythonFunctionProps

AWS_PROVIDER_SOURCE = "hashicorp/aws"
#: at least the provider release infra/provider_schema/aws.json comes from (every attribute used exists)
AWS_PROVIDER_VERSION = "~> 6.69"


class AwsProvider(TerraformProvider):
    """The AWS provider, written generically: region, default tags and allowed account."""

    def __init__(self, scope: Construct, spec: TenantSpec) -> None:
        super().__init__(
            scope,
            "aws",
            terraform_resource_type="aws",
            terraform_provider_source=AWS_PROVIDER_SOURCE,
            terraform_generator_metadata=TerraformProviderGeneratorMetadata(
                provider_name="aws", provider_version_constraint=AWS_PROVIDER_VERSION
            ),
        )
        self._attributes: dict[str, Any] = {
            "region": spec.region,
            "default_tags": [{"tags": spec.all_tags}],
        }
        if spec.account_id:
            self._attributes["allowed_account_ids"] = [spec.account_id]

    def _synthesize_attributes(self) -> Mapping[str, Any]:
        return self._attributes


class Account(TenantConstruct):
    """Account id and partition, read at plan time so that no stack body hard-codes them."""

    def __init__(self, scope: Scope, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.identity = DataSource(self, "Caller", "aws_caller_identity")
        self.partition_source = DataSource(self, "Partition", "aws_partition")

    @property
    def account_id(self) -> str:
        return self.identity.ref("account_id")

    @property
    def partition(self) -> str:
        return self.partition_source.ref("partition")


class TenantPlatformStack(TenantStack):
    def __init__(
        self, scope: Construct, spec: TenantSpec, *, build_dir: Path, platform: PlatformSpec | None = None
    ) -> None:
        super().__init__(scope, spec.name)
        platform = platform or PlatformSpec()
        self.spec = spec
        naming = Naming(
            tenant=spec.name,
            environment=spec.environment.value,
            region=spec.region,
            account_id=spec.account_id,
        )
        AwsProvider(self, spec)
        state_account = tenant_account(spec, platform)
        configure_state_backend(
            self,
            StateBackendProps(
                tenant=spec.name,
                enabled=spec.state.enabled,
                # None only when remote state is off: synthesis checks every tenant has an account
                bucket=state_bucket_name(state_account, platform.state.region) if state_account else None,
                key=state_key(platform.state.key_prefix, spec.name),
                region=platform.state.region,
                kms_key_alias=state_key_alias(state_account) if state_account else None,
            ),
        )
        account = Account(self, "Account")
        # only EC2 tenants launch through Auto Scaling; the key policy names the role, so it exists first
        auto_scaling_role = (
            ServiceLinkedRole(
                self,
                "AutoScalingRole",
                ServiceLinkedRoleProps(naming=naming, service="autoscaling.amazonaws.com"),
            )
            if spec.compute.kind == "ec2"
            else None
        )
        key = TenantKey(
            self,
            "Key",
            TenantKeyProps(
                naming=naming,
                account_id=account.account_id,
                partition=account.partition,
                auto_scaling_role_arn=auto_scaling_role.role_arn if auto_scaling_role else None,
            ),
        )
        storage = TenantStorage(
            self,
            "Storage",
            TenantStorageProps(
                naming=naming,
                key=key,
                raw_data_expiration_days=spec.storage.raw_data_expiration_days,
                noncurrent_model_expiration_days=spec.storage.noncurrent_model_expiration_days,
                artifacts_infrequent_access_days=spec.storage.artifacts_infrequent_access_days,
                access_logging=spec.environment.value == "prod",
                account_id=account.account_id,
                partition=account.partition,
            ),
        )
        stream = InferenceStream(
            self,
            "Stream",
            InferenceStreamProps(
                naming=naming,
                key=key,
                mode=spec.streaming.mode,
                shards=spec.streaming.shards,
                retention_hours=spec.streaming.retention_hours,
            ),
        )
        alerts = AlertTopic(
            self, "Alerts", AlertTopicProps(naming=naming, key=key, emails=tuple(spec.alert_emails))
        )
        registry = ModelRegistry(
            self,
            "Registry",
            ModelRegistryProps(
                naming=naming,
                model_name=spec.model.name,
                account_id=account.account_id,
                partition=account.partition,
            ),
        )
        boundary = PermissionBoundary(
            self,
            "Boundary",
            PermissionBoundaryProps(
                naming=naming,
                metrics_namespace=metrics_namespace(spec.name),
                session_manager=spec.compute.kind == "ec2",
                feature_database=glue_database(spec.name, spec.environment.value)
                if spec.features.views
                else None,
            ),
            key_arn=key.key_arn,
        )

        roles = self._workload_roles(naming, boundary.policy_arn, spec)
        storage.data.grant_read(roles["training"])
        storage.artifacts.grant_read_write(roles["training"])
        storage.models.grant_read_write(roles["training"])
        storage.models.grant_read(roles["serving"])
        registry.grant_read(roles["serving"])
        stream.grant_write(roles["serving"])
        grant_put_metrics(roles["serving"], metrics_namespace(spec.name))
        # batch inference (`tenantml predict`, a batch transform job) reads and writes under batch/ only
        storage.data.grant_read_prefix(roles["serving"], BATCH_PREFIX)
        storage.data.grant_write_prefix(roles["serving"], BATCH_PREFIX)
        for bucket in (storage.data, storage.artifacts, storage.models):
            bucket.grant_read_write(roles["pipelines"])
        registry.grant_read(roles["pipelines"])
        registry.grant_write(roles["pipelines"])
        alerts.grant_publish(roles["pipelines"])
        roles["pipelines"].grant_pass_role(roles["training"])
        roles["pipelines"].grant_pass_role(roles["serving"])
        features = self._feature_store(spec, naming, account, key, storage, alerts, roles)

        network = Network(
            self,
            "Network",
            NetworkProps(
                naming=naming,
                cidr=spec.compute.vpc_cidr,
                availability_zones=spec.compute.availability_zones,
                # S3 traffic takes the free gateway endpoint, not the NAT gateway (billed per GB)
                s3_bucket_arns=tuple(b.bucket_arn for b in (storage.data, storage.artifacts, storage.models)),
                partition=account.partition,
            ),
        )
        VpcFlowLog(
            network,
            "FlowLog",
            VpcFlowLogProps(
                naming=naming,
                key=key,
                network=network,
                boundary_arn=boundary.policy_arn,
                retention_days=spec.lambdas.log_retention_days,
            ),
        )
        compute_common = {
            "naming": naming,
            "key": key,
            "network": network,
            "partition": account.partition,
            "instance_types": tuple(spec.compute.instance_types),
            "min_nodes": spec.compute.min_nodes,
            "max_nodes": spec.compute.max_nodes,
            "log_retention_days": spec.lambdas.log_retention_days,
        }
        images = ImageRepository(self, "Images", ImageRepositoryProps(naming=naming, key=key))
        compute_outputs: dict[str, str]
        cluster: EksCluster | None = None
        if spec.compute.kind == "eks":
            cluster = EksCluster(
                self,
                "Cluster",
                self._cluster_props(spec, compute_common, account, boundary.policy_arn, images),
            )
            compute_outputs = {
                "cluster_name": cluster.cluster.ref("name"),
                "cluster_arn": cluster.cluster_arn,
                "cluster_oidc_provider_arn": cluster.oidc_provider_arn,
                "cluster_admin_role_arn": cluster.admin_role.role_arn,
            }
        else:
            assert auto_scaling_role is not None
            fleet = Ec2Fleet(
                self,
                "Fleet",
                Ec2FleetProps(
                    **compute_common,
                    instance_role=roles["pipelines"],
                    service_linked_role=auto_scaling_role,
                    serving=FleetServing(
                        repository_name=images.repository_name,
                        image_tag=spec.image_tag,
                        model_package_group=registry.group_name,
                        stream_name=stream.stream_name,
                        serving_format=spec.model.serving_format,
                        workers=spec.serving.workers,
                        features_table=features.table_name if features else None,
                        follow=FollowProps.from_spec(spec),
                    ),
                    instance_tags=spec.all_tags,
                ),
            )
            # the instances serve: they pull the image, log inferences and publish serving metrics
            images.grant_pull(roles["pipelines"])
            stream.grant_write(roles["pipelines"])
            if features:  # the instances look features up for requests that carry only entity keys
                features.grant_read_online(roles["pipelines"])
            grant_put_metrics(roles["pipelines"], metrics_namespace(spec.name))
            compute_outputs = {
                "launch_template_id": fleet.launch_template_id,
                "serving_endpoint_url": fleet.endpoint_url,
            }
        serving_outputs = self._serving(
            spec,
            naming,
            account,
            key,
            storage,
            stream,
            alerts,
            registry,
            network,
            images,
            roles["serving"],
            boundary.policy_arn,
            cluster,
            features,
        )

        environment = {
            "TENANTML_DATA_BUCKET": storage.data.bucket_id,
            "TENANTML_ARTIFACTS_BUCKET": storage.artifacts.bucket_id,
            "TENANTML_MODELS_BUCKET": storage.models.bucket_id,
            "TENANTML_STREAM_NAME": stream.stream.ref("name"),
            "TENANTML_ALERTS_TOPIC_ARN": alerts.topic_arn,
            "TENANTML_ALARMS_TOPIC_ARN": alerts.alarms_topic_arn,
            "TENANTML_MODEL_PACKAGE_GROUP": registry.group.ref("model_package_group_name"),
            "TENANTML_TRAINING_ROLE_ARN": roles["training"].role_arn,
            "TENANTML_KMS_KEY_ARN": key.key_arn,
            "TENANTML_MODEL_SPEC": json.dumps(spec.model.model_dump(mode="json"), sort_keys=True),
            "TENANTML_MONITORING_SPEC": json.dumps(spec.monitoring.model_dump(mode="json"), sort_keys=True),
            "TENANTML_NAME_PREFIX": naming.prefix,
            "TENANTML_MONITORING_ROLE_ARN": roles["training"].role_arn,
            "TENANTML_IMAGE_URI": (
                f"{account.account_id}.dkr.ecr.{spec.region}.amazonaws.com/{images.repository_name}:"
                f"{spec.image_tag}"
            ),
        }
        # the training pipeline as a Step Functions state machine of SageMaker jobs running the pinned image
        pipeline = PipelineStateMachine(
            self,
            "Pipeline",
            PipelineStateMachineProps(
                naming=naming,
                key=key,
                boundary_arn=boundary.policy_arn,
                account_id=account.account_id,
                partition=account.partition,
                model_name=spec.model.name,
                images=images,
                image_tag=spec.image_tag,
                job_role=roles["training"],
                data=storage.data,
                artifacts=storage.artifacts,
                models=storage.models,
                alerts=alerts,
                registry=registry,
                metrics_namespace=metrics_namespace(spec.name),
                hyperparameters=training_hyperparameters(spec.model),
                search_timeout_seconds=spec.model.search_timeout_seconds,
                log_retention_days=spec.lambdas.log_retention_days,
                model_spec=spec.model.model_dump(mode="json"),
                retraining_window_hours=spec.monitoring.quality_window_hours,
            ),
        )
        starters = ("data_arrival", "alarm")
        pipeline_environment = {"TENANTML_PIPELINE_STATE_MACHINE_ARN": pipeline.state_machine_arn}
        extra_environment: dict[str, dict[str, str]] = {name: dict(pipeline_environment) for name in starters}
        if features:
            feature_environment = {
                "TENANTML_FEATURES_TABLE": features.table_name,
                "TENANTML_FEATURES_DATABASE": features.database_name,
                "TENANTML_FEATURE_VIEWS": ",".join(v.name for v in spec.features.views),
            }
            extra_environment["data_arrival"] |= feature_environment
            extra_environment["features"] = feature_environment
        functions = self._functions(
            naming,
            spec,
            key,
            boundary.policy_arn,
            account.account_id,
            environment,
            build_dir,
            extra_environment,
        )
        # slim handlers (issue 15): each role may do exactly what its handler does
        for name in starters:
            pipeline.grant_start_execution(functions[name].role)
        # the alarm: the newest dataset, the retrain cooldown, the alert
        storage.data.grant_read(functions["alarm"].role)
        storage.artifacts.grant_read_write(functions["alarm"].role)
        alerts.grant_publish(functions["alarm"].role)
        # the monitor starts the monitoring job as the job role (SageMaker jobs' role: image pull, job
        # logs, metrics, the buckets), which also reads the stream it scores
        functions["monitor"].role.grant(
            "StartMonitoringJob",
            actions.SAGEMAKER_START_PROCESSING,
            [naming.arn_pattern("sagemaker", f"processing-job/{naming.prefix}-monitor-*")],
        )
        functions["monitor"].role.grant_pass_role(roles["training"], service="sagemaker.amazonaws.com")
        stream.grant_read(roles["training"])
        # `tenantml monitor` reads the tenant's alarm states as the monitoring job's role (it does that job)
        alerts.grant_read_alarms(roles["training"])
        if features:
            # landed feature data (data arrival) and the schedule (features) each start a features job
            for name in ("data_arrival", "features"):
                functions[name].role.grant(
                    "StartFeaturesJob",
                    actions.SAGEMAKER_START_PROCESSING,
                    [naming.arn_pattern("sagemaker", f"processing-job/{naming.prefix}-features-*")],
                )
                functions[name].role.grant_pass_role(roles["training"], service="sagemaker.amazonaws.com")
            functions["data_arrival"].add_s3_trigger(storage.data, "incoming/", LANDING_PREFIX)
            functions["features"].add_schedule_trigger(
                f"rate({spec.features.materialize_every_minutes} minutes)",
                description=f"Materializes the feature views of tenant {spec.name} offline to online",
            )
        else:
            functions["data_arrival"].add_s3_trigger(storage.data, "incoming/")
        functions["monitor"].add_kinesis_trigger(stream)
        # only the alarm Lambda hears raw alarm transitions; it republishes actionable ones to alerts
        functions["alarm"].add_sns_trigger(alerts.alarms_topic_arn)

        self._alarms(alerts, spec, functions)
        # a monitoring job that fails tells people (alerts), through EventBridge
        # the construct id predates the features rule: it names the monitoring rule's Terraform address
        FailedJobAlerts(
            self,
            "MonitorJobFailed",
            FailedJobAlertProps(
                naming=naming, alerts=alerts, account_id=account.account_id, features=features is not None
            ),
        )

        outputs = {
            "data_bucket_name": storage.data.bucket_id,
            "data_bucket_arn": storage.data.bucket_arn,
            "artifacts_bucket_name": storage.artifacts.bucket_id,
            "artifacts_bucket_arn": storage.artifacts.bucket_arn,
            "models_bucket_name": storage.models.bucket_id,
            "models_bucket_arn": storage.models.bucket_arn,
            "kms_key_arn": key.key_arn,
            "kms_key_alias": key.alias_name,
            "stream_name": stream.stream.ref("name"),
            "stream_arn": stream.stream_arn,
            "alerts_topic_arn": alerts.topic_arn,
            "alarms_topic_arn": alerts.alarms_topic_arn,
            "model_package_group_name": registry.group.ref("model_package_group_name"),
            "model_package_group_arn": registry.group_arn,
            "boundary_policy_arn": boundary.policy_arn,
            "vpc_id": network.vpc_id,
            **{f"{name}_role_arn": role.role_arn for name, role in roles.items()},
            **{f"{name}_function_name": fn.function.ref("function_name") for name, fn in functions.items()},
            **{f"{name}_dead_letter_queue_url": fn.dead_letters.ref("url") for name, fn in functions.items()},
            **compute_outputs,
            **serving_outputs,
            "pipeline_state_machine_arn": pipeline.state_machine_arn,
        }
        if features:
            outputs |= {
                "features_table_name": features.table.ref("name"),
                "features_table_arn": features.table_arn,
                "features_glue_database": features.database.ref("name"),
            }
        for output_id, value in outputs.items():
            self.add_output(output_id, value)
        self.add_output("private_subnet_ids", network.private_subnet_ids)

    def _feature_store(
        self,
        spec: TenantSpec,
        naming: Naming,
        account: Account,
        key: TenantKey,
        storage: TenantStorage,
        alerts: AlertTopic,
        roles: Mapping[str, ServiceRole],
    ) -> FeatureStore | None:
        """The online table, the offline catalog and freshness alarms, for a spec with feature views;
        the job role (the ``features`` job ingests and materializes, training reads) gets both stores,
        the servers (``_serving``, the EC2 instances) read the online one."""
        if not spec.features.views:
            return None
        features = FeatureStore(
            self,
            "Features",
            FeatureStoreProps(
                naming=naming,
                key=key,
                data=storage.data,
                alerts=alerts,
                views=tuple(spec.features.views),
                account_id=account.account_id,
                partition=account.partition,
                materialize_every_minutes=spec.features.materialize_every_minutes,
                deletion_protection=spec.environment.value == "prod",
            ),
        )
        features.grant_read_offline(roles["training"])
        features.grant_write_offline(roles["training"])
        features.grant_write_online(roles["training"])
        return features

    @staticmethod
    def _cluster_props(
        spec: TenantSpec,
        common: Mapping[str, Any],
        account: Account,
        boundary_arn: str,
        images: ImageRepository,
    ) -> EksClusterProps:
        partition, account_id = account.partition, account.account_id

        def role_arn(role: str) -> str:
            return role if role.startswith("arn:") else f"arn:{partition}:iam::{account_id}:role/{role}"

        access = spec.compute.cluster_access
        return EksClusterProps(
            **common,
            kubernetes_version=spec.compute.kubernetes_version,
            account_id=account_id,
            boundary_arn=boundary_arn,
            image_repository_arn=images.repository_arn,
            endpoint_public_access_cidrs=tuple(spec.compute.endpoint_public_access_cidrs),
            deploy_principal_arn=role_arn(access.deploy_role) if access.deploy_role else None,
            admin_principal_arns=tuple(role_arn(r) for r in access.admin_roles),
        )

    def _workload_roles(self, naming: Naming, boundary_arn: str, spec: TenantSpec) -> dict[str, ServiceRole]:
        holders = TenantConstruct(self, "Roles")
        trusted = {
            "training": ("sagemaker.amazonaws.com",),
            "serving": ("sagemaker.amazonaws.com",),
            # EC2 tenants run pipelines on their instances; everyone may run them as SageMaker jobs
            "pipelines": ("sagemaker.amazonaws.com", "ec2.amazonaws.com")
            if spec.compute.kind == "ec2"
            else ("sagemaker.amazonaws.com",),
        }
        return {
            name: ServiceRole(
                holders,
                name.title(),
                ServiceRoleProps(
                    naming=naming,
                    component=name,
                    description=f"tenantml {name} for {naming.tenant}",
                    assumed_by=principals,
                    boundary_arn=boundary_arn,
                ),
            )
            for name, principals in trusted.items()
        }

    def _serving(
        self,
        spec: TenantSpec,
        naming: Naming,
        account: Account,
        key: TenantKey,
        storage: TenantStorage,
        stream: InferenceStream,
        alerts: AlertTopic,
        registry: ModelRegistry,
        network: Network,
        images: ImageRepository,
        role: ServiceRole,
        boundary_arn: str,
        cluster: EksCluster | None,
        features: FeatureStore | None,
    ) -> dict[str, str]:
        """The image repository's grants and, as the spec chooses, a SageMaker endpoint or the IRSA role of
        the EKS serving workload (the workload itself is the tenant's Kubernetes stack, ``stacks/kubernetes``)."""
        serving = spec.serving
        images.grant_pull(role)
        if features:
            features.grant_read_online(role)
        outputs = {
            "image_repository_url": images.repository_url,
            "image_repository_name": images.repository_name,
        }
        if serving.platform == "sagemaker" and serving.model_version is not None:
            mon = spec.monitoring
            endpoint = SageMakerEndpoint(
                self,
                "Endpoint",
                SageMakerEndpointProps(
                    naming=naming,
                    key=key,
                    role=role,
                    alerts=alerts,
                    partition=account.partition,
                    account_id=account.account_id,
                    model_package_group=registry.group_name,
                    model_name=spec.model.name,
                    model_version=serving.model_version,
                    serving_format=spec.model.serving_format,
                    stream_name=stream.stream.ref("name"),
                    features_table=features.table_name if features else None,
                    subnet_ids=network.private_subnet_ids,
                    vpc_id=network.vpc_id,
                    instance_type=serving.instance_type,
                    instance_count=serving.instance_count,
                    canary_percent=serving.canary_percent,
                    bake_minutes=serving.bake_minutes,
                    guardrails=GuardrailProps(
                        error_rate=mon.error_rate,
                        latency_p99_ms=mon.latency_p99_ms,
                        period_seconds=mon.period_seconds,
                        evaluation_periods=mon.evaluation_periods,
                        datapoints_to_alarm=mon.datapoints_to_alarm,
                    ),
                ),
            )
            endpoint.grant_execution(role)
            outputs |= {
                "endpoint_name": endpoint.endpoint.ref("name"),
                "endpoint_invoke_url": endpoint.invoke_url,
            }
        elif serving.platform == "eks" and cluster is not None:
            names = serving_names(naming, spec.model.name)
            pods = serving_pods_role(
                self,
                "Serving",
                naming=naming,
                names=names,
                oidc_provider_arn=cluster.oidc_provider_arn,
                oidc_issuer_host=cluster.oidc.ref("url"),
                boundary_arn=boundary_arn,
            )
            storage.models.grant_read(pods)
            registry.grant_read(pods)
            stream.grant_write(pods)
            grant_put_metrics(pods, metrics_namespace(spec.name))
            images.grant_pull(pods)
            if features:
                features.grant_read_online(pods)
            outputs |= {
                "serving_namespace": names.namespace,
                "serving_service_account": names.service_account,
                "serving_pods_role_arn": pods.role_arn,
                "serving_service_host": names.service_host,
            }
        return outputs

    def _functions(
        self,
        naming: Naming,
        spec: TenantSpec,
        key: TenantKey,
        boundary_arn: str,
        account_id: str,
        environment: dict[str, str],
        build_dir: Path,
        extra_environment: Mapping[str, Mapping[str, str]] | None = None,
    ) -> dict[str, PythonFunction]:
        holders = TenantConstruct(self, "Functions")
        # the handlers' layers are equal: one layer version for all of them (content-addressed)
        shared_layers = SharedLayers(holders, "Layers", naming, build_dir)
        descriptions = {
            "data_arrival": "Starts a pipeline run when data lands under incoming/",
            "monitor": "Turns inference logs into drift and health metrics",
            "alarm": "Acts on alarms: alerts and retrains",
        }
        if spec.features.views:
            descriptions["features"] = "Starts the scheduled materialization of the feature views"
        return {
            handler: PythonFunction(
                holders,
                "".join(part.title() for part in handler.split("_")),
                PythonFunctionProps(
                    naming=naming,
                    handler_package=handler,
                    description=description,
                    key=key,
                    boundary_arn=boundary_arn,
                    build_dir=build_dir,
                    account_id=account_id,
                    environment={**environment, **(extra_environment or {}).get(handler, {})},
                    timeout_seconds=spec.lambdas.timeout_seconds,
                    memory_mb=spec.lambdas.memory_mb,
                    reserved_concurrency=spec.lambdas.reserved_concurrency,
                    log_retention_days=spec.lambdas.log_retention_days,
                    shared_layers=shared_layers,
                ),
            )
            for handler, description in descriptions.items()
        }

    def _alarms(self, alerts: AlertTopic, spec: TenantSpec, functions: Mapping[str, PythonFunction]) -> None:
        mon = spec.monitoring
        model_dims = {"Tenant": spec.name, "Model": spec.model.name}
        common = {
            "namespace": metrics_namespace(spec.name),
            "period_seconds": mon.period_seconds,
            "evaluation_periods": mon.evaluation_periods,
            "datapoints_to_alarm": mon.datapoints_to_alarm,
            "dimensions": model_dims,
        }
        # a drift score is already one whole window's verdict (scored only from drift_min_rows rows on),
        # so one breaching window alarms; error rate and latency are noisier and use the spec's M of N
        alerts.add_alarm(
            AlarmProps(
                component="drift",
                metric_name="DriftScore",
                threshold=spec.model.drift_threshold,
                description=f"Feature drift of model {spec.model.name} above {spec.model.drift_threshold} (PSI)",
                statistic="Maximum",
                namespace=metrics_namespace(spec.name),
                period_seconds=mon.period_seconds,
                evaluation_periods=1,
                datapoints_to_alarm=1,
                dimensions=model_dims,
            )
        )
        alerts.add_alarm(
            AlarmProps(
                component="error-rate",
                metric_name="ErrorRate",
                threshold=mon.error_rate,
                description=f"Error rate of model {spec.model.name} above {mon.error_rate:.2%}",
                statistic="Average",
                **common,
            )
        )
        alerts.add_alarm(
            AlarmProps(
                component="latency-p99",
                metric_name="LatencyMs",
                threshold=mon.latency_p99_ms,
                description=f"p99 latency of model {spec.model.name} above {mon.latency_p99_ms} ms",
                statistic=None,
                extended_statistic="p99",
                **common,
            )
        )
        # live quality: the primary metric on labelled traffic, measured at most once a period; no
        # labelled window (labels not back yet, or too few) is missing data, which does not breach
        higher = spec.model.higher_is_better
        alerts.add_alarm(
            AlarmProps(
                component="live-quality",
                metric_name=LIVE_QUALITY_METRIC,
                threshold=spec.model.minimum_metric,
                comparison="LessThanThreshold" if higher else "GreaterThanThreshold",
                description=f"Live {spec.model.primary_metric} of model {spec.model.name} on labelled traffic "
                f"{'below' if higher else 'above'} {spec.model.minimum_metric}",
                statistic="Minimum" if higher else "Maximum",
                namespace=metrics_namespace(spec.name),
                period_seconds=mon.period_seconds,
                evaluation_periods=1,
                datapoints_to_alarm=1,
                dimensions=live_quality_dimensions(spec.name, spec.model.name, spec.model.primary_metric),
            )
        )
        # the platform's own failures go to people directly (notify="people"): the alarm Lambda
        # cannot fix them and may be the function that is failing. Pipeline runs execute inside the
        # data_arrival (new data) and alarm (retrain) handlers, so their errors alarms are the
        # pipeline-failure alarms; a run that fails on its data or model is recorded and alerted by the run.
        failure_descriptions = {
            "data_arrival": "A pipeline run on newly arrived data crashed in the data-arrival handler",
            "alarm": "The alarm handler failed: an alert or a retraining pipeline run may be lost",
        }
        for name, fn in functions.items():
            component = name.replace("_", "-")
            alerts.add_alarm(
                AlarmProps(
                    component=f"{component}-errors",
                    namespace="AWS/Lambda",
                    metric_name="Errors",
                    threshold=0,
                    description=failure_descriptions.get(name, f"The {component} handler failed"),
                    statistic="Sum",
                    period_seconds=300,
                    dimensions={"FunctionName": fn.function_name},
                    notify="people",
                )
            )
            alerts.add_alarm(
                AlarmProps(
                    component=f"{component}-dead-letters",
                    namespace="AWS/SQS",
                    metric_name="ApproximateNumberOfMessagesVisible",
                    threshold=0,
                    description=f"Events the {component} handler could not process are waiting in its dead-letter queue",
                    statistic="Maximum",
                    period_seconds=300,
                    dimensions={"QueueName": fn.dead_letters.ref("name")},
                    notify="people",
                )
            )
