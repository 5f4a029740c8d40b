from __future__ import annotations

import pytest

from core.errors import ModelNotApprovedError, ModelRegistryError, ModelVersionNotFoundError
from pipelines.registry.interface import CHALLENGER, CHAMPION, ApprovalStatus, ModelRegistry
from pipelines.registry.lineage import Lineage
from pipelines.registry.sagemaker import SageMakerModelRegistry

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/tenantml-serving:1.0"


def _lineage(run: int) -> Lineage:
    return Lineage(
        run_id=f"run-{run}",
        data_uri="s3://acme-dev-data/raw/train.parquet",
        data_version_id=f"version-{run}",
        data_sha256=f"{run:x}".rjust(64, "a"),
        code_revision="0" * 40,
        parameters={"C": 0.1 * run, "class_weight": None},
        metrics={"roc_auc": 0.9 + run / 100, "accuracy": 0.95},
        library_versions={"python": "3.11.7", "scikit-learn": "1.9.1"},
        artifact_uri=f"s3://acme-dev-models/models/sha256/{'b' * 63}{run}/model.tar.gz",
        artifact_sha256=f"{'b' * 63}{run}",
    )


@pytest.fixture
def registry(sagemaker) -> SageMakerModelRegistry:
    registry = SageMakerModelRegistry(sagemaker, "acme-dev-cancer")
    registry.ensure_group(description="cancer model of tenant acme", tags={"tenantml:tenant": "acme"})
    return registry


APPROVED = {"approval_status": ApprovalStatus.APPROVED}


def _create(registry: SageMakerModelRegistry, run: int, **kwargs):
    lineage = _lineage(run)
    return registry.create_model_version(
        model_data_url=lineage.artifact_uri, image_uri=IMAGE, lineage=lineage, **kwargs
    )


def test_the_sagemaker_registry_is_a_model_registry(registry):
    assert isinstance(registry, ModelRegistry)


def test_ensure_group_is_idempotent(registry, sagemaker):
    arn = registry.ensure_group()
    assert arn == registry.ensure_group()
    assert (
        sagemaker.describe_model_package_group(ModelPackageGroupName="acme-dev-cancer")[
            "ModelPackageGroupArn"
        ]
        == arn
    )


def test_create_and_read_back_versions(registry):
    # given two registered versions
    first = _create(registry, 1, description="first candidate")
    second = _create(registry, 2, approval_status=ApprovalStatus.APPROVED)
    # when read back / then numbering, status, container and lineage round-trip
    assert (first.version, second.version) == (1, 2)
    got = registry.get_model_version(1)
    assert got == first
    assert got.approval_status is ApprovalStatus.PENDING
    assert got.description == "first candidate"
    assert (got.image_uri, got.model_data_url) == (IMAGE, _lineage(1).artifact_uri)
    assert got.lineage == _lineage(1)
    assert got.metadata["tenantml:run-id"] == "run-1"
    assert registry.get_model_version(2).approval_status is ApprovalStatus.APPROVED
    assert [v.version for v in registry.list_model_versions()] == [1, 2]


def test_lineage_and_aliases_survive_an_approval_update(registry):
    # given a champion version
    _create(registry, 1, **APPROVED)
    registry.set_alias(CHAMPION, 1)
    # when it is approved again with a reason, then rejected
    approved = registry.update_approval_status(1, ApprovalStatus.APPROVED, reason="gate passed")
    rejected = registry.update_approval_status(1, ApprovalStatus.REJECTED)
    # then each update kept the lineage and the alias
    assert approved.approval_status is ApprovalStatus.APPROVED
    assert approved.approval_description == "gate passed"
    assert rejected.approval_status is ApprovalStatus.REJECTED
    assert rejected.approval_description == "gate passed"
    for version in (approved, rejected, registry.get_model_version(1)):
        assert version.lineage == _lineage(1)
        assert version.aliases == (CHAMPION,)


def test_setting_an_alias_does_not_touch_the_approval_status(registry):
    _create(registry, 1, approval_status=ApprovalStatus.APPROVED)
    registry.set_alias(CHALLENGER, 1)
    assert registry.get_model_version(1).approval_status is ApprovalStatus.APPROVED


def test_moving_an_alias_clears_it_from_the_previous_holder(registry):
    # given three versions, champion on 1 and challenger on 2
    for run in (1, 2, 3):
        _create(registry, run, **APPROVED)
    registry.set_alias(CHAMPION, 1)
    registry.set_alias(CHALLENGER, 2)
    assert registry.get_version_by_alias(CHAMPION).version == 1
    # when the champion moves to 2 and then to 3
    registry.set_alias(CHAMPION, 2)
    assert registry.get_version_by_alias(CHAMPION).version == 2
    moved = registry.set_alias(CHAMPION, 3)
    # then only 3 holds it, 2 keeps the challenger alias and nothing lost its lineage
    assert moved.version == 3 and moved.aliases == (CHAMPION,)
    assert registry.get_version_by_alias(CHAMPION).version == 3
    assert registry.get_version_by_alias(CHALLENGER).version == 2
    assert {v.version: v.aliases for v in registry.list_model_versions()} == {
        1: (),
        2: (CHALLENGER,),
        3: (CHAMPION,),
    }
    assert [v.lineage for v in registry.list_model_versions()] == [_lineage(r) for r in (1, 2, 3)]


