"""The `tritonops` command line."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tritonops import constants

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
    run.add_argument(
        "--leader-election-identity", default="",
        help="this replica's name in the Lease, unique among the replicas (default: the host name and a random suffix)",
    )
    run.add_argument(
        "--leader-election-lease-seconds", type=int, default=constants.LEADER_LEASE_SECONDS, metavar="SECONDS",
        help="how long a standby waits, from the last change of the Lease it saw, before it takes it over (default %(default)s)",
    )
    run.add_argument(
        "--leader-election-renew-deadline-seconds", type=float, default=constants.LEADER_RENEW_DEADLINE_SECONDS, metavar="SECONDS",
        help="how long the leader acts after its last successful renewal; shorter than the lease (default %(default)s)",
    )
    run.add_argument(
        "--storage-image", default=os.environ.get("TRITONOPS_STORAGE_IMAGE") or constants.DEFAULT_STORAGE_IMAGE, metavar="IMAGE",
        help="image of the model-storage init container that copies s3/gs/as models (env TRITONOPS_STORAGE_IMAGE; default %(default)s)",
    )
    run.add_argument(
        "--leader-election-retry-seconds", type=float, default=constants.LEADER_RETRY_SECONDS, metavar="SECONDS",
        help="pause between attempts to take or renew the Lease (default %(default)s)",
    )

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
    _add_package_parser(commands)
    _add_golden_parser(commands)
    _add_dev_parser(commands)
    return parser


def _add_dev_parser(commands: Any) -> None:
    from tritonops.devcluster import dev

    parser = commands.add_parser(
        "dev", help="a local control plane with real nodes for trying tritonops on one machine: up, status, down, exec",
        description="A local Kubernetes control plane on 127.0.0.1 (built from source the first time) with simulated GPU "
        "nodes, real nodes (a kubelet and containerd each, inside a loopback-only network namespace) and the ModelDeployment "
        "CRD, left running in the background.",
    )
    dev.add_arguments(parser)


PACKAGE_EPILOG = """\
examples:
  tritonops package resnet.pt --example-input float32:1x3x224x224 --output models
  tritonops package mymodels:build_classifier -e float32:4x16 --name classifier --version 2 --format onnx -o models
  tritonops package net.py:make -e int64:1x32 -e inputs.pt --format python --max-batch-size 0 -o models

The model is traced on the example inputs (torch.jit.trace); config.pbtxt declares inputs INPUT__0.. and
outputs OUTPUT__0.. in forward()'s order, with the traced dtypes and dims. When the first dimension of
every input and output is a batch dimension (checked by running the traced model on a batch one larger),
the config gets max_batch_size (8 by default) and dynamic batching, and dims leave that dimension out.
The written config.pbtxt is parsed with Triton's own model-config protobuf, and the written model is
reloaded (torch.jit.load, onnxruntime) and must reproduce torch's outputs. Bad input exits with status 2.

