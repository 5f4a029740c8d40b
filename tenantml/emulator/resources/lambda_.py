"""Lambda functions, event source mappings and permissions.

The emulator stores the code in moto (``CreateFunction`` with the zip bytes) and records in
the state, for the local Lambda runtime, where each function's zip lives on disk and the
settings the runtime needs (``code_path``, ``handler``, ``runtime``, ``timeout``,
``memory_size``, ``environment_variables``). Running the code is the runtime's job.
"""

from __future__ import annotations

import base64
import hashlib
import io
import threading
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from core.errors import EmulatorApplyError
from core.lambda_limits import PackagePart, check_package_limits
from tenantml.emulator.resources.base import (
    Attributes,
    Config,
    Handler,
    HandlerContext,
    block,
    changed,
    ignore_missing,
    sync_tags,
    undo_on_error,
)

#: function arguments that UpdateFunctionConfiguration changes
_CONFIG_ARGUMENTS = (
    "role",
    "handler",
    "runtime",
    "memory_size",
    "timeout",
    "environment",
    "description",
    "kms_key_arn",
    "layers",
    "tracing_config",
    "vpc_config",
    "dead_letter_config",
    "ephemeral_storage",
    "logging_config",
    "image_config",
    "file_system_config",
    "snap_start",
)
#: function arguments that change the code
_CODE_ARGUMENTS = (
    "filename",
    "source_code_hash",
    "s3_bucket",
    "s3_key",
    "s3_object_version",
    "image_uri",
    "architectures",
)


def code_path(ctx: HandlerContext, filename: str) -> Path:
    """Where a function's zip is: relative paths are relative to the stack directory."""
    path = Path(filename)
    if not path.is_absolute() and ctx.stack_dir is not None:
        path = ctx.stack_dir / path
    return path.resolve()


def _read_zip(ctx: HandlerContext, config: Config) -> tuple[Path, bytes]:
    path = code_path(ctx, config["filename"])
    try:
        return path, path.read_bytes()
    except OSError as err:
        raise EmulatorApplyError(
            f"the code of Lambda function {config.get('function_name')!r} is missing: cannot read {path} "
            f"({err.strerror or err}); run `tenantml synth` again to rebuild the stack's assets"
        ) from err


def _code(ctx: HandlerContext, config: Config) -> tuple[dict[str, Any], Attributes]:
    """The ``Code`` argument of CreateFunction and what the state records about the code."""
    if config.get("filename"):
        path, data = _read_zip(ctx, config)
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        return {"ZipFile": data}, {
            "code_path": str(path),
            "code_sha256": digest,
            "source_code_size": len(data),
        }
    if config.get("image_uri"):
        return {"ImageUri": config["image_uri"]}, {"code_path": None}
    code = {"S3Bucket": config["s3_bucket"], "S3Key": config["s3_key"]}
    if config.get("s3_object_version"):
        code["S3ObjectVersion"] = config["s3_object_version"]
    return code, {"code_path": None, "code_s3": f"s3://{config['s3_bucket']}/{config['s3_key']}"}


#: layer version ARN -> (zipped, unzipped) bytes, recorded when this process published it
_LAYER_SIZES: dict[str, tuple[int, int]] = {}
_LAYER_SIZES_LOCK = threading.Lock()


def _unzipped_size(name: str, data: bytes) -> int:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile as err:
        raise EmulatorApplyError(f"the package of {name!r} is not a zip file: {err}") from err


def _check_limits(ctx: HandlerContext, config: Config, data: bytes | None) -> None:
    """Refuse what AWS refuses: over 50 MB zipped, 250 MB unzipped with layers, more than 5 layers."""
    if data is None:
        return
    name = str(config.get("function_name"))
    layers = []
    for arn in config.get("layers") or []:
        with _LAYER_SIZES_LOCK:
            sizes = _LAYER_SIZES.get(arn)
        if sizes is None:  # published by an earlier process: moto knows the zipped size only
            # (GetLayerVersion by name and number: moto's server does not route GetLayerVersionByArn)
            layer_name, number = str(arn).rsplit(":", 2)[-2:]
            found = ctx.client("lambda").get_layer_version(LayerName=layer_name, VersionNumber=int(number))
            sizes = (int(found["Content"]["CodeSize"]), int(found["Content"]["CodeSize"]))
        layers.append(PackagePart(f"layer {arn}", *sizes))
    check_package_limits(name, PackagePart("code", len(data), _unzipped_size(name, data)), layers)


