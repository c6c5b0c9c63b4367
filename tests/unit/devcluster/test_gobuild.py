from __future__ import annotations

from tritonops.devcluster import gobuild, versions

KUBERNETES_GO_MOD = """module k8s.io/kubernetes

go 1.26.0

require (
	k8s.io/api v0.0.0
	k8s.io/apimachinery v0.0.0
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/apimachinery => ./staging/src/k8s.io/apimachinery
	k8s.io/cri-api => ./staging/src/k8s.io/cri-api
	github.com/example/other => github.com/example/other v1.2.3
)
"""


def test_staging_replacements_point_every_staging_module_at_its_release() -> None:
    assert gobuild.staging_replacements(kubernetes_go_mod=KUBERNETES_GO_MOD, staging_version="v0.36.3") == [
        "replace k8s.io/api => k8s.io/api v0.36.3",
        "replace k8s.io/apimachinery => k8s.io/apimachinery v0.36.3",
        "replace k8s.io/cri-api => k8s.io/cri-api v0.36.3",
    ]


def test_single_line_replace_is_understood() -> None:
    go_mod = "replace k8s.io/api => ./staging/src/k8s.io/api\n"
    assert gobuild.staging_replacements(kubernetes_go_mod=go_mod, staging_version="v0.36.3") == [
        "replace k8s.io/api => k8s.io/api v0.36.3"
    ]


def test_go_environment_never_downloads_a_toolchain_and_caches_outside_the_repository(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("TRITONOPS_CACHE", str(tmp_path))
    environment = gobuild.go_environment()
    assert environment["GOTOOLCHAIN"] == "local"
    assert environment["CGO_ENABLED"] == "0"
    assert environment["GOMODCACHE"].startswith(str(tmp_path))
    assert environment["GOCACHE"].startswith(str(tmp_path))


def test_binaries_are_cached_per_version(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("TRITONOPS_CACHE", str(tmp_path))
    path = gobuild.binary_path(versions.ETCD)
    assert path == tmp_path / "bin" / f"etcd-{versions.ETCD_VERSION}" / "etcd"


def test_every_component_is_pinned() -> None:
    for component in versions.ALL_COMPONENTS:
        assert component.version.startswith("v") and component.version.count(".") == 2, component
    kubernetes = [c for c in versions.ALL_COMPONENTS if c.module == "k8s.io/kubernetes"]
    assert {c.name for c in kubernetes} == {"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet"}
    assert all("gitVersion=v1.36." in c.ldflags for c in kubernetes)
