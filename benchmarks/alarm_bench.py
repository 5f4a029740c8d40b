"""Alarm evaluation speed: put_metric_data of a breaching value until the SNS message is on a queue.

Starts the emulator with alarm evaluation (as `tenantml up` does, 1 s interval), creates an alarm
whose ALARM action is a topic with an SQS subscription, plus ``--extra-alarms`` alarms with data
(the two example tenants have about 30), then times each breach from PutMetricData to the message
on the queue, and reports the cost of one evaluation pass. Target (issue 6): under 5 s.

    .venv/bin/python benchmarks/alarm_bench.py [--rounds 3] [--extra-alarms 40]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime, timedelta

from tenantml.emulator import server

TARGET_S = 5.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--extra-alarms", type=int, default=40)
    args = parser.parse_args()

    emulator = server.start(0, evaluate_alarms=True)
    try:
        aws = server.make_session(emulator.endpoint, "eu-west-1")
        sns, sqs, cloudwatch = aws.client("sns"), aws.client("sqs"), aws.client("cloudwatch")
        topic = sns.create_topic(Name="bench-alarms")["TopicArn"]
        queue = sqs.create_queue(QueueName="bench-alarms")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        for i in range(args.extra_alarms):
            dims = [{"Name": "Tenant", "Value": f"t{i}"}]
            cloudwatch.put_metric_alarm(
                AlarmName=f"extra-{i}",
                Namespace="Bench",
                MetricName="LatencyMs",
                Dimensions=dims,
                ExtendedStatistic="p99",
                Period=60,
                EvaluationPeriods=3,
                DatapointsToAlarm=2,
                Threshold=1e9,
                ComparisonOperator="GreaterThanThreshold",
                TreatMissingData="notBreaching",
            )
            cloudwatch.put_metric_data(
                Namespace="Bench",
                MetricData=[
                    {
                        "MetricName": "LatencyMs",
                        "Dimensions": dims,
                        "Values": [float(v) for v in range(1, 151)],
                        "Counts": [3.0] * 150,
                    }
                ],
            )
        latencies = []
        for round_ in range(args.rounds):
            name = f"drift-{round_}"
            dims = [{"Name": "Tenant", "Value": name}]
            cloudwatch.put_metric_alarm(
                AlarmName=name,
                Namespace="Bench",
                MetricName="DriftScore",
                Dimensions=dims,
                Statistic="Maximum",
                Period=60,
                EvaluationPeriods=1,
                DatapointsToAlarm=1,
                Threshold=0.2,
                ComparisonOperator="GreaterThanThreshold",
                TreatMissingData="missing",
                AlarmActions=[topic],
            )
            time.sleep(1.5)  # let the evaluator see the new alarm (INSUFFICIENT_DATA, nothing sent)
            clock = time.perf_counter()
            cloudwatch.put_metric_data(
                Namespace="Bench",
                MetricData=[
                    {
                        "MetricName": "DriftScore",
                        "Dimensions": dims,
                        "Value": 0.5,
                        "Timestamp": datetime.now(UTC) - timedelta(seconds=1),
                    }
                ],
            )
            while True:
                messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
                if messages:
                    break
                time.sleep(0.01)
            latencies.append(time.perf_counter() - clock)
            for message in messages:
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
                assert json.loads(json.loads(message["Body"])["Message"])["AlarmName"] == name
        evaluator = emulator.alarm_evaluator
        passes = []
        for _ in range(20):
            clock = time.perf_counter()
            evaluator.evaluate_once()
            passes.append(time.perf_counter() - clock)
        alarms = args.extra_alarms + args.rounds
        print(
            f"breach -> SNS message on the queue: {', '.join(f'{s:.3f}' for s in latencies)} s "
            f"(median {statistics.median(latencies):.3f} s, target < {TARGET_S:.0f} s, evaluation every "
            f"{evaluator.interval:.1f} s)"
        )
        print(
            f"one evaluation pass over {alarms} alarms: median {statistics.median(passes) * 1000:.2f} ms, "
            f"max {max(passes) * 1000:.2f} ms"
        )
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
