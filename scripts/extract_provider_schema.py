"""Extract a compact AWS provider schema from the prebuilt CDK Terrain bindings, for checking synthesized JSON.

Why: our stacks use the cdktf core library with generic `TerraformResource` objects, so nothing checks that
an attribute name or a block shape exists in the provider. The prebuilt binding packages are generated from
the provider's own schema, and their jsii assembly (`package/.jsii` in the npm tarball inside the wheel) is
a JSON description of every generated type. This script reads it (no jsii runtime, no node) and writes
`infra/provider_schema/aws.json`, which `infra.schema_check` validates stacks against.

Where each fact comes from:
- the Terraform resource type: the class doc "Represents a {@link .../docs/resources/s3_bucket aws_s3_bucket}";
  class names are no guide (the generator renames on clashes, e.g. `S3BucketVersioningA`).
- Terraform attribute names: the anchor of each property's registry link (`...#bucket_prefix S3Bucket#...`),
  never the camelCase property name (the generator renames some, e.g. `self` -> `selfAttribute`,
  `s3_us_east_1_regional_endpoint` -> `s3UsEast1RegionalEndpoint`).
- value type and required/optional: the jsii type reference and its `optional` flag.
- nested objects: struct-typed properties. The generator documents real nested blocks as "<name> block.";
  other struct-typed properties are object-typed *attributes* (plugin-framework nested attributes and the
  SDKv2 "attributes as blocks" such as `aws_security_group.ingress`), which Terraform JSON reads as
  expressions, not blocks.
- set vs list, and "every key required": TypeScript has no set type, so jsii shows sets as arrays. The
  compiled JavaScript of the same module, shipped in the same tarball, keeps the generator's HCL metadata
  (`type: "set"`) and, for "attributes as blocks", fills every unset key with null, because Terraform requires
  every attribute of such an object to be given (null allowed).

Usage:
    .venv/bin/python scripts/extract_provider_schema.py
    .venv/bin/python scripts/extract_provider_schema.py --types aws_ecr_repository aws_ecr_lifecycle_policy
    .venv/bin/python scripts/extract_provider_schema.py --package cdktf-cdktf-provider-aws==21.22.1
    .venv/bin/python scripts/extract_provider_schema.py --wheel ./cdktn_provider_aws-25.8.1-py3-none-any.whl
    .venv/bin/python scripts/extract_provider_schema.py --provider kubernetes

`--provider kubernetes` writes `infra/provider_schema/kubernetes.json` from the `cdktn-provider-kubernetes`
bindings (the Deployment, Service, autoscaler and service account the EKS serving construct synthesizes);
the registry links have the same shape for every hashicorp provider, so the same reading applies.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

from core.errors import TenantmlError

# The resource types our stacks use. Add a type here (or pass --types) and re-run the script.
RESOURCE_TYPES: tuple[str, ...] = (
    "aws_s3_bucket",
    "aws_s3_bucket_versioning",
    "aws_s3_bucket_server_side_encryption_configuration",
    "aws_s3_bucket_public_access_block",
    "aws_s3_bucket_policy",
    "aws_s3_bucket_lifecycle_configuration",
    "aws_s3_bucket_ownership_controls",
    "aws_s3_bucket_notification",
    "aws_s3_bucket_logging",
    "aws_kms_key",
    "aws_kms_alias",
    "aws_iam_role",
    "aws_iam_role_policy",
    "aws_iam_policy",
    "aws_iam_role_policy_attachment",
    "aws_iam_instance_profile",
    "aws_iam_openid_connect_provider",
    "aws_kinesis_stream",
    "aws_sns_topic",
    "aws_sns_topic_subscription",
    "aws_sns_topic_policy",
    "aws_cloudwatch_metric_alarm",
    "aws_cloudwatch_log_group",
    "aws_vpc",
    "aws_subnet",
    "aws_internet_gateway",
    "aws_eip",
    "aws_nat_gateway",
    "aws_route_table",
    "aws_route",
    "aws_route_table_association",
    "aws_vpc_endpoint",
    "aws_security_group",
    "aws_default_security_group",
    "aws_vpc_security_group_egress_rule",
    "aws_vpc_security_group_ingress_rule",
    "aws_flow_log",
    "aws_eks_cluster",
    "aws_eks_node_group",
    "aws_eks_access_entry",
    "aws_eks_access_policy_association",
    "aws_launch_template",
    "aws_autoscaling_group",
    "aws_lambda_function",
    "aws_lambda_event_source_mapping",
    "aws_lambda_permission",
    "aws_lambda_layer_version",
    "aws_sqs_queue",
    "aws_sqs_queue_policy",
    "aws_sagemaker_model_package_group",
    "aws_sagemaker_model",
    "aws_sagemaker_endpoint_configuration",
    "aws_sagemaker_endpoint",
    "aws_dynamodb_table",
    # the feature store's offline catalog (issue 16)
    "aws_glue_catalog_database",
    "aws_glue_catalog_table",
    "aws_cloudwatch_dashboard",
    "aws_lambda_function_event_invoke_config",
    "aws_ecr_repository",
    "aws_ecr_lifecycle_policy",
    "aws_iam_service_linked_role",
    "aws_lb",
    "aws_lb_target_group",
    "aws_lb_listener",
    "aws_sfn_state_machine",
    "aws_cloudwatch_event_rule",
    "aws_cloudwatch_event_target",
)

# The Kubernetes resources the EKS serving construct synthesizes (hashicorp/kubernetes).
KUBERNETES_RESOURCE_TYPES: tuple[str, ...] = (
    "kubernetes_namespace_v1",
    "kubernetes_service_account_v1",
    "kubernetes_deployment_v1",
    "kubernetes_service_v1",
    "kubernetes_horizontal_pod_autoscaler_v2",
    "kubernetes_pod_disruption_budget_v1",
)

# Tried in order: the CDK Terrain bindings (AWS provider 6.x), then the last cdktf ones (also 6.x).
DEFAULT_PACKAGES: tuple[str, ...] = ("cdktn-provider-aws==25.8.1", "cdktf-cdktf-provider-aws==21.22.1")
PROVIDER_SOURCE = "hashicorp/aws"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "infra" / "provider_schema" / "aws.json"


@dataclass(frozen=True)
class ProviderTarget:
    """One provider whose schema is committed: its resource types, binding packages and output file."""

    name: str
    resource_types: tuple[str, ...]
    packages: tuple[str, ...]

    @property
    def source(self) -> str:
        return f"hashicorp/{self.name}"

    @property
    def output(self) -> Path:
        return REPO_ROOT / "infra" / "provider_schema" / f"{self.name}.json"


PROVIDERS: dict[str, ProviderTarget] = {
    "aws": ProviderTarget("aws", RESOURCE_TYPES, DEFAULT_PACKAGES),
    "kubernetes": ProviderTarget(
        "kubernetes", KUBERNETES_RESOURCE_TYPES, ("cdktn-provider-kubernetes==17.1.0",)
    ),
}

Json = dict[str, Any]

_REGISTRY = r"https://registry\.terraform\.io/providers/hashicorp/[\w-]+/(?P<version>[^/\s#]+)/docs"
RESOURCE_LINK = re.compile(r"\{@link " + _REGISTRY + r"/resources/(?P<slug>\w+) (?P<type>\w+)\}")
PROVIDER_LINK = re.compile(r"\{@link " + _REGISTRY + r" (?P<name>\w+)\}")
PROPERTY_LINK = re.compile(r"\{@link " + _REGISTRY + r"(?:/resources/\w+)?#(?P<anchor>[\w-]+) [^}]*\}")
# One entry of a generated `synthesizeHclAttributes()` / `<struct>ToHclTerraform()` object literal.
HCL_ENTRY = re.compile(
    r'^\s+"?(?P<name>[\w-]+)"?: \{\n\s+value: [^\n]*\n\s+isBlock: (?:true|false),\n\s+type: "(?P<kind>\w+)",',
    re.MULTILINE,
)
# `<struct>ToTerraform()` of an "attributes as blocks" object: every unset key is sent as null.
NULL_FILLED_KEY = re.compile(r"=== undefined \? null :")
PRIMITIVES = {"string": "string", "number": "number", "boolean": "bool", "any": "any", "json": "any"}


class SchemaExtractionError(TenantmlError):
    """The bindings could not be fetched, or their assembly did not look as this script expects."""


@dataclass(frozen=True)
class Bindings:
    """One downloaded binding package: its identity, its jsii assembly and a reader for its compiled JS."""

    package: str
    version: str
    assembly: Json
    read_javascript: Callable[[Iterable[str]], dict[str, str]]

    @property
    def types(self) -> Json:
        return self.assembly["types"]


@dataclass(frozen=True)
class NestedObject:
    """A struct-typed property: one object, or a list of objects, described by the struct `fqn`."""

    fqn: str
    many: bool


# ---------------------------------------------------------------------------------------------------------
# Fetching and opening the package
# ---------------------------------------------------------------------------------------------------------


def download_wheel(specs: Iterable[str], dest: Path) -> Path:
    """Download the first of `specs` that pip can fetch, as a wheel, without dependencies."""
    failures = []
    for spec in specs:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        # check=False: a failed download is expected when falling back to the next package
        result = subprocess.run(
            [*command, "--dest", str(dest), spec], check=False, capture_output=True, text=True
        )
        wheels = sorted(dest.glob("*.whl"))
        if result.returncode == 0 and wheels:
            return wheels[0]
        last_line = (result.stderr.strip().splitlines() or ["no output"])[-1]
        failures.append(f"{spec}: {last_line}")
        print(f"could not download {spec}, trying the next package", file=sys.stderr)
    raise SchemaExtractionError("no binding package could be downloaded:\n  " + "\n  ".join(failures))


def open_bindings(wheel: Path, workdir: Path) -> Bindings:
    """Read the wheel's metadata and the jsii assembly from the npm tarball it embeds."""
    with zipfile.ZipFile(wheel) as archive:
        metadata_name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = HeaderParser().parsestr(archive.read(metadata_name).decode("utf-8"))
        tarballs = [n for n in archive.namelist() if n.endswith(".jsii.tgz")]
        if len(tarballs) != 1:
            raise SchemaExtractionError(f"{wheel.name}: expected one *.jsii.tgz, found {tarballs}")
        tarball = Path(archive.extract(tarballs[0], workdir))

    # Everything outside lib/ is small (.jsii, a possible .jsii.gz, package.json, README, LICENSE).
    top_level = _read_tar_members(tarball, lambda name: not name.startswith("package/lib/"))
    assembly = _load_assembly(top_level)

    def read_javascript(paths: Iterable[str]) -> dict[str, str]:
        wanted = {f"package/{path}" for path in paths}
        found = _read_tar_members(tarball, wanted.__contains__)
        return {name.removeprefix("package/"): data.decode("utf-8") for name, data in found.items()}

    return Bindings(metadata["Name"], metadata["Version"], assembly, read_javascript)


