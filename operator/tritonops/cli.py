"""The `tritonops` command line."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tritonops.controls import Connection

# Exit status of a command stopped by Ctrl-C, as shells report it.
INTERRUPTED = 130


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
    run.add_argument(
        "--scrape-network", action="append", default=[], metavar="CIDR",
        help="only scrape Triton pods whose IP is in this network (repeatable); default: any",
    )
    run.add_argument("--leader-elect", action="store_true", help="run several replicas: only the holder of a Lease acts")
    run.add_argument(
        "--leader-election-namespace", default=os.environ.get("POD_NAMESPACE", "default"),
        help="namespace of the Lease (default: $POD_NAMESPACE, else 'default')",
    )
    run.add_argument("--leader-election-name", default="tritonops-leader", help="name of the Lease")

    target = argparse.ArgumentParser(add_help=False)
    target.add_argument("name", metavar="NAME", help="the ModelDeployment")
    target.add_argument("--namespace", "-n", help="its namespace; default: the kubeconfig context's namespace, else 'default'")
    target.add_argument("--kubeconfig", help="kubeconfig file; default: $KUBECONFIG or ~/.kube/config, else in-cluster")

    status = commands.add_parser(
        "status", parents=[target], help="rollout status: revisions, weight, step, last measurements, history",
        description="Show a ModelDeployment's rollout status. With --watch, exit 0 once it is Ready, 1 once it is "
        "RolledBack or Failed or when --timeout passes.",
    )
    status.add_argument("--watch", "-w", action="store_true", help="re-render until the phase is settled (Ready, RolledBack, Failed)")
    status.add_argument("--interval", type=_positive_seconds, default=2.0, metavar="SECONDS", help="seconds between reads with --watch (default 2)")
    status.add_argument("--timeout", type=_positive_seconds, default=600.0, metavar="SECONDS", help="give up watching after this long (default 600)")
    status.add_argument("--output", "-o", choices=["table", "json"], default="table", help="json: the status as written (one line per change with --watch)")

    for command, summary in (
        ("promote", "promote the canary now (needs a canary)"),
        ("abort", "roll the canary back now"),
        ("retry", "retry the failed revision (needs a failed revision)"),
        ("pause", "hold the rollout at its current step (spec.rollout.paused: true)"),
        ("resume", "let a paused rollout go on (spec.rollout.paused: false)"),
    ):
        commands.add_parser(command, parents=[target], help=summary, description=summary[0].upper() + summary[1:] + ".")
    return parser


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds: {text!r}")
    return value


def watch(
    *,
    read: Callable[[], Mapping[str, Any]],
    show: Callable[[Mapping[str, Any]], None],
    interval_seconds: float,
    timeout_seconds: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[int, str | None]:
    """Read and show the object until it is settled or the timeout passes: (exit status, one-line reason if not 0)."""
    from tritonops import status_report

    deadline = clock() + timeout_seconds
    while True:
        body = read()
        show(body)
        phase = status_report.phase(body)
        if status_report.is_settled(body):
            return (0, None) if phase == "Ready" else (1, f"the rollout ended in phase {phase}")
        remaining = deadline - clock()
        if remaining <= 0:
            return 1, f"timed out after {timeout_seconds:g}s waiting for a settled phase (phase {phase or 'unknown'})"
        sleep(min(interval_seconds, remaining))


def _status(arguments: argparse.Namespace, *, connection: Connection, namespace: str) -> int:
    from rich.console import Console
    from rich.live import Live

    from tritonops import controls, status_report

    def read() -> Mapping[str, Any]:
        return controls.read(connection, namespace=namespace, name=arguments.name)

    console = Console()
    if not arguments.watch:
        body = read()
        if arguments.output == "json":
            print(json.dumps(status_report.summary(body), indent=2))
        else:
            console.print(status_report.render(body))
        return 0

    last_shown: list[dict[str, Any]] = []

    def show_changes(body: Mapping[str, Any]) -> None:
        # Outside a terminal (a log, a pipe) each distinct state is printed once instead of redrawn.
        current = status_report.summary(body)
        if last_shown and last_shown[-1] == current:
            return
        last_shown[:] = [current]
        if arguments.output == "json":
            print(json.dumps(current), flush=True)
        else:
            console.print(status_report.render(body))

    if arguments.output == "table" and console.is_interactive:
        with Live(console=console, auto_refresh=False, vertical_overflow="visible") as live:
            exit_status, reason = watch(
                read=read, show=lambda body: live.update(status_report.render(body), refresh=True),
                interval_seconds=arguments.interval, timeout_seconds=arguments.timeout,
            )
    else:
        exit_status, reason = watch(read=read, show=show_changes, interval_seconds=arguments.interval, timeout_seconds=arguments.timeout)
    if reason is not None:
        print(f"tritonops status: {namespace}/{arguments.name}: {reason}", file=sys.stderr)
    return exit_status


def _control(arguments: argparse.Namespace) -> int:
    from tritonops import controls

    try:
        connection = controls.connect(kubeconfig=arguments.kubeconfig)
        namespace = arguments.namespace or connection.default_namespace
        if arguments.command == "status":
            return _status(arguments, connection=connection, namespace=namespace)
        if arguments.command in ("pause", "resume"):
            message = controls.set_paused(connection, namespace=namespace, name=arguments.name, paused=arguments.command == "pause")
        else:
            message = controls.request(
                connection, control=arguments.command, namespace=namespace, name=arguments.name,
                now=datetime.datetime.now(datetime.timezone.utc),
            )
    except controls.ControlError as error:
        print(f"tritonops {arguments.command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Ctrl-C (the usual end of `status --watch`) is not an error worth a traceback.
        return INTERRUPTED
    print(message)
    return 0


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
                scrape_networks=arguments.scrape_network,
                leader_election=arguments.leader_elect,
                leader_election_namespace=arguments.leader_election_namespace,
                leader_election_name=arguments.leader_election_name,
            )
        )
        return 0
    return _control(arguments)


if __name__ == "__main__":
    sys.exit(main())
