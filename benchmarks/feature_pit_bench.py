"""Point-in-time training set: wall time and peak memory of our join (DuckDB ASOF JOIN, out of core).

Generates (not timed) one feature view of ``--feature-rows`` rows x 20 float64 features over
``--feature-rows / 10`` int64 entities and 30 days, written in the offline store's layout (one
Parquet file per event date, with ``ingested_at``), and an entity table of ``--entity-rows`` rows
(random entity, random time over the same 30 days plus a day, a label). Then:

* the join: a fresh child process runs exactly what ``OfflineStore.training_set`` runs once the
  view's files are local (``stage_entity_table`` + ``write_training_set``, Parquet out); reported:
  wall time, the child's CPU time (user + system: a busy shared machine inflates the wall time,
  not this) and its peak RSS (``VmHWM``), both including the Python interpreter and imports;
* the download, separately: the view's files put in a moto S3 bucket (in process, so this measures
  our listing and copying, not S3's bandwidth) and fetched with ``OfflineStore.sync``.

Targets (issue 16): 10,000,000 entity rows x 1,000,000 feature rows in <= 60 s and <= 4 GB peak.

Run: ``.venv/bin/python benchmarks/feature_pit_bench.py [--entity-rows 1000000] [--feature-rows 100000]``
     ``.venv/bin/python benchmarks/feature_pit_bench.py --large`` (10,000,000 x 1,000,000)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.feature_layout import offline_key
from core.feature_spec import FeatureViewSpec

N_FEATURES = 20
DAYS = 30
START = datetime(2024, 1, 1, tzinfo=UTC)
VIEW = FeatureViewSpec(
    name="bench",
    entities=[{"name": "entity_id", "type": "int64"}],
    features=[{"name": f"f{i:02d}", "type": "float64"} for i in range(N_FEATURES)],
    ttl_hours=24 * 7,
)


def _timestamps(rng: np.random.Generator, n: int, days: int) -> pa.Array:
    offsets = rng.integers(0, days * 86_400 * 1_000_000, n)
    start_us = int(START.timestamp() * 1_000_000)
    return pa.array(start_us + offsets, pa.int64()).cast(pa.timestamp("us", tz="UTC"))


def generate(root: Path, entity_rows: int, feature_rows: int, seed: int = 0) -> tuple[Path, Path]:
    """The view's offline files under ``root/store`` and the entity table ``root/entities.parquet``."""
    rng = np.random.default_rng(seed)
    entities = max(1, feature_rows // 10)
    columns: dict[str, pa.Array] = {"entity_id": pa.array(rng.integers(0, entities, feature_rows))}
    for name in VIEW.feature_names:
        columns[name] = pa.array(rng.normal(size=feature_rows))
    columns["event_timestamp"] = _timestamps(rng, feature_rows, DAYS)
    columns["ingested_at"] = pa.array(
        [START + timedelta(days=DAYS + 1)] * feature_rows, pa.timestamp("us", tz="UTC")
    )
    table = pa.table(columns)
    dates = pc.strftime(table["event_timestamp"], format="%Y-%m-%d")
    store = root / "store"
    for day in sorted(set(dates.to_pylist())):
        path = store / offline_key(VIEW.name, day, "bench")
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            table.filter(pc.equal(dates, day)).sort_by("event_timestamp"), path, compression="zstd"
        )
    entity_path = root / "entities.parquet"
    writer = None
    chunk = 1_000_000
    for first in range(0, entity_rows, chunk):
        n = min(chunk, entity_rows - first)
        part = pa.table(
            {
                "entity_id": pa.array(rng.integers(0, entities + entities // 20 + 1, n)),
                "event_timestamp": _timestamps(rng, n, DAYS + 1),
                "label": pa.array(rng.integers(0, 2, n)),
            }
        )
        writer = writer or pq.ParquetWriter(entity_path, part.schema)
        writer.write_table(part)
    if writer is not None:
        writer.close()
    return store, entity_path


def child(store: Path, entities: Path, out: Path, memory_limit: str) -> None:
    """Run the join as ``OfflineStore.training_set`` does after its download, and report."""
    from pipelines.features.entities import stage_entity_table
    from pipelines.features.point_in_time import DuckDbSettings, write_training_set

    files = sorted((store / "feature-store" / VIEW.name).rglob("*.parquet"))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        staged = stage_entity_table(entities, [VIEW], Path(work))
        settings = DuckDbSettings(temp_directory=Path(work) / "duckdb-tmp", memory_limit=memory_limit)
        write_training_set([VIEW], staged, {VIEW.name: files}, out, settings)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    print(
        json.dumps(
            {"seconds": seconds, "cpu_seconds": cpu, "peak_rss_bytes": _peak_rss(), "rows": staged.rows}
        )
    )


def _peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure_download(store: Path) -> tuple[float, int, int]:
    """Seconds, files and bytes of ``OfflineStore.sync`` of the view from a moto bucket."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="eu-west-1"
    )
    import boto3
    from moto import mock_aws

    from pipelines.features.offline import OfflineStore

    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="bench-data", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        for path in store.rglob("*.parquet"):
            s3.upload_file(str(path), "bench-data", path.relative_to(store).as_posix())
        with OfflineStore(s3, "bench-data") as offline:
            synced = offline.sync(VIEW)
    return synced.seconds, len(synced.files), synced.downloaded_bytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entity-rows", type=int, default=1_000_000)
    parser.add_argument("--feature-rows", type=int, default=100_000)
    parser.add_argument(
        "--large", action="store_true", help="10,000,000 entity rows x 1,000,000 feature rows"
    )
    parser.add_argument("--memory-limit", default="2GB", help="DuckDB's memory limit (it spills beyond it)")
    parser.add_argument("--skip-download", action="store_true")
    parser.add_argument("--child", nargs=3, metavar=("STORE", "ENTITIES", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*(Path(p) for p in args.child), memory_limit=args.memory_limit)
        return
    if args.large:
        args.entity_rows, args.feature_rows = 10_000_000, 1_000_000
    with tempfile.TemporaryDirectory(prefix="feature-pit-bench-") as directory:
        root = Path(directory)
        started = time.perf_counter()
        store, entities = generate(root, args.entity_rows, args.feature_rows)
        print(
            f"generated {args.entity_rows:,} entity rows x {args.feature_rows:,} feature rows "
            f"x {N_FEATURES} features in {time.perf_counter() - started:.1f} s (not timed below)"
        )
        out = root / "train.parquet"
        command = [
            sys.executable,
            __file__,
            "--memory-limit",
            args.memory_limit,
            "--child",
            str(store),
            str(entities),
            str(out),
        ]
        report = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        matched = pq.read_table(out, columns=["f00"]).column("f00").null_count
        print(
            f"training_set join:  {report['seconds']:.2f} s wall ({report['cpu_seconds']:.2f} s CPU with imports, "
            f"load average {os.getloadavg()[0]:.1f}), peak RSS {report['peak_rss_bytes'] / 2**30:.2f} GiB "
            f"(DuckDB memory_limit {args.memory_limit}, {os.cpu_count()} cores); {report['rows']:,} rows out, "
            f"{report['rows'] - matched:,} with features"
        )
        if not args.skip_download:
            seconds, files, size = measure_download(store)
            print(
                f"download (moto S3, in process): {seconds:.2f} s for {files} files, {size / 2**20:.1f} MiB"
            )


if __name__ == "__main__":
    main()
