"""The serving image's follow mode: ``serve`` with ``ServerConfig.follow`` (EKS pods, EC2 instances).

One process: a :class:`~pipelines.serving.follow.ChampionFollower` whose router listens on the
server's host and port (``0.0.0.0:8080`` in a container), with a model server per version on
loopback, each built from the same config pinned to that version. It runs until SIGINT or SIGTERM,
then stops gracefully (in-flight requests finish, each model server flushes its inference log).
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

from core.errors import ServingConfigError
from pipelines.serving.app import create_app
from pipelines.serving.config import CONFIG_ENV, ServerConfig
from pipelines.serving.follow import ChampionFollower
from pipelines.serving.loader import RegistrySource, source_registry

log = logging.getLogger(__name__)


def version_config(config: ServerConfig, version: int) -> ServerConfig:
    """``config`` for one model server: pinned to ``version`` (a server never changes version under
    its clients), no follow of its own, and its own scratch directory (versions load side by side)."""
    source = config.source
    assert isinstance(source, RegistrySource)
    return config.model_copy(
        update={
            "source": source.model_copy(update={"version": version, "alias": None}),
            "follow": None,
            "work_dir": str(Path(config.work_dir) / f"v{version}") if config.work_dir else None,
        }
    )


def build_follower(config: ServerConfig, *, host: str, port: int, sagemaker: Any = None) -> ChampionFollower:
    """The follower ``config.follow`` describes, its router to listen on ``host:port``."""
    follow, source = config.follow, config.source
    if follow is None or not isinstance(source, RegistrySource):
        raise ServingConfigError("follow: this server config does not follow a registry alias")
    return ChampionFollower(
        source_registry(source, sagemaker=sagemaker),
        lambda version: create_app(version_config(config, version)),
        tenant=source.group,
        model_name=source.group,
        policy=follow.policy(),
        strategy=follow.strategy,
        canary_weight=follow.canary_weight,
        poll_seconds=follow.poll_seconds,
        max_backoff_seconds=follow.max_backoff_seconds,
        load_timeout_seconds=follow.load_timeout_seconds,
        host=host,
        port=port,
        wait_for_champion=True,
    )


def run_following(
    config: ServerConfig, *, host: str, port: int, workers: int = 1, log_level: str = "info"
) -> int:
    """Serve the champion as it moves until SIGINT/SIGTERM (see the module). A follower is one
    process: ``workers`` above 1 is refused, not ignored."""
    if workers != 1:
        raise ServingConfigError(
            f"workers: a server that follows the champion (follow in {CONFIG_ENV}) runs in one "
            f"process, got --workers {workers}; start it with --workers 1 and scale with pods or instances"
        )
    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s [%(process)d]: %(message)s"
        )
    stopping = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda _signum, _frame: stopping.set())
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    follower = build_follower(config, host=host, port=port)
    try:
        follower.start()
        log.info("following the champion of %s on %s:%d", follower.tenant, host, port)
        # a timed wait: the signal handler runs in this thread between waits
        while not stopping.wait(1.0):
            pass
    finally:
        follower.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


__all__ = ["build_follower", "run_following", "version_config"]
