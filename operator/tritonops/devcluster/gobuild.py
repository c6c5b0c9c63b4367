"""Build the control plane's binaries from their Go modules, once per version, into the cache."""

from __future__ import annotations

import collections
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping

from tritonops.devcluster import network, versions

Progress = Callable[[str], None]


def _print_progress(message: str) -> None:
    print(f"[tritonops build] {message}", file=sys.stderr, flush=True)


def go_environment() -> dict[str, str]:
    """The environment for every go command: no toolchain download, no cgo, caches outside the repo."""
    root = versions.cache_root() / "go"
    environment = dict(os.environ)
    environment.update(
        GOTOOLCHAIN="local",
        CGO_ENABLED="0",
        GOPATH=str(root / "path"),
        GOMODCACHE=str(root / "mod"),
        GOCACHE=str(root / "build"),
        # Read-only module files make `rm -rf` of the cache fail; writable ones do no harm here.
        GOFLAGS="-modcacherw",
    )
    if network.is_loopback_only_namespace():
        # Nothing can be downloaded in here; fail fast on a cache miss rather than wait on the proxy.
        environment["GOPROXY"] = "off"
    return environment


def binary_path(component: versions.GoComponent) -> pathlib.Path:
    return versions.cache_root() / "bin" / f"{component.name}-{component.version}" / component.name


def _run_go(arguments: list[str], *, directory: pathlib.Path) -> str:
    completed = subprocess.run(
        ["go", *arguments],
        cwd=directory,
        env=go_environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"go {' '.join(arguments)} failed in {directory}:\n{completed.stderr[-4000:]}")
    return completed.stdout


def staging_replacements(*, kubernetes_go_mod: str, staging_version: str) -> list[str]:
    """Turn k8s.io/kubernetes' relative staging replaces into replaces with released versions.

    The replaces in k8s.io/kubernetes' own go.mod point at ./staging and are ignored when it is a
    dependency, so its v0.0.0 requirements would not resolve without these.
    """
    pattern = re.compile(r"^\s*(?:replace\s+)?(k8s\.io/[\w./-]+)\s+=>\s+\./staging/", re.MULTILINE)
    return [f"replace {module} => {module} {staging_version}" for module in pattern.findall(kubernetes_go_mod)]


def _wrapper_go_mod(*, module: str, version: str) -> str:
    lines = ["module tritonops.local/build", "", "go 1.26", ""]
    if module == "k8s.io/kubernetes":
        downloaded = _run_go(
            ["mod", "download", "-json", f"{module}@{version}"], directory=pathlib.Path(tempfile.gettempdir())
        )
        go_mod_path = re.search(r'"GoMod":\s*"([^"]+)"', downloaded)
        if go_mod_path is None:
            raise RuntimeError(f"go mod download gave no GoMod path for {module}@{version}")
        kubernetes_go_mod = pathlib.Path(go_mod_path.group(1)).read_text()
        lines.extend(
            staging_replacements(
                kubernetes_go_mod=kubernetes_go_mod, staging_version=versions.KUBERNETES_STAGING_VERSION
            )
        )
    return "\n".join(lines) + "\n"


def _build_group(components: list[versions.GoComponent], *, progress: Progress) -> None:
    first = components[0]
    work = versions.cache_root() / "build" / f"{first.module.replace('/', '_')}-{first.version}"
    work.mkdir(parents=True, exist_ok=True)
    (work / "go.mod").write_text(_wrapper_go_mod(module=first.module, version=first.version))
    (work / "go.sum").unlink(missing_ok=True)
    names = ", ".join(component.name for component in components)
    progress(f"resolving {first.module}@{first.version} for {names}")
    _run_go(["get", *[f"{component.package}@{component.version}" for component in components]], directory=work)
    for component in components:
        started = time.monotonic()
        progress(f"compiling {component.name} {component.version} (the first build takes minutes)")
        target = binary_path(component)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as staging:
            staged = pathlib.Path(staging) / component.name
            _run_go(
                ["build", "-trimpath", "-ldflags", component.ldflags, "-o", str(staged), component.package],
                directory=work,
            )
            # A rename is atomic, so an interrupted build never leaves a binary that looks finished.
            staged.rename(target)
        progress(f"built {component.name} in {time.monotonic() - started:.0f}s")


def ensure_binaries(
    components: Iterable[versions.GoComponent] = versions.ALL_COMPONENTS,
    *,
    progress: Progress = _print_progress,
) -> Mapping[str, pathlib.Path]:
    """Return the path of each component's binary, building the ones that are not cached yet."""
    wanted = list(components)
    if shutil.which("go") is None:
        missing = [component.name for component in wanted if not binary_path(component).exists()]
        if missing:
            raise RuntimeError(f"go is not installed and these binaries are not cached: {', '.join(missing)}")
    groups: dict[tuple[str, str], list[versions.GoComponent]] = collections.defaultdict(list)
    for component in wanted:
        if not binary_path(component).exists():
            groups[(component.module, component.version)].append(component)
    for group in groups.values():
        _build_group(group, progress=progress)
    return {component.name: binary_path(component) for component in wanted}


def module_directory(*, module: str, version: str) -> pathlib.Path:
    """Download a Go module (for files it ships, such as CRDs) and return its directory."""
    downloaded = _run_go(
        ["mod", "download", "-json", f"{module}@{version}"], directory=pathlib.Path(tempfile.gettempdir())
    )
    directory = re.search(r'"Dir":\s*"([^"]+)"', downloaded)
    if directory is None:
        raise RuntimeError(f"go mod download gave no Dir for {module}@{version}")
    return pathlib.Path(directory.group(1))


def gateway_api_crds() -> list[pathlib.Path]:
    """The standard-channel Gateway API CRDs, as the sigs.k8s.io/gateway-api module ships them."""
    directory = module_directory(module=versions.GATEWAY_API_MODULE, version=versions.GATEWAY_API_VERSION)
    return sorted((directory / "config" / "crd" / "standard").glob("gateway.networking.k8s.io_*.yaml"))


if __name__ == "__main__":
    for name, path in ensure_binaries().items():
        print(f"{name}: {path}")
    # Downloaded now, outside the sandbox, so that tests find it in the module cache.
    print(f"gateway-api CRDs: {len(gateway_api_crds())} files")
