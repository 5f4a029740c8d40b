"""Amazon's AMIs are loaded into an account's EC2 backend when first read, not when the account is first used."""

from __future__ import annotations

from moto.ec2.models import ec2_backends

from tenantml.emulator.session import AwsSession

REGION = "eu-west-1"


def _account_session(aws: AwsSession, account_id: str) -> AwsSession:
    return aws.for_account(account_id).for_region(REGION)


def test_given_a_new_account_when_it_makes_a_vpc_then_no_ami_is_built(aws):
    # given: an account the emulator has never seen
    session = _account_session(aws, "210000000001")

    # when: its first EC2 call makes a VPC, as a tenant's stack does
    session.client("ec2").create_vpc(CidrBlock="10.1.0.0/16")

    # then: its EC2 backend exists without the ~1,300 AMIs and their snapshots built
    backend = ec2_backends["210000000001"][REGION]
    assert backend.__dict__["_tenantml_amis"] == {}
    assert backend.__dict__["_tenantml_snapshots"] == {}


def test_given_a_new_account_when_it_reads_images_and_snapshots_then_amazons_catalogue_is_there(aws):
    # given: an account that made a VPC first (its backend exists, the AMIs are not loaded yet)
    session = _account_session(aws, "210000000002")
    ec2 = session.client("ec2")
    ec2.create_vpc(CidrBlock="10.2.0.0/16")

    # when: it lists Amazon's images and its snapshots
    images = ec2.describe_images(Owners=["amazon"])["Images"]
    snapshots = ec2.describe_snapshots()["Snapshots"]

    # then: the answers are those of a backend that loaded them at creation, as moto does
    eager = ec2_backends["210000000003"][REGION]  # another account, read right away
    assert len(images) == len(eager.describe_images(owners=["amazon"])) > 1000
    assert {i["ImageId"] for i in images} == set(eager.amis)
    assert len(snapshots) == len(eager.snapshots) > 1000
    assert {s["OwnerId"] for s in snapshots} == {s.owner_id for s in eager.snapshots.values()}
