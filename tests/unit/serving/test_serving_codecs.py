"""Content negotiation and response encoding."""

from __future__ import annotations

import numpy as np
import orjson
import pytest

from core.errors import InferenceInputError
from pipelines.serving.codecs import encode_csv, encode_json, request_format, response_format
from pipelines.serving.pipeline_plan import PredictionResult


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, "application/json"),
        ("*/*", "application/json"),
        ("text/csv", "text/csv"),
        ("text/*", "text/csv"),
        ("application/xml, text/csv;q=0.5, application/json;q=0.9", "application/json"),
        ("application/json;q=0, text/csv", "text/csv"),
    ],
)
def test_accept_negotiation(accept, chosen):
    assert response_format(accept) == chosen


def test_unsupported_accept_is_406_naming_what_is_offered():
    with pytest.raises(InferenceInputError) as err:
        response_format("application/xml, image/png")
    assert err.value.status_code == 406 and "accepted: application/json, text/csv" in str(err.value)


def test_content_type_parameters_are_ignored_and_others_are_415():
    assert request_format("Text/CSV; charset=utf-8") == "text/csv"
    with pytest.raises(InferenceInputError) as err:
        request_format("application/x-www-form-urlencoded")
    assert err.value.status_code == 415 and err.value.code == "unsupported_media_type"


def test_json_and_csv_bodies_for_classifiers_and_regressors():
    classified = PredictionResult(np.array([1, 0]), np.array([[0.25, 0.75], [0.5, 0.5]]))
    assert orjson.loads(encode_json(classified, [0, 1])) == {
        "predictions": [1, 0],
        "probabilities": [[0.25, 0.75], [0.5, 0.5]],
        "classes": [0, 1],
    }
    assert encode_csv(classified) == b"1,0.25,0.75\n0,0.5,0.5\n"
    regressed = PredictionResult(np.array([1.5, -2.0]))
    assert orjson.loads(encode_json(regressed, None)) == {"predictions": [1.5, -2.0]}
    assert encode_csv(regressed) == b"1.5\n-2.0\n"
    labelled = PredictionResult(
        np.array(["yes, sure", "no"], dtype=object), np.array([[0.1, 0.9], [0.8, 0.2]])
    )
    assert encode_csv(labelled) == b'"yes, sure",0.1,0.9\nno,0.8,0.2\n'
