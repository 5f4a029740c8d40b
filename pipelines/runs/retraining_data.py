"""What a retrain trains on: the reference data plus the recent traffic whose labels came back.

:func:`assemble_retraining_set` reads the reference (the data the champion was trained on:
:func:`champion_reference`) and the labelled traffic of the last
``window_hours`` (the predictions the monitor kept, joined with the labels delivered under
``labels/``: :func:`pipelines.monitoring.labelled_traffic.labelled_traffic`), and writes them as one
Parquet dataset to ``retraining/<model>/datasets/<run id>.parquet`` in the artifacts bucket: the
reference's rows, then the labelled rows (their features as logged, the delivered label in the
target column; columns the reference lacks are dropped, columns it has and the log lacks are
missing values). The run's lineage records both sources (URIs, object version, row counts, the
window). A retrain caused by drift thus learns the drifted distribution as soon as its labels arrive.

Without labelled traffic the reference is returned as it is (no new object): the retrain trains on
exactly the previous data, so it can only reproduce the previous model; the gate then keeps the
champion (the candidate does not beat it by ``promotion_margin``), and the run's record says the
data had no labelled traffic. That is the honest outcome: there is nothing new to learn from until
labels come back.

The SageMaker pipeline's prepare step (issue 15) calls this function too and passes
``RetrainingSet.source`` and ``.sources`` on to its training channel and register step.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from core.contract import LABELS_PREFIX
from core.errors import ModelVersionNotFoundError
from core.spec import ModelSpec
from pipelines.data.datasets import load_dataset
from pipelines.data.uris import parse_s3_uri, s3_uri
from pipelines.monitoring.labelled_traffic import META_COLUMNS, PREDICTIONS_PREFIX, labelled_traffic
from pipelines.registry.interface import CHAMPION, ModelRegistry
from pipelines.registry.lineage import DataSource
from pipelines.runs.arrivals import DataArrival, PinnedVersion

log = logging.getLogger(__name__)

REFERENCE = "reference"
LABELLED_TRAFFIC = "labelled-traffic"


@dataclass
class RetrainingSet:
    #: what the run reads: the assembled dataset's URI, or the reference itself when nothing was added
    source: DataArrival | str
    sources: list[DataSource] = field(default_factory=list)
    rows: int = 0
    labelled_rows: int = 0


def champion_reference(registry: ModelRegistry, fallback: DataArrival) -> DataArrival:
    """The reference a retrain starts from: the data the champion was trained on (its lineage's
    reference source when the champion was itself a retrain), pinned to that object version.

    Not simply the newest file under ``incoming/``: that may be a file whose run failed (corrupt,
    invalid) or was rejected, and a retrain must start from data known to make a good model.
    ``fallback`` (what the execution names) when there is no champion or it has no lineage.
    """
    try:
        champion = registry.get_version_by_alias(CHAMPION)
    except ModelVersionNotFoundError:
        return fallback
    lineage = champion.lineage
    if lineage is None:
        return fallback
    reference = next((s for s in lineage.data_sources if s.kind == REFERENCE), None)
    uri, version = (
        (reference.uri, reference.version_id) if reference else (lineage.data_uri, lineage.data_version_id)
    )
    bucket, key = parse_s3_uri(uri)
    return DataArrival(bucket=bucket, key=key, version_id=version)


def retraining_key(model: str, run_id: str) -> str:
    return f"retraining/{model}/datasets/{run_id}.parquet"


def assemble_retraining_set(
    s3: Any,
    resources: Any,
    spec: ModelSpec,
    reference: DataArrival | str,
    *,
    run_id: str,
    window_hours: int,
    now: datetime | None = None,
) -> RetrainingSet:
    """The reference plus the labelled traffic of the last ``window_hours``, as one dataset (module docstring)."""
    now = now or datetime.now(UTC)
    ref_uri = reference.uri if isinstance(reference, DataArrival) else reference
    ref_version = reference.version_id if isinstance(reference, DataArrival) else None
    reader = PinnedVersion(s3, ref_version) if ref_version else s3
    frame = load_dataset(ref_uri, s3=reader).frame
    ref_source = DataSource(kind=REFERENCE, uri=ref_uri, version_id=ref_version, rows=len(frame))
    traffic = labelled_traffic(
        s3,
        artifacts_bucket=resources.artifacts_bucket,
        data_bucket=resources.data_bucket,
        model=spec.name,
        target=spec.target,
        window_hours=window_hours,
        now=now,
    )
    labelled = traffic.rows
    if labelled.empty:
        log.info(
            "retrain of %s: no labelled traffic in the last %d h; training on the reference",
            spec.name,
            window_hours,
        )
        return RetrainingSet(source=reference, sources=[ref_source], rows=len(frame))
    added = labelled.drop(columns=[c for c in META_COLUMNS if c in labelled.columns])
    added = added[[c for c in frame.columns if c in added.columns]]
    added[spec.target] = added[spec.target].astype(frame[spec.target].dtype, errors="ignore")
    combined = pd.concat([frame, added], ignore_index=True)
    key = retraining_key(spec.name, run_id)
    buffer = io.BytesIO()
    combined.to_parquet(buffer, index=False)
    put = s3.put_object(
        Bucket=resources.artifacts_bucket,
        Key=key,
        Body=buffer.getvalue(),
        ContentType="application/vnd.apache.parquet",
    )
    traffic_source = DataSource(
        kind=LABELLED_TRAFFIC,
        uri=s3_uri(resources.artifacts_bucket, f"{PREDICTIONS_PREFIX}/{spec.name}/"),
        labels_uri=s3_uri(resources.data_bucket, LABELS_PREFIX),
        rows=len(added),
        window_start=traffic.window_start.isoformat(),
        window_end=traffic.window_end.isoformat(),
    )
    source = DataArrival(bucket=resources.artifacts_bucket, key=key, version_id=put.get("VersionId"))
    log.info(
        "retrain of %s: %d reference rows + %d labelled rows -> %s",
        spec.name,
        len(frame),
        len(added),
        source.uri,
    )
    return RetrainingSet(
        source=source, sources=[ref_source, traffic_source], rows=len(combined), labelled_rows=len(added)
    )


__all__ = ["LABELLED_TRAFFIC", "REFERENCE", "RetrainingSet", "assemble_retraining_set", "retraining_key"]
