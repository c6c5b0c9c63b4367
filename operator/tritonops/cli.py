"""The `tritonops` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tritonops", description="Kubernetes operator for NVIDIA Triton model deployments.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the operator against the current kubeconfig or in-cluster")
    run.add_argument("--namespace", "-n", action="append", default=[], help="watch this namespace (repeatable); default: all")
    run.add_argument("--kubeconfig", help="kubeconfig file; default: in-cluster, then ~/.kube/config")
    run.add_argument("--liveness", default="http://0.0.0.0:8080/healthz", help="liveness endpoint URL, or 'off'")
    run.add_argument("--metrics-address", default="0.0.0.0", help="address for the /metrics endpoint")
    run.add_argument("--metrics-port", type=int, default=8081, help="port for the /metrics endpoint")
    run.add_argument("--log-format", choices=["text", "json"], default="text")
    run.add_argument("--log-level", default="INFO")
    run.add_argument("--resync-seconds", type=float, default=60.0, help="period of the full resync")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    if arguments.command == "run":
        from tritonops.runner import RunOptions, run

        run(
            RunOptions(
                namespaces=arguments.namespace,
                kubeconfig=arguments.kubeconfig,
                liveness_endpoint=None if arguments.liveness == "off" else arguments.liveness,
                metrics_address=arguments.metrics_address,
                metrics_port=arguments.metrics_port,
                log_format=arguments.log_format,
                log_level=arguments.log_level,
                resync_seconds=arguments.resync_seconds,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