def _read_tar_members(tarball: Path, wanted: Callable[[str], bool]) -> dict[str, bytes]:
    """Read the wanted members in one streaming pass (random access in a .tgz re-inflates from the start)."""
    found: dict[str, bytes] = {}
    with tarfile.open(tarball, mode="r|gz") as archive:
        for member in archive:
            if member.isfile() and wanted(member.name):
                stream = archive.extractfile(member)
                if stream is not None:
                    found[member.name] = stream.read()
    return found


def _load_assembly(files: dict[str, bytes]) -> Json:
    """Parse `package/.jsii`, following jsii "file-redirect" entries (the compressed-assembly scheme)."""
    contents = json.loads(files["package/.jsii"])
    while contents.get("schema") == "jsii/file-redirect":
        target = f"package/{contents['filename']}"
        if target not in files:
            raise SchemaExtractionError(f"the assembly redirects to {target}, which is not in the tarball")
        data = files[target]
        compression = contents.get("compression")
        if compression == "gzip":
            data = gzip.decompress(data)
        elif compression is not None:
            raise SchemaExtractionError(f"unsupported jsii assembly compression {compression!r}")
        contents = json.loads(data)
    if not str(contents.get("schema", "")).startswith("jsii/"):
        raise SchemaExtractionError(
            f"package/.jsii is not a jsii assembly (schema {contents.get('schema')!r})"
        )
    return contents


