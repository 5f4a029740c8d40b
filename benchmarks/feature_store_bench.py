"""Our feature store side by side with Feast 0.67, on the same generated data and the same emulator.

Feast is installed (once, reused when it imports) into a throwaway virtual environment under
``<tempdir>/tenantml-bench-feast`` and runs in its own processes (``benchmarks/_feast_child.py``):
it pins libraries that do not fit ours. Three figures (issue 16, "Performance"):

* **point-in-time training set**: the data of ``feature_pit_bench.py`` (1,000,000 entity rows x
  100,000 feature rows x 20 features, one Parquet file per event date) read by both sides: ours
  (``feature_pit_bench.py --child``: what ``OfflineStore.training_set`` runs once the files are
  local) and Feast's ``get_historical_features`` with its file offline store, each writing the
  training set to Parquet. Wall time and peak resident memory of each process tree are measured
  from outside (``/proc``, every 50 ms), so interpreter start and imports count on both sides.
  Feast is stopped after ``--feast-timeout`` seconds or above ``--feast-memory-cap-gib``: that
  is then its result, and the ratios are bounds. Target: >= 10x faster at <= 1/4 of the memory.
* **materialization**: 10,000 entities x 50 features, one row each, into the emulator's DynamoDB.
  Ours: ``OfflineStore.latest_rows`` (the files fetched from the emulator's S3 first, inside the
  timing) and ``write_latest``; Feast: ``materialize`` over the same Parquet directory. Rows per
  second. Target: >= 3x Feast's.
* **online lookup**: ``OnlineStore.get`` against Feast's ``get_online_features`` (its DynamoDB
  online store pointed at the emulator), 1 and 100 entities x 50 features, p50/p99 after 20
  warm-up calls. Target: our p99 <= 1/3 of Feast's.

The emulator runs in a process of its own so that neither client shares a GIL with moto, and a
last table splits the CPU time of each online phase between the client and the emulator (read
from ``/proc``): on the emulator, moto's own work dominates both sides. Both
sides must agree: the number of entity rows with features and their sum of ``f00`` (PIT), and
the values read back for three entities (online); a disagreement is printed and fails the run.

    .venv/bin/python benchmarks/feature_store_bench.py [--quick] [--no-feast]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

FEAST_VENV = Path(tempfile.gettempdir()) / "tenantml-bench-feast"
FEAST_REQUIREMENT = "feast[aws]==0.67.0"
FEAST_CHILD = ROOT / "benchmarks" / "_feast_child.py"
REGION = "eu-west-1"
BUCKET = "tenantml-bench-data"
TABLE = "tenantml-bench-dev-features"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
}
WARMUP = 20
BATCH_SIZES = (1, 100)
PIT_SPEEDUP_TARGET = 10.0
PIT_MEMORY_TARGET = 0.25
ONLINE_P99_TARGET = 1 / 3
MATERIALIZE_TARGET = 3.0


# --- Feast's environment -------------------------------------------------------------------------


def ensure_feast() -> Path | None:
    """The Feast venv's python (made on first use); None when it cannot be made."""
    python = FEAST_VENV / "bin" / "python"
    if python.exists() and _imports_feast(python):
        return python
    print(f"  installing {FEAST_REQUIREMENT} into {FEAST_VENV} (one-off, a few minutes)...", flush=True)
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", str(FEAST_VENV)], check=True, capture_output=True, timeout=300
        )
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", FEAST_REQUIREMENT],
            check=True,
            capture_output=True,
            timeout=1800,
        )
    except (subprocess.SubprocessError, OSError) as err:
        detail = getattr(err, "stderr", b"") or b""
        print(f"  Feast skipped: could not install it ({err}; {detail.decode(errors='replace')[-300:]})")
        return None
    return python if _imports_feast(python) else None


