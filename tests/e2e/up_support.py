"""Starting and stopping a real `tenantml up` process, found through its .tenantml/up.json.

A module of its own, not conftest.py: `from conftest import` finds whichever conftest was imported
first under that name (tests/functional/serving's, when functional is collected before e2e)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 240


@dataclass
class UpProcess:
    process: subprocess.Popen
    workdir: Path
    summary: dict

    @property
    def endpoint(self) -> str:
        return self.summary["emulator"]["endpoint"]

    def outputs(self, tenant: str) -> dict:
        return self.summary["tenants"][tenant]["outputs"]

    def client(self, service: str, region: str):
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [sys.executable, "-m", "tenantml.cli", *args],
            cwd=self.workdir,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"tenantml {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
            )
        return proc


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**env, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}


def start_up(workdir: Path, *extra: str) -> UpProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tenantml.cli",
            "up",
            "--tenants",
            str(ROOT / "tenants"),
            "--out",
            "cdktf.out",
            "--emulator-port",
            "0",
            *extra,
        ],
        cwd=workdir,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    up_file = workdir / ".tenantml" / "up.json"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not up_file.exists():
        if process.poll() is not None:
            raise AssertionError(
                f"tenantml up exited {process.returncode} before it was ready:\n{process.stdout.read()}"
            )
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(
                f"tenantml up was not ready after {READY_TIMEOUT_S} s:\n{process.stdout.read()}"
            )
        time.sleep(0.2)
    return UpProcess(process, workdir, json.loads(up_file.read_text()))


def stop_up(up: UpProcess, sig: int = signal.SIGTERM) -> tuple[int, str]:
    up.process.send_signal(sig)
    output, _ = up.process.communicate(timeout=120)
    return up.process.returncode, output