# ---------------------------------------------------------------------------------------------------------
# Finding resources and the provider in the assembly
# ---------------------------------------------------------------------------------------------------------


def index_resource_classes(types: Json) -> dict[str, Json]:
    """Map each Terraform resource type to its generated class, using the class's registry link."""
    classes: dict[str, Json] = {}
    for ty in types.values():
        if ty.get("kind") != "class" or not ty.get("base", "").endswith(".TerraformResource"):
            continue
        match = RESOURCE_LINK.search(ty.get("docs", {}).get("summary", ""))
        if match is None:
            continue
        resource_type = match["type"]
        if resource_type in classes:
            raise SchemaExtractionError(f"two classes claim {resource_type}: {classes[resource_type]['fqn']}")
        classes[resource_type] = ty
    return classes


def find_provider_class(types: Json) -> tuple[Json, str]:
    """The provider class and the provider version its registry link names."""
    for ty in types.values():
        if ty.get("kind") == "class" and ty.get("base", "").endswith(".TerraformProvider"):
            match = PROVIDER_LINK.search(ty.get("docs", {}).get("summary", ""))
            if match is not None:
                return ty, match["version"]
    raise SchemaExtractionError("no provider class found in the assembly")


def config_struct_fqn(cls: Json) -> str:
    """The fqn of the struct a generated class takes as its `config` constructor parameter."""
    for parameter in cls.get("initializer", {}).get("parameters", []):
        if parameter["name"] == "config":
            return parameter["type"]["fqn"]
    raise SchemaExtractionError(f"{cls['fqn']} has no config parameter")


