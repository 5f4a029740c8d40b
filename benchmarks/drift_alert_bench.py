"""Drift alert latency: one drifted batch put on churn's stream until the drift alert is on a queue.

Target (issue 6): <= 5 s from a drifted batch landing on the stream to the SNS alert, under the
emulator. Each run starts a fresh `tenantml up --tenant churn` (a real process in a temporary
directory, as the e2e tests do; the lifecycle serves champion v1), subscribes an SQS queue to
churn's ``alerts`` topic (raw delivery), then puts ONE batch on the stream with PutRecords (two
calls when there are more than 500 records):
``--rows`` rows of the drifted sample dataset (``tenantml.sample_data.sample_frame(drifted=True)``)
as format-2 records made by the serving logger's own encoder (``encode_records``), ``K`` rows per
record, model version = the served champion's. The sample's labels stand in for predictions (a
prediction through the endpoint would log a second batch). The clock starts when PutRecords returns
and stops when the alert naming drift is received. A fresh `up` per measurement, because once the
drift alarm is in ALARM (and a retrain has started) a second batch would not alert again.

The breakdown is a timeline from the put, from what the platform recorded: the monitor
Lambda's log (process start, handler start after imports, end), the drift alarm's StateUpdate in
the alarm history, the alarm Lambda's log (written when that invocation ends, which includes the
retrain it starts: waited for up to ``--alarm-log-wait`` seconds), and the SQS SentTimestamp of
the alert.

    .venv/bin/python benchmarks/drift_alert_bench.py [--runs 2] [--rows-per-record 10,1] [--rows 600]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3

TARGET_S = 5.0
TENANT = "churn"
READY_TIMEOUT_S = 300
ALERT_TIMEOUT_S = 60


@dataclass
class Measurement:
    rows_per_record: int
    records: int
    alert_s: float
    #: stage name -> seconds after PutRecords returned (None: not recorded)
    timeline: dict[str, float | None] = field(default_factory=dict)


# --- tenantml up -------------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**env, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}


def start_up(workdir: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    log = (workdir / "up.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tenantml.cli",
            "up",
            "--tenants",
            str(ROOT / "tenants"),
            "--tenant",
            TENANT,
            "--out",
            "cdktf.out",
            "--emulator-port",
            "0",
        ],
        cwd=workdir,
        env=_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    up_file = workdir / ".tenantml" / "up.json"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not up_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"tenantml up was not ready:\n{(workdir / 'up.log').read_text()[-4000:]}")
        time.sleep(0.2)
    return process, json.loads(up_file.read_text())


def stop_up(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- one measurement ---------------------------------------------------------------------------------


def drifted_records(
    model_version: str, signature: list[dict[str, Any]], rows: int, per_record: int
) -> list[dict]:
    """PutRecords entries of ``rows`` drifted rows, ``per_record`` rows per record, as the server logs them."""
    import numpy as np

    from pipelines.data.features import FeatureSignature
    from pipelines.inference_log.logger import LogEntry, encode_records
    from pipelines.serving.schema import InputSchema
    from tenantml.sample_data import TARGET, sample_frame

    frame = sample_frame(drifted=True)
    frame = frame.sample(n=rows, replace=rows > len(frame), random_state=0).reset_index(drop=True)
    schema = InputSchema([FeatureSignature.model_validate(f) for f in signature])
    entries = []
    for start in range(0, rows, per_record):
        part = frame.iloc[start : start + per_record]
        entry = LogEntry(
            request_id=str(uuid.uuid4()),
            model_version=model_version,
            batch=schema.batch_from_frame(part),
            predictions=part[TARGET].to_numpy(dtype=np.int64),
            latency_ms=2.0,
            timestamp=time.time(),
        )
        encoded, dropped = encode_records(entry, schema)
        if dropped:
            raise RuntimeError(f"{dropped} row(s) did not fit in a record")
        entries += [{"Data": r.data, "PartitionKey": r.key} for r in encoded]
    return entries


def _client(summary: dict[str, Any], service: str) -> Any:
    return boto3.client(
        service,
        region_name=summary["tenants"][TENANT]["region"],
        endpoint_url=summary["emulator"]["endpoint"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _signature(summary: dict[str, Any]) -> list[dict[str, Any]]:
    import httpx

    url = summary["tenants"][TENANT]["endpoint"]["url"].rstrip("/") + "/openapi.json"
    return list(httpx.get(url, timeout=10).json()["x-model"]["input_signature"])


def _invocations(logs: Any, group: str) -> list[dict[str, float]]:
    """Per invocation of a function (JSON log format): spawn, start (after init) and end, epoch s."""
    found = []
    try:
        events = logs.filter_log_events(logGroupName=group)["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    starts: dict[str, float] = {}
    for event in events:
        try:
            line = json.loads(event["message"])
        except (ValueError, TypeError):
            continue
        if not isinstance(line, dict):
            continue
        record = line.get("record") or {}
        if line.get("type") == "platform.start":
            starts[record.get("requestId")] = event["timestamp"] / 1000
        elif line.get("type") == "platform.report" and record.get("requestId") in starts:
            start = starts[record["requestId"]]
            init = record.get("metrics", {}).get("initDurationMs", 0.0) / 1000
            found.append(
                {"spawn": start - init, "start": start, "end": event["timestamp"] / 1000, "init": init}
            )
    return found


def _first_after(invocations: list[dict[str, float]], moment: float) -> dict[str, float] | None:
    later = [i for i in invocations if i["spawn"] >= moment - 0.05]
    return min(later, key=lambda i: i["spawn"]) if later else None


def measure(summary: dict[str, Any], rows: int, per_record: int, alarm_log_wait: float) -> Measurement:
    tenant = summary["tenants"][TENANT]
    outputs = tenant["outputs"]
    sqs, sns, kinesis = _client(summary, "sqs"), _client(summary, "sns"), _client(summary, "kinesis")
    logs, cloudwatch = _client(summary, "logs"), _client(summary, "cloudwatch")

    url = sqs.create_queue(QueueName=f"bench-drift-alerts-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(
        TopicArn=outputs["alerts_topic_arn"],
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    records = drifted_records(str(tenant["endpoint"]["model_version"]), _signature(summary), rows, per_record)

    failed = 0
    for start in range(0, len(records), 500):  # PutRecords takes at most 500 records a call
        failed += kinesis.put_records(
            StreamName=outputs["stream_name"], Records=records[start : start + 500]
        ).get("FailedRecordCount", 0)
    put_at = time.time()
    clock = time.perf_counter()
    if failed:
        raise RuntimeError(f"PutRecords failed for {failed} record(s)")

    alert = None
    while alert is None:
        if time.perf_counter() - clock > ALERT_TIMEOUT_S:
            raise RuntimeError(f"no drift alert within {ALERT_TIMEOUT_S} s")
        for message in sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["SentTimestamp"], WaitTimeSeconds=0
        ).get("Messages", []):
            body = message["Body"]
            if "drift" in body.lower() and "is in ALARM" in body:
                alert = message
        if alert is None:
            time.sleep(0.02)
    alert_s = time.perf_counter() - clock

    timeline: dict[str, float | None] = {}
    monitor = _first_after(_invocations(logs, f"/aws/lambda/{outputs['monitor_function_name']}"), put_at)
    timeline["monitor process started"] = monitor["spawn"] - put_at if monitor else None
    timeline["monitor handler started"] = monitor["start"] - put_at if monitor else None
    timeline["monitor ended"] = monitor["end"] - put_at if monitor else None

    drift_alarm = next(
        a for a in cloudwatch.describe_alarms()["MetricAlarms"] if a["MetricName"] == "DriftScore"
    )
    history = cloudwatch.describe_alarm_history(
        AlarmName=drift_alarm["AlarmName"], HistoryItemType="StateUpdate"
    )
    updates = [
        h["Timestamp"].timestamp()
        for h in history["AlarmHistoryItems"]
        if '"ALARM"' in h["HistoryData"] or "to ALARM" in h["HistorySummary"]
    ]
    timeline["drift alarm -> ALARM"] = min(updates) - put_at if updates else None

    deadline = time.monotonic() + alarm_log_wait
    alarm = None
    while True:
        alarm = _first_after(
            _invocations(logs, f"/aws/lambda/{outputs['alarm_function_name']}"),
            (min(updates) if updates else put_at),
        )
        if alarm is not None or time.monotonic() >= deadline:
            break
        time.sleep(1)
    timeline["alarm process started"] = alarm["spawn"] - put_at if alarm else None
    timeline["alarm handler started"] = alarm["start"] - put_at if alarm else None
    timeline["alert published"] = int(alert["Attributes"]["SentTimestamp"]) / 1000 - put_at
    timeline["alert received"] = alert_s
    return Measurement(per_record, len(records), alert_s, timeline)


# --- report ------------------------------------------------------------------------------------------


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:6.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument(
        "--rows-per-record", default="10,1", help="comma-separated: one measurement each per run"
    )
    parser.add_argument(
        "--alarm-log-wait",
        type=float,
        default=120.0,
        help="seconds to wait for the alarm Lambda's log (it ends after the retrain); 0: skip",
    )
    args = parser.parse_args()
    shapes = [int(s) for s in args.rows_per_record.split(",") if s.strip()]

    results: list[tuple[int, Measurement]] = []
    for run in range(1, args.runs + 1):
        for per_record in shapes:
            with tempfile.TemporaryDirectory(prefix="tenantml-drift-bench-") as tmp:
                process, summary = start_up(Path(tmp))
                try:
                    m = measure(summary, args.rows, per_record, args.alarm_log_wait)
                finally:
                    stop_up(process)
            results.append((run, m))
            print(
                f"run {run}, {args.rows} rows as {m.records} records of {per_record}: alert after {m.alert_s:.2f} s",
                flush=True,
            )
            for stage, at in m.timeline.items():
                print(f"    {stage:<26} +{_fmt(at)} s", flush=True)

    print()
    print(f"{'run':>3} {'rows/record':>11} {'records':>7} {'put -> alert s':>14}")
    for run, m in results:
        print(f"{run:>3} {m.rows_per_record:>11} {m.records:>7} {m.alert_s:>14.2f}")
    worst = max(m.alert_s for _, m in results)
    ok = worst <= TARGET_S
    print(f"worst {worst:.2f} s (target <= {TARGET_S:.0f} s): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
