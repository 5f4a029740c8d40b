from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image as mpimg
import pytest
from sklearn import metrics as skm
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from core.errors import DataValidationError
from pipelines.data.datasets import split_holdout
from pipelines.evaluation.evaluate import evaluate_model, holdout_fingerprint
from pipelines.training.train import TrainingConfig, train_model

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


@pytest.fixture
def cancer_split(cancer, classification_spec):
    return split_holdout(cancer, classification_spec, seed=0)


@pytest.fixture
def cancer_model(cancer_split, classification_spec):
    train, _ = cancer_split
    return train_model(train, TrainingConfig.from_spec(classification_spec, n_trials=2, cv_folds=3)).pipeline


def test_classification_evaluation_matches_scikit_learn_and_writes_plots(
    cancer_split, cancer_model, classification_spec, tmp_path: Path
):
    # given a model trained without the holdout
    _, holdout = cancer_split
    # when evaluated
    result = evaluate_model(cancer_model, holdout, classification_spec, tmp_path, importance_repeats=2)
    # then the metrics are scikit-learn's on the holdout
    X, y = holdout.drop(columns="target"), holdout["target"]
    proba = cancer_model.predict_proba(X)
    pred = cancer_model.predict(X)
    assert result.metrics == pytest.approx(
        {
            "roc_auc": skm.roc_auc_score(y, proba[:, 1]),
            "accuracy": skm.accuracy_score(y, pred),
            "f1": skm.f1_score(y, pred),
            "precision": skm.precision_score(y, pred),
            "recall": skm.recall_score(y, pred),
            "log_loss": skm.log_loss(y, proba),
        }
    )
    assert result.primary_value == result.metrics["roc_auc"] and result.rows == len(holdout)
    # and every plot is a real PNG
    assert set(result.plots) == {"roc_curve", "precision_recall", "confusion_matrix", "feature_importance"}
    for file in result.plots.values():
        _assert_png(tmp_path / file)
    # and the report embeds them, and the JSON holds the result
    html = (tmp_path / result.report).read_text()
    assert html.count("data:image/png;base64,iVBORw0KGgo") == 4
    assert (
        json.loads((tmp_path / "evaluation.json").read_text())["metrics"]["roc_auc"]
        == result.metrics["roc_auc"]
    )
    # and importance covers every input feature, largest first
    means = [f.mean for f in result.feature_importance]
    assert len(means) == 30 and means == sorted(means, reverse=True)


def test_regression_evaluation_has_residuals_and_importance(diabetes, regression_spec, tmp_path: Path):
    train, holdout = split_holdout(diabetes, regression_spec, seed=0)
    model = make_pipeline(StandardScaler(), Ridge()).fit(train.drop(columns="target"), train["target"])
    result = evaluate_model(model, holdout, regression_spec, tmp_path, importance_repeats=3)
    pred = model.predict(holdout.drop(columns="target"))
    assert result.metrics == pytest.approx(
        {
            "r2": skm.r2_score(holdout["target"], pred),
            "rmse": skm.root_mean_squared_error(holdout["target"], pred),
            "mae": skm.mean_absolute_error(holdout["target"], pred),
        }
    )
    assert set(result.plots) == {"residuals", "feature_importance"}
    for file in result.plots.values():
        _assert_png(tmp_path / file)
    # body mass index and serum triglycerides drive the diabetes target; shuffling them hurts rmse most
    assert {f.feature for f in result.feature_importance[:3]} >= {"bmi", "s5"}
    assert not result.higher_is_better


def test_evaluation_without_output_dir_writes_nothing(cancer_split, cancer_model, classification_spec):
    _, holdout = cancer_split
    result = evaluate_model(cancer_model, holdout, classification_spec, importance_repeats=1)
    assert result.plots == {} and result.report is None


def test_evaluation_names_missing_columns(cancer_split, cancer_model, classification_spec):
    _, holdout = cancer_split
    with pytest.raises(DataValidationError, match="holdout: column 'target': target column is missing"):
        evaluate_model(cancer_model, holdout.drop(columns="target"), classification_spec)
    with pytest.raises(
        DataValidationError, match="holdout: column 'mean radius': the model needs this column"
    ):
        evaluate_model(cancer_model, holdout.drop(columns="mean radius"), classification_spec)


def test_holdout_fingerprint_ignores_the_index_but_not_the_values(cancer):
    assert holdout_fingerprint(cancer) == holdout_fingerprint(cancer.set_axis(range(1000, 1569)))
    changed = cancer.copy()
    changed.loc[0, "mean radius"] += 1
    assert holdout_fingerprint(changed) != holdout_fingerprint(cancer)
