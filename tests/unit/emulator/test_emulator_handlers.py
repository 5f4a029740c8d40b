"""Pure parts of the resource handlers: provider 6.x arguments -> AWS API shapes."""

from __future__ import annotations

import pytest

from core.terraform.replacement import ALL, REPLACEMENT_ATTRIBUTES, is_known_type
from tenantml.emulator.resources import HANDLERS
from tenantml.emulator.resources.base import block, blocks
from tenantml.emulator.resources.compute import _template_data
from tenantml.emulator.resources.network import _permission
from tenantml.emulator.resources.s3 import _lifecycle_rule

# which types the stacks synthesize, and that each has a handler, is tests/infra/test_infra_emulator_handlers.py


@pytest.mark.parametrize("address", sorted(HANDLERS))
def test_given_a_handler_then_it_exports_id_and_the_replacement_table_knows_its_type(address):
    handler = HANDLERS[address]

    assert "id" in handler.exports
    assert is_known_type(handler.type)
    # a type the emulator cannot update in place must be one Terraform never updates in place
    assert handler.update is not None or REPLACEMENT_ATTRIBUTES[handler.type] == (ALL,)


def test_given_a_block_as_an_object_or_a_list_when_read_then_both_give_the_same_list():
    as_object = {"rule": {"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms"}}}
    as_list = {"rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "aws:kms"}]}]}

    assert blocks(as_object, "rule") == [
        {"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms"}}
    ]
    assert block(block(as_object, "rule"), "apply_server_side_encryption_by_default") == block(
        block(as_list, "rule"), "apply_server_side_encryption_by_default"
    )
    assert blocks({}, "rule") == [] and block(None, "rule") is None


def test_given_a_lifecycle_rule_when_converted_then_it_has_the_s3_api_shape():
    rule = {
        "id": "raw-expiry",
        "status": "Enabled",
        "filter": [{"prefix": "raw/"}],
        "expiration": {"days": 30},
        "noncurrent_version_expiration": [{"noncurrent_days": 90}],
        "transition": [{"days": 30, "storage_class": "STANDARD_IA"}],
        "abort_incomplete_multipart_upload": {"days_after_initiation": 7},
    }

    assert _lifecycle_rule(rule) == {
        "ID": "raw-expiry",
        "Status": "Enabled",
        "Filter": {"Prefix": "raw/"},
        "Expiration": {"Days": 30},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 90},
        "Transitions": [{"StorageClass": "STANDARD_IA", "Days": 30}],
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    }


def test_given_launch_template_arguments_when_converted_then_they_become_launch_template_data():
    config = {
        "name": "fleet",
        "image_id": "ami-123",
        "instance_type": "m6i.large",
        "iam_instance_profile": [{"arn": "arn:aws:iam::123456789012:instance-profile/x"}],
        "vpc_security_group_ids": ["sg-1"],
        "metadata_options": {"http_tokens": "required", "http_put_response_hop_limit": 2},
        "monitoring": [{"enabled": True}],
        "block_device_mappings": [
            {"device_name": "/dev/xvda", "ebs": [{"volume_size": 50, "encrypted": "true"}]}
        ],
        "tag_specifications": [{"resource_type": "instance", "tags": {"team": "a"}}],
        "user_data": "#!/bin/sh\necho hi\n",
        "update_default_version": True,
        "tags": {"team": "a"},
    }

    data = _template_data(config)

    assert data == {
        "ImageId": "ami-123",
        "InstanceType": "m6i.large",
        "IamInstanceProfile": {"Arn": "arn:aws:iam::123456789012:instance-profile/x"},
        "SecurityGroupIds": ["sg-1"],
        "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2},
        "Monitoring": {"Enabled": True},
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 50, "Encrypted": True}}],
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "team", "Value": "a"}]}],
        "UserData": "IyEvYmluL3NoCmVjaG8gaGkK",  # base64, as EC2 wants it
    }


@pytest.mark.parametrize(
    ("rule", "permission"),
    [
        (
            {"ip_protocol": "-1", "cidr_ipv4": "0.0.0.0/0"},
            {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        ),
        (
            {
                "ip_protocol": "tcp",
                "from_port": 443,
                "to_port": 443,
                "cidr_ipv4": "0.0.0.0/0",
                "description": "https",
            },
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "https"}],
            },
        ),
        (
            {"protocol": "tcp", "from_port": 5432, "to_port": 5432, "security_groups": ["sg-db"]},
            {
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": 5432,
                "UserIdGroupPairs": [{"GroupId": "sg-db"}],
            },
        ),
    ],
)
def test_given_a_security_group_rule_when_converted_then_it_is_an_ip_permission(rule, permission):
    assert _permission(rule) == permission
