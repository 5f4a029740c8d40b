"""``python -m pipelines.container features``: the feature store's SageMaker processing job.

Started by the data-arrival function for a file landed under ``features/<view>/`` (``--view V``:
ingest it into the offline store, then materialize that view from the file's earliest event date,
so late rows reach the online store too) and by the features function on its schedule
(``--all-views``: materialize every view that has offline rows, from its watermark). The
environment is :mod:`pipelines.features.job_request`'s contract; each view's definition is read
from its Glue table (the ``tenantml.view`` parameter the stack writes), the catalog being the
one place a job can read a whole spec from. Every run publishes each view's freshness.

Exit 0 with a JSON summary on stdout; 1 with SageMaker's failure file (``FailureReason``)
otherwise: landed rows that break the view's rules are named there, and nothing was written.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from core.errors import FeatureStoreConfigError
from core.sagemaker_paths import opt_ml
from pipelines.features.ingest import ingest_landed
from pipelines.features.materialization import materialize_views, since_for_ingest
from pipelines.features.offline import OfflineStore
from pipelines.features.online import OnlineStore
from pipelines.features.registry import view_from_catalog, views_with_offline_rows
from pipelines.runs.pipeline_start import required_env

log = logging.getLogger(__name__)
FAILURE_FILE = "/opt/ml/output/failure"
_FAILURE_LIMIT = 1024
ENV = ("TENANTML_TENANT", "TENANTML_DATA_BUCKET", "TENANTML_FEATURES_TABLE", "TENANTML_FEATURES_DATABASE")


def run(
    environ: Mapping[str, str], *, view: str | None, now: datetime, clients: Mapping[str, Any]
) -> dict[str, Any]:
    """One job: ``view`` (a landed file, named by ``TENANTML_FEATURES_KEY``) or every view (None)."""
    env = required_env(environ, *ENV)
    s3, glue = clients["s3"], clients["glue"]
    online = OnlineStore(clients["dynamodb"], env["TENANTML_FEATURES_TABLE"])
    database, bucket = env["TENANTML_FEATURES_DATABASE"], env["TENANTML_DATA_BUCKET"]
    summary: dict[str, Any] = {"trigger": "data-arrival" if view else "schedule"}
    since = None
    if view is not None:
        spec = view_from_catalog(glue, database, view)
        if spec is None:
            raise FeatureStoreConfigError(f"no feature view {view!r} in the Glue database {database}")
        key = required_env(environ, "TENANTML_FEATURES_KEY")["TENANTML_FEATURES_KEY"]
        ingested = ingest_landed(s3, bucket, key, spec, now=now)
        summary["ingested"] = {"key": key, "rows": ingested.rows, "partitions": list(ingested.partitions)}
        since = since_for_ingest(ingested)
        views = [spec]
    else:
        found = [view_from_catalog(glue, database, name) for name in views_with_offline_rows(s3, bucket)]
        views = [v for v in found if v is not None]
    with OfflineStore(s3, bucket) as offline:
        results = materialize_views(
            offline,
            online,
            views,
            now=now,
            since=since,
            cloudwatch=clients["cloudwatch"],
            tenant=env["TENANTML_TENANT"],
        )
    summary["materialized"] = [
        {"view": r.view, "rows": r.rows, "written": r.written, "skipped": r.skipped, "watermark": r.watermark}
        for r in results
    ]
    return summary


def _clients() -> dict[str, Any]:
    import boto3

    return {name: boto3.client(name) for name in ("s3", "glue", "dynamodb", "cloudwatch")}


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.container features")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--view", help="ingest the landed file TENANTML_FEATURES_KEY into VIEW, then materialize it"
    )
    which.add_argument("--all-views", action="store_true", help="materialize every view from its watermark")
    args = parser.parse_args(list(argv))
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    try:
        summary = run(os.environ, view=args.view, now=datetime.now(UTC), clients=_clients())
    except Exception as err:  # noqa: BLE001 - the job boundary: every failure becomes the FailureReason
        failure = opt_ml(FAILURE_FILE)
        failure.parent.mkdir(parents=True, exist_ok=True)
        failure.write_text(f"{type(err).__name__}: {err}"[:_FAILURE_LIMIT], encoding="utf-8")
        print(f"features job failed: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(json.dumps({"features": summary}, default=str))
    return 0


__all__ = ["FAILURE_FILE", "main", "run"]
