"""Inference log records as they travel on the tenant's Kinesis stream (format versions 4 to 7).

A format-4 record holds one request (or one chunk of a request too large for one record): its
rows row-wise, with the feature names, so a record can be read without the registry. The server
writes a binary frame: a JSON header, then the numeric values as raw bytes::

    b"TML\x04"  <uint32 little-endian: header length>  <header JSON>  <numeric block>

    header: {"v": 4, "request_id": "…", "model_version": "7", "timestamp": 1.7e9, "latency_ms": 1.9,
             "error": false, "chunk": 0, "chunks": 1, "n_rows": 2,
             "numeric_features": "age\u001fincome", "numeric_block": "f4",
             "categorical_features": ["plan"], "categorical_rows": [["pro"], ["free"]],
             "predictions": [1, 0]}

- The numeric block: little-endian float32 (``numeric_block: "f4"``) or float64 (``"f8"``),
  row-major (``n_rows`` x numeric features), NaN = missing; exactly ``n_rows`` x features x 4 (or
  8) bytes, absent (with ``numeric_block``) when the record has no numeric feature. A Kinesis
  record is bytes, so the block needs no base64: format 3 carried it base64 inside a JSON record,
  which cost a third more bytes to send, sign and read, and its encoding was a quarter of the
  logging cost of a 100-row request. Binary is an order of magnitude cheaper to write and read
  than decimal text (formatting and parsing 30 floats per row was most of the cost on both
  sides), and float32 halves the bytes of float64. Precision: readers give back every value of at
  most 6 significant digits between 1e-17 and 1e6 in magnitude (what CSV and JSON inputs usually
  hold), and every integer up to 2**24, as exactly the float64 the server parsed: a float32 value
  is replaced by the float64 of its 6-significant-digit rounding when that rounds to the same
  float32 (vectorized, one pass per batch). Without this, a decimal such as 0.7 would come back as
  0.69999998 and land below a baseline bin edge of 0.7, which for a feature with many 0.7s reads
  as drift. Other values keep float32 precision (relative error at most 1.2e-7; magnitudes under
  1.2e-38 lose more, down to 0). A request with a value float32 cannot hold (beyond +-3.4e38, or
  infinite) is written exactly, as a float64 block.
- ``numeric_features``/``categorical_features``: a JSON list of names, or (as the server writes
  them) one string of the names joined by U+001F, the ASCII unit separator: parsing 30 short
  strings per record cost more than the rest of the record, and a reader splits a joined string
  only when it differs from the previous record's.
- ``categorical_rows`` hold strings, numbers, booleans or ``null``. Both blocks have one row per
  input row; a block whose feature list is empty may be omitted.
- ``predictions``: one per row; ``null`` when ``error`` is true (the model failed on the request).
- ``chunk``/``chunks``: a request whose rows do not fit in one record (1 MiB) is split; every
  chunk repeats the request's id, version, timestamp, latency and error flag. Readers count a
  request once, by its ``chunk`` 0.

Why whole requests: one JSON record per row made a 100-row request cost 100 records' worth of
encoding, signing and PutRecords entries, 53-83 % of the server's throughput. Feature names ride
along in every record (a few hundred bytes) rather than a schema hash that would need the
registry to read a record.

Format 5, the aggregated record: the server puts consecutive requests of one model version into
one Kinesis record (about 128 KiB, as the Kinesis Producer Library aggregates), so per-record
costs are paid per aggregate rather than per request (see
:mod:`pipelines.inference_log.logger`)::

    b"TML\x05"  <uint32 little-endian: header length>  <header JSON>  <numeric block>

    header: {"v": 5, "requests": 2, "request_id": ["a", "b"], "model_version": "7",
             "timestamp": [1.7e9, 1.7e9], "latency_ms": [1.9, 2.2], "error": [false, false],
             "n_rows": [1, 3], "numeric_features": "age\u001fincome", "numeric_block": "f4",
             "categorical_features": ["plan"], "categorical_rows": [["pro"], ["free"], …],
             "predictions": [[1], [0, 1, 1]]}

The per-request fields are lists of ``requests`` values (``predictions``: each request's list, or
``null`` for a failed one); the numeric block and ``categorical_rows`` hold every request's rows
in order, request by request. Each request reads exactly as a format-4 frame of its own would
(:func:`parse_payloads`); an aggregate that is malformed anywhere is rejected whole. An
aggregate is never chunked: a request too large for one goes alone as format 4.

Formats 6 and 7: formats 4 and 5 with the class probabilities of a classifier that has them
(scikit-learn's ``predict_proba``, or the ONNX export's probability output). The header adds the
model's classes, in its probability-column order, and the probability block's kind; the
probabilities follow the numeric block::

    b"TML\x06"  <uint32 little-endian: header length>  <header JSON>  <numeric block>  <probability block>

    header: {"v": 6, …format 4's fields…, "classes": [0, 1], "probability_block": "f8"}

- The probability block: little-endian float64, row-major, for two classes one value per row (the
  probability of ``classes[1]``, the positive class as evaluation scores it; the other is one
  minus it), for more one per class in ``classes`` order: exactly rows x values x 8 bytes. Readers
  give back the full matrix (rows x classes, the binary one as ``1 - p, p``). float64, not
  float32: the live ``roc_auc`` and ``log_loss`` are computed on exactly the probabilities the
  model gave, so they equal the offline evaluation's on the same rows (float32 would turn nearby
  scores into ties), and 8 bytes per row is little beside a row's features.
- A failed request has no probabilities: its record is format 4 (alone) or, inside a format 7
  aggregate (``b"TML\x07"``, format 5's fields plus ``classes`` and ``probability_block``), adds no
  rows to the block, which holds the rows of the answered requests in order.
- A regressor's records, and a classifier's without probabilities, stay formats 4 and 5.

Older formats are still read, so a monitor can be upgraded before the servers are, and so are
JSON records from producers without numpy:

- versions 2 and 3: one JSON object with the header's fields, the numeric values either as
  ``numeric_f32``/``numeric_f64`` (base64 of the block above; version 2 wrote only float64) or as
  ``numeric_rows``, rows of JSON numbers or ``null``;
- version 1 (no ``v``): one row, ``features`` as an object, one ``prediction``, read as a one-row
  record.

Readers tell the forms apart by the first bytes: a frame starts with ``TML`` and its version byte,
a JSON record with ``{``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

FORMAT_VERSION = 4


#: a format-4 frame with class probabilities
PROBA_FORMAT_VERSION = 6


#: versions this reader reads besides 1 (which has no ``v``): 2 and 3 as JSON, 4 and 6 as a frame
#: (5 and 7 are read as the format-4 and format-6 requests they aggregate)
READABLE_VERSIONS = frozenset({2, 3, 4, 6})


#: JSON records carry these versions; version 4 is a binary frame
JSON_VERSIONS = frozenset({2, 3})


#: the first bytes of a format-4 frame (a JSON record starts with "{")
FRAME_MAGIC = b"TML\x04"


#: an aggregated record (format 5): several requests of one model version in one Kinesis record
AGGREGATE_MAGIC = b"TML\x05"


AGGREGATE_VERSION = 5


#: a format-6 frame (class probabilities) and its aggregate, format 7
PROBA_FRAME_MAGIC = b"TML\x06"


PROBA_AGGREGATE_MAGIC = b"TML\x07"


PROBA_AGGREGATE_VERSION = 7


#: the probability block's kinds: ``probability_block`` -> dtype
PROBABILITY_BLOCKS = {"f8": np.dtype("<f8")}


#: the magic, then the header's length as uint32 little-endian
FRAME_HEAD_BYTES = 8


#: joins feature names into one string on the wire (see the module docstring)
NAME_SEPARATOR = "\x1f"


_NUMBER_TYPES = (float, int)


_PREDICTION_TYPES = frozenset((float, int, str, bool))


_CATEGORY_TYPES = frozenset((float, int, str, bool, type(None)))


_NUMPY_OPTION = orjson.OPT_SERIALIZE_NUMPY


_F64 = np.dtype("<f8")


_F32 = np.dtype("<f4")


#: the binary numeric blocks: field name -> (dtype, bytes per value)
_BLOCKS = {"numeric_f32": (_F32, 4), "numeric_f64": (_F64, 8)}


#: a frame's ``numeric_block`` -> the block's field name in a parsed payload
_FRAME_BLOCKS = {"f4": "numeric_f32", "f8": "numeric_f64"}


#: 10**k for k in 0..22, all exact in float64
_POW10 = 10.0 ** np.arange(23)


#: feature-name lists seen so far, interned as tuples so records of one model share one object
_NAMES: dict[tuple[str, ...], tuple[str, ...]] = {}


_MAX_INTERNED = 1024


#: a record's numeric block: its ``numeric_block`` kind ("f4" or "f8") and its bytes
NumericBlock = tuple[str, bytes | memoryview]


#: the last name list seen per field and its interned tuple: records of one model repeat it, and
#: comparing a list is cheaper than hashing it
_LAST_NAMES: dict[str, tuple[Any, tuple[str, ...]]] = {}
