"""CloudWatch metric alarms and log groups."""

from __future__ import annotations

from typing import Any

from tenantml.emulator.resources.base import (
    Attributes,
    Config,
    Handler,
    HandlerContext,
    block,
    blocks,
    changed,
    ignore_missing,
    sync_tags,
    tag_list,
    undo_on_error,
    unique_name,
)

_ALARM_SCALARS = {
    "alarm_description": "AlarmDescription",
    "metric_name": "MetricName",
    "namespace": "Namespace",
    "statistic": "Statistic",
    "extended_statistic": "ExtendedStatistic",
    "unit": "Unit",
    "treat_missing_data": "TreatMissingData",
    "evaluate_low_sample_count_percentiles": "EvaluateLowSampleCountPercentile",
    "threshold_metric_id": "ThresholdMetricId",
    "comparison_operator": "ComparisonOperator",
}
_ALARM_INTEGERS = {
    "evaluation_periods": "EvaluationPeriods",
    "period": "Period",
    "datapoints_to_alarm": "DatapointsToAlarm",
}


def _metric_query(query: dict[str, Any]) -> dict[str, Any]:
    api: dict[str, Any] = {"Id": query["id"]}
    for arg, key in (("expression", "Expression"), ("label", "Label"), ("account_id", "AccountId")):
        if query.get(arg):
            api[key] = query[arg]
    if query.get("return_data") is not None:
        api["ReturnData"] = bool(query["return_data"])
    if query.get("period"):
        api["Period"] = int(query["period"])
    metric = block(query, "metric")
    if metric:
        stat: dict[str, Any] = {
            "Metric": {
                "MetricName": metric["metric_name"],
                "Namespace": metric.get("namespace", ""),
                "Dimensions": [
                    {"Name": k, "Value": str(v)} for k, v in (metric.get("dimensions") or {}).items()
                ],
            },
            "Period": int(metric["period"]),
            "Stat": metric["stat"],
        }
        if metric.get("unit"):
            stat["Unit"] = metric["unit"]
        api["MetricStat"] = stat
    return api


def put_alarm(ctx: HandlerContext, config: Config) -> Attributes:
    name = config["alarm_name"]
    kwargs: dict[str, Any] = {"AlarmName": name, "ActionsEnabled": bool(config.get("actions_enabled", True))}
    for arg, api in _ALARM_SCALARS.items():
        if config.get(arg) is not None:
            kwargs[api] = config[arg]
    for arg, api in _ALARM_INTEGERS.items():
        if config.get(arg) is not None:
            kwargs[api] = int(config[arg])
    if config.get("threshold") is not None:
        kwargs["Threshold"] = float(config["threshold"])
    for arg, api in (
        ("alarm_actions", "AlarmActions"),
        ("ok_actions", "OKActions"),
        ("insufficient_data_actions", "InsufficientDataActions"),
    ):
        if config.get(arg):
            kwargs[api] = list(config[arg])
    if config.get("dimensions"):
        kwargs["Dimensions"] = [{"Name": k, "Value": str(v)} for k, v in config["dimensions"].items()]
    queries = [_metric_query(q) for q in blocks(config, "metric_query")]
    if queries:
        kwargs["Metrics"] = queries
    tags = ctx.tags(config)
    if tags:
        kwargs["Tags"] = tag_list(tags)
    ctx.client("cloudwatch").put_metric_alarm(**kwargs)
    # PutMetricAlarm answers nothing, but an alarm's ARN follows from its name (as on AWS): no read-back
    return {"id": name, "arn": ctx.arn("cloudwatch", f"alarm:{name}"), "tags_all": tags}


def update_alarm(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    # PutMetricAlarm replaces the whole definition; tags are only set on creation, so sync them
    result = put_alarm(ctx, new)
    cloudwatch = ctx.client("cloudwatch")
    sync_tags(
        ctx.tags(old),
        ctx.tags(new),
        tag=lambda t: cloudwatch.tag_resource(ResourceARN=result["arn"], Tags=tag_list(t)),
        untag=lambda keys: cloudwatch.untag_resource(ResourceARN=result["arn"], TagKeys=keys),
    )
    return result


def delete_alarm(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    with ignore_missing("ResourceNotFound"):
        ctx.client("cloudwatch").delete_alarms(AlarmNames=[attributes["id"]])


def create_log_group(ctx: HandlerContext, config: Config) -> Attributes:
    logs = ctx.client("logs")
    name = unique_name(config)
    kwargs: dict[str, Any] = {"logGroupName": name}
    if config.get("kms_key_id"):
        kwargs["kmsKeyId"] = config["kms_key_id"]
    if config.get("log_group_class"):
        kwargs["logGroupClass"] = config["log_group_class"]
    tags = ctx.tags(config)
    if tags:
        kwargs["tags"] = tags
    logs.create_log_group(**kwargs)
    with undo_on_error(lambda: logs.delete_log_group(logGroupName=name)):
        if config.get("retention_in_days"):
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(config["retention_in_days"]))
    # the provider exports the ARN without the trailing ":*" that DescribeLogGroups adds
    return {"id": name, "name": name, "arn": ctx.arn("logs", f"log-group:{name}"), "tags_all": tags}


def update_log_group(ctx: HandlerContext, old: Config, new: Config, attributes: Attributes) -> Attributes:
    logs = ctx.client("logs")
    name = attributes["name"]
    if changed(old, new, "retention_in_days"):
        if new.get("retention_in_days"):
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(new["retention_in_days"]))
        else:
            logs.delete_retention_policy(logGroupName=name)
    if changed(old, new, "kms_key_id"):
        if new.get("kms_key_id"):
            logs.associate_kms_key(logGroupName=name, kmsKeyId=new["kms_key_id"])
        else:
            logs.disassociate_kms_key(logGroupName=name)
    arn = attributes["arn"]
    sync_tags(
        ctx.tags(old),
        ctx.tags(new),
        tag=lambda t: logs.tag_resource(resourceArn=arn, tags=t),
        untag=lambda keys: logs.untag_resource(resourceArn=arn, tagKeys=keys),
    )
    return {**attributes, "tags_all": ctx.tags(new)}


def delete_log_group(ctx: HandlerContext, config: Config, attributes: Attributes) -> None:
    if config.get("skip_destroy"):
        return  # the provider leaves the log group (and its logs) in place; so does the emulator
    with ignore_missing("ResourceNotFoundException"):
        ctx.client("logs").delete_log_group(logGroupName=attributes["name"])


HANDLERS = [
    Handler(
        "aws_cloudwatch_metric_alarm",
        create=put_alarm,
        update=update_alarm,
        delete=delete_alarm,
        exports=frozenset({"arn"}),
    ),
    Handler(
        "aws_cloudwatch_log_group",
        create=create_log_group,
        update=update_log_group,
        delete=delete_log_group,
        exports=frozenset({"arn", "name"}),
    ),
]

__all__ = ["HANDLERS"]
