"""Fake AWS credentials for moto-backed tests: nothing from the machine's AWS config, and no
emulator endpoint a developer exported, reaches a test."""

from __future__ import annotations

import os

import pytest


def use_fake_aws_credentials(monkeypatch: pytest.MonkeyPatch, region: str, **extra: str) -> None:
    """Set fake credentials and ``region`` (plus ``extra`` variables), and unset profiles and every
    ``AWS_ENDPOINT_URL*`` override, for the duration of the test."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        **extra,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ["AWS_PROFILE", *(n for n in os.environ if n.startswith("AWS_ENDPOINT_URL"))]:
        monkeypatch.delenv(name, raising=False)
