"""Render the Helm chart: `manifests/install.yaml`, and the chart's copy of the CRD.

`crds/` is the one source of the CustomResourceDefinition. Helm reads a chart's CRDs only from the
chart's own `crds/` directory and does not reliably follow symlinks out of a chart (nor does a packaged
chart keep them), so the chart holds a byte-identical copy; `sync_crds` makes it, and the tests fail
when the copy or the rendered install manifest drifts. `python -m tritonops.devcluster.chart` (what
`make manifests` runs) refreshes both; `--check` only reports drift.
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys
from collections.abc import Mapping, Sequence

import yaml

from tritonops.devcluster import gobuild, versions

CHART = pathlib.Path("charts") / "tritonops"
CRDS = pathlib.Path("crds")
INSTALL_MANIFEST = pathlib.Path("manifests") / "install.yaml"
RELEASE = "tritonops"
NAMESPACE = "tritonops-system"

INSTALL_HEADER = f"""\
# tritonops: everything needed to run the operator, in one file.
#   kubectl apply --server-side -f manifests/install.yaml
# Rendered from the Helm chart charts/tritonops with its default values (release "{RELEASE}", namespace
# "{NAMESPACE}", every namespace watched): the Namespace, the ModelDeployment CRD and the chart's templates.
# Do not edit by hand. Regenerate with `make manifests` (python -m tritonops.devcluster.chart); a test fails
# when this file drifts from the chart. To change settings, install the chart with Helm instead.
"""


def helm_binary() -> pathlib.Path:
    return gobuild.ensure_binaries([versions.HELM])["helm"]


def template(
    chart: pathlib.Path,
    *,
    release: str = RELEASE,
    namespace: str = NAMESPACE,
    values: Mapping[str, object] | None = None,
    include_crds: bool = False,
    helm: pathlib.Path | None = None,
) -> str:
    """`helm template` of the chart; `values` are passed as a values file (`-f`)."""
    command = [str(helm or helm_binary()), "template", release, str(chart), "--namespace", namespace]
    if include_crds:
        command.append("--include-crds")
    values_text = yaml.safe_dump(dict(values)) if values else None
    if values_text is not None:
        command += ["--values", "-"]
    completed = subprocess.run(command, input=values_text, capture_output=True, text=True, timeout=120, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"helm template failed ({completed.returncode}):\n{completed.stderr}")
    return completed.stdout


def namespace_document(name: str = NAMESPACE) -> str:
    """The release namespace, enforcing the restricted Pod Security Standard the operator's pod meets."""
    document = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                "app.kubernetes.io/part-of": "tritonops",
                "pod-security.kubernetes.io/enforce": "restricted",
            },
        },
    }
    return yaml.safe_dump(document, sort_keys=False)


def install_manifest(root: pathlib.Path, *, helm: pathlib.Path | None = None) -> str:
    """What `manifests/install.yaml` must hold: the header, the Namespace, then `helm template --include-crds`."""
    rendered = template(root / CHART, include_crds=True, helm=helm)
    if not rendered.startswith("---"):
        rendered = "---\n" + rendered
    return f"{INSTALL_HEADER}---\n{namespace_document()}{rendered}"


def crd_pairs(root: pathlib.Path) -> list[tuple[pathlib.Path, pathlib.Path]]:
    """(source in crds/, copy in the chart's crds/) for every CRD."""
    return [(source, root / CHART / "crds" / source.name) for source in sorted((root / CRDS).glob("*.yaml"))]


def stale_crd_copies(root: pathlib.Path) -> list[pathlib.Path]:
    """Chart CRD files that differ from their source, are missing, or have no source any more."""
    pairs = crd_pairs(root)
    stale = [copy for source, copy in pairs if not copy.is_file() or copy.read_bytes() != source.read_bytes()]
    expected = {copy for _, copy in pairs}
    stale += [path for path in sorted((root / CHART / "crds").glob("*")) if path not in expected]
    return stale


def sync_crds(root: pathlib.Path) -> list[pathlib.Path]:
    """Make the chart's crds/ an exact copy of crds/; returns the files written or removed."""
    changed = stale_crd_copies(root)
    expected = {copy for _, copy in crd_pairs(root)}
    for path in changed:
        if path not in expected:
            path.unlink()
    for source, copy in crd_pairs(root):
        if copy in changed:
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_bytes(source.read_bytes())
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tritonops.devcluster.chart", description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=pathlib.Path, default=pathlib.Path.cwd(), help="the repository root (default: .)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if anything is out of date")
    arguments = parser.parse_args(argv)
    root: pathlib.Path = arguments.root
    if arguments.check:
        stale = stale_crd_copies(root)
        manifest = root / INSTALL_MANIFEST
        if not manifest.is_file() or manifest.read_text() != install_manifest(root):
            stale.append(manifest)
        for path in stale:
            print(f"out of date: {path}", file=sys.stderr)
        return 1 if stale else 0
    for path in sync_crds(root):
        print(f"synced {path}")
    manifest = root / INSTALL_MANIFEST
    rendered = install_manifest(root)
    if not manifest.is_file() or manifest.read_text() != rendered:
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(rendered)
        print(f"rendered {manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