The python layout's model.py imports torch inside Triton's python backend: the server's Python must have
it, or TRITONOPS_MODEL_PYTHONPATH must name the site-packages that hold it (model.py adds those paths).
"""


def _add_package_parser(commands: Any) -> None:
    package = commands.add_parser(
        "package",
        help="turn a PyTorch model into a Triton model repository (TorchScript, ONNX or python backend)",
        description="Write REPOSITORY/NAME/config.pbtxt and REPOSITORY/NAME/VERSION/ for a PyTorch model.\n"
        "Needs the torch extra: pip install 'tritonops[torch]'.",
        epilog=PACKAGE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    package.add_argument(
        "model", metavar="MODEL",
        help="a TorchScript file (saved with torch.jit.save), or MODULE:FACTORY: a function taking no arguments that "
        "returns a torch.nn.Module, in an importable module (the current directory is importable) or a .py file",
    )
    package.add_argument(
        "--example-input", "-e", action="append", required=True, metavar="SPEC",
        help="an example input, one per forward() argument, in order (repeat the flag): DTYPE:DIMS such as "
        "float32:1x3x224x224 (seeded random values; DTYPE is bool, uint8, int8, int16, int32, int64, float16, "
        "float32, float64 or bfloat16), or a .pt file saved with torch.save holding a tensor or a tuple of tensors",
    )
    package.add_argument("--output", "-o", required=True, type=pathlib.Path, metavar="REPOSITORY", help="the model repository directory (created if missing)")
    package.add_argument("--name", help="the Triton model name, a directory in REPOSITORY (default: the file's stem or the factory's name)")
    package.add_argument("--version", type=int, default=1, metavar="N", help="the version directory to write (default 1)")
    package.add_argument(
        "--format", choices=["torchscript", "onnx", "python"], default="torchscript",
        help="torchscript: platform pytorch_libtorch, model.pt; onnx: platform onnxruntime_onnx, model.onnx; "
        "python: python backend, a model.py that serves model.pt with torch (default torchscript)",
    )
    package.add_argument(
        "--max-batch-size", type=int, metavar="N",
        help="Triton's max_batch_size; 0 turns batching off (dims are the full example shapes). "
        "Default: 8 (or the example's batch, if larger) when the first dimension is a batch dimension, else 0",
    )
    package.add_argument("--opset", type=int, default=17, metavar="N", help="ONNX opset for --format onnx (default 17)")
    package.add_argument("--force", action="store_true", help="replace the version directory if it exists")


def _add_golden_parser(commands: Any) -> None:
    golden = commands.add_parser("golden", help="golden sets: inputs with the outputs a known-good model gives")
    actions = golden.add_subparsers(dest="golden_command", required=True)
    record = actions.add_parser(
        "record",
        help="record a golden set from a running Triton (for a model tritonops did not package)",
        description="Send each case of INPUTS to MODEL version N over Triton's HTTP API and write the answers as a "
        "tritonops.dev/golden/v1 golden set. INPUTS is JSON: {\"cases\": [{\"name\": ..., \"inputs\": "
        "{NAME: {\"datatype\": \"FP32\", \"shape\": [1, 3], \"data\": [...]}}}]}.",
    )
    record.add_argument("--url", required=True, help="Triton's HTTP endpoint, such as http://127.0.0.1:8000")
    record.add_argument("--model", required=True, help="the model name")
    record.add_argument("--version", required=True, type=int, metavar="N", help="the model version to record")
    record.add_argument("--inputs", required=True, type=pathlib.Path, metavar="INPUTS", help="the inputs file")
    record.add_argument("--output", "-o", required=True, type=pathlib.Path, metavar="FILE", help="the golden set to write")
    record.add_argument("--timeout-seconds", type=float, default=10.0, metavar="S", help="connect and request timeout (default 10)")


def _golden(arguments: argparse.Namespace) -> int:
    from tritonops.golden import golden_set, record

    try:
        cases = record.parse_inputs(arguments.inputs.read_text())
        recorded = record.record(
            url=arguments.url, model=arguments.model, version=arguments.version, cases=cases, timeout_seconds=arguments.timeout_seconds
        )
        text = golden_set.render(recorded)
    except (OSError, golden_set.GoldenSetError) as error:
        print(f"tritonops golden record: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # tritonclient's InferenceServerException and socket errors: one line, no traceback
        print(f"tritonops golden record: {arguments.url}: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    arguments.output.write_text(text)
    print(f"recorded {len(recorded.cases)} case(s) of {recorded.model} version {recorded.version} in {arguments.output}")
    return 0


def _package(arguments: argparse.Namespace) -> int:
    from tritonops.packaging import PackagingError
    from tritonops.packaging.build import PackageRequest, package, summary

    request = PackageRequest(
        model=arguments.model,
        example_inputs=arguments.example_input,
        repository=arguments.output,
        name=arguments.name,
        version=arguments.version,
        format=arguments.format,
        max_batch_size=arguments.max_batch_size,
        onnx_opset=arguments.opset,
        force=arguments.force,
    )
    def progress(step: str) -> None:
        # Only on a terminal: in a pipe or a log, stderr stays for warnings and the one-line error.
        if sys.stderr.isatty():
            print(f"tritonops package: {step}...", file=sys.stderr, flush=True)

    try:
        result = package(request, progress=progress)
    except PackagingError as error:
        print(f"tritonops package: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return INTERRUPTED
    for note in result.notes:
        print(f"tritonops package: warning: {note}", file=sys.stderr)
    print("\n".join(summary(result)))
    return 0


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
    parser = _parser()
    arguments = parser.parse_args(argv)
    if arguments.command == "run":
        from tritonops.leader import Timings
        from tritonops.runner import RunOptions, run

        try:
            timings = Timings(
                lease_seconds=arguments.leader_election_lease_seconds,
                renew_deadline_seconds=arguments.leader_election_renew_deadline_seconds,
                retry_seconds=arguments.leader_election_retry_seconds,
            )
        except ValueError as error:
            parser.error(str(error))

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
                leader_election_identity=arguments.leader_election_identity,
                leader_election_timings=timings,
                storage_image=arguments.storage_image,
            )
        )
        return 0
    if arguments.command == "package":
        return _package(arguments)
    if arguments.command == "golden":
        return _golden(arguments)
    if arguments.command == "dev":
        from tritonops.devcluster import dev

        return dev.main(arguments)
    return _control(arguments)


if __name__ == "__main__":
    sys.exit(main())