def javascript_path(assembly: Json, cls: Json) -> str:
    """Path (inside the npm package) of the compiled module that defines `cls`, from tsc's out/root dirs."""
    source = cls["locationInModule"]["filename"]
    root_dir = assembly.get("metadata", {}).get("tscRootDir", "src")
    out_dir = assembly.get("metadata", {}).get("tscOutDir", "lib")
    return out_dir + source.removeprefix(root_dir).removesuffix(".ts") + ".js"


def module_paths(assembly: Json, cls: Json) -> list[str]:
    """The compiled modules defining `cls` and its structs, the class's own first: the generator moves
    the structs of large resources (e.g. `kubernetes_deployment_v1`) to `index-structs/structsN.js`."""
    own = javascript_path(assembly, cls)
    directory = cls["locationInModule"]["filename"].rsplit("/", 1)[0] + "/"
    others = {
        javascript_path(assembly, ty)
        for ty in assembly["types"].values()
        if ty.get("locationInModule", {}).get("filename", "").startswith(directory)
    }
    return [own, *sorted(others - {own})]


# ---------------------------------------------------------------------------------------------------------
# Describing structs
# ---------------------------------------------------------------------------------------------------------


def terraform_name(prop: Json) -> str:
    """The Terraform attribute name: the anchor of the property's registry link."""
    docs = prop.get("docs", {})
    text = docs.get("summary", "") + "\n" + docs.get("remarks", "")
    anchors = {match["anchor"] for match in PROPERTY_LINK.finditer(text)}
    if len(anchors) != 1:
        raise SchemaExtractionError(f"property {prop['name']}: expected one registry anchor, found {anchors}")
    return anchors.pop()


