"""The names and ARNs of a tenant's platform that a pipeline run needs.

Stacks and pipelines meet only through the stack's outputs (DESIGN.md): a deployed stack exposes
them as Terraform outputs (``terraform output -json``), the emulator writes the same names, and
the stack hands the same values to its Lambda functions as ``TENANTML_*`` environment variables.
:class:`TenantResources` reads either shape and names every missing or unresolved value at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from core.errors import Problem, TenantResourcesError

#: field -> (stack output name, Lambda environment variable); ``None``: that source does not carry it
_REQUIRED: dict[str, tuple[str, str]] = {
    "data_bucket": ("data_bucket_name", "TENANTML_DATA_BUCKET"),
    "artifacts_bucket": ("artifacts_bucket_name", "TENANTML_ARTIFACTS_BUCKET"),
    "models_bucket": ("models_bucket_name", "TENANTML_MODELS_BUCKET"),
    "alerts_topic_arn": ("alerts_topic_arn", "TENANTML_ALERTS_TOPIC_ARN"),
    "model_package_group": ("model_package_group_name", "TENANTML_MODEL_PACKAGE_GROUP"),
    "training_role_arn": ("training_role_arn", "TENANTML_TRAINING_ROLE_ARN"),
    "kms_key_arn": ("kms_key_arn", "TENANTML_KMS_KEY_ARN"),
}
_OPTIONAL: dict[str, tuple[str | None, str | None]] = {
    "stream_name": ("stream_name", "TENANTML_STREAM_NAME"),
    "tenant": (None, "TENANTML_TENANT"),
    "region": (None, "AWS_REGION"),
    "serving_image_uri": ("serving_image_uri", "TENANTML_SERVING_IMAGE_URI"),
    "training_image_uri": ("training_image_uri", "TENANTML_TRAINING_IMAGE_URI"),
    # the feature store's online table (tenants with feature views)
    "features_table": ("features_table_name", "TENANTML_FEATURES_TABLE"),
    # and its registry: a Glue table per view holding the view's spec
    "features_database": ("features_glue_database", "TENANTML_FEATURES_DATABASE"),
    # what `tenantml train` and `models reproduce` start an execution of; no function is given it
    "pipeline_state_machine_arn": ("pipeline_state_machine_arn", None),
}
#: an interpolation left in a value: the synthesized JSON was passed instead of a deployed stack's outputs
_UNRESOLVED = re.compile(r"\$\{[^}]*\}")


class TenantResources(BaseModel):
    """Everything a run touches in one tenant's platform, by physical name or ARN."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_bucket: str
    artifacts_bucket: str
    models_bucket: str
    alerts_topic_arn: str
    model_package_group: str
    training_role_arn: str
    kms_key_arn: str
    stream_name: str | None = None
    tenant: str | None = None
    region: str | None = None
    serving_image_uri: str | None = None
    training_image_uri: str | None = None
    pipeline_state_machine_arn: str | None = None
    features_table: str | None = None
    features_database: str | None = None

    @classmethod
    def from_outputs(
        cls,
        outputs: Mapping[str, Any],
        *,
        tenant: str | None = None,
        region: str | None = None,
        source: str = "stack outputs",
    ) -> TenantResources:
        """From stack outputs, either ``{"name": "value"}`` or ``terraform output -json``'s
        ``{"name": {"value": ..., "type": ..., "sensitive": ...}}``.

        Raises :class:`TenantResourcesError` naming every missing output and every value that is
        still an unresolved ``${...}`` reference.
        """
        flat = {name: _output_value(value) for name, value in outputs.items()}
        values: dict[str, Any] = {"tenant": tenant, "region": region}
        problems: list[Problem] = []
        for field, (output, _) in _REQUIRED.items():
            values[field] = _take(flat, output, source, problems, required=True)
        for field, (output, _) in _OPTIONAL.items():
            if output is not None:
                values[field] = _take(flat, output, source, problems, required=False)
        if problems:
            raise TenantResourcesError(problems, headline=_headline(source, "outputs"))
        return cls(**values)

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, source: str = "environment") -> TenantResources:
        """From the variables the stack sets on its Lambda functions (``TENANTML_DATA_BUCKET``, ...)."""
        values: dict[str, Any] = {}
        problems: list[Problem] = []
        for field, (_, variable) in _REQUIRED.items():
            values[field] = _take(environ, variable, source, problems, required=True)
        for field, (_, variable) in _OPTIONAL.items():
            if variable is not None:
                values[field] = _take(environ, variable, source, problems, required=False)
        if problems:
            raise TenantResourcesError(problems, headline=_headline(source, "variables"))
        return cls(**values)

    @classmethod
    def from_outputs_file(
        cls, path: Path, *, tenant: str | None = None, region: str | None = None
    ) -> TenantResources:
        """Read a JSON file of outputs (``terraform output -json > outputs.json``, or a plain mapping)."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as err:
            raise TenantResourcesError([Problem(str(path), "outputs file does not exist")]) from err
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise TenantResourcesError([Problem(str(path), f"not valid JSON: {err}")]) from err
        if not isinstance(data, dict):
            raise TenantResourcesError(
                [Problem(str(path), "must be a JSON object of output name -> value", type(data).__name__)]
            )
        return cls.from_outputs(data, tenant=tenant, region=region, source=str(path))

    def to_env(self) -> dict[str, str]:
        """The ``TENANTML_*`` variables a Lambda function would get for these resources."""
        env = {variable: getattr(self, field) for field, (_, variable) in _REQUIRED.items()}
        for field, (_, variable) in _OPTIONAL.items():
            value = getattr(self, field)
            if variable is not None and value is not None:
                env[variable] = value
        return env


def _output_value(value: Any) -> Any:
    # terraform output -json wraps every output: {"sensitive": false, "type": "string", "value": "..."}
    if isinstance(value, Mapping) and "value" in value:
        return value["value"]
    return value


def _take(
    values: Mapping[str, Any], name: str, source: str, problems: list[Problem], *, required: bool
) -> str | None:
    value = values.get(name)
    if value is None or value == "":
        if required:
            problems.append(Problem(f"{source}: {name}", "is missing; the tenant stack defines it"))
        return None
    if not isinstance(value, str):
        problems.append(Problem(f"{source}: {name}", "must be a string", value))
        return None
    if _UNRESOLVED.search(value):
        problems.append(
            Problem(
                f"{source}: {name}",
                "is an unresolved Terraform reference; pass the outputs of an applied stack "
                "(terraform output -json, or `tenantml up`), not the synthesized JSON",
                value,
            )
        )
        return None
    return value


def _headline(source: str, what: str) -> str:
    hint = "run `tenantml up` (emulator) or deploy the stack, then pass its outputs"
    return f"{source} lack {what} a pipeline run needs; {hint}"


__all__ = ["TenantResources"]
