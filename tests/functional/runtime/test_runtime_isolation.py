"""A function sees only its package, as on AWS: its zip, its layers and the runtime's boto3, on the
declared runtime's Python; and every handler of both example stacks imports from its own package."""

from __future__ import annotations

import io
import json
import re
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from runtime_support import create_function, handler_zip

from core.spec import load_specs
from tenantml.emulator.runtime.interpreters import resolve_interpreter
from tenantml.synthesis import synth

ROOT = Path(__file__).resolve().parents[3]
ACCOUNT = "123456789012"

WHERE_AM_I = """
    import sys

    import boto3
    import pandas

    def handler(event, context):
        return {
            "version": list(sys.version_info[:2]),
            "path": sys.path,
            "boto3": boto3.__file__,
            "pandas": pandas.__file__,
        }
"""


def _invoke(aws, name: str, event: dict[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
    response = aws.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event or {}).encode())
    return response, json.loads(response["Payload"].read() or b"null")


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def test_given_a_handler_importing_a_library_only_the_venv_has_when_invoked_then_the_import_fails_as_on_aws(
    aws, lambda_runtime, tmp_path
):
    # pandas is installed in the emulator's environment, but no Lambda runtime provides it
    create_function(aws, "venv-only", handler_zip(tmp_path, WHERE_AM_I))

    response, body = _invoke(aws, "venv-only")

    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert body["errorMessage"] == "Unable to import module 'app': No module named 'pandas'"


def test_given_the_same_handler_with_a_layer_providing_the_library_when_invoked_then_it_runs_from_its_package(
    aws, lambda_runtime, tmp_path
):
    layer = aws.client("lambda").publish_layer_version(
        LayerName="fake-pandas",
        Content={"ZipFile": _zip({"python/pandas/__init__.py": "PROVIDED_BY = 'layer'\n"})},
    )["LayerVersionArn"]
    create_function(aws, "with-layer", handler_zip(tmp_path, WHERE_AM_I), Layers=[layer])

    response, body = _invoke(aws, "with-layer")

    assert "FunctionError" not in response, body
    # pandas is the layer's, boto3 the runtime's copy, nothing from the emulator's virtual environment
    assert body["pandas"].endswith("/python/pandas/__init__.py")
    assert "/runtime-" in body["boto3"] and not body["boto3"].startswith(sys.prefix)
    # no site-packages but the layers' (``/opt/python/lib/python3.X/site-packages``)
    assert not [
        p
        for p in body["path"]
        if p.startswith(sys.prefix) or (p.endswith("site-packages") and "/opt-" not in p)
    ]
    code_dir, *rest = body["path"]
    assert body["path"].index(str(Path(body["pandas"]).parents[1])) < body["path"].index(
        str(Path(body["boto3"]).parents[1])
    )
    assert Path(code_dir, "app.py").is_file() and rest
    # the declared runtime's Python when this machine has one
    interpreter = resolve_interpreter("python3.12")
    assert tuple(body["version"]) == interpreter.version
    if interpreter.warning is None:
        assert body["version"] == [3, 12]


def test_given_a_later_layer_with_the_same_file_when_invoked_then_it_wins_as_in_opt(
    aws, lambda_runtime, tmp_path
):
    lam = aws.client("lambda")
    arns = [
        lam.publish_layer_version(
            LayerName=f"layer-{n}", Content={"ZipFile": _zip({"python/shared.py": f"WHO = {n}\n"})}
        )["LayerVersionArn"]
        for n in (1, 2)
    ]
    source = "import shared\n\ndef handler(event, context):\n    return shared.WHO\n"
    create_function(aws, "two-layers", handler_zip(tmp_path, source), Layers=arns)

    _, body = _invoke(aws, "two-layers")

    assert body == 2


def _example_functions(outdir: Path) -> list[tuple[str, str, dict[str, Any], Path, list[Path]]]:
    """(tenant, function name, function body, its zip, its layers' zips) of both example stacks."""
    found = []
    for result in synth(load_specs(ROOT / "tenants"), outdir):
        doc = json.loads(result.path.read_text())
        resources = doc["resource"]
        if "aws_lambda_function" not in resources:
            continue  # an account's state bootstrap
        layers = resources.get("aws_lambda_layer_version", {})
        for body in resources["aws_lambda_function"].values():
            zips = []
            for ref in body.get("layers") or []:
                (address,) = re.findall(r"\$\{aws_lambda_layer_version\.([^.]+)\.arn\}", ref)
                zips.append(result.path.parent / layers[address]["filename"])
            found.append(
                (result.stack, body["function_name"], body, result.path.parent / body["filename"], zips)
            )
    return found


@pytest.fixture(scope="module")
def example_functions(tmp_path_factory: pytest.TempPathFactory):
    return _example_functions(tmp_path_factory.mktemp("examples"))


def test_given_both_example_stacks_when_each_handler_is_invoked_from_its_package_then_it_imports_and_runs(
    aws, lambda_runtime, example_functions
):
    lam = aws.client("lambda")
    tenants = {tenant for tenant, *_ in example_functions}
    # three handlers per tenant, and shop's feature store schedule
    assert len(tenants) == 3 and len(example_functions) == 10, tenants
    for tenant, name, body, code, layer_zips in example_functions:
        layers = [
            lam.publish_layer_version(LayerName=f"{name}-{n}", Content={"ZipFile": z.read_bytes()})[
                "LayerVersionArn"
            ]
            for n, z in enumerate(layer_zips)
        ]
        # the stack's environment, with what Terraform would resolve (references) as placeholders
        environment = {
            k: (
                v
                if "${" not in v
                else f"arn:aws:iam::{ACCOUNT}:role/placeholder"
                if k.endswith("_ARN")
                else "x"
            )
            for k, v in body["environment"][0]["variables"].items()
        }
        create_function(
            aws,
            name,
            code.read_bytes(),
            handler=body["handler"],
            env=environment,
            Layers=layers,
            timeout=30,
            MemorySize=body["memory_size"],
        )
        assert body["runtime"] == "python3.12"

        response, result = _invoke(aws, name, {"Records": []})

        # no Runtime.ImportModuleError: everything the handler imports is in its zip, its layer or the runtime
        assert "FunctionError" not in response, (tenant, name, result)