def test_setting_an_alias_again_on_its_holder_changes_nothing(registry):
    _create(registry, 1, **APPROVED)
    first = registry.set_alias(CHAMPION, 1)
    again = registry.set_alias(CHAMPION, 1)
    assert first.metadata == again.metadata


def test_an_interrupted_move_resolves_to_the_latest_assignment(registry, sagemaker):
    # given champion on 1 and then a move to 2 that died before clearing version 1
    _create(registry, 1, **APPROVED)
    _create(registry, 2, **APPROVED)
    registry.set_alias(CHAMPION, 1)
    v2 = registry.get_model_version(2)
    sagemaker.update_model_package(
        ModelPackageArn=v2.arn,
        ModelApprovalStatus=v2.approval_status.value,
        CustomerMetadataProperties={**v2.metadata, "tenantml:alias:champion": "2"},
    )
    # when resolved / then the later assignment (2) wins over the stale holder
    assert {v.version for v in registry.list_model_versions() if CHAMPION in v.aliases} == {1, 2}
    assert registry.get_version_by_alias(CHAMPION).version == 2
    # and the next move cleans both up
    _create(registry, 3, **APPROVED)
    registry.set_alias(CHAMPION, 3)
    assert [v.version for v in registry.list_model_versions() if CHAMPION in v.aliases] == [3]


def test_only_an_approved_version_can_become_champion(registry):
    # given an approved champion (1), a pending (2) and a rejected (3) version
    _create(registry, 1, **APPROVED)
    _create(registry, 2)
    _create(registry, 3, approval_status=ApprovalStatus.REJECTED)
    registry.set_alias(CHAMPION, 1)
    # when the pending and the rejected version are made champion / then the registry refuses
    for version, status in ((2, "PendingManualApproval"), (3, "Rejected")):
        with pytest.raises(ModelNotApprovedError) as caught:
            registry.set_alias(CHAMPION, version)
        assert str(caught.value).startswith(
            f"version {version} of model package group 'acme-dev-cancer' is {status}; "
            "only an approved version can become champion: approve it first"
        )
        assert caught.value.exit_code == 2
    # and nothing moved
    assert {v.version: v.aliases for v in registry.list_model_versions()} == {1: (CHAMPION,), 2: (), 3: ()}
    # while other aliases need no approval, and an approved version becomes champion
    assert registry.set_alias(CHALLENGER, 2).aliases == (CHALLENGER,)
    registry.update_approval_status(2, ApprovalStatus.APPROVED)
    assert registry.set_alias(CHAMPION, 2).aliases == (CHALLENGER, CHAMPION)


def test_unknown_version_and_alias_raise_not_found(registry):
    _create(registry, 1)
    with pytest.raises(
        ModelVersionNotFoundError, match=r"'acme-dev-cancer' has no version 7 \(versions: 1\)"
    ):
        registry.get_model_version(7)
    with pytest.raises(ModelVersionNotFoundError, match="has no version 7"):
        registry.update_approval_status(7, ApprovalStatus.APPROVED)
    with pytest.raises(ModelVersionNotFoundError, match="cannot set alias 'champion'"):
        registry.set_alias(CHAMPION, 7)
    with pytest.raises(ModelVersionNotFoundError, match=r"no version .* holds alias 'champion'"):
        registry.get_version_by_alias(CHAMPION)
    with pytest.raises(ValueError, match="invalid alias 'Champion!'"):
        registry.set_alias("Champion!", 1)


def test_creating_in_a_missing_group_says_what_to_do(sagemaker):
    registry = SageMakerModelRegistry(sagemaker, "not-deployed")
    with pytest.raises(ModelRegistryError, match="deploy the tenant stack"):
        _create(registry, 1)
    with pytest.raises(ModelVersionNotFoundError, match=r"versions: none"):
        registry.get_model_version(1)


def test_versions_registered_by_other_tools_have_no_lineage(registry, sagemaker):
    sagemaker.create_model_package(
        ModelPackageGroupName="acme-dev-cancer",
        InferenceSpecification={
            "Containers": [{"Image": IMAGE, "ModelDataUrl": "s3://elsewhere/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
        ModelApprovalStatus="Approved",
    )
    version = registry.get_model_version(1)
    assert version.lineage is None and version.aliases == ()
    assert registry.set_alias(CHAMPION, 1).aliases == (CHAMPION,)
