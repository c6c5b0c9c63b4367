"""Pinned versions of every component of the local control plane."""

from __future__ import annotations

import dataclasses
import os
import pathlib

KUBERNETES_VERSION = "v1.36.3"
# The staging modules (k8s.io/api, k8s.io/apiserver, ...) are released as v0.X.Y for Kubernetes v1.X.Y.
KUBERNETES_STAGING_VERSION = "v0.36.3"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.8.0"
METRICS_SERVER_VERSION = "v0.9.0"
HELM_VERSION = "v3.21.4"
KUBECONFORM_VERSION = "v0.7.0"
GATEWAY_API_VERSION = "v1.6.3"
# containerd 2.x: kubelet 1.37 drops support for containerd 1.x, so Debian's 1.6 is not an option.
CONTAINERD_VERSION = "v2.4.2"
GATEWAY_API_MODULE = "sigs.k8s.io/gateway-api"
# The S3 server of the model-storage tests: Apache-2.0 (MinIO is AGPL), one Go binary with a posix backend.
VERSITYGW_VERSION = "v1.8.0"
# The canary tool `make bench-versus` measures tritonops against; built for that benchmark only.
FLAGGER_VERSION = "v1.44.0"


@dataclasses.dataclass(frozen=True)
class GoComponent:
    """One binary built from a Go module at a pinned version."""

    name: str
    module: str
    version: str
    package: str
    ldflags: str = ""


def cache_root() -> pathlib.Path:
    """Where builds and binaries live: outside the repository, so every checkout reuses them."""
    configured = os.environ.get("TRITONOPS_CACHE")
    if configured:
        return pathlib.Path(configured)
    return pathlib.Path.home() / ".cache" / "tritonops"


_KUBERNETES_LDFLAGS = " ".join(
    [
        f"-X k8s.io/component-base/version.gitVersion={KUBERNETES_VERSION}",
        "-X k8s.io/component-base/version.gitMajor=1",
        "-X k8s.io/component-base/version.gitMinor=36",
        "-X k8s.io/component-base/version.gitTreeState=clean",
        "-X k8s.io/component-base/version.buildDate=2026-01-01T00:00:00Z",
        "-s -w",
    ]
)

KUBERNETES_COMPONENTS = tuple(
    GoComponent(
        name=name,
        module="k8s.io/kubernetes",
        version=KUBERNETES_VERSION,
        package=f"k8s.io/kubernetes/cmd/{name}",
        ldflags=_KUBERNETES_LDFLAGS,
    )
    # The kubelet is built with the control plane so that it shares the module resolution and build cache.
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet")
)

ETCD = GoComponent(name="etcd", module="go.etcd.io/etcd/server/v3", version=ETCD_VERSION, package="go.etcd.io/etcd/server/v3", ldflags="-s -w")
KWOK = GoComponent(name="kwok", module="sigs.k8s.io/kwok", version=KWOK_VERSION, package="sigs.k8s.io/kwok/cmd/kwok", ldflags="-s -w")
METRICS_SERVER = GoComponent(
    name="metrics-server",
    module="sigs.k8s.io/metrics-server",
    version=METRICS_SERVER_VERSION,
    package="sigs.k8s.io/metrics-server/cmd/metrics-server",
    ldflags=f"-s -w -X sigs.k8s.io/metrics-server/pkg/version.gitVersion={METRICS_SERVER_VERSION}",
)
HELM = GoComponent(
    name="helm",
    module="helm.sh/helm/v3",
    version=HELM_VERSION,
    package="helm.sh/helm/v3/cmd/helm",
    ldflags=f"-s -w -X helm.sh/helm/v3/internal/version.version={HELM_VERSION}",
)
KUBECONFORM = GoComponent(
    name="kubeconform",
    module="github.com/yannh/kubeconform",
    version=KUBECONFORM_VERSION,
    package="github.com/yannh/kubeconform/cmd/kubeconform",
    ldflags="-s -w",
)

VERSITYGW = GoComponent(
    name="versitygw",
    module="github.com/versity/versitygw",
    version=VERSITYGW_VERSION,
    package="github.com/versity/versitygw/cmd/versitygw",
    ldflags="-s -w",
)

FLAGGER = GoComponent(
    name="flagger",
    module="github.com/fluxcd/flagger",
    version=FLAGGER_VERSION,
    package="github.com/fluxcd/flagger/cmd/flagger",
    ldflags="-s -w",
)

_CONTAINERD_LDFLAGS = f"-s -w -X github.com/containerd/containerd/v2/version.Version={CONTAINERD_VERSION}"
CONTAINERD_COMPONENTS = tuple(
    GoComponent(
        name=name,
        module="github.com/containerd/containerd/v2",
        version=CONTAINERD_VERSION,
        package=f"github.com/containerd/containerd/v2/cmd/{name}",
        ldflags=_CONTAINERD_LDFLAGS,
    )
    # containerd finds its shim on PATH; ctr imports the locally built images.
    for name in ("containerd", "containerd-shim-runc-v2", "ctr")
)

ALL_COMPONENTS: tuple[GoComponent, ...] = (
    ETCD,
    *KUBERNETES_COMPONENTS,
    KWOK,
    METRICS_SERVER,
    HELM,
    KUBECONFORM,
    *CONTAINERD_COMPONENTS,
    VERSITYGW,
)
