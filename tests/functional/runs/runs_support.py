"""Helpers shared by the pipeline-run tests (imported by the tests and their conftest)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.registry.sagemaker import SageMakerModelRegistry
from pipelines.runs.resources import TenantResources

REGION = "eu-west-1"
TENANT = "acme"
EVENTS = Path(__file__).resolve().parents[2] / "events"


def create_tenant_resources(session_client: Any, *, with_group: bool = True) -> TenantResources:
    """What the tenant stack creates, made with boto3 against whatever endpoint the factory points at."""
    s3 = session_client("s3")
    kms_key = session_client("kms").create_key(Description="acme tenant key")["KeyMetadata"]["Arn"]
    names = {kind: f"tenantml-{TENANT}-dev-{kind}" for kind in ("data", "artifacts", "models")}
    for name in names.values():
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": kms_key,
                        },
                        "BucketKeyEnabled": True,
                    }
                ]
            },
        )
    topic = session_client("sns").create_topic(Name=f"tenantml-{TENANT}-dev-alerts")["TopicArn"]
    role = session_client("iam").create_role(
        RoleName=f"tenantml-{TENANT}-dev-training",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "sagemaker.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    group = f"tenantml-{TENANT}-dev-cancer"
    if with_group:
        SageMakerModelRegistry(session_client("sagemaker"), group).ensure_group()
    return TenantResources(
        data_bucket=names["data"],
        artifacts_bucket=names["artifacts"],
        models_bucket=names["models"],
        alerts_topic_arn=topic,
        model_package_group=group,
        training_role_arn=role,
        kms_key_arn=kms_key,
        stream_name=f"tenantml-{TENANT}-dev-inference",
        tenant=TENANT,
        region=REGION,
    )


@dataclass
class AlertInbox:
    """An SQS queue subscribed to the tenant's alerts topic: what a person would receive."""

    sqs: Any
    url: str

    def messages(self) -> list[dict[str, Any]]:
        received = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            if not batch.get("Messages"):
                return received
            for message in batch["Messages"]:
                received.append(json.loads(message["Body"]))
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])


def model_packages(sagemaker: Any, group: str) -> list[dict[str, Any]]:
    return sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]


def object_versions(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    """Every version and delete marker in a bucket: empty means nothing was left behind at all."""
    listing = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
    return [
        f"{v['Key']}@{v['VersionId']}"
        for v in [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]
    ]


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())
