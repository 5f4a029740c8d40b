"""Replaying rows against a real model server, as `tenantml traffic` does."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from pipelines.serving.config import ServerConfig
from pipelines.serving.loader import DirectorySource
from tenantml.cli import app
from tenantml.traffic import TrafficError, replay


@pytest.fixture
def server(model_dir: Path, start_server, wait_ready):
    served = start_server(ServerConfig(source=DirectorySource(path=model_dir, version="3")))
    wait_ready(served)
    return served


def test_replay_sends_every_row_and_counts_them(server, cancer: pd.DataFrame, logistic) -> None:
    features = logistic.metadata.feature_names
    frame = cancer.head(53)
    seen: list[int] = []

    result = replay(server.url, frame, features, rows_per_request=10, concurrency=3, on_request=seen.append)

    assert (result.requests, result.rows, result.failures) == (6, 53, 0)
    assert sorted(seen) == [3, 10, 10, 10, 10, 10]
    assert result.requests_per_second > 0


def test_replay_counts_refused_requests_with_the_servers_message(
    server, cancer: pd.DataFrame, logistic
) -> None:
    # two columns short: the server answers 400 for every request, and the replay says why
    features = logistic.metadata.feature_names[:-2]

    result = replay(server.url, cancer.head(4), features, rows_per_request=2)

    assert (result.requests, result.failures) == (2, 2)
    assert result.failure_messages[0].startswith("HTTP 400")
    assert "expected 30 values" in result.failure_messages[0]


def test_replay_names_the_columns_the_data_lacks(cancer: pd.DataFrame) -> None:
    with pytest.raises(TrafficError, match="no column\\(s\\) not a feature"):
        replay("http://127.0.0.1:9", cancer.head(2), ["mean radius", "not a feature"])
    with pytest.raises(TrafficError, match="no rows"):
        replay("http://127.0.0.1:9", cancer.head(0), ["mean radius"])


def test_traffic_command_replays_the_drifted_sample_against_the_endpoint_in_up_json(
    server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".tenantml").mkdir()
    (tmp_path / ".tenantml" / "up.json").write_text(
        json.dumps({"tenants": {"acme": {"endpoint": {"url": server.url}}}})
    )
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(
        app, ["traffic", "--tenant", "acme", "--drifted", "--rows", "40", "--rows-per-request", "8"]
    )

    assert result.exit_code == 0, result.output
    assert "5 requests (40 rows)" in result.output
    assert "0 failed" in result.output


def test_traffic_command_without_an_endpoint_says_how_to_get_one(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(app, ["traffic", "--tenant", "acme"])

    assert result.exit_code == 2
    assert "pass --url, or run `tenantml up`" in result.output


def test_the_servers_description_gives_its_feature_names_and_a_non_server_is_named(
    server, model_dir: Path
) -> None:
    from core.errors import ServingConfigError
    from pipelines.serving.openapi import read_model_description
    from pipelines.training.train import load_model

    model = read_model_description(server.url)
    assert model["version"] == "3"
    assert model["feature_names"] == load_model(model_dir).metadata.feature_names

    with pytest.raises(ServingConfigError, match=r"/nowhere: cannot read the model's input signature"):
        read_model_description(server.url + "/nowhere")
