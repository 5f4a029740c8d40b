"""Provider schemas extracted from the prebuilt binding packages, for checking synthesized Terraform JSON.

`aws.json` is generated: regenerate it with `.venv/bin/python scripts/extract_provider_schema.py`
(add resource types to `RESOURCE_TYPES` there) instead of editing it by hand. `kubernetes.json` (the
hashicorp/kubernetes provider, for EKS serving) has the same shape and comes from the same script with
`--provider kubernetes` (types in `KUBERNETES_RESOURCE_TYPES`).

Shape of `aws.json`::

    {"source": {"package", "version", "assembly", "provider", "provider_version", "generator"},
     "provider": <object>,
     "resources": {"aws_s3_bucket": <object>, ...}}

    <object> = {"attributes": {name: {"type": "string" | "number" | "bool" | "any"
                                             | "list(T)" | "set(T)" | "map(T)",
                                      "required": bool}},
                "blocks": {name: {"nesting": "single" | "list" | "set",
                                  "max_items": 1 | null,
                                  "required": bool,
                                  "syntax": "block" | "attribute",
                                  "every_key_required": bool,
                                  "attributes": ..., "blocks": ...}}}

`syntax: "attribute"` marks object-typed attributes (nested attributes, SDKv2 "attributes as blocks"):
Terraform JSON reads them as expressions, not blocks. `every_key_required` means Terraform wants every
key of such an object written out, null for the unused ones.
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any


@functools.cache
def load_aws_schema() -> dict[str, Any]:
    """The AWS provider schema, parsed once per process. Shared: do not modify the returned dict."""
    text = resources.files(__name__).joinpath("aws.json").read_text(encoding="utf-8")
    return json.loads(text)


@functools.cache
def load_kubernetes_schema() -> dict[str, Any]:
    """The Kubernetes provider schema, parsed once per process. Shared: do not modify the returned dict."""
    text = resources.files(__name__).joinpath("kubernetes.json").read_text(encoding="utf-8")
    return json.loads(text)
