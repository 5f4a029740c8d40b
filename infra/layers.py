"""One Lambda layer per distinct content among a tenant's functions (content-addressed).

Each handler's layer holds the third-party libraries it imports (:func:`infra.assets.build_lambda_layer`).
The tenant's handlers import the same few (``aws_lambda_powertools`` and what it requires), so their
layers are byte-identical zips: one ``aws_lambda_layer_version`` then serves every function, one
upload and one version to keep instead of three. A handler whose layer differs gets its own.
"""

from __future__ import annotations

from pathlib import Path

from core.naming import Naming
from infra.assets import LambdaBundle, build_lambda_layer
from infra.core import Resource, Scope, TenantConstruct

#: the runtime every tenant function declares (``infra.triggers.RUNTIME`` is the same)
LAYER_RUNTIME = "python3.12"


class SharedLayers(TenantConstruct):
    """Hands each function the layer of its handler, creating one layer version per distinct zip."""

    def __init__(self, scope: Scope, construct_id: str, naming: Naming, build_dir: Path) -> None:
        super().__init__(scope, construct_id)
        self.naming = naming
        self.build_dir = build_dir
        #: zip sha256 -> (layer version resource, its bundle)
        self.layers: dict[str, tuple[Resource, LambdaBundle]] = {}

    def layer_for(self, handler: str) -> tuple[Resource, LambdaBundle] | None:
        """The layer version for ``lambdas/<handler>``, or None when the runtime provides all it imports."""
        bundle = build_lambda_layer(handler, self.build_dir)
        if bundle is None:
            return None
        if bundle.sha256_hex in self.layers:
            return self.layers[bundle.sha256_hex]
        # the first (today the only) layer keeps a fixed address; one that differs is named by its handler
        suffix = "" if not self.layers else "".join(part.title() for part in handler.split("_"))
        code_path = self.add_file_asset(f"Deps{suffix}Code", bundle.path.resolve(), bundle.sha256_hex[:32])
        name = "lambda-deps" if not suffix else f"{handler.replace('_', '-')}-deps"
        layer = Resource(
            self,
            f"Deps{suffix}",
            "aws_lambda_layer_version",
            {
                "layer_name": self.naming.name(name, "function"),
                "description": "third-party libraries of the tenant's Lambda functions",
                "filename": code_path,
                "source_code_hash": bundle.source_code_hash,
                "compatible_runtimes": [LAYER_RUNTIME],
            },
        )
        self.layers[bundle.sha256_hex] = (layer, bundle)
        return self.layers[bundle.sha256_hex]


__all__ = ["LAYER_RUNTIME", "SharedLayers"]