def describe_type(types: Json, ref: Json) -> str | NestedObject:
    """A Terraform type expression (`string`, `list(string)`, `map(number)`) or a nested object."""
    ref = _without_resolvable(ref)
    if "primitive" in ref:
        if ref["primitive"] not in PRIMITIVES:
            raise SchemaExtractionError(f"unexpected jsii primitive {ref['primitive']!r}")
        return PRIMITIVES[ref["primitive"]]
    if "collection" in ref:
        kind = ref["collection"]["kind"]
        element = describe_type(types, ref["collection"]["elementtype"])
        if isinstance(element, NestedObject):
            if kind == "array" and not element.many:
                return NestedObject(element.fqn, many=True)
            raise SchemaExtractionError(f"unsupported collection of objects: {ref}")
        return f"{'list' if kind == 'array' else 'map'}({element})"
    if types.get(ref.get("fqn", ""), {}).get("datatype"):
        return NestedObject(ref["fqn"], many=False)
    raise SchemaExtractionError(f"unsupported jsii type reference {ref}")


def _without_resolvable(ref: Json) -> Json:
    """Drop the `IResolvable` alternative the generator adds so tokens can stand in for values."""
    if "union" not in ref:
        return ref
    options = [t for t in ref["union"]["types"] if not t.get("fqn", "").endswith(".IResolvable")]
    if len(options) != 1:
        raise SchemaExtractionError(f"unexpected union type {ref}")
    return options[0]


def hcl_kinds(chunk: str) -> dict[str, str]:
    """Terraform name -> HCL kind (`simple`, `list`, `set`, `map`) from a generated HCL attribute table."""
    return {match["name"]: match["kind"] for match in HCL_ENTRY.finditer(chunk)}


def top_level_chunk(javascript: str, header: str) -> str:
    """The source of a top-level function or class; the compiled output closes them with `}` at column 0."""
    start = javascript.find("\n" + header)
    if start < 0:
        raise SchemaExtractionError(f"compiled module has no {header!r}")
    end = javascript.find("\n}\n", start)
    return javascript[start:end]


def struct_function(javascript: str, struct: Json, suffix: str) -> str:
    """The generated `<structName>ToTerraform` / `<structName>ToHclTerraform` function of a struct."""
    name = struct["name"]
    return top_level_chunk(javascript, f"function {name[0].lower()}{name[1:]}{suffix}(")


def object_schema(types: Json, struct_fqn: str, javascript: str, kinds: dict[str, str]) -> Json:
    """Attributes and nested objects of one struct, recursively; `kinds` is its HCL attribute table."""
    struct = types[struct_fqn]
    for interface in struct.get("interfaces", []):
        # Config structs extend the cdktf meta-arguments (count, depends_on, ...), which are not
        # provider attributes; any other base would hide attributes this script does not read.
        if not interface.endswith(".TerraformMetaArguments"):
            raise SchemaExtractionError(f"{struct_fqn} extends {interface}, which this script does not read")
    attributes: Json = {}
    blocks: Json = {}
    for prop in struct.get("properties", []):
        name = terraform_name(prop)
        required = not prop.get("optional", False)
        described = describe_type(types, prop["type"])
        if isinstance(described, NestedObject):
            blocks[name] = nested_schema(types, prop, described, javascript, kinds.get(name), required)
        else:
            if kinds.get(name) == "set":
                described = "set" + described.removeprefix("list")
            attributes[name] = {"required": required, "type": described}
    if set(attributes) | set(blocks) != set(kinds):
        raise SchemaExtractionError(
            f"{struct_fqn}: registry anchors {sorted(set(attributes) | set(blocks))} do not match the"
            f" compiled module's attribute names {sorted(kinds)}"
        )
    return {"attributes": attributes, "blocks": blocks}


