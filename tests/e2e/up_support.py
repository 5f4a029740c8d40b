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

from tenantml.emulator.session import EMULATOR_ACCOUNT_ID, admin_credentials

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 480
#: the e2e suite runs with IAM enforced, as `up` does by default (whatever the caller's environment says)
IAM_ENV = {"TENANTML_EMULATOR_IAM": "enforce"}


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

    def account(self, tenant: str) -> str:
        """The tenant's account, read from its outputs' ARNs (the emulator's when none names one)."""
        for value in self.outputs(tenant).values():
            parts = value.split(":") if isinstance(value, str) and value.startswith("arn:") else []
            if len(parts) > 4 and parts[4].isdigit():
                return parts[4]
        return EMULATOR_ACCOUNT_ID

    def client(self, service: str, region: str, *, tenant: str | None = None):
        """A client signing as the administrator of ``tenant``'s account (IAM is enforced).

        Without ``tenant``, the tenant in ``region`` (the example tenants have one region each).
        """
        if tenant is None:
            here = [name for name, entry in self.summary["tenants"].items() if entry.get("region") == region]
            tenant = here[0] if len(here) == 1 else None
        keys = admin_credentials(self.account(tenant) if tenant else None)
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
        )

    def role_client(self, service: str, tenant: str, role: str):
        """A client signing as ``tenant``'s ``role`` role, with credentials from the emulator's STS."""
        region = self.summary["tenants"][tenant]["region"]
        sts = self.client("sts", region, tenant=tenant)
        credentials = sts.assume_role(
            RoleArn=self.outputs(tenant)[f"{role}_role_arn"], RoleSessionName=f"e2e-{tenant}-{role}"
        )["Credentials"]
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.endpoint,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
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
    return {**env, **IAM_ENV, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}


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
