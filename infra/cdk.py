"""The one module that imports the CDK for Terraform library.

HashiCorp archived cdktf on 2025-12-10; CDK Terrain (``cdktn``) continues it with the same
public names. Everything else imports the CDK from here, so switching is one variable:
``TENANTML_CDK=cdktn`` (default ``cdktf``). Tests synthesize with both and compare.
"""

from __future__ import annotations

import importlib
import os

from infra import node_messages

# before the Node process starts (importing constructs starts it): jsii's warnings about the
# machine's Node (end of life) are real, and printed once as readable text, not as bytes reprs
node_messages.install()

from constructs import Construct

SUPPORTED_LIBRARIES = ("cdktf", "cdktn")
LIBRARY = os.environ.get("TENANTML_CDK", "cdktf")
if LIBRARY not in SUPPORTED_LIBRARIES:
    raise ImportError(f"TENANTML_CDK={LIBRARY!r} is not supported; use one of {SUPPORTED_LIBRARIES}")

_cdk = importlib.import_module(LIBRARY)

App = _cdk.App
AssetType = _cdk.AssetType
LocalBackend = _cdk.LocalBackend
S3Backend = _cdk.S3Backend
TerraformAsset = _cdk.TerraformAsset
TerraformDataSource = _cdk.TerraformDataSource
TerraformOutput = _cdk.TerraformOutput
TerraformProvider = _cdk.TerraformProvider
TerraformProviderGeneratorMetadata = _cdk.TerraformProviderGeneratorMetadata
TerraformResource = _cdk.TerraformResource
TerraformStack = _cdk.TerraformStack
Testing = _cdk.Testing
VERSION: str = getattr(_cdk, "__version__", "unknown")

__all__ = [
    "LIBRARY",
    "VERSION",
    "App",
    "AssetType",
    "Construct",
    "LocalBackend",
    "S3Backend",
    "TerraformAsset",
    "TerraformDataSource",
    "TerraformOutput",
    "TerraformProvider",
    "TerraformProviderGeneratorMetadata",
    "TerraformResource",
    "TerraformStack",
    "Testing",
]
