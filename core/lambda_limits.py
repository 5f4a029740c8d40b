"""AWS Lambda's package limits, checked at synthesis (``infra/assets.py``) and by the emulator's apply.

From the Lambda quotas page: a .zip uploaded directly (``CreateFunction``/``PublishLayerVersion``
with the bytes) is at most 50 MB; the function's code and all its layers, unzipped, at most 250 MB;
at most 5 layers per function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import LambdaPackageError

MB = 1024 * 1024
#: a .zip uploaded directly in the request
MAX_ZIPPED_BYTES = 50 * MB
#: the function's code and its layers, unzipped
MAX_UNZIPPED_BYTES = 250 * MB
MAX_LAYERS = 5
#: distributions AWS's Python runtimes provide (normalized names): never shipped in a layer, and
#: all a function finds in the emulator besides its zip and its layers
RUNTIME_PROVIDED = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "urllib3", "six"}
)


@dataclass(frozen=True)
class PackagePart:
    """One zip of a function: its code or one layer."""

    name: str
    zipped_bytes: int
    unzipped_bytes: int


def _mb(size: int) -> str:
    return f"{size / MB:.1f} MB"


def check_package_limits(function: str, code: PackagePart, layers: Sequence[PackagePart]) -> None:
    """Raise :class:`LambdaPackageError` naming the function and the sizes if AWS would refuse it."""
    problems = []
    if len(layers) > MAX_LAYERS:
        problems.append(f"{len(layers)} layers (AWS allows at most {MAX_LAYERS})")
    for part in (code, *layers):
        if part.zipped_bytes > MAX_ZIPPED_BYTES:
            problems.append(
                f"{part.name} is {_mb(part.zipped_bytes)} zipped (AWS allows {_mb(MAX_ZIPPED_BYTES)} "
                "for a direct upload)"
            )
    total = code.unzipped_bytes + sum(layer.unzipped_bytes for layer in layers)
    if total > MAX_UNZIPPED_BYTES:
        parts = ", ".join(f"{p.name} {_mb(p.unzipped_bytes)}" for p in (code, *layers))
        problems.append(
            f"code and layers are {_mb(total)} unzipped ({parts}); AWS allows {_mb(MAX_UNZIPPED_BYTES)}"
        )
    if problems:
        raise LambdaPackageError(
            f"Lambda function {function!r} is over AWS's package limits: " + "; ".join(problems)
        )


__all__ = [
    "MAX_LAYERS",
    "MAX_UNZIPPED_BYTES",
    "MAX_ZIPPED_BYTES",
    "RUNTIME_PROVIDED",
    "PackagePart",
    "check_package_limits",
]
