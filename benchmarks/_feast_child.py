"""Feast's side of ``feature_store_bench.py``; runs in the Feast virtual environment, never in ours.

Feast 0.67 pins versions that do not fit this project's environment, so this script imports
nothing of tenantml: it gets one JSON argument (paths, sizes, the emulator endpoint) and prints
one JSON line. Modes:

* ``pit``: ``get_historical_features`` (file offline store, i.e. Dask) of the entity table
  against the view's Parquet directory, written to Parquet like our training set;
* ``online``: ``feast apply`` (creates the DynamoDB table in the emulator), ``materialize`` of
  the view's directory, then ``get_online_features`` timed for 1 and 100 entities.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig, ValueType
from feast.types import Float64


def _store(work: Path, online: dict[str, Any]) -> FeatureStore:
    work.mkdir(parents=True, exist_ok=True)
    config = RepoConfig(
        project="bench",
        provider="local",
        registry=str(work / "registry.db"),
        offline_store={"type": "file"},
        online_store=online,
        entity_key_serialization_version=3,
        repo_path=str(work),
    )
    return FeatureStore(config=config)


def _view(name: str, source: str, n_features: int, ttl_hours: int) -> tuple[Entity, FeatureView]:
    entity = Entity(name="entity", join_keys=["entity_id"], value_type=ValueType.INT64)
    view = FeatureView(
        name=name,
        entities=[entity],
        ttl=timedelta(hours=ttl_hours),
        # our offline rows carry ``ingested_at``: Feast's tie-breaker for one entity and event time
        source=FileSource(
            path=source, timestamp_field="event_timestamp", created_timestamp_column="ingested_at"
        ),
        schema=[Field(name=f"f{i:02d}", dtype=Float64) for i in range(n_features)],
        online=True,
    )
    return entity, view


def pit(spec: dict[str, Any]) -> dict[str, Any]:
    import pandas as pd

    store = _store(Path(spec["work"]), {"type": "sqlite", "path": str(Path(spec["work"]) / "online.db")})
    entity, view = _view(spec["view"], spec["source"], spec["features"], spec["ttl_hours"])
    store.apply([entity, view])
    started = time.perf_counter()
    entity_df = pd.read_parquet(spec["entities"])
    job = store.get_historical_features(
        entity_df=entity_df, features=[f"{spec['view']}:f{i:02d}" for i in range(spec["features"])]
    )
    table = job.to_arrow()
    pq.write_table(table, spec["out"], compression="snappy")
    seconds = time.perf_counter() - started
    f00 = table.column("f00")
    return {
        "seconds": seconds,
        "rows": table.num_rows,
        "matched": len(f00) - f00.null_count,
        "peak_rss_bytes": _peak_rss(),
    }


def _peak_rss() -> int:
    """This process's high-water mark (``VmHWM``): sampling from outside can miss a short peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def online(spec: dict[str, Any]) -> dict[str, Any]:
    store = _store(
        Path(spec["work"]),
        {"type": "dynamodb", "region": spec["region"], "endpoint_url": spec["endpoint"]},
    )
    entity, view = _view(spec["view"], spec["source"], spec["features"], spec["ttl_hours"])
    store.apply([entity, view])
    emulator = spec.get("emulator_pid")
    cpu: dict[str, dict[str, float]] = {}
    before = _cpu(emulator)
    started = time.perf_counter()
    store.materialize(
        start_date=datetime.fromisoformat(spec["since"]),
        end_date=datetime.fromisoformat(spec["until"]),
        feature_views=[spec["view"]],
    )
    materialize_seconds = time.perf_counter() - started
    cpu["materialize"] = _cpu_since(before, emulator, 1)
    features = [f"{spec['view']}:f{i:02d}" for i in range(spec["features"])]
    timings: dict[str, list[float]] = {}
    for n in spec["batch_sizes"]:
        samples = []
        before = _cpu(emulator)
        for call in range(spec["reads"] + spec["warmup"]):
            first = (call * 137) % (spec["entities"] - n)
            rows = [{"entity_id": first + i} for i in range(n)]
            t0 = time.perf_counter()
            got = store.get_online_features(features=features, entity_rows=rows).to_dict()
            elapsed = time.perf_counter() - t0
            if any(v is None for v in got["f00"]):
                raise SystemExit(f"Feast found no features for some of entities {first}..{first + n - 1}")
            if call >= spec["warmup"]:
                samples.append(elapsed)
        timings[str(n)] = samples
        cpu[str(n)] = _cpu_since(before, emulator, spec["reads"] + spec["warmup"])
    sample = store.get_online_features(
        features=features, entity_rows=[{"entity_id": e} for e in spec["check_entities"]]
    ).to_dict()
    return {
        "materialize_seconds": materialize_seconds,
        "timings": timings,
        "cpu": cpu,
        "check": {
            str(e): [sample[f"f{i:02d}"][k] for i in range(spec["features"])]
            for k, e in enumerate(spec["check_entities"])
        },
    }


def _cpu(emulator_pid: int | None) -> tuple[float, float]:
    """CPU seconds of this process (all threads) and of the emulator's process."""
    return time.process_time(), process_cpu(emulator_pid) if emulator_pid else 0.0


def _cpu_since(before: tuple[float, float], emulator_pid: int | None, calls: int) -> dict[str, float]:
    """Per call: CPU seconds spent here (the client) and in the emulator since ``before``."""
    client, emulator = _cpu(emulator_pid)
    return {"client": (client - before[0]) / calls, "emulator": (emulator - before[1]) / calls}


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid``, from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    mode, argument = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps({"pit": pit, "online": online}[mode](argument)))