def _environment(config: Config) -> dict[str, str]:
    return {k: str(v) for k, v in ((block(config, "environment") or {}).get("variables") or {}).items()}


def _function_configuration(config: Config) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"Role": config["role"]}
    if config.get("handler"):
        kwargs["Handler"] = config["handler"]
    if config.get("runtime"):
        kwargs["Runtime"] = config["runtime"]
    kwargs["MemorySize"] = int(config.get("memory_size", 128))
    kwargs["Timeout"] = int(config.get("timeout", 3))
    kwargs["Description"] = config.get("description") or ""
    kwargs["Environment"] = {"Variables": _environment(config)}
    if config.get("kms_key_arn"):
        kwargs["KMSKeyArn"] = config["kms_key_arn"]
    if config.get("layers"):
        kwargs["Layers"] = list(config["layers"])
    tracing = block(config, "tracing_config")
    if tracing:
        kwargs["TracingConfig"] = {"Mode": tracing.get("mode", "PassThrough")}
    vpc = block(config, "vpc_config")
    if vpc:
        kwargs["VpcConfig"] = {
            "SubnetIds": list(vpc.get("subnet_ids") or []),
            "SecurityGroupIds": list(vpc.get("security_group_ids") or []),
        }
    dlq = block(config, "dead_letter_config")
    if dlq:
        kwargs["DeadLetterConfig"] = {"TargetArn": dlq["target_arn"]}
    storage = block(config, "ephemeral_storage")
    if storage:
        kwargs["EphemeralStorage"] = {"Size": int(storage.get("size", 512))}
    logging = block(config, "logging_config")
    if logging:
        kwargs["LoggingConfig"] = {
            key: logging[arg]
            for arg, key in (
                ("log_format", "LogFormat"),
                ("log_group", "LogGroup"),
                ("application_log_level", "ApplicationLogLevel"),
                ("system_log_level", "SystemLogLevel"),
            )
            if logging.get(arg)
        }
    return kwargs


def _function_attributes(
    ctx: HandlerContext, function: dict[str, Any], config: Config, code: Attributes
) -> Attributes:
    arn = function["FunctionArn"]
    return {
        "id": function["FunctionName"],
        "function_name": function["FunctionName"],
        "arn": arn,
        "qualified_arn": f"{arn}:{function.get('Version', '$LATEST')}",
        "invoke_arn": f"arn:aws:apigateway:{ctx.region}:lambda:path/2015-03-31/functions/{arn}/invocations",
        "qualified_invoke_arn": (
            f"arn:aws:apigateway:{ctx.region}:lambda:path/2015-03-31/functions/"
            f"{arn}:{function.get('Version', '$LATEST')}/invocations"
        ),
        "version": function.get("Version", "$LATEST"),
        "last_modified": function.get("LastModified"),
        "source_code_hash": function.get("CodeSha256"),
        "signing_job_arn": None,
        # what the local Lambda runtime needs to run this function
        "handler": config.get("handler"),
        "runtime": config.get("runtime"),
        "timeout": int(config.get("timeout", 3)),
        "memory_size": int(config.get("memory_size", 128)),
        "environment_variables": _environment(config),
        "role": config["role"],
        **code,
        "tags_all": ctx.tags(config),
    }


def create_function(ctx: HandlerContext, config: Config) -> Attributes:
    lam = ctx.client("lambda")
    code, code_attributes = _code(ctx, config)
    _check_limits(ctx, config, code.get("ZipFile"))
    kwargs: dict[str, Any] = {
        "FunctionName": config["function_name"],
        "Code": code,
        "PackageType": config.get("package_type", "Zip"),
        "Publish": bool(config.get("publish", False)),
        **_function_configuration(config),
    }
    if config.get("architectures"):
        kwargs["Architectures"] = list(config["architectures"])
    tags = ctx.tags(config)
    if tags:
        kwargs["Tags"] = tags
    function = lam.create_function(**kwargs)
    name = function["FunctionName"]
    with undo_on_error(lambda: lam.delete_function(FunctionName=name)):
        if config.get("reserved_concurrent_executions") not in (None, -1):
            lam.put_function_concurrency(
                FunctionName=name, ReservedConcurrentExecutions=int(config["reserved_concurrent_executions"])
            )
    return _function_attributes(ctx, function, config, code_attributes)


