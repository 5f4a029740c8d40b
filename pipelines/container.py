"""Entry point of the one image used for training and serving (see the Dockerfile).

SageMaker starts a bring-your-own container as ``<image> train`` for a training job and as
``<image> serve`` for an endpoint; Kubernetes Jobs and Deployments on EKS use the same two
commands. The pipeline's state machine runs ``prepare``, ``evaluate``, ``register``, ``cleanup`` and
(a reproduce run) ``compare`` as processing jobs (:mod:`pipelines.runs.steps`), the drift monitor
runs ``monitor``, the feature store ``features`` (:mod:`pipelines.features.job`). ``serve`` without ``TENANTML_SERVING_CONFIG`` serves the model SageMaker unpacked into
``/opt/ml/model`` (``SM_MODEL_DIR``) on port 8080, as the inference container contract expects.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

DEFAULT_MODEL_DIR = "/opt/ml/model"
USAGE = "usage: python -m pipelines.container prepare|train|evaluate|register|cleanup|compare|serve|monitor|features [options]"
#: the pipeline's processing-job steps (the state machine names them; ``train`` is the training job)
STEP_MODULES = {
    "prepare": "pipelines.runs.steps.prepare",
    "evaluate": "pipelines.runs.steps.evaluate",
    "register": "pipelines.runs.steps.register",
    "cleanup": "pipelines.runs.steps.cleanup",
    "compare": "pipelines.runs.steps.compare",
}


def _default_serving_config() -> None:
    from pipelines.serving.config import CONFIG_ENV, ServerConfig
    from pipelines.serving.loader import DirectorySource

    if CONFIG_ENV not in os.environ:
        model_dir = Path(os.environ.get("SM_MODEL_DIR", DEFAULT_MODEL_DIR))
        os.environ[CONFIG_ENV] = ServerConfig(source=DirectorySource(path=model_dir)).model_dump_json()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    mode, rest = (args[0], args[1:]) if args else ("serve", [])
    if mode == "train":
        from pipelines.training.train import main as train_main

        return train_main(["train", *rest])
    if mode in STEP_MODULES:
        import importlib

        return int(importlib.import_module(STEP_MODULES[mode]).main(rest))
    if mode == "monitor":  # the drift-monitoring processing job the monitor Lambda starts
        from pipelines.monitoring.job import main as monitor_main

        return monitor_main(rest)
    if mode == "features":  # the feature store's ingest and materialization job (landed data, schedule)
        from pipelines.features.job import main as features_main

        return features_main(rest)
    if mode == "serve":
        from pipelines.serving.__main__ import main as serve_main

        _default_serving_config()
        return serve_main(rest)
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
