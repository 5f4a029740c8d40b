"""``python -m pipelines.serving [--host H] [--port P] [--workers W]``: serve the model that
``TENANTML_SERVING_CONFIG`` (a :class:`~pipelines.serving.config.ServerConfig` JSON) describes.

This is the container entry point; ``tenantml serve`` builds the config from a tenant's registry.
"""

from __future__ import annotations

import argparse
import sys

from core.errors import TenantmlError
from pipelines.serving.config import DEFAULT_PORT, ServerConfig
from pipelines.serving.runner import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.serving", description=__doc__.splitlines()[0])
    # inside a container every interface is right: SageMaker and the EKS service reach it from outside
    # (`tenantml serve`, run on a workstation, defaults to loopback instead)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--no-reuse-port", action="store_true", help="use uvicorn's own worker supervisor")
    args = parser.parse_args(argv)
    try:
        config = ServerConfig.from_env()
        if config.follow is not None:  # EKS pods and EC2 instances: follow the champion alias
            from pipelines.serving.follow_server import run_following

            return run_following(
                config, host=args.host, port=args.port, workers=args.workers, log_level=args.log_level
            )
        return run(
            config,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
            reuse_port=False if args.no_reuse_port else None,
        )
    except TenantmlError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