def update_function(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    lam = ctx.client("lambda")
    name = attributes["function_name"]
    function: dict[str, Any] | None = None
    code_attributes = {
        k: attributes.get(k)
        for k in ("code_path", "code_sha256", "source_code_size", "code_s3")
        if k in attributes
    }
    if changed(old, new, *_CODE_ARGUMENTS, "layers"):
        _check_limits(ctx, new, _code(ctx, new)[0].get("ZipFile"))
    if changed(old, new, *_CODE_ARGUMENTS):
        code, code_attributes = _code(ctx, new)
        kwargs: dict[str, Any] = {"FunctionName": name, **code}
        if new.get("architectures"):
            kwargs["Architectures"] = list(new["architectures"])
        function = lam.update_function_code(**kwargs)
    if changed(old, new, *_CONFIG_ARGUMENTS):
        function = lam.update_function_configuration(FunctionName=name, **_function_configuration(new))
    if changed(old, new, "reserved_concurrent_executions"):
        if new.get("reserved_concurrent_executions") in (None, -1):
            lam.delete_function_concurrency(FunctionName=name)
        else:
            lam.put_function_concurrency(
                FunctionName=name, ReservedConcurrentExecutions=int(new["reserved_concurrent_executions"])
            )
    sync_tags(
        ctx.tags(old),
        ctx.tags(new),
        tag=lambda t: lam.tag_resource(Resource=attributes["arn"], Tags=t),
        untag=lambda keys: lam.untag_resource(Resource=attributes["arn"], TagKeys=keys),
    )
    if function is None:
        function = lam.get_function(FunctionName=name)["Configuration"]
    return _function_attributes(ctx, function, new, code_attributes)


def delete_function(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing("ResourceNotFoundException"):
        ctx.client("lambda").delete_function(FunctionName=attributes["function_name"])


# --- layers ----------------------------------------------------------------------------------


def publish_layer(ctx: HandlerContext, config: Config) -> Attributes:
    """PublishLayerVersion with the zip bytes; every argument of a layer version is ForceNew."""
    name = config["layer_name"]
    path, data = _read_zip(ctx, {**config, "function_name": f"layer {name}"})
    unzipped = _unzipped_size(f"layer {name}", data)
    check_package_limits(f"layer {name}", PackagePart(f"layer {name}", len(data), unzipped), [])
    kwargs: dict[str, Any] = {"LayerName": name, "Content": {"ZipFile": data}}
    if config.get("description"):
        kwargs["Description"] = config["description"]
    if config.get("compatible_runtimes"):
        kwargs["CompatibleRuntimes"] = list(config["compatible_runtimes"])
    if config.get("compatible_architectures"):
        kwargs["CompatibleArchitectures"] = list(config["compatible_architectures"])
    if config.get("license_info"):
        kwargs["LicenseInfo"] = config["license_info"]
    layer = ctx.client("lambda").publish_layer_version(**kwargs)
    arn = layer["LayerVersionArn"]
    with _LAYER_SIZES_LOCK:
        _LAYER_SIZES[arn] = (len(data), unzipped)
    return layer_attributes(layer, len(data), path)


def layer_attributes(layer: Mapping[str, Any], size: int, path: Path) -> Attributes:
    """What the state records of a published layer version (PublishLayerVersion or GetLayerVersion)."""
    arn = layer["LayerVersionArn"]
    return {
        "id": arn,
        "arn": arn,
        "layer_arn": layer["LayerArn"],
        "version": str(layer["Version"]),
        "created_date": layer.get("CreatedDate"),
        "source_code_size": size,
        "code_path": str(path),
    }


def delete_layer(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing("ResourceNotFoundException"):
        ctx.client("lambda").delete_layer_version(
            LayerName=config["layer_name"], VersionNumber=int(attributes["version"])
        )


# --- event source mappings ------------------------------------------------------------------


def _mapping_kwargs(config: Config) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "FunctionName": config["function_name"],
        "Enabled": bool(config.get("enabled", True)),
    }
    for arg, key in (
        ("batch_size", "BatchSize"),
        ("maximum_batching_window_in_seconds", "MaximumBatchingWindowInSeconds"),
        ("maximum_retry_attempts", "MaximumRetryAttempts"),
        ("maximum_record_age_in_seconds", "MaximumRecordAgeInSeconds"),
        ("parallelization_factor", "ParallelizationFactor"),
        ("tumbling_window_in_seconds", "TumblingWindowInSeconds"),
    ):
        if config.get(arg) is not None:
            kwargs[key] = int(config[arg])
    if config.get("bisect_batch_on_function_error") is not None:
        kwargs["BisectBatchOnFunctionError"] = bool(config["bisect_batch_on_function_error"])
    if config.get("function_response_types"):
        kwargs["FunctionResponseTypes"] = list(config["function_response_types"])
    destination = block(block(config, "destination_config"), "on_failure")
    if destination:
        kwargs["DestinationConfig"] = {"OnFailure": {"Destination": destination["destination_arn"]}}
    criteria = block(config, "filter_criteria")
    if criteria:
        kwargs["FilterCriteria"] = {
            "Filters": [{"Pattern": f["pattern"]} for f in (criteria.get("filter") or []) if f.get("pattern")]
        }
    scaling = block(config, "scaling_config")
    if scaling and scaling.get("maximum_concurrency"):
        kwargs["ScalingConfig"] = {"MaximumConcurrency": int(scaling["maximum_concurrency"])}
    return kwargs


def _mapping_attributes(ctx: HandlerContext, mapping: dict[str, Any], config: Config) -> Attributes:
    uuid = mapping["UUID"]
    return {
        "id": uuid,
        "uuid": uuid,
        "arn": mapping.get("EventSourceMappingArn") or ctx.arn("lambda", f"event-source-mapping:{uuid}"),
        "function_arn": mapping.get("FunctionArn"),
        "state": mapping.get("State", "Enabled"),
        "last_modified": str(mapping.get("LastModified", "")),
        "tags_all": ctx.tags(config),
    }


def create_mapping(ctx: HandlerContext, config: Config) -> Attributes:
    kwargs = _mapping_kwargs(config)
    kwargs["EventSourceArn"] = config["event_source_arn"]
    if config.get("starting_position"):
        kwargs["StartingPosition"] = config["starting_position"]
    if config.get("starting_position_timestamp"):
        kwargs["StartingPositionTimestamp"] = config["starting_position_timestamp"]
    tags = ctx.tags(config)
    if tags:
        kwargs["Tags"] = tags
    mapping = ctx.client("lambda").create_event_source_mapping(**kwargs)
    return _mapping_attributes(ctx, mapping, config)


def update_mapping(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    mapping = ctx.client("lambda").update_event_source_mapping(
        UUID=attributes["uuid"], **_mapping_kwargs(new)
    )
    return {
        **_mapping_attributes(ctx, {**mapping, "UUID": attributes["uuid"]}, new),
        "arn": attributes["arn"],
    }


def delete_mapping(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing("ResourceNotFoundException"):
        ctx.client("lambda").delete_event_source_mapping(UUID=attributes["uuid"])


# --- permissions ----------------------------------------------------------------------------


def add_permission(ctx: HandlerContext, config: Config) -> Attributes:
    statement_id = (
        config.get("statement_id") or f"{config.get('statement_id_prefix') or 'terraform-'}{ctx.account_id}"
    )
    kwargs: dict[str, Any] = {
        "FunctionName": config["function_name"],
        "StatementId": statement_id,
        "Action": config["action"],
        "Principal": config["principal"],
    }
    for arg, key in (
        ("source_arn", "SourceArn"),
        ("source_account", "SourceAccount"),
        ("qualifier", "Qualifier"),
        ("event_source_token", "EventSourceToken"),
        ("principal_org_id", "PrincipalOrgID"),
        ("function_url_auth_type", "FunctionUrlAuthType"),
    ):
        if config.get(arg):
            kwargs[key] = config[arg]
    ctx.client("lambda").add_permission(**kwargs)
    return {"id": statement_id, "statement_id": statement_id}


def remove_permission(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    kwargs = {"FunctionName": config["function_name"], "StatementId": attributes["statement_id"]}
    if config.get("qualifier"):
        kwargs["Qualifier"] = config["qualifier"]
    with ignore_missing("ResourceNotFoundException"):
        ctx.client("lambda").remove_permission(**kwargs)


# --- asynchronous invocation settings -------------------------------------------------------


def _invoke_config_kwargs(config: Config) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"FunctionName": config["function_name"]}
    if config.get("qualifier"):
        kwargs["Qualifier"] = config["qualifier"]
    for arg, key in (
        ("maximum_event_age_in_seconds", "MaximumEventAgeInSeconds"),
        ("maximum_retry_attempts", "MaximumRetryAttempts"),
    ):
        if config.get(arg) is not None:
            kwargs[key] = int(config[arg])
    destinations = block(config, "destination_config")
    if destinations:
        api: dict[str, Any] = {}
        for arg, key in (("on_failure", "OnFailure"), ("on_success", "OnSuccess")):
            target = block(destinations, arg)
            if target and target.get("destination"):
                api[key] = {"Destination": target["destination"]}
        kwargs["DestinationConfig"] = api
    return kwargs


def put_invoke_config(ctx: HandlerContext, config: Config) -> Attributes:
    ctx.client("lambda").put_function_event_invoke_config(**_invoke_config_kwargs(config))
    qualifier = config.get("qualifier")
    return {"id": f"{config['function_name']}:{qualifier}" if qualifier else str(config["function_name"])}


def update_invoke_config(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    ctx.client("lambda").put_function_event_invoke_config(**_invoke_config_kwargs(new))
    return attributes


def delete_invoke_config(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    kwargs = {"FunctionName": config["function_name"]}
    if config.get("qualifier"):
        kwargs["Qualifier"] = config["qualifier"]
    with ignore_missing("ResourceNotFoundException"):
        ctx.client("lambda").delete_function_event_invoke_config(**kwargs)


HANDLERS = [
    Handler(
        "aws_lambda_function",
        create=create_function,
        update=update_function,
        delete=delete_function,
        exports=frozenset(
            {
                "arn",
                "function_name",
                "qualified_arn",
                "invoke_arn",
                "qualified_invoke_arn",
                "version",
                "last_modified",
                "source_code_hash",
                "source_code_size",
                "signing_job_arn",
                "code_path",
                "code_sha256",
                "environment_variables",
                "handler",
                "runtime",
                "timeout",
                "memory_size",
            }
        ),
        volatile=frozenset(
            {
                "version",
                "last_modified",
                "source_code_hash",
                "source_code_size",
                "code_sha256",
                "code_path",
                "qualified_arn",
                "qualified_invoke_arn",
                "environment_variables",
                "handler",
                "runtime",
                "timeout",
                "memory_size",
                "role",
            }
        ),
    ),
    Handler(
        "aws_lambda_layer_version",
        create=publish_layer,
        update=None,  # a layer version is immutable: every argument is ForceNew in the provider
        delete=delete_layer,
        exports=frozenset({"arn", "layer_arn", "version", "created_date", "source_code_size"}),
        volatile=frozenset({"created_date", "source_code_size", "code_path"}),
    ),
    Handler(
        "aws_lambda_event_source_mapping",
        create=create_mapping,
        update=update_mapping,
        delete=delete_mapping,
        exports=frozenset({"arn", "uuid", "function_arn", "state", "last_modified"}),
    ),
    Handler(
        "aws_lambda_permission",
        create=add_permission,
        update=None,  # every argument of a permission is ForceNew in the provider
        delete=remove_permission,
        exports=frozenset({"statement_id"}),
    ),
    Handler(
        "aws_lambda_function_event_invoke_config",
        create=put_invoke_config,
        update=update_invoke_config,
        delete=delete_invoke_config,
    ),
]

__all__ = ["HANDLERS", "code_path"]
