"""Model serving: a SageMaker-compatible HTTP model server with inference logging to Kinesis,
ONNX export, and batch inference.

Modules: ``schema`` (request bodies to feature matrices), ``predictor`` (planned scikit-learn and
onnxruntime predictors), ``onnx_export``, ``loader`` (registry / archive / directory sources with
sha256 verification), ``inference_logger`` (buffered PutRecords sender), ``codecs``, ``openapi``,
``config``, ``app`` (Starlette app), ``runner`` (uvicorn), ``batch`` (``tenantml predict``).
Import the submodules directly; this package imports nothing heavy.
"""