def _imports_feast(python: Path) -> bool:
    probe = [str(python), "-c", "import feast.infra.online_stores.dynamodb"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


# --- measuring a process tree from outside -------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """A child's wall time and the peak resident memory of its process tree; ``failure`` says why
    it was stopped or failed (then ``report`` is None and the numbers are lower bounds)."""

    seconds: float
    #: user + system time of the tree: on a busy shared machine this moves less than the wall time
    cpu_seconds: float
    peak_bytes: int
    report: dict[str, Any] | None
    failure: str | None = None


def measure(
    command: list[str], env: dict[str, str], log: Path, *, timeout: float, memory_cap_bytes: int | None = None
) -> Measured:
    from synth_bench import _tree_rss_kib

    out = log.with_suffix(".out")
    cpu_before = _children_cpu()
    with out.open("wb") as stdout, log.open("wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=stdout, stderr=stderr, start_new_session=True
        )
        peak, failure = 0, None
        while process.poll() is None:
            peak = max(peak, _tree_rss_kib(process.pid) * 1024)
            elapsed = time.perf_counter() - started
            if elapsed > timeout:
                failure = f"did not finish in {timeout:.0f} s"
            elif memory_cap_bytes is not None and peak > memory_cap_bytes:
                failure = f"stopped above {memory_cap_bytes / 2**30:.0f} GiB"
            if failure:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - started
    cpu_seconds = _children_cpu() - cpu_before
    if failure is None and process.returncode != 0:
        failure = f"exit {process.returncode}: {log.read_text(errors='replace').strip()[-600:]}"
    lines = out.read_text(errors="replace").strip().splitlines()
    report = json.loads(lines[-1]) if failure is None and lines else None
    if report is not None:
        peak = max(peak, report.get("peak_rss_bytes", 0))
    return Measured(seconds=seconds, cpu_seconds=cpu_seconds, peak_bytes=peak, report=report, failure=failure)


def _children_cpu() -> float:
    """CPU time of this process's finished and waited-for children (and theirs): children run one
    at a time, so the difference around one is its tree's."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- the emulator, in a process of its own --------------------------------------------------------


def serve_emulator() -> None:
    """``--serve-emulator``: start the emulator, print its endpoint, run until stdin closes."""
    from tenantml.emulator import server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    emulator = server.start(0, enforce_iam=False)
    print(emulator.endpoint, flush=True)
    # nobody reads this pipe after the endpoint: a chatty server must not block on a full one
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    try:
        sys.stdin.read()
    finally:
        emulator.stop()


class EmulatorProcess:
    """``with EmulatorProcess() as emulator:`` the emulator in a child (``.endpoint``, ``.pid``)."""

    endpoint: str
    pid: int

    def __enter__(self) -> Self:
        env = {**os.environ, **FAKE_CREDENTIALS, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve-emulator"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        self.endpoint = self.process.stdout.readline().strip()
        self.pid = self.process.pid
        if not self.endpoint.startswith("http"):
            self.__exit__()
            raise RuntimeError(f"the emulator did not start (it printed {self.endpoint!r})")
        return self

    def __exit__(self, *_: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- figure 1: the point-in-time training set -----------------------------------------------------


@dataclass(frozen=True)
class PitResult:
    ours: Measured
    feast: Measured | None
    ours_matched: int
    ours_sum: float
    feast_sum: float | None


def run_pit(root: Path, args: argparse.Namespace, feast: Path | None) -> PitResult:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from feature_pit_bench import N_FEATURES, VIEW, generate

    started = time.perf_counter()
    store, entities = generate(root, args.entity_rows, args.feature_rows)
    print(
        f"generated {args.entity_rows:,} entity rows x {args.feature_rows:,} feature rows x {N_FEATURES} "
        f"features in {time.perf_counter() - started:.1f} s (not timed)",
        flush=True,
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ours_out = root / "ours.parquet"
    ours_command = [sys.executable, str(ROOT / "benchmarks" / "feature_pit_bench.py"), "--memory-limit",
                    args.memory_limit, "--child", str(store), str(entities), str(ours_out)]  # fmt: skip
    ours = measure(ours_command, env, root / "ours.log", timeout=args.feast_timeout)
    if ours.failure:
        raise SystemExit(f"our training set failed: {ours.failure}")
    f00 = pq.read_table(ours_out, columns=["f00"]).column("f00")
    ours_sum = pc.sum(f00).as_py() or 0.0
    print(f"  ours: {ours.seconds:.2f} s, {ours.peak_bytes / 2**30:.2f} GiB", flush=True)
    if feast is None:
        return PitResult(ours, None, len(f00) - f00.null_count, ours_sum, None)
    feast_out = root / "feast.parquet"
    spec = {
        "work": str(root / "feast-repo"),
        "view": VIEW.name,
        "source": str(store / "feature-store" / VIEW.name),
        "features": N_FEATURES,
        "ttl_hours": VIEW.ttl_hours,
        "entities": str(entities),
        "out": str(feast_out),
    }
    print(f"  Feast get_historical_features (stopped after {args.feast_timeout:.0f} s)...", flush=True)
    theirs = measure(
        [str(feast), str(FEAST_CHILD), "pit", json.dumps(spec)],
        {**os.environ, **FAKE_CREDENTIALS},
        root / "feast-pit.log",
        timeout=args.feast_timeout,
        memory_cap_bytes=int(args.feast_memory_cap_gib * 2**30),
    )
    feast_sum = None
    if theirs.report is not None:
        feast_sum = pc.sum(pq.read_table(feast_out, columns=["f00"]).column("f00")).as_py() or 0.0
    return PitResult(ours, theirs, len(f00) - f00.null_count, ours_sum, feast_sum)


# --- figures 2 and 3: materialization and online lookups ------------------------------------------


@dataclass(frozen=True)
class OnlineResult:
    rows: int
    ours_materialize_seconds: float
    ours_timings: dict[int, list[float]]
    ours_check: dict[int, list[float]]
    #: per phase ("materialize", "1", "100"): CPU seconds per call of the client and the emulator
    ours_cpu: dict[str, dict[str, float]]
    feast: dict[str, Any] | None
    feast_failure: str | None


def write_online_source(root: Path, entities: int, now: datetime) -> Path:
    """The online view's rows (one per entity, in the last hour) in the offline store's layout."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from feature_online_bench import make_rows, make_view

    from core.feature_layout import offline_key

    view = make_view()
    rows = make_rows(entities, now - timedelta(hours=1))
    rows = rows.append_column("ingested_at", pa.array([now] * entities, pa.timestamp("us", tz="UTC")))
    dates = pc.strftime(rows["event_timestamp"], format="%Y-%m-%d")
    for day in sorted(set(dates.to_pylist())):
        path = root / offline_key(view.name, day, "bench")
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(rows.filter(pc.equal(dates, day)), path, compression="zstd")
    return root / "feature-store" / view.name


def run_online(root: Path, args: argparse.Namespace, feast: Path | None) -> OnlineResult:
    import boto3
    from feature_online_bench import N_FEATURES, make_view

    from pipelines.features.materialize import write_latest
    from pipelines.features.offline import OfflineStore
    from pipelines.features.online import OnlineStore

    os.environ.update(FAKE_CREDENTIALS)
    view = make_view()
    now = datetime.now(UTC).replace(microsecond=0)
    since, until = now - timedelta(days=2), now
    store = root / "online-store"
    source = write_online_source(store, args.online_entities, now)
    check_entities = [0, 7, args.online_entities - 1]
    with EmulatorProcess() as emulator:
        endpoint = emulator.endpoint
        s3 = boto3.client("s3", region_name=REGION, endpoint_url=endpoint)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        for path in store.rglob("*.parquet"):
            s3.upload_file(str(path), BUCKET, path.relative_to(store).as_posix())
        dynamodb = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
        dynamodb.create_table(
            TableName=TABLE,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        online = OnlineStore(dynamodb, TABLE)
        ours_cpu: dict[str, dict[str, float]] = {}
        before = _cpu(emulator.pid)
        started = time.perf_counter()
        with OfflineStore(s3, BUCKET, cache_dir=root / "offline-cache") as offline:
            latest = offline.latest_rows(view, since=since, until=until)
            result = write_latest(online, view, latest, until=until, now=now)
        materialize_seconds = time.perf_counter() - started
        ours_cpu["materialize"] = _cpu_since(before, emulator.pid, 1)
        if result.written != args.online_entities:
            raise SystemExit(f"ours materialized {result.written} of {args.online_entities} rows")
        print(f"  ours: materialized {result.written:,} rows in {materialize_seconds:.2f} s", flush=True)
        timings = {}
        for n in BATCH_SIZES:
            before = _cpu(emulator.pid)
            timings[n] = _time_ours(online, view, n, args)
            ours_cpu[str(n)] = _cpu_since(before, emulator.pid, args.reads + WARMUP)
        got = online.get(view, [{"entity_id": e} for e in check_entities])
        ours_check = {
            e: [row[f"f{i:02d}"] for i in range(N_FEATURES)]
            for e, row in zip(check_entities, got, strict=True)
            if row
        }
        if feast is None:
            return OnlineResult(
                args.online_entities, materialize_seconds, timings, ours_check, ours_cpu, None, None
            )
        spec = {
            "work": str(root / "feast-online-repo"),
            "view": view.name,
            "source": str(source),
            "features": N_FEATURES,
            "ttl_hours": view.ttl_hours,
            "region": REGION,
            "endpoint": endpoint,
            "since": since.isoformat(),
            "until": until.isoformat(),
            "entities": args.online_entities,
            "batch_sizes": list(BATCH_SIZES),
            "reads": args.reads,
            "warmup": WARMUP,
            "check_entities": check_entities,
            "emulator_pid": emulator.pid,
        }
        print("  Feast materialize and get_online_features...", flush=True)
        theirs = measure(
            [str(feast), str(FEAST_CHILD), "online", json.dumps(spec)],
            {**os.environ, **FAKE_CREDENTIALS},
            root / "feast-online.log",
            timeout=args.feast_timeout,
        )
    return OnlineResult(
        args.online_entities,
        materialize_seconds,
        timings,
        ours_check,
        ours_cpu,
        theirs.report,
        theirs.failure,
    )


def _cpu(emulator_pid: int) -> tuple[float, float]:
    """CPU seconds of this process (all threads) and of the emulator's process."""
    return time.process_time(), process_cpu(emulator_pid)


def _cpu_since(before: tuple[float, float], emulator_pid: int, calls: int) -> dict[str, float]:
    """Per call: CPU seconds spent here (the client) and in the emulator since ``before``."""
    client, emulator = _cpu(emulator_pid)
    return {"client": (client - before[0]) / calls, "emulator": (emulator - before[1]) / calls}


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid``, from ``/proc/<pid>/stat`` (as ``_feast_child.py`` reads it)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _time_ours(online: Any, view: Any, n: int, args: argparse.Namespace) -> list[float]:
    samples = []
    for call in range(args.reads + WARMUP):
        first = (call * 137) % (args.online_entities - n)
        entities = [{"entity_id": first + i} for i in range(n)]
        t0 = time.perf_counter()
        got = online.get(view, entities)
        elapsed = time.perf_counter() - t0
        if any(row is None for row in got):
            raise SystemExit(
                f"our online store found no features for some of entities {first}..{first + n - 1}"
            )
        if call >= WARMUP:
            samples.append(elapsed)
    return samples


# --- the report ----------------------------------------------------------------------------------


def p50_p99_ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[
        min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))
    ] * 1000


def _verdict(ok: bool | None) -> str:
    return "not compared" if ok is None else ("met" if ok else "MISSED")


def report_pit(result: PitResult, args: argparse.Namespace) -> list[bool | None]:
    from rich.table import Table

    ours, feast = result.ours, result.feast
    table = Table(
        title=f"point-in-time training set: {args.entity_rows:,} entity rows x {args.feature_rows:,} feature rows x 20 features"
    )
    for column in ("", "ours", "Feast (file offline store)", "ratio", "target", ""):
        table.add_column(column)
    inner = ours.report["seconds"] if ours.report else math.nan
    if feast is None:
        table.add_row("wall (process)", f"{ours.seconds:.2f} s", "-", "-", ">= 10x faster", _verdict(None))
        table.add_row("CPU, user + system", f"{ours.cpu_seconds:.2f} s", "-", "-", "", "")
        table.add_row("peak RSS (tree)", _gib(ours.peak_bytes), "-", "-", "<= 1/4", _verdict(None))
        table.add_row("rows with features", f"{result.ours_matched:,}", "-", "", "", "")
        _print(table)
        return [None, None]
    bound = ">" if feast.failure else ""
    speedup = feast.seconds / ours.seconds
    memory = ours.peak_bytes / feast.peak_bytes
    # a Feast run that was stopped counts as its result: its time and memory are lower bounds
    speed_ok = speedup >= PIT_SPEEDUP_TARGET
    memory_ok = memory <= PIT_MEMORY_TARGET
    feast_inner = f" (join {feast.report['seconds']:.2f} s)" if feast.report else f" ({feast.failure})"
    table.add_row("wall (process)", f"{ours.seconds:.2f} s (join {inner:.2f} s)", f"{bound}{feast.seconds:.2f} s{feast_inner}",
                  f"{bound}{speedup:.1f}x faster", ">= 10x faster", _verdict(speed_ok))  # fmt: skip
    table.add_row("CPU, user + system", f"{ours.cpu_seconds:.2f} s", f"{bound}{feast.cpu_seconds:.2f} s",
                  f"{bound}{feast.cpu_seconds / ours.cpu_seconds:.1f}x less", "(for reference)", "")  # fmt: skip
    table.add_row("peak RSS (tree)", _gib(ours.peak_bytes), f"{bound}{_gib(feast.peak_bytes)}",
                  f"{'<' if bound else ''}{memory:.3f}", "<= 0.25", _verdict(memory_ok))  # fmt: skip
    agree: bool | None = None
    if feast.report is not None:
        agree = feast.report["matched"] == result.ours_matched and math.isclose(
            result.feast_sum or 0.0, result.ours_sum, rel_tol=1e-9, abs_tol=1e-6
        )
        table.add_row(
            "rows out / with features",
            f"{args.entity_rows:,} / {result.ours_matched:,}",
            f"{feast.report['rows']:,} / {feast.report['matched']:,}",
            "",
            "same features",
            "agree" if agree else "DISAGREE",
        )
    _print(table)
    if feast.report is not None and feast.report["rows"] != args.entity_rows:
        print(
            f"  note: Feast returned {feast.report['rows']:,} of {args.entity_rows:,} entity rows (it drops some rows without features)"
        )
    return [speed_ok, memory_ok] + ([] if agree is None else [agree])


def report_online(result: OnlineResult, args: argparse.Namespace) -> list[bool | None]:
    from rich.table import Table

    feast = result.feast
    verdicts: list[bool | None] = []
    table = Table(
        title=f"materialization into the emulator's DynamoDB: {result.rows:,} entities x 50 features"
    )
    for column in ("", "ours", "Feast (materialize)", "ratio", "target", ""):
        table.add_column(column)
    ours_rate = result.rows / result.ours_materialize_seconds
    if feast is None:
        table.add_row(
            "rows/s",
            f"{ours_rate:,.0f} ({result.ours_materialize_seconds:.2f} s)",
            result.feast_failure or "-",
            "-",
            ">= 3x",
            _verdict(None),
        )
        verdicts.append(None)
    else:
        feast_rate = result.rows / feast["materialize_seconds"]
        ok = ours_rate / feast_rate >= MATERIALIZE_TARGET
        table.add_row("rows/s", f"{ours_rate:,.0f} ({result.ours_materialize_seconds:.2f} s)",
                      f"{feast_rate:,.0f} ({feast['materialize_seconds']:.2f} s)", f"{ours_rate / feast_rate:.1f}x",
                      ">= 3x", _verdict(ok))  # fmt: skip
        verdicts.append(ok)
    _print(table)
    table = Table(
        title=f"online lookup, {args.reads} calls after {WARMUP} warm-up calls, emulator's DynamoDB"
    )
    for column in ("", "ours p50 / p99", "Feast p50 / p99", "p99 ratio", "target", ""):
        table.add_column(column)
    for n in BATCH_SIZES:
        p50, p99 = p50_p99_ms(result.ours_timings[n])
        label = f"{n} entit{'y' if n == 1 else 'ies'} x 50 features"
        if feast is None:
            table.add_row(label, f"{p50:.2f} / {p99:.2f} ms", "-", "-", "<= 1/3", _verdict(None))
            verdicts.append(None)
            continue
        f50, f99 = p50_p99_ms(feast["timings"][str(n)])
        ok = p99 / f99 <= ONLINE_P99_TARGET
        table.add_row(
            label,
            f"{p50:.2f} / {p99:.2f} ms",
            f"{f50:.2f} / {f99:.2f} ms",
            f"{p99 / f99:.2f}",
            "<= 0.33",
            _verdict(ok),
        )
        verdicts.append(ok)
    _print(table)
    table = Table(title="where the time goes: CPU per call, client / emulator (moto, /proc)")
    for column in ("", "ours", "Feast"):
        table.add_column(column)
    for phase, label in (
        ("materialize", "materialization (whole run)"),
        *((str(n), f"lookup of {n}") for n in BATCH_SIZES),
    ):
        theirs = feast["cpu"][phase] if feast is not None and "cpu" in feast else None
        table.add_row(label, _cpu_text(result.ours_cpu[phase]), "-" if theirs is None else _cpu_text(theirs))
    _print(table)
    if feast is not None:
        same = all(
            math.isclose(a, b, rel_tol=1e-9)
            for e, values in result.ours_check.items()
            for a, b in zip(values, feast["check"][str(e)], strict=True)
        ) and len(result.ours_check) == len(feast["check"])
        print(
            f"  values read back for entities {', '.join(feast['check'])}: {'the same on both sides' if same else 'DIFFERENT'}"
        )
        verdicts.append(same)
    return verdicts


def _cpu_text(cpu: dict[str, float]) -> str:
    return f"{cpu['client'] * 1000:,.1f} / {cpu['emulator'] * 1000:,.1f} ms"


def _gib(size: int) -> str:
    return f"{size / 2**30:.2f} GiB"


def _print(table: Any) -> None:
    from rich.console import Console

    Console(width=160).print(table)


# --- main ----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="a small smoke run (20,000 x 2,000; 500 entities online)"
    )
    parser.add_argument("--no-feast", action="store_true", help="ours only, nothing compared")
    parser.add_argument("--entity-rows", type=int, default=1_000_000)
    parser.add_argument("--feature-rows", type=int, default=100_000)
    parser.add_argument("--online-entities", type=int, default=10_000, help="rows materialized")
    parser.add_argument("--reads", type=int, default=100, help="timed lookups per batch size")
    parser.add_argument(
        "--memory-limit", default="2GB", help="our DuckDB's memory limit (it spills beyond it)"
    )
    parser.add_argument(
        "--feast-timeout", type=float, default=600.0, help="seconds before a Feast run is stopped"
    )
    parser.add_argument(
        "--feast-memory-cap-gib", type=float, default=12.0, help="Feast's process tree is stopped above this"
    )
    parser.add_argument("--serve-emulator", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_emulator:
        serve_emulator()
        return 0
    if args.quick:
        args.entity_rows, args.feature_rows, args.online_entities, args.reads = 20_000, 2_000, 500, 30
    load = os.getloadavg()
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True
    )
    feast = None if args.no_feast else ensure_feast()
    if not args.no_feast and feast is None:
        print("Feast is not available: only ours is measured")
    verdicts: list[bool | None] = []
    with tempfile.TemporaryDirectory(prefix="feature-store-bench-") as directory:
        root = Path(directory)
        print("\n== point-in-time training set ==", flush=True)
        verdicts += report_pit(run_pit(root / "pit", args, feast), args)
        print("\n== materialization and online lookups ==", flush=True)
        verdicts += report_online(run_online(root / "online", args, feast), args)
    load = os.getloadavg()
    print(f"\nload average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if any(v is None for v in verdicts):
        print("targets not checked (no Feast run to compare with)")
        return 0
    if all(verdicts):
        print("targets met")
        return 0
    print("TARGETS MISSED")
    return 1


if __name__ == "__main__":
    sys.exit(main())
