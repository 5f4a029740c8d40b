"""The alarm Lambda's context: read and validated before any alert, without the run machinery."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import TenantResourcesError
from core.spec import ModelSpec
from pipelines.monitoring.alarm_actions import AlarmClients, AlarmContext

ROOT = Path(__file__).resolve().parents[3]
SPEC = ModelSpec(
    name="churn", problem="classification", target="target", primary_metric="roc_auc", minimum_metric=0.9
)
ENVIRON = {
    "TENANTML_TENANT": "churn",
    "TENANTML_DATA_BUCKET": "tenantml-churn-dev-data",
    "TENANTML_ARTIFACTS_BUCKET": "tenantml-churn-dev-artifacts",
    "TENANTML_MODELS_BUCKET": "tenantml-churn-dev-models",
    "TENANTML_ALERTS_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:tenantml-churn-dev-alerts",
    "TENANTML_MODEL_PACKAGE_GROUP": "tenantml-churn-dev-churn",
    "TENANTML_TRAINING_ROLE_ARN": "arn:aws:iam::123456789012:role/training",
    "TENANTML_KMS_KEY_ARN": "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000",
    "TENANTML_MODEL_SPEC": SPEC.model_dump_json(),
    "TENANTML_MONITORING_SPEC": json.dumps({"retrain_cooldown_minutes": 15}),
    "AWS_REGION": "eu-west-1",
}


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)


def test_given_the_stacks_environment_when_read_then_spec_cooldown_and_clients_and_default_run_settings():
    # when
    context = AlarmContext.from_env(ENVIRON)

    # then
    assert context.spec == SPEC
    assert context.cooldown_minutes == 15
    assert isinstance(context.clients, AlarmClients)
    assert context.clients.s3.meta.region_name == "eu-west-1"
    assert (
        context.config is None
    )  # run_pipeline's defaults, as pipeline_config_from_env gives for no variables


def test_given_pipeline_settings_when_read_then_they_are_validated_before_anything_happens():
    # given
    environ = {**ENVIRON, "TENANTML_MAX_BYTES": "not a number"}

    # when / then
    with pytest.raises(TenantResourcesError) as raised:
        AlarmContext.from_env(environ)
    assert "max_bytes" in str(raised.value)

    # and a valid one is kept for the retrain
    assert AlarmContext.from_env({**ENVIRON, "TENANTML_MAX_BYTES": "1234"}).config.max_bytes == 1234


@pytest.mark.parametrize(
    ("value", "named"),
    [
        (None, "TENANTML_MODEL_SPEC"),
        (json.dumps({"name": "churn", "problem": "clustering"}), "TENANTML_MODEL_SPEC: problem"),
    ],
)
def test_given_a_missing_or_bad_model_spec_when_read_then_the_error_names_the_variable_and_field(
    value, named
):
    environ = {k: v for k, v in ENVIRON.items() if k != "TENANTML_MODEL_SPEC"}
    if value is not None:
        environ["TENANTML_MODEL_SPEC"] = value

    with pytest.raises(TenantResourcesError) as raised:
        AlarmContext.from_env(environ)
    assert named in str(raised.value)


def test_given_a_cold_alarm_lambda_when_the_context_and_alert_modules_load_then_no_training_or_plotting_library_is_imported():
    # the alert waits for every import before it: scikit-learn, optuna and matplotlib cost seconds
    code = (
        "import json, os, sys\n"
        "from pipelines.monitoring.alarm_actions import AlarmContext, handle_alarm_notifications\n"
        "import pipelines.monitoring.alerts, pipelines.monitoring.report, pipelines.runs.retraining, pipelines.registry.factory\n"
        # what request_retrain reads (the newest succeeded run) before its alert goes out
        "import pipelines.runs.records\n"
        "AlarmContext.from_env(json.loads(os.environ['CONTEXT_ENV']))\n"
        "print(json.dumps(sorted({m.split('.')[0] if not m.startswith('pipelines.') else m for m in sys.modules})))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CONTEXT_ENV": json.dumps(ENVIRON)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    loaded = set(json.loads(proc.stdout))
    assert not loaded & {
        "pipelines.runs.pipeline",
        "pipelines.training.train",
        "sklearn",
        "optuna",
        "pandera",
        "matplotlib",
    }, loaded
    # NoSnapshotsError and the snapshot folder come from tenantml, not from the monitor's modules,
    # whose scipy and pandas cost a cold alarm Lambda about 0.9 s before its alert
    assert not loaded & {
        "pipelines.monitoring.monitor",
        "pipelines.monitoring.baseline",
        "pipelines.monitoring.drift",
        "scipy",
        "pandas",
        "jinja2",
    }, loaded
    assert "pipelines.monitoring.report" in loaded  # the check saw the modules it is about
