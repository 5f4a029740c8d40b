"""Lambda code assets: one deterministic zip per handler, built at synth time.

The zip holds the handler folder plus the project code it imports (``pipelines`` and the
spec and errors of ``tenantml``); third-party libraries come from a Lambda layer on real AWS and from the
project's environment in the emulator. Fixed timestamps and sorted entries make the same
source give the same bytes, so an unchanged handler never shows up as a change in a plan.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: project code a handler may import, shipped inside every function's zip: the pipeline steps and
#: the spec and errors they use, not the CLI, emulator or preview (so changing those changes no zip)
SHARED_PACKAGES = ("pipelines",)
SHARED_FILES = ("tenantml/__init__.py", "tenantml/contract.py", "tenantml/errors.py", "tenantml/spec.py")
#: parts of the shared packages no handler imports (the model server runs in its own container)
EXCLUDED_DIRS = frozenset({"__pycache__", "serving"})
_EPOCH = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class LambdaBundle:
    path: Path
    sha256_hex: str

    @property
    def source_code_hash(self) -> str:
        """What Terraform's ``source_code_hash`` expects: base64 of the raw sha256 digest."""
        return base64.b64encode(bytes.fromhex(self.sha256_hex)).decode()


def _sources(handler: str) -> list[Path]:
    roots = [PROJECT_ROOT / "lambdas" / handler, *(PROJECT_ROOT / p for p in SHARED_PACKAGES)]
    files = [PROJECT_ROOT / "lambdas" / "__init__.py", *(PROJECT_ROOT / f for f in SHARED_FILES)]
    for root in roots:
        files += [p for p in root.rglob("*") if p.is_file() and p.suffix in (".py", ".json", ".html", ".j2")
                  and not EXCLUDED_DIRS.intersection(p.relative_to(root).parts)]
    return sorted(set(files))


@cache
def build_lambda_bundle(handler: str, build_dir: Path) -> LambdaBundle:
    """Zip ``lambdas/<handler>/`` with the shared packages into ``build_dir``; cached per process."""
    if not (PROJECT_ROOT / "lambdas" / handler / "handler.py").is_file():
        raise FileNotFoundError(f"lambdas/{handler}/handler.py does not exist")
    build_dir.mkdir(parents=True, exist_ok=True)
    target = build_dir / f"{handler}.zip"
    tmp = target.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in _sources(handler):
            info = zipfile.ZipInfo(path.relative_to(PROJECT_ROOT).as_posix(), date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    tmp.replace(target)
    return LambdaBundle(target, hashlib.sha256(target.read_bytes()).hexdigest())
