"""Lambda packages hold everything they import: pure-Python layers, no compiled libraries, AWS's limits."""

from __future__ import annotations

import hashlib
import zipfile

import pytest

from core.errors import LambdaPackageError
from infra.assets import (
    LambdaBundle,
    build_lambda_layer,
    check_function_package,
    import_closure,
    layer_distributions,
)

HANDLERS = ("data_arrival", "alarm", "monitor")
#: what a slim handler must never reach: the ML stack runs in SageMaker jobs
HEAVY = {
    "numpy",
    "pandas",
    "scipy",
    "sklearn",
    "pyarrow",
    "pydantic",
    "pydantic_core",
    "matplotlib",
    "orjson",
}


def _project(tmp_path, files: dict[str, str]):
    for name, text in {"lambdas/__init__.py": "", "pipelines/__init__.py": "", **files}.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_given_a_handler_importing_a_compiled_distribution_then_synthesis_names_the_chain(tmp_path):
    # given: the handler reaches numpy through a project module
    root = _project(
        tmp_path,
        {
            "lambdas/bad/__init__.py": "",
            "lambdas/bad/handler.py": "from pipelines import x\n",
            "pipelines/x.py": "def f():\n    import numpy\n",
        },
    )

    # when
    with pytest.raises(LambdaPackageError) as caught:
        layer_distributions("bad", root)

    # then
    assert str(caught.value) == (
        "lambda bad imports numpy via lambdas.bad.handler -> pipelines.x -> numpy: compiled distributions "
        "cannot ship in a zip or layer built here; move the work into a SageMaker job or drop the import"
    )


def test_given_a_pure_distribution_requiring_a_compiled_one_then_the_requirement_is_named(tmp_path):
    # given: pydantic is pure Python, but it requires pydantic-core, which is compiled
    root = _project(tmp_path, {"lambdas/bad/__init__.py": "", "lambdas/bad/handler.py": "import pydantic\n"})

    # when
    with pytest.raises(LambdaPackageError) as caught:
        layer_distributions("bad", root)

    # then
    assert "lambda bad imports pydantic-core via lambdas.bad.handler -> pydantic -> pydantic-core:" in str(
        caught.value
    )


@pytest.mark.parametrize("handler", HANDLERS)
def test_given_a_slim_handler_then_its_closure_reaches_no_compiled_or_ml_library(handler):
    closure = import_closure(f"lambdas.{handler}.handler")
    assert not HEAVY & set(closure.external), closure.external
    names = {d.name for d in layer_distributions(handler)}
    # the runtime provides boto3 and its dependencies: they never ship
    assert names == {"aws-lambda-powertools", "typing-extensions"}


def test_given_a_handler_then_its_layer_is_deterministic_and_under_python(tmp_path):
    first = build_lambda_layer.__wrapped__("alarm", tmp_path / "one")
    second = build_lambda_layer.__wrapped__("alarm", tmp_path / "two")
    assert first is not None and second is not None
    assert first.path.read_bytes() == second.path.read_bytes()
    with zipfile.ZipFile(first.path) as archive:
        names = archive.namelist()
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert names == sorted(names) and all(n.startswith("python/") for n in names)
    assert "python/aws_lambda_powertools/__init__.py" in names and "python/typing_extensions.py" in names
    assert not any(n.startswith(("python/boto3/", "python/botocore/")) or n.endswith(".pyc") for n in names)


def _bundle(path) -> LambdaBundle:
    data = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        unzipped = sum(i.file_size for i in archive.infolist())
    return LambdaBundle(path, hashlib.sha256(data).hexdigest(), len(data), unzipped)


def test_given_a_package_over_250_mb_unzipped_then_synthesis_names_the_function_and_sizes(tmp_path):
    # given: 260 MB of zeros compresses to a small zip, but AWS counts the unzipped size
    big = tmp_path / "big.zip"
    with (
        zipfile.ZipFile(big, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("python/blob.bin", "w", force_zip64=True) as out,
    ):
        for _ in range(260):
            out.write(bytes(1024 * 1024))
    small = tmp_path / "code.zip"
    with zipfile.ZipFile(small, "w") as archive:
        archive.writestr("lambdas/x/handler.py", "def handler(e, c): return 1\n")

    # when
    with pytest.raises(LambdaPackageError) as caught:
        check_function_package("tenantml-t-dev-x-function", _bundle(small), [("deps.zip", _bundle(big))])

    # then
    text = str(caught.value)
    assert "'tenantml-t-dev-x-function' is over AWS's package limits" in text
    assert "260.0 MB unzipped" in text and "layer deps.zip 260.0 MB" in text and "250.0 MB" in text
    # and the same package within the limits passes
    check_function_package("tenantml-t-dev-x-function", _bundle(small), [])


def test_given_more_than_five_layers_then_the_count_is_refused(tmp_path):
    code = tmp_path / "code.zip"
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("a.py", "")
    bundle = _bundle(code)
    with pytest.raises(LambdaPackageError, match="6 layers \\(AWS allows at most 5\\)"):
        check_function_package("f", bundle, [(f"l{i}", bundle) for i in range(6)])
