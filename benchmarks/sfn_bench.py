"""Orchestration overhead of a state machine in the emulator: wall time minus the job's own run time.

Starts the emulator with the SageMaker job runner (as `tenantml up` does), pushes the image, and runs
a state machine of three Pass states and one trivial processing job (``createProcessingJob.sync``;
the container prints its usage and exits, the Catch moves on), ``--rounds`` times. For each run it
prints the execution's wall time (StartExecution to a final DescribeExecution), the job's own time
(ProcessingStartTime to ProcessingEndTime: the container's process, start-up included) and the
difference, which is the orchestration: state transitions, the job's start and status polling.
Target (issue 15): at most 3 s.

    .venv/bin/python benchmarks/sfn_bench.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from tenantml.emulator import jobs, server
from tenantml.emulator.images import push_local_image

TARGET_S = 3.0
REGION = "eu-west-1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    emulator = server.start(0)
    runner = jobs.install(emulator.endpoint)
    try:
        aws = server.make_session(emulator.endpoint, REGION)
        ecr, iam, sfn, sagemaker = (aws.client(s) for s in ("ecr", "iam", "stepfunctions", "sagemaker"))
        uri = ecr.create_repository(repositoryName="bench")["repository"]["repositoryUri"]
        push_local_image(ecr, "bench", "1.0.0")
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": ["states.amazonaws.com", "sagemaker.amazonaws.com"]},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        role = iam.create_role(RoleName="bench", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        job = {
            "ProcessingJobName.$": "$.job",
            "RoleArn": role,
            "AppSpecification": {"ImageUri": f"{uri}:1.0.0", "ContainerArguments": ["usage"]},
            "ProcessingResources": {
                "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 1}
            },
        }
        definition = {
            "StartAt": "One",
            "States": {
                "One": {"Type": "Pass", "Next": "Two"},
                "Two": {"Type": "Pass", "Next": "Job"},
                "Job": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::sagemaker:createProcessingJob.sync",
                    "Parameters": job,
                    "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Three"}],
                    "Next": "Three",
                },
                "Three": {"Type": "Pass", "End": True},
            },
        }
        machine = sfn.create_state_machine(name="bench", definition=json.dumps(definition), roleArn=role)
        overheads = []
        for round_ in range(args.rounds):
            name = f"bench-{round_}"
            started = time.perf_counter()
            arn = sfn.start_execution(
                stateMachineArn=machine["stateMachineArn"], name=name, input=json.dumps({"job": name})
            )["executionArn"]
            while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
                time.sleep(0.02)
            wall = time.perf_counter() - started
            described = sagemaker.describe_processing_job(ProcessingJobName=name)
            own = (described["ProcessingEndTime"] - described["ProcessingStartTime"]).total_seconds()
            overheads.append(wall - own)
            print(f"run {round_}: wall {wall:.2f} s, job {own:.2f} s, orchestration {wall - own:.2f} s")
        median = statistics.median(overheads)
        verdict = "within" if median <= TARGET_S else "OVER"
        print(
            f"orchestration overhead: median {median:.2f} s over {args.rounds} run(s) ({verdict} the {TARGET_S:g} s target)"
        )
    finally:
        runner.wait_idle(10)
        jobs.uninstall()
        emulator.stop()


if __name__ == "__main__":
    main()
