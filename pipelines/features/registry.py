"""The feature registry: each view's Glue table, holding the view's spec, and what the offline store holds.

The stack writes every view's spec into its Glue table (parameter ``tenantml.view``): the catalog is
the registry the jobs read views from, and the one ``tenantml features apply`` checks against the
tenant's spec. Before a changed view is registered, the rows already in the offline store must stay
readable under it: a feature may be added (older files read it as null, then its default) or
removed, and an int64 may widen to float64, but a column cannot change to an unrelated type, and an
entity or timestamp column cannot disappear.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from core.errors import FeatureStoreConfigError, Problem
from core.feature_layout import OFFLINE_PREFIX, VIEW_SPEC_PARAMETER, offline_prefix
from core.feature_spec import FeatureViewSpec
from pipelines.features.validation import offline_schema, timestamp_columns

Status = Literal["registered", "differs", "missing"]


@dataclass(frozen=True)
class Registration:
    """One view of the spec against the catalog."""

    view: str
    status: Status
    #: what differs (``differs``), or why the table is missing
    detail: str = ""


def view_from_catalog(glue: Any, database: str, name: str) -> FeatureViewSpec | None:
    """The view's spec from its Glue table, or None when the catalog has no such table (a view
    removed from the spec whose offline rows remain)."""
    try:
        table = glue.get_table(DatabaseName=database, Name=name)["Table"]
    except glue.exceptions.EntityNotFoundException:
        return None
    text = (table.get("Parameters") or {}).get(VIEW_SPEC_PARAMETER)
    if not text:
        raise FeatureStoreConfigError(
            f"Glue table {database}.{name} has no {VIEW_SPEC_PARAMETER!r} parameter: "
            "deploy the tenant's stack again (it writes each view's spec there)"
        )
    return FeatureViewSpec.model_validate_json(text)


def _differences(declared: FeatureViewSpec, registered: FeatureViewSpec) -> list[str]:
    mine, theirs = declared.model_dump(mode="json"), registered.model_dump(mode="json")
    return [
        f"{key}: registered {theirs.get(key)!r}, spec {value!r}"
        for key, value in mine.items()
        if theirs.get(key) != value
    ]


def compare_registry(glue: Any, database: str, views: list[FeatureViewSpec]) -> list[Registration]:
    """Each of ``views`` against its table in ``database``: registered as declared, differing, or missing."""
    found = []
    for view in views:
        try:
            registered = view_from_catalog(glue, database, view.name)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "AccessDeniedException":
                raise
            # the roles are granted the tables of the deployed views only: this one is not deployed
            found.append(
                Registration(view.name, "missing", f"{database}.{view.name} is not granted: not deployed")
            )
            continue
        if registered is None:
            found.append(Registration(view.name, "missing", f"no table {database}.{view.name}"))
        elif differences := _differences(view, registered):
            found.append(Registration(view.name, "differs", "; ".join(differences)))
        else:
            found.append(Registration(view.name, "registered"))
    return found


def newest_offline_schema(s3: Any, bucket: str, view: str) -> tuple[str, pa.Schema] | None:
    """The key and schema of the view's newest offline file (its footer only), or None if it has none."""
    newest: dict[str, Any] | None = None
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=offline_prefix(view)):
        for item in page.get("Contents", []):
            if item["Key"].endswith(".parquet") and (
                newest is None or item["LastModified"] > newest["LastModified"]
            ):
                newest = item
    if newest is None:
        return None
    size, key = int(newest["Size"]), newest["Key"]
    # the footer is addressed from the file's end: its length, then the metadata before it
    end = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={size - 8}-{size - 1}")["Body"].read()
    length = int.from_bytes(end[:4], "little")
    footer = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={size - 8 - length}-{size - 1}")[
        "Body"
    ].read()
    return key, pq.read_schema(io.BytesIO(b"PAR1" + footer))


def _readable_as(stored: pa.DataType, declared: pa.DataType) -> bool:
    return stored == declared or (pa.types.is_integer(stored) and pa.types.is_floating(declared))


def offline_compatibility(s3: Any, bucket: str, views: list[FeatureViewSpec]) -> list[Problem]:
    """What keeps the rows already in the offline store from being read under ``views``; none: compatible."""
    problems = []
    for view in views:
        found = newest_offline_schema(s3, bucket, view.name)
        if found is None:
            continue
        key, stored = found
        where = f"features.views[{view.name}]"
        required = {*view.entity_names, *timestamp_columns(view)}
        for declared in offline_schema(view):
            index = stored.get_field_index(declared.name)
            if index < 0:
                if declared.name in required:
                    problems.append(
                        Problem(
                            f"{where}: column {declared.name}",
                            f"the offline rows in s3://{bucket}/{key} have no such column, and a key or "
                            "timestamp cannot be added to a view that holds rows: declare a new view",
                        )
                    )
                continue
            if not _readable_as(stored.field(index).type, declared.type):
                problems.append(
                    Problem(
                        f"{where}: column {declared.name}",
                        f"the offline rows in s3://{bucket}/{key} hold it as {stored.field(index).type}, which "
                        f"cannot be read as the declared {declared.type}: keep the type, or declare a new feature",
                        str(stored.field(index).type),
                    )
                )
    return problems


def views_with_offline_rows(s3: Any, bucket: str) -> list[str]:
    """The views that have validated rows: the folders under ``feature-store/``."""
    names = []
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=OFFLINE_PREFIX, Delimiter="/"
    ):
        names += [p["Prefix"][len(OFFLINE_PREFIX) :].rstrip("/") for p in page.get("CommonPrefixes", [])]
    return sorted(n for n in names if n)


__all__ = [
    "Registration",
    "compare_registry",
    "newest_offline_schema",
    "offline_compatibility",
    "view_from_catalog",
    "views_with_offline_rows",
]
