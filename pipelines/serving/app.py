"""The model server: Starlette under uvicorn, the SageMaker inference container contract.

- ``GET /ping``: 200 once the model is loaded and verified; 503 while loading, while waiting for
  a registry alias that names no version yet (``alias_poll_seconds``: a new tenant's instances
  boot before its first champion), and for good when loading failed (the body says why).
  SageMaker and Kubernetes readiness probes and load balancer health checks poll it.
- ``POST /invocations``: CSV or JSON in, JSON or CSV out (see :mod:`pipelines.serving.schema`
  and :mod:`pipelines.serving.codecs`); every response carries ``X-Model-Version`` and
  ``X-Request-Id``.
- ``GET /openapi.json``: the model's input signature, outputs and version.
- ``GET /metrics``: this worker's counters, inference-log drops and failures included.

A model trained on feature views (``ServerConfig.features``) also takes requests that carry only
the views' entity keys: :mod:`pipelines.serving.feature_lookup` fills the rest from the online store.

The model loads in a thread started at lifespan startup, so the port answers (503) at once.
Predictions run on the event loop when they are fast (a planned one-row prediction takes about
0.1 ms, less than a thread hop); those the load-time calibration expects to take longer than
``offload_ms`` (big batches, slow models) run in a worker thread so /ping stays responsive.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio.to_thread
import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from core.errors import InferenceInputError
from pipelines.features.online import OnlineStore
from pipelines.inference_log.kinesis import put_records_client_factory
from pipelines.inference_log.logger import KinesisInferenceLogger, LogEntry, LoggerSettings
from pipelines.serving import codecs
from pipelines.serving.config import ServerConfig
from pipelines.serving.feature_lookup import FeatureLookup, dynamodb_client
from pipelines.serving.loader import LoadedModel, RegistrySource, load, wait_for_alias
from pipelines.serving.openapi import build_openapi
from pipelines.serving.pipeline_plan import PredictionResult
from pipelines.serving.predictor import probe_batch, repeat_rows, time_predict
from pipelines.serving.schema import FeatureBatch, parse_csv, parse_json

log = logging.getLogger(__name__)

MODEL_VERSION_HEADER = "X-Model-Version"
REQUEST_ID_HEADER = "X-Request-Id"
#: bodies bigger than this are parsed in a thread too
_OFFLOAD_PARSE_BYTES = 256 * 1024

Loader = Callable[[ServerConfig], LoadedModel]
LoggerFactory = Callable[[ServerConfig, LoadedModel], KinesisInferenceLogger | None]
LookupFactory = Callable[[ServerConfig, LoadedModel], FeatureLookup | None]


def default_loader(config: ServerConfig) -> LoadedModel:
    work_dir = None
    if config.work_dir:
        work_dir = os.path.join(config.work_dir, f"worker-{os.getpid()}")
    return load(config.source, serving_format=config.serving_format, work_dir=work_dir)


def default_logger_factory(
    config: ServerConfig, model: LoadedModel, *, session: Any = None
) -> KinesisInferenceLogger | None:
    """The inference logger ``config`` asks for; ``session`` (botocore) signs its requests if given."""
    settings = config.inference_log
    if settings is None:
        return None
    return KinesisInferenceLogger(
        LoggerSettings(
            stream_name=settings.stream_name,
            max_buffer_records=settings.max_buffer_records,
            flush_interval=settings.flush_interval,
            max_attempts=settings.max_attempts,
            backoff_base=settings.backoff_base,
            aggregate_bytes=settings.aggregate_bytes,
        ),
        model.schema,
        put_records_client_factory(
            settings.region,
            settings.endpoint_url,
            protocol=settings.protocol,
            role_arn=settings.role_arn,
            session=session,
        ),
        classes=model.predictor.probability_classes,
    )


def default_lookup_factory(
    config: ServerConfig, model: LoadedModel, *, session: Any = None
) -> FeatureLookup | None:
    """The online feature lookup ``config`` asks for; ``session`` (botocore) signs its reads if given."""
    settings = config.features
    if settings is None:
        return None
    client = dynamodb_client(
        settings.region, settings.endpoint_url, role_arn=settings.role_arn, session=session
    )
    return FeatureLookup(
        OnlineStore(client, settings.table_name, max_attempts=settings.max_attempts, backoff_base=0.01),
        settings.views,
        model.schema,
        cache_size=settings.cache_size,
        cache_ttl_seconds=settings.cache_ttl_seconds,
    )


class ModelServer:
    """State and endpoints of one worker process."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        loader: Loader = default_loader,
        logger_factory: LoggerFactory = default_logger_factory,
        lookup_factory: LookupFactory = default_lookup_factory,
    ) -> None:
        self.config = config
        self._loader = loader
        self._logger_factory = logger_factory
        self._lookup_factory = lookup_factory
        #: the model's feature views' lookup (None: requests carry every feature)
        self.lookup: FeatureLookup | None = None
        self.status = "starting"
        self.error: str | None = None
        self.model: LoadedModel | None = None
        self.inference_logger: KinesisInferenceLogger | None = None
        self.loaded = threading.Event()
        self.responses: Counter[int] = Counter()
        #: requests whose client went away before the body arrived: no response, no error
        self.client_disconnects = 0
        self._openapi: bytes | None = None
        self._version_headers: dict[str, str] = {}
        self._base_s = 0.0
        self._per_row_s = 0.0
        self._offload_s = config.offload_ms / 1000
        self._loader_thread: threading.Thread | None = None
        #: set at shutdown: ends a wait for the registry alias
        self._stopping = threading.Event()

    # --- lifecycle ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.status = "loading"
        self._loader_thread = threading.Thread(target=self._load, name="model-loader", daemon=True)
        self._loader_thread.start()
        try:
            yield
        finally:
            await asyncio.to_thread(self.shutdown)

    def _load(self) -> None:
        try:
            model = self._loader(self._pinned())
            self._calibrate(model)
            self._openapi = orjson.dumps(build_openapi(model, max_body_bytes=self.config.max_body_bytes))
            self.lookup = self._lookup_factory(self.config, model)
            self.inference_logger = self._logger_factory(self.config, model)
            if self.inference_logger is not None:
                self.inference_logger.start()
            self._version_headers = {MODEL_VERSION_HEADER: model.version}
            # the model, sklearn, pandas and botocore are millions of long-lived objects: a full
            # collection walking them stalls the event loop for ~100 ms; freeze them out of the GC
            gc.collect()
            gc.freeze()
            self.model = model
            self.status = "ready"
            log.info(
                "serving version %s (%s, %s) in process %d",
                model.version,
                model.serving_format,
                model.predictor.mode,
                os.getpid(),
            )
        except Exception as err:  # noqa: BLE001 - any load failure must leave /ping at 503, not kill the worker
            self.status = "failed"
            self.error = str(err)
            log.error("model not served: %s", err)
        finally:
            self.loaded.set()

    def _pinned(self) -> ServerConfig:
        """The config with its registry alias resolved, waiting for the alias when configured to."""
        source, poll = self.config.source, self.config.alias_poll_seconds
        if not isinstance(source, RegistrySource) or source.alias is None or poll is None:
            return self.config

        def waiting(message: str) -> None:
            self.status, self.error = "waiting", message

        pinned = wait_for_alias(
            source,
            poll_seconds=poll,
            max_poll_seconds=self.config.alias_max_poll_seconds,
            stop=self._stopping,
            on_wait=waiting,
        )
        self.status, self.error = "loading", None
        return self.config.model_copy(update={"source": pinned})

    def _calibrate(self, model: LoadedModel) -> None:
        """Estimate predict() cost as base + per_row * rows, to decide what runs off the loop."""
        probes = probe_batch(model.schema, getattr(model.predictor, "plan", None))
        one = time_predict(model.predictor, repeat_rows(probes, 1))
        many = time_predict(model.predictor, repeat_rows(probes, 256), repeat=5)
        self._base_s = one
        self._per_row_s = max(0.0, (many - one) / 255)

    def shutdown(self) -> None:
        self._stopping.set()
        if self.inference_logger is not None:
            delivered = self.inference_logger.close(self.config.shutdown_flush_seconds)
            log.info(
                "inference log closed (all delivered: %s): %s", delivered, self.inference_logger.snapshot()
            )

    # --- endpoints ---------------------------------------------------------------------------

    async def ping(self, request: Request) -> Response:
        if self.model is not None:
            return Response(b'{"status":"ready"}', 200, self._version_headers, codecs.JSON)
        body: dict[str, Any] = {"status": self.status}
        if self.error:
            body["error"] = self.error
        return Response(orjson.dumps(body), 503, media_type=codecs.JSON)

    async def openapi(self, request: Request) -> Response:
        if self._openapi is None:
            return self._not_ready()
        return Response(self._openapi, 200, self._version_headers, codecs.JSON)

    async def metrics(self, request: Request) -> Response:
        body: dict[str, Any] = {
            "pid": os.getpid(),
            "status": self.status,
            "model_version": self.model.version if self.model else None,
            "serving_format": self.model.serving_format if self.model else None,
            "predictor_mode": self.model.predictor.mode if self.model else None,
            "responses": {str(k): v for k, v in sorted(self.responses.items())},
            "client_disconnects": self.client_disconnects,
            "inference_log": self.inference_logger.snapshot() if self.inference_logger else None,
            "feature_lookup": self.lookup.snapshot() if self.lookup else None,
        }
        return Response(orjson.dumps(body), 200, media_type=codecs.JSON)

    async def invocations(self, request: Request) -> Response:
        started = time.perf_counter()
        model = self.model
        if model is None:
            return self._not_ready()
        headers = request.headers
        request_id = headers.get("x-request-id") or headers.get("x-amzn-sagemaker-inference-id")
        if not request_id or len(request_id) > 128:
            request_id = uuid.uuid4().hex
        response_headers = {MODEL_VERSION_HEADER: model.version, REQUEST_ID_HEADER: request_id}
        batch: FeatureBatch | None = None
        try:
            in_format = codecs.request_format(headers.get("content-type"))
            out_format = codecs.response_format(headers.get("accept"))
            body = await self._read_body(request)
            if not body.strip():
                raise InferenceInputError("the request body is empty", code="empty_body")
            if self.lookup is not None:
                batch = await self._parse_with_lookup(self.lookup, body, in_format)
            elif len(body) > _OFFLOAD_PARSE_BYTES:
                parse = parse_csv if in_format == codecs.CSV else parse_json
                batch = await anyio.to_thread.run_sync(parse, body, model.schema)
            else:
                parse = parse_csv if in_format == codecs.CSV else parse_json
                batch = parse(body, model.schema)
            if self._base_s + self._per_row_s * batch.n_rows > self._offload_s:
                result = await anyio.to_thread.run_sync(model.predictor.predict, batch)
            else:
                result = model.predictor.predict(batch)
            content = self._encode(result, out_format, model)
        except ClientDisconnect:
            # nobody is left to answer: neither a client error nor a server one
            self.client_disconnects += 1
            log.info("request %s: the client disconnected before sending the whole body", request_id)
            return Response(status_code=400)
        except InferenceInputError as err:
            self.responses[err.status_code] += 1
            return Response(
                codecs.error_body(err.code, str(err)), err.status_code, response_headers, codecs.JSON
            )
        except Exception as err:
            log.exception("prediction failed (request %s)", request_id)
            self.responses[500] += 1
            if batch is not None:
                self._log(request_id, model, batch, None, started, error=True)
            message = f"the model failed on this input: {type(err).__name__}: {err}"
            return Response(
                codecs.error_body("prediction_failed", message), 500, response_headers, codecs.JSON
            )
        self._log(request_id, model, batch, result.predictions, started, result.probabilities)
        self.responses[200] += 1
        return Response(content, 200, response_headers, out_format)

    # --- helpers -----------------------------------------------------------------------------

    async def _parse_with_lookup(self, lookup: FeatureLookup, body: bytes, in_format: str) -> FeatureBatch:
        """Parse, then fill what the request leaves out from the cache or the online store (the
        store's read is blocking I/O: it runs in a thread, cache hits stay on the loop)."""
        if len(body) > _OFFLOAD_PARSE_BYTES:
            parsed = await anyio.to_thread.run_sync(lookup.parse, body, in_format)
        else:
            parsed = lookup.parse(body, in_format)
        if isinstance(parsed, FeatureBatch):
            return parsed
        if parsed.misses:
            await anyio.to_thread.run_sync(lookup.fetch, parsed)
        return lookup.complete(parsed)

    def _encode(self, result: PredictionResult, out_format: str, model: LoadedModel) -> bytes:
        if out_format == codecs.CSV:
            return codecs.encode_csv(result)
        return codecs.encode_json(result, model.predictor.classes)

    def _log(
        self,
        request_id: str,
        model: LoadedModel,
        batch: FeatureBatch,
        predictions: Any,
        started: float,
        probabilities: np.ndarray | None = None,
        *,
        error: bool = False,
    ) -> None:
        if self.inference_logger is None:
            return
        self.inference_logger.submit(
            LogEntry(
                request_id=request_id,
                model_version=model.version,
                batch=batch,
                predictions=predictions,
                latency_ms=(time.perf_counter() - started) * 1000,
                timestamp=time.time(),
                error=error,
                probabilities=probabilities,
            )
        )

    async def _read_body(self, request: Request) -> bytes:
        limit = self.config.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise self._too_large(int(declared))
        chunks = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise self._too_large(size)
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def _too_large(self, size: int) -> InferenceInputError:
        return InferenceInputError(
            f"the body ({size} bytes or more) is over the {self.config.max_body_bytes}-byte limit; "
            "split the rows over several requests or use `tenantml predict` for batch inference",
            status_code=413,
            code="payload_too_large",
        )

    def _not_ready(self) -> Response:
        self.responses[503] += 1
        message = self.error or "the model is still loading"
        code = "model_failed" if self.status == "failed" else "model_not_ready"
        return Response(codecs.error_body(code, message), 503, media_type=codecs.JSON)


def create_app(
    config: ServerConfig,
    *,
    loader: Loader = default_loader,
    logger_factory: LoggerFactory = default_logger_factory,
    lookup_factory: LookupFactory = default_lookup_factory,
) -> Starlette:
    """The ASGI app for one worker; ``app.state.server`` is its :class:`ModelServer`."""
    server = ModelServer(config, loader=loader, logger_factory=logger_factory, lookup_factory=lookup_factory)
    app = Starlette(
        routes=[
            Route("/ping", server.ping, methods=["GET"]),
            Route("/invocations", server.invocations, methods=["POST"]),
            Route("/openapi.json", server.openapi, methods=["GET"]),
            Route("/metrics", server.metrics, methods=["GET"]),
        ],
        lifespan=server.lifespan,
    )
    app.state.server = server
    return app


def app_from_env() -> Starlette:
    """uvicorn factory for worker processes: ``pipelines.serving.app:app_from_env``."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s"
        )
    return create_app(ServerConfig.from_env())


__all__ = [
    "MODEL_VERSION_HEADER",
    "REQUEST_ID_HEADER",
    "ModelServer",
    "app_from_env",
    "create_app",
    "default_loader",
    "default_logger_factory",
    "default_lookup_factory",
]
