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
#: what SNS's default topic policy lets the owning account do; a topic policy we write keeps it
SNS_TOPIC_OWNER = (
    "sns:AddPermission",
    "sns:DeleteTopic",
    "sns:GetTopicAttributes",
    "sns:ListSubscriptionsByTopic",
    "sns:Publish",
    "sns:RemovePermission",
    "sns:SetTopicAttributes",
    "sns:Subscribe",
)
SQS_SEND = ("sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl")

LOGS_WRITE = ("logs:CreateLogStream", "logs:PutLogEvents")
#: what VPC Flow Logs delivery needs beside the writes (AWS's documented role policy); the group
#: list has no narrower resource than the account's log groups in the region
LOGS_DESCRIBE_STREAMS = ("logs:DescribeLogStreams",)
LOGS_LIST_GROUPS = ("logs:DescribeLogGroups",)

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
#: reading the tenant's metric alarms (``tenantml monitor``); scoped to alarm ARNs, which covers metric
#: alarms (composite alarms would need "*")
CLOUDWATCH_DESCRIBE_ALARMS = ("cloudwatch:DescribeAlarms",)

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

# --- the feature store (issue 16) --------------------------------------------------------------------

#: serving looks features up by key (at most 100 keys a batch)
DYNAMODB_READ_ITEMS = ("dynamodb:BatchGetItem", "dynamodb:GetItem")
#: materialization writes items and reads and moves its watermark item (Query on the table's key)
DYNAMODB_WRITE_ITEMS = (
    "dynamodb:BatchWriteItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
)
#: what Athena and the offline store read from the Glue Data Catalog: the catalog, the database and
#: the view's table each need the grant (https://docs.aws.amazon.com/glue/latest/dg/glue-specifying-resource-arns.html)
GLUE_READ_CATALOG = ("glue:GetDatabase", "glue:GetPartitions", "glue:GetTable")

#: data-bearing actions: a policy rule forbids granting these on ``*`` resources
DATA_ACTIONS = frozenset(
    (
        *S3_READ,
        *S3_WRITE,
        *KMS_ENCRYPT_DECRYPT,
        *KINESIS_READ,
        *KINESIS_WRITE,
        *SQS_SEND,
        *SNS_PUBLISH,
        *DYNAMODB_READ_ITEMS,
        *DYNAMODB_WRITE_ITEMS,
        *GLUE_READ_CATALOG,
    )
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

#: reading the objects under one prefix of a bucket (the monitor reads the data bucket's labels/ only)
S3_READ_OBJECTS = ("s3:GetObject", "s3:GetObjectVersion")
S3_LIST = ("s3:ListBucket",)

# --- the pipeline state machine and its SageMaker jobs (issue 15) --------------------------------------

SAGEMAKER_PROCESSING = (
    "sagemaker:CreateProcessingJob",
    "sagemaker:DescribeProcessingJob",
    "sagemaker:StopProcessingJob",
)
#: a job created with Tags needs AddTags on it; Step Functions' .sync integration lists them
SAGEMAKER_JOB_TAGS = ("sagemaker:AddTags", "sagemaker:ListTags")
#: the EventBridge rule Step Functions manages in the account to learn that a .sync job finished
#: (https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html)
EVENTS_SYNC_RULE = ("events:DescribeRule", "events:PutRule", "events:PutTargets")
SFN_SYNC_RULES = (
    "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
    "StepFunctionsGetEventsForSageMakerProcessingJobsRule",
)
#: starting the tenant's pipeline and reading an execution (a duplicate start is ExecutionAlreadyExists)
SFN_START = ("states:StartExecution",)
SFN_DESCRIBE_EXECUTION = ("states:DescribeExecution",)
#: Step Functions' logging to CloudWatch Logs goes through log deliveries, which have no resource-level
#: permissions (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html): granted on "*"
SFN_LOG_DELIVERY = (
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
)
#: X-Ray tracing of executions; no resource-level permissions
XRAY_SAMPLING = ("xray:GetSamplingRules", "xray:GetSamplingTargets")
#: a SageMaker job's container logs: /aws/sagemaker/TrainingJobs and ProcessingJobs, stream <job name>/...
SAGEMAKER_JOB_LOGS = (
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:DescribeLogStreams",
    "logs:PutLogEvents",
)
SAGEMAKER_JOB_LOG_GROUPS = ("/aws/sagemaker/TrainingJobs", "/aws/sagemaker/ProcessingJobs")
#: removing every version of what a failed run wrote (versioned buckets keep noncurrent versions)
S3_DELETE_VERSION = ("s3:DeleteObjectVersion",)
#: what the slim monitor Lambda does: start the drift-monitoring processing job
SAGEMAKER_START_PROCESSING = ("sagemaker:CreateProcessingJob", "sagemaker:AddTags")