def nested_schema(
    types: Json, prop: Json, nested: NestedObject, javascript: str, kind: str | None, required: bool
) -> Json:
    """One nested object: its nesting mode, syntax (block or object-typed attribute) and own schema."""
    struct = types[nested.fqn]
    is_block = prop.get("docs", {}).get("summary", "").endswith(" block.")
    nesting = ("set" if kind == "set" else "list") if nested.many else "single"
    every_key_required = not is_block and bool(
        NULL_FILLED_KEY.search(struct_function(javascript, struct, "ToTerraform"))
    )
    inner_kinds = hcl_kinds(struct_function(javascript, struct, "ToHclTerraform"))
    return {
        "every_key_required": every_key_required,
        "max_items": None if nested.many else 1,
        "nesting": nesting,
        "required": required,
        "syntax": "block" if is_block else "attribute",
        **object_schema(types, nested.fqn, javascript, inner_kinds),
    }


# ---------------------------------------------------------------------------------------------------------
# The whole document
# ---------------------------------------------------------------------------------------------------------


def extract_schema(
    bindings: Bindings, resource_types: Iterable[str], provider_source: str = PROVIDER_SOURCE
) -> Json:
    """The compact schema document for the provider configuration and the given resource types."""
    types = bindings.types
    classes = index_resource_classes(types)
    wanted = sorted(set(resource_types))
    missing = [t for t in wanted if t not in classes]
    if missing:
        raise SchemaExtractionError(
            f"{bindings.package} {bindings.version} has no class for: {', '.join(missing)}"
        )
    provider_class, provider_version = find_provider_class(types)
    chosen = {t: classes[t] for t in wanted}
    paths = {cls["fqn"]: module_paths(bindings.assembly, cls) for cls in [provider_class, *chosen.values()]}
    modules = bindings.read_javascript({path for group in paths.values() for path in group})

    def class_schema(cls: Json) -> Json:
        # the class's own module first; the struct modules of large resources follow it
        javascript = "\n".join(modules[path] for path in paths[cls["fqn"]])
        kinds = hcl_kinds(top_level_chunk(javascript, f"class {cls['name']} extends "))
        return object_schema(types, config_struct_fqn(cls), javascript, kinds)

    return {
        "source": {
            "assembly": bindings.assembly["name"],
            "generator": "scripts/extract_provider_schema.py",
            "package": bindings.package,
            "provider": provider_source,
            "provider_version": provider_version,
            "version": bindings.version,
        },
        "provider": class_schema(provider_class),
        "resources": {resource_type: class_schema(cls) for resource_type, cls in chosen.items()},
    }


def render(document: Json) -> str:
    """Deterministic text: sorted keys, one-space indent, trailing newline."""
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--package",
        action="append",
        dest="packages",
        metavar="SPEC",
        help=f"pip requirement of the binding package; repeat to give fallbacks (default: {DEFAULT_PACKAGES})",
    )
    parser.add_argument(
        "--provider",
        choices=sorted(PROVIDERS),
        default="aws",
        help="which provider's schema to write (default: aws)",
    )
    parser.add_argument("--wheel", type=Path, help="use this already-downloaded binding wheel instead")
    parser.add_argument("--types", nargs="+", default=[], metavar="TYPE", help="resource types to add")
    parser.add_argument(
        "--output",
        type=Path,
        help="where to write the schema (default: infra/provider_schema/<provider>.json)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    target = PROVIDERS[args.provider]
    args.output = args.output or target.output
    # Everything downloaded or unpacked lives in a temporary directory outside the repository.
    with tempfile.TemporaryDirectory(prefix="provider-schema-") as tmp:
        workdir = Path(tmp)
        try:
            wheel = args.wheel or download_wheel(args.packages or target.packages, workdir)
            bindings = open_bindings(wheel, workdir)
            document = extract_schema(bindings, [*target.resource_types, *args.types], target.source)
        except SchemaExtractionError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(document), encoding="utf-8")
    source = document["source"]
    print(
        f"wrote {args.output}: provider config and {len(document['resources'])} resource types from"
        f" {source['package']} {source['version']} ({source['provider']} {source['provider_version']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
