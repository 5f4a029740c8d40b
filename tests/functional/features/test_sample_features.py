"""The bundled feature sample `tenantml up` lands for shop: valid for the store, and labelled as of each event.

Its labels are computed from the as-of values by pandas (``merge_asof``); the store joins with DuckDB.
The two implementations must agree row for row on the sample (corrected rows, TTLs, entities with
two keys), and the labels must carry the point-in-time signal: trained on the point-in-time set, a
model beats the same model trained on each entity's latest values.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from feature_support import BUCKET, land
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import OneHotEncoder

from core.spec import load_specs
from pipelines.features.offline import OfflineStore
from tenantml.sample_features import EVENT_TIMESTAMP, as_of_values, feature_sample, parquet_bytes

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


def _shop():
    spec = load_specs(ROOT / "tenants", only="shop")[0]
    return spec, [spec.features.view(name) for name in spec.model.feature_views]


def test_the_sample_lands_cleanly_and_the_stores_join_equals_the_as_of_values_its_labels_used(s3, tmp_path):
    # given: shop's sample, every view's rows landed (validated) into the offline store
    spec, views = _shop()
    sample = feature_sample(views, target=spec.model.target, problem=spec.model.problem, now=NOW)
    for view in views:
        result = land(s3, "sample.parquet", parquet_bytes(sample.views[view.name]), view, now=NOW)
        assert result.rows == len(sample.views[view.name])
    entities = tmp_path / "entities.parquet"
    sample.entities.to_parquet(entities, index=False)

    # when: the store builds the training set
    with OfflineStore(s3, BUCKET) as store:
        store.training_set(views, entities, tmp_path / "train.parquet")
    joined = pq.read_table(tmp_path / "train.parquet").to_pandas()

    # then: every feature of every row is the value the generator labelled the row with
    assert len(joined) == len(sample.entities) == 3000
    for view in views:
        expected = as_of_values(view, sample.entities, sample.views[view.name])
        for feature in view.feature_names:
            assert joined[feature].tolist() == expected[feature].tolist(), feature
    # and the entity table came through as it was (keys, time, label)
    assert joined[sample.entities.columns].equals(sample.entities)


def test_the_labels_reward_a_point_in_time_join_over_the_latest_values():
    # given: the sample, and each row's features joined two ways
    spec, views = _shop()
    sample = feature_sample(views, target=spec.model.target, problem=spec.model.problem, now=NOW)
    as_of, latest = sample.entities.copy(), sample.entities.copy()
    for view in views:
        frame = sample.views[view.name]
        point_in_time = as_of_values(view, sample.entities, frame)
        newest = frame.sort_values(view.timestamp).drop_duplicates(view.entity_names, keep="last")
        leaked = sample.entities.merge(newest, on=view.entity_names, how="left")
        for feature in view.feature_names:
            as_of[feature], latest[feature] = point_in_time[feature].to_numpy(), leaked[feature].to_numpy()
    features = [f for v in views for f in v.feature_names]

    def holdout_auc(frame: pd.DataFrame) -> float:
        numeric = frame[features].select_dtypes("number").to_numpy(dtype=float)
        other = OneHotEncoder(sparse_output=False).fit_transform(
            frame[features].select_dtypes(exclude="number").astype(str)
        )
        x = np.hstack([(numeric - numeric.mean(0)) / numeric.std(0), other])
        y = frame[spec.model.target].to_numpy()
        model = LogisticRegression(max_iter=1000).fit(x[:2000], y[:2000])
        return roc_auc_score(y[2000:], model.predict_proba(x[2000:])[:, 1])

    # when / then: the point-in-time features predict the labels clearly better than the leaked ones
    assert holdout_auc(as_of) > 0.85
    assert holdout_auc(as_of) - holdout_auc(latest) > 0.05
    assert sample.entities[EVENT_TIMESTAMP].max() < NOW
