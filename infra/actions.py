"""Every IAM action list the constructs grant, in one place.

No construct writes an action inline and none is a wildcard: a policy rule checks that
the synthesized output holds no ``*`` action, and a reviewer reads the whole surface here.
"""

from __future__ import annotations

S3_READ = (
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:GetObjectTagging",
    "s3:ListBucket",
    "s3:ListBucketVersions",
)
S3_WRITE = ("s3:PutObject", "s3:PutObjectTagging", "s3:AbortMultipartUpload", "s3:DeleteObject")
#: what the S3 gateway endpoint lets through to AWS-owned buckets: ECR image layers (EKS nodes pulling
#: the tenant image) and the Amazon Linux package repositories (``dnf`` on EC2 instances)
S3_GET_OBJECT = ("s3:GetObject",)

KMS_DECRYPT = ("kms:Decrypt", "kms:DescribeKey")
KMS_ENCRYPT_DECRYPT = (
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKey",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
)

#: what EC2 Auto Scaling needs to launch instances with volumes encrypted by a customer key
KMS_FOR_EBS = (
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:Encrypt",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
)

KINESIS_READ = (
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
    "kinesis:ListStreams",
    "kinesis:SubscribeToShard",
)
KINESIS_WRITE = ("kinesis:DescribeStreamSummary", "kinesis:PutRecord", "kinesis:PutRecords")

SNS_PUBLISH = ("sns:Publish",)
SQS_SEND = ("sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl")

LOGS_WRITE = ("logs:CreateLogStream", "logs:PutLogEvents")

SAGEMAKER_REGISTRY_READ = (
    "sagemaker:DescribeModelPackage",
    "sagemaker:DescribeModelPackageGroup",
    "sagemaker:ListModelPackages",
)
SAGEMAKER_REGISTRY_WRITE = (
    "sagemaker:CreateModelPackage",
    "sagemaker:UpdateModelPackage",
    "sagemaker:AddTags",
)
SAGEMAKER_TRAINING = (
    "sagemaker:CreateTrainingJob",
    "sagemaker:DescribeTrainingJob",
    "sagemaker:StopTrainingJob",
)

#: PutMetricData has no resource-level permissions; a namespace condition scopes it instead
CLOUDWATCH_PUT_METRICS = ("cloudwatch:PutMetricData",)
CLOUDWATCH_ALARMS_READ = ("cloudwatch:DescribeAlarms", "cloudwatch:GetMetricData")

IAM_PASS_ROLE = ("iam:PassRole",)

#: pulling the serving image from the tenant's repository (SageMaker endpoints, EKS pods)
ECR_PULL = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
#: the registry login token has no resource-level permissions: granted on "*"
ECR_AUTH = ("ecr:GetAuthorizationToken",)
#: what a SageMaker execution role needs to attach a model's containers to the tenant VPC; the
#: EC2 describe and network-interface calls have no resource-level permissions
SAGEMAKER_VPC_ACCESS = (
    "ec2:CreateNetworkInterface",
    "ec2:CreateNetworkInterfacePermission",
    "ec2:DeleteNetworkInterface",
    "ec2:DeleteNetworkInterfacePermission",
    "ec2:DescribeDhcpOptions",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVpcs",
)
#: SageMaker endpoint containers log to /aws/sagemaker/Endpoints/<endpoint>
SAGEMAKER_ENDPOINT_LOGS = (
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "logs:DescribeLogStreams",
)

#: what the SSM agent on an instance calls to register and to carry Session Manager sessions (the
#: part of AmazonSSMManagedInstanceCore a tenant boundary lets through); none has resource-level
#: permissions, so they are granted on "*"
SSM_SESSION_MANAGER = (
    "ssm:UpdateInstanceInformation",
    "ssmmessages:CreateControlChannel",
    "ssmmessages:CreateDataChannel",
    "ssmmessages:OpenControlChannel",
    "ssmmessages:OpenDataChannel",
    "ec2messages:AcknowledgeMessage",
    "ec2messages:DeleteMessage",
    "ec2messages:FailMessage",
    "ec2messages:GetEndpoint",
    "ec2messages:GetMessages",
    "ec2messages:SendReply",
)

#: X-Ray has no resource-level permissions: these are granted on "*"
XRAY_WRITE = ("xray:PutTelemetryRecords", "xray:PutTraceSegments")

#: data-bearing actions: a policy rule forbids granting these on ``*`` resources
DATA_ACTIONS = frozenset(
    (*S3_READ, *S3_WRITE, *KMS_ENCRYPT_DECRYPT, *KINESIS_READ, *KINESIS_WRITE, *SQS_SEND, *SNS_PUBLISH)
)

#: what an administrator needs to write a kubeconfig for the tenant's cluster (aws eks update-kubeconfig)
EKS_DESCRIBE = ("eks:DescribeCluster",)
#: the AWS managed policies of EKS worker nodes, as of 2026-12-07 (AmazonEKSWorkerNodePolicy v3,
#: AmazonEKS_CNI_Policy v5; https://docs.aws.amazon.com/aws-managed-policy/latest/reference/): the node
#: role's permission boundary allows exactly these, so nothing attached later reaches further
EKS_WORKER_NODE = (
    "ec2:DescribeInstances",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVolumes",
    "ec2:DescribeVolumesModifications",
    "ec2:DescribeVpcs",
    "eks:DescribeCluster",
    "eks-auth:AssumeRoleForPodIdentity",
)
EKS_CNI = (
    "ec2:AssignPrivateIpAddresses",
    "ec2:AttachNetworkInterface",
    "ec2:CreateNetworkInterface",
    "ec2:DeleteNetworkInterface",
    "ec2:DescribeInstances",
    "ec2:DescribeTags",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeSubnets",
    "ec2:DetachNetworkInterface",
    "ec2:ModifyNetworkInterfaceAttribute",
    "ec2:UnassignPrivateIpAddresses",
)
EKS_CNI_TAG = ("ec2:CreateTags",)

#: what the slim data-arrival and alarm Lambdas do: start an execution of the tenant's pipeline
STATES_START_EXECUTION = ("states:StartExecution",)
#: what the slim monitor Lambda does: start the drift-monitoring processing job
SAGEMAKER_START_PROCESSING = ("sagemaker:CreateProcessingJob", "sagemaker:AddTags")
