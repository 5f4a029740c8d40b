"""The feature store of a tenant with feature views: the online DynamoDB table, the offline Glue
catalog over the Parquet in the data bucket, and a freshness alarm per view.

Names and prefixes come from :mod:`core.feature_layout`, the contract the offline and online
stores (``pipelines/features``) write to: the stack only describes where they write.

- online: one on-demand table per tenant (``tenantml-<tenant>-<env>-features``), partition key
  ``pk``, encrypted with the tenant key, point-in-time recovery on, and DynamoDB's TTL on
  ``expires_at`` so expired values leave without a sweep;
- offline: a Glue database and one external Parquet table per view over
  ``s3://<data bucket>/feature-store/<view>/``, partitioned by ``event_date`` with partition
  projection, so Athena finds every day's partition without a crawler or ``MSCK REPAIR``;
- freshness: the age of a view's newest online row (published by materialization) alarms to the
  alerts topic when it passes the view's ``freshness_alarm_minutes``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.contract import metrics_namespace
from core.errors import ConstructPropsError, Problem
from core.feature_layout import (
    FRESHNESS_METRIC,
    INGESTED_AT_COLUMN,
    OFFLINE_PREFIX,
    ONLINE_KEY,
    ONLINE_TTL_ATTRIBUTE,
    PARTITION_COLUMN,
    VIEW_SPEC_PARAMETER,
    glue_database,
    offline_prefix,
)
from core.feature_spec import FeatureType, FeatureViewSpec
from core.naming import Naming
from infra import actions
from infra.alerting import AlarmProps, AlertTopic
from infra.core import PRIMARY_ID, Resource, Scope, TenantConstruct
from infra.identity import ServiceRole
from infra.keys import TenantKey
from infra.storage import SecureBucket

#: spec type -> Glue (Hive) column type; timestamps are ``timestamp`` (UTC, microseconds in Parquet)
GLUE_TYPES: dict[FeatureType, str] = {
    FeatureType.INT64: "bigint",
    FeatureType.FLOAT64: "double",
    FeatureType.STRING: "string",
    FeatureType.BOOL: "boolean",
}
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
PARQUET_INPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True, kw_only=True)
class FeatureStoreProps:
    naming: Naming
    key: TenantKey
    #: the tenant's data bucket: raw rows land under ``features/``, the offline store is ``feature-store/``
    data: SecureBucket
    alerts: AlertTopic
    views: tuple[FeatureViewSpec, ...]
    account_id: str
    partition: str
    #: how often scheduled materialization publishes each view's age: the freshness alarm's period
    materialize_every_minutes: int = 60
    #: prod tables refuse ``DeleteTable`` until switched off (like prod buckets keep access logs)
    deletion_protection: bool = False
    #: the first ``event_date`` partition projection offers Athena (older rows are not queried)
    projection_start: str = "2020-01-01"

    def __post_init__(self) -> None:
        problems = []
        if not self.views:
            problems.append(Problem("views", "a feature store needs at least one view"))
        names = [v.name for v in self.views]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            problems.append(Problem("views", "view names must be unique", repeated))
        if not _DATE.match(self.projection_start):
            problems.append(Problem("projection_start", "must be a date, YYYY-MM-DD", self.projection_start))
        if not 1 <= self.materialize_every_minutes <= 1440:
            problems.append(
                Problem(
                    "materialize_every_minutes",
                    "must be 1 to 1440 (an alarm period is at most a day)",
                    self.materialize_every_minutes,
                )
            )
        if problems:
            raise ConstructPropsError(problems)


def _view_id(view: str) -> str:
    """``customer_stats`` -> ``ViewCustomerStats`` (a stable construct id per view)."""
    return "View" + "".join(part.title() for part in view.split("_"))


def glue_columns(view: FeatureViewSpec) -> list[dict[str, str]]:
    """The offline table's columns in the order ingestion writes them: entities, features, the
    event (and created) timestamps, then ``ingested_at``; ``event_date`` is the partition key."""
    columns = [{"name": e.name, "type": GLUE_TYPES[e.type]} for e in view.entities]
    columns += [{"name": f.name, "type": GLUE_TYPES[f.type]} for f in view.features]
    columns.append({"name": view.timestamp, "type": "timestamp"})
    if view.created_timestamp is not None:
        columns.append({"name": view.created_timestamp, "type": "timestamp"})
    columns.append({"name": INGESTED_AT_COLUMN, "type": "timestamp"})
    return columns


class FeatureStore(TenantConstruct):
    def __init__(self, scope: Scope, construct_id: str, props: FeatureStoreProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        naming = props.naming
        self.table_name = naming.name("features")
        self.table = Resource(
            self,
            PRIMARY_ID,
            "aws_dynamodb_table",
            {
                "name": self.table_name,
                # lookups follow serving traffic and materialization comes in bursts: no capacity to guess
                "billing_mode": "PAY_PER_REQUEST",
                "hash_key": ONLINE_KEY,
                "attribute": [{"name": ONLINE_KEY, "type": "S"}],
                "server_side_encryption": [{"enabled": True, "kms_key_arn": props.key.key_arn}],
                "point_in_time_recovery": [{"enabled": True}],
                "ttl": [{"enabled": True, "attribute_name": ONLINE_TTL_ATTRIBUTE}],
                "deletion_protection_enabled": props.deletion_protection,
                "tags": {"tenantml:component": "feature-store"},
            },
        )
        self.database_name = glue_database(naming.tenant, naming.environment)
        self.database = Resource(
            self,
            "Catalog",
            "aws_glue_catalog_database",
            {
                "name": self.database_name,
                "description": f"Offline feature store of tenant {naming.tenant} ({naming.environment})",
                "location_uri": f"s3://{props.data.bucket_id}/{OFFLINE_PREFIX}",
                "tags": {"tenantml:component": "feature-store"},
            },
        )
        self.view_tables = {view.name: self._view_table(view) for view in props.views}
        for view in props.views:
            if view.freshness_alarm_minutes is not None:
                self._freshness_alarm(view.name, view.freshness_alarm_minutes)

    def _view_table(self, view: FeatureViewSpec) -> Resource:
        location = f"s3://{self.props.data.bucket_id}/{offline_prefix(view.name)}"
        return Resource(
            self,
            _view_id(view.name),
            "aws_glue_catalog_table",
            {
                "name": view.name,
                "database_name": self.database.ref("name"),
                "description": f"Feature view {view.name}: validated rows, partitioned by {PARTITION_COLUMN}",
                "table_type": "EXTERNAL_TABLE",
                "parameters": {
                    "EXTERNAL": "TRUE",
                    "classification": "parquet",
                    VIEW_SPEC_PARAMETER: view.model_dump_json(),
                    # partition projection: Athena computes the partitions instead of reading them from
                    # the catalog, so no crawler runs and no ingest registers a partition
                    "projection.enabled": "true",
                    f"projection.{PARTITION_COLUMN}.type": "date",
                    f"projection.{PARTITION_COLUMN}.format": "yyyy-MM-dd",
                    f"projection.{PARTITION_COLUMN}.range": f"{self.props.projection_start},NOW",
                    f"projection.{PARTITION_COLUMN}.interval": "1",
                    f"projection.{PARTITION_COLUMN}.interval.unit": "DAYS",
                    # "$${" is Terraform's literal "${": Athena fills the partition value in
                    "storage.location.template": f"{location}{PARTITION_COLUMN}=$${{{PARTITION_COLUMN}}}/",
                },
                "partition_keys": [{"name": PARTITION_COLUMN, "type": "string"}],
                "storage_descriptor": [
                    {
                        "location": location,
                        "input_format": PARQUET_INPUT,
                        "output_format": PARQUET_OUTPUT,
                        "compressed": False,
                        "ser_de_info": [
                            {
                                "name": "parquet",
                                "serialization_library": PARQUET_SERDE,
                                "parameters": {"serialization.format": "1"},
                            }
                        ],
                        "columns": glue_columns(view),
                    }
                ],
            },
        )

    def _freshness_alarm(self, view: str, minutes: int) -> None:
        naming = self.props.naming
        self.props.alerts.add_alarm(
            AlarmProps(
                component=f"features-{view.replace('_', '-')}-freshness",
                description=(
                    f"The newest online row of feature view {view} is older than {minutes} minutes "
                    "(or no age was published): materialization is late or failing"
                ),
                namespace=metrics_namespace(naming.tenant),
                metric_name=FRESHNESS_METRIC,
                statistic="Maximum",
                threshold=minutes * 60,
                comparison="GreaterThanThreshold",
                # one datum per scheduled materialization: a period without one means it did not run
                period_seconds=self.props.materialize_every_minutes * 60,
                treat_missing_data="breaching",
                dimensions={"Tenant": naming.tenant, "View": view},
                # nothing the alarm Lambda does (retraining) makes features fresh: people are told
                notify="people",
            )
        )

    # --- attributes ---------------------------------------------------------------------------

    @property
    def table_arn(self) -> str:
        return self.table.arn_ref

    @property
    def catalog_arn(self) -> str:
        return f"arn:{self.props.partition}:glue:{self.props.naming.region}:{self.props.account_id}:catalog"

    @property
    def database_arn(self) -> str:
        return self.database.arn_ref

    @property
    def view_table_arns(self) -> list[str]:
        return [table.arn_ref for table in self.view_tables.values()]

    # --- grants -------------------------------------------------------------------------------

    def grant_read_online(self, role: ServiceRole) -> None:
        """Look features up by entity key (serving)."""
        role.grant("ReadFeaturesOnline", actions.DYNAMODB_READ_ITEMS, [self.table_arn])
        self.props.key.grant_decrypt(role)

    def grant_write_online(self, role: ServiceRole) -> None:
        """Materialize into the online table and keep its watermarks (the ``features`` job)."""
        self.grant_read_online(role)
        role.grant("WriteFeaturesOnline", actions.DYNAMODB_WRITE_ITEMS, [self.table_arn])
        self.props.key.grant_encrypt_decrypt(role)

    def grant_read_offline(self, role: ServiceRole) -> None:
        """Read the catalog (Glue checks the catalog, the database and the table of each call) and
        the validated rows under ``feature-store/``."""
        role.grant(
            "ReadFeatureCatalog",
            actions.GLUE_READ_CATALOG,
            [self.catalog_arn, self.database_arn, *self.view_table_arns],
        )
        self.props.data.grant_read_prefix(role, OFFLINE_PREFIX)

    def grant_write_offline(self, role: ServiceRole) -> None:
        """Write validated rows under ``feature-store/`` (partition projection: no catalog writes)."""
        self.props.data.grant_write_prefix(role, OFFLINE_PREFIX)


__all__ = ["GLUE_TYPES", "FeatureStore", "FeatureStoreProps", "glue_columns"]
