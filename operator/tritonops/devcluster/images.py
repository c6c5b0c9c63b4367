"""Build the three container images the real nodes run, offline-reproducibly, as archives in the cache.

- `pause`: containerd's sandbox image, a static C binary packed FROM scratch;
- `triton`: tritonserver from the nvidia-pytriton wheel on a Debian bookworm rootfs, laid out like NGC's
  `nvcr.io/nvidia/tritonserver:XX.YY-py3` (binary, backends and a `triton-server` user, uid 1000);
- `operator`: the repository's own `Containerfile`, built with a local Debian base and a local wheelhouse.

No registry can be reached from the machines that run the tests, so every input is fetched once, outside
the loopback-only sandbox: Debian packages by mmdebstrap, wheels by `pip download`. The results are OCI
archives that `ctr -n k8s.io images import` reads. Each archive's name carries a hash of everything that
shaped it (recipe, package lists, wheel versions, source tree), so changing one input rebuilds that image
and nothing else, and a lookup (`image_archives()`, what runs in the sandbox) never builds anything.

`python -m tritonops.devcluster.images` builds all three and prints what it made.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import importlib.metadata
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

import yaml

from tritonops.devcluster import network, versions

Progress = Callable[[str], None]

REPOSITORY_ROOT = pathlib.Path(__file__).resolve().parents[3]
CHART_DIRECTORY = REPOSITORY_ROOT / "charts" / "tritonops"
CONTAINERFILE = REPOSITORY_ROOT / "Containerfile"
CONTAINERIGNORE = REPOSITORY_ROOT / ".containerignore"

# Bumped by hand when the build code below changes in a way that changes the images it makes; it is part
# of every cache key, so old archives are never mistaken for new ones.
RECIPE_VERSION = "1"

DEBIAN_SUITE = "bookworm"
# Bookworm's python3 is 3.11: the python backend stub, the wheels and the image's interpreter must agree.
IMAGE_PYTHON = "3.11"

# nvidia-pytriton 0.7.0 (pinned in pyproject.toml) ships tritonserver 2.51; this is only the tag.
TRITON_SERVER_VERSION = "2.51.0"
PAUSE: str = "localhost/tritonops/pause:1"
TRITON: str = f"localhost/tritonops/tritonserver:{TRITON_SERVER_VERSION}-cpu"
TRITON_USER_ID = 1000
OPERATOR_USER_ID = 65532

# The limits of these machines (no CAP_SYS_RESOURCE): buildah's defaults ask for more and runc then fails.
_ULIMITS = ("nofile=20000:20000", "nproc=32768:32768")
# Fixed created time and layer timestamps, so that equal inputs give equal image configs.
_IMAGE_TIMESTAMP = 0
_BUILD_TIMEOUT_SECONDS = 1800
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclasses.dataclass(frozen=True)
class ImageArchive:
    reference: str
    archive: pathlib.Path


def chart_image_reference(*, chart_directory: pathlib.Path) -> str:
    """The image the chart runs by default: values.yaml `image.repository` and `image.tag` or appVersion."""
    values = yaml.safe_load((chart_directory / "values.yaml").read_text())
    chart = yaml.safe_load((chart_directory / "Chart.yaml").read_text())
    image = values["image"]
    tag = image.get("tag") or chart["appVersion"]
    return f"{image['repository']}:{tag}"


def _operator_reference() -> str:
    try:
        return chart_image_reference(chart_directory=CHART_DIRECTORY)
    except OSError:
        # Installed without the checkout (inside the operator image itself, say): there is no chart and
        # nothing is built, but importing this module must still work.
        return f"localhost/tritonops/tritonops:{importlib.metadata.version('tritonops')}"


OPERATOR: str = _operator_reference()

# containerd's sandbox image: it must hold the pod's namespaces open, reap orphans (it is PID 1 when a pod
# shares its process namespace) and leave promptly on SIGTERM/SIGINT, like Kubernetes' own pause.
PAUSE_SOURCE = r"""
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void leave(int signal_number) { (void)signal_number; _exit(0); }

static void reap(int signal_number) {
  (void)signal_number;
  while (waitpid(-1, 0, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction quit = {0};
  quit.sa_handler = leave;
  sigaction(SIGTERM, &quit, 0);
  sigaction(SIGINT, &quit, 0);
  struct sigaction child = {0};
  child.sa_handler = reap;
  child.sa_flags = SA_NOCLDSTOP | SA_RESTART;
  sigaction(SIGCHLD, &child, 0);
  for (;;) {
    pause();
  }
}
"""
PAUSE_CFLAGS = ("-static", "-Os", "-s")


@dataclasses.dataclass(frozen=True)
class RootfsRecipe:
    """A Debian root filesystem made by mmdebstrap from Debian's own packages."""

    name: str
    packages: tuple[str, ...]
    # Shell commands run by mmdebstrap as customize hooks, with the rootfs path in "$1".
    hooks: tuple[str, ...] = ()
    suite: str = DEBIAN_SUITE
    variant: str = "minbase"

    def key(self) -> str:
        return recipe_key(parts={"recipe": RECIPE_VERSION, "rootfs": json.dumps(dataclasses.asdict(self), sort_keys=True)})


# Documentation, manuals and translations are a third of a minbase rootfs and no container reads them.
_DPKG_EXCLUDES = (
    "path-exclude=/usr/share/doc/*",
    "path-include=/usr/share/doc/*/copyright",
    "path-exclude=/usr/share/man/*",
    "path-exclude=/usr/share/info/*",
    "path-exclude=/usr/share/locale/*",
)
# The host's resolver and name must not leak into images (the runtime mounts its own files anyway).
_NEUTRAL_HOST_FILES = ": > \"$1/etc/resolv.conf\"; echo localhost > \"$1/etc/hostname\""

TRITON_ROOTFS = RootfsRecipe(
    name="triton-rootfs",
    # python3 and numpy for python-backend models; libpython3.11 for the backend stub; tini as PID 1.
    packages=("python3", f"libpython{IMAGE_PYTHON}", "python3-numpy", "tini"),
    hooks=(
        _NEUTRAL_HOST_FILES,
        f'chroot "$1" groupadd --gid {TRITON_USER_ID} triton-server',
        f'chroot "$1" useradd --uid {TRITON_USER_ID} --gid {TRITON_USER_ID} --create-home --shell /bin/bash triton-server',
    ),
)
OPERATOR_BASE_ROOTFS = RootfsRecipe(
    name="operator-base-rootfs",
    # What the Containerfile's RUN steps use (python3 -m venv, useradd) and TLS roots for clients.
    packages=("python3", "python3-venv", "ca-certificates"),
    hooks=(_NEUTRAL_HOST_FILES,),
)

# Every platform tag bookworm's glibc 2.36 accepts: pip expands only the legacy manylinux2014 aliases itself.
WHEEL_PLATFORMS = (
    *(f"manylinux_2_{minor}_x86_64" for minor in range(36, 16, -1)),
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
)


def recipe_key(*, parts: Mapping[str, str]) -> str:
    """A short stable hash of named inputs: equal inputs, equal key; any changed input, a new key."""
    digest = hashlib.sha256()
    for name in sorted(parts):
        encoded_name, encoded_value = name.encode(), parts[name].encode()
        # Lengths first, so that moving text from one part to the next changes the key.
        digest.update(f"{len(encoded_name)}:{len(encoded_value)}:".encode())
        digest.update(encoded_name)
        digest.update(encoded_value)
    return digest.hexdigest()[:20]


def _ignored(relative: pathlib.PurePath) -> bool:
    # Build byproducts of an editable install or of Python itself, never part of the recipe.
    return any(part == "__pycache__" or part.endswith(".egg-info") for part in relative.parts) or relative.suffix == ".pyc"


def source_tree_digest(*, root: pathlib.Path, paths: Sequence[str]) -> str:
    """Hash the names and contents of the files under `paths` (files or folders, relative to `root`)."""
    digest = hashlib.sha256()
    for top in sorted(paths):
        start = root / top
        files = [start] if start.is_file() else sorted(path for path in start.rglob("*") if path.is_file())
        for path in files:
            relative = path.relative_to(root)
            if _ignored(relative):
                continue
            content = path.read_bytes()
            digest.update(f"{relative.as_posix()}\0{len(content)}\0".encode())
            digest.update(content)
    return digest.hexdigest()


def runtime_requirements(*, pyproject: pathlib.Path) -> tuple[str, ...]:
    """`[project] dependencies` only: the image gets no torch, dev or test extras."""
    import tomllib

    document = tomllib.loads(pyproject.read_text())
    return tuple(document["project"]["dependencies"])


def build_requirements(*, pyproject: pathlib.Path) -> tuple[str, ...]:
    """`[build-system] requires`: `pip install .` builds the package in an isolated environment from these."""
    import tomllib

    document = tomllib.loads(pyproject.read_text())
    return tuple(document["build-system"]["requires"])


def installed_closure(*, requirements: Sequence[str]) -> tuple[str, ...]:
    """`name==version` of every distribution these requirements pull in, as installed in this environment.

    They become pip constraints for the wheelhouse, so the image runs the versions the tests ran, and they
    are part of the operator image's key, so upgrading the environment rebuilds the image.
    """
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    environment = {"python_version": IMAGE_PYTHON, "python_full_version": f"{IMAGE_PYTHON}.0", "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix", "implementation_name": "cpython", "platform_python_implementation": "CPython"}
    pins: dict[str, str] = {}
    pending: list[tuple[Requirement, str]] = [(Requirement(text), "") for text in requirements]
    visited: set[tuple[str, str]] = set()
    while pending:
        requirement, extra = pending.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({**environment, "extra": extra}):
            continue
        name = canonicalize_name(requirement.name)
        for wanted_extra in ("", *sorted(requirement.extras)):
            if (name, wanted_extra) in visited:
                continue
            visited.add((name, wanted_extra))
            try:
                distribution = importlib.metadata.distribution(name)
            except importlib.metadata.PackageNotFoundError:
                # Not installed here: pip resolves it freely, and the wheelhouse key still records the request.
                continue
            pins[name] = distribution.version
            for text in distribution.requires or []:
                pending.append((Requirement(text), wanted_extra))
    return tuple(f"{name}=={version}" for name, version in sorted(pins.items()))


@dataclasses.dataclass(frozen=True)
class Wheelhouse:
    """The wheels the operator image installs, downloaded once for the image's Python and platform."""

    requirements: tuple[str, ...]
    constraints: tuple[str, ...]
    python_version: str = IMAGE_PYTHON
    platforms: tuple[str, ...] = WHEEL_PLATFORMS

    def key(self) -> str:
        return recipe_key(parts={"recipe": RECIPE_VERSION, "wheelhouse": json.dumps(dataclasses.asdict(self), sort_keys=True)})


def operator_wheelhouse(*, root: pathlib.Path = REPOSITORY_ROOT) -> Wheelhouse:
    pyproject = root / "pyproject.toml"
    runtime = runtime_requirements(pyproject=pyproject)
    return Wheelhouse(requirements=(*runtime, *build_requirements(pyproject=pyproject)), constraints=installed_closure(requirements=runtime))


def operator_key(*, root: pathlib.Path, wheelhouse: Wheelhouse) -> str:
    """Everything that shapes the operator image: its Containerfile, build context, wheels and base."""
    return recipe_key(
        parts={
            "recipe": RECIPE_VERSION,
            "containerfile": (root / "Containerfile").read_text(),
            "context": source_tree_digest(root=root, paths=["operator", "pyproject.toml", "README.md", ".containerignore"]),
            "wheelhouse": wheelhouse.key(),
            "base": OPERATOR_BASE_ROOTFS.key(),
        }
    )


def pause_key() -> str:
    return recipe_key(parts={"recipe": RECIPE_VERSION, "source": PAUSE_SOURCE, "cflags": " ".join(PAUSE_CFLAGS), "reference": PAUSE})


def _pytriton_record() -> str:
    # The wheel's RECORD lists a hash of every file it installed: a cheap, exact digest of tritonserver.
    distribution = importlib.metadata.distribution("nvidia-pytriton")
    return f"{distribution.version}\n{distribution.read_text('RECORD') or ''}"


def triton_key() -> str:
    return recipe_key(
        parts={
            "recipe": RECIPE_VERSION,
            "rootfs": TRITON_ROOTFS.key(),
            "pytriton": _pytriton_record(),
            "reference": TRITON,
            "layout": json.dumps(_triton_config(), sort_keys=True),
        }
    )


def images_directory() -> pathlib.Path:
    return versions.cache_root() / "images"


def archive_path(*, name: str, key: str) -> pathlib.Path:
    return images_directory() / f"{name}-{key}.oci.tar"


def _keys(names: Sequence[str] = ("pause", "triton", "operator")) -> dict[str, tuple[str, str]]:
    """name -> (reference, key) for the images asked for (the operator's key hashes the source tree)."""
    keys: dict[str, Callable[[], tuple[str, str]]] = {
        "pause": lambda: (PAUSE, pause_key()),
        "triton": lambda: (TRITON, triton_key()),
        "operator": lambda: (OPERATOR, operator_key(root=REPOSITORY_ROOT, wheelhouse=operator_wheelhouse())),
    }
    return {name: compute() for name, compute in keys.items() if name in names}


def _missing_message(name: str, path: pathlib.Path) -> str:
    return (
        f"the {name} image archive {path} is missing or out of date (its inputs changed); build it outside "
        "the network sandbox with `make image` (or tests/install-dependencies.sh, which `make test` runs): "
        "nothing can be downloaded in here"
    )


def image_archives(*, names: Sequence[str] = ("pause", "triton", "operator")) -> Mapping[str, ImageArchive]:
    """Look the archives up without building anything (this is what runs inside the network sandbox)."""
    found: dict[str, ImageArchive] = {}
    for name, (reference, key) in _keys(names).items():
        path = archive_path(name=name, key=key)
        if not path.is_file():
            raise RuntimeError(_missing_message(name, path))
        found[name] = ImageArchive(reference=reference, archive=path)
    return found


def _print_progress(message: str) -> None:
    print(f"[tritonops images] {message}", file=sys.stderr, flush=True)


def ensure_images(*, progress: Progress = _print_progress) -> Mapping[str, ImageArchive]:
    """Build whichever archive is missing (needs the network for Debian packages and wheels), then return all."""
    directory = images_directory()
    directory.mkdir(parents=True, exist_ok=True)
    with _lock(directory / ".lock"):
        builders: dict[str, Callable[[pathlib.Path, Progress], None]] = {
            "pause": _build_pause,
            "triton": _build_triton,
            "operator": _build_operator,
        }
        results: dict[str, ImageArchive] = {}
        for name, (reference, key) in _keys().items():
            path = archive_path(name=name, key=key)
            if not path.is_file():
                if network.is_loopback_only_namespace():
                    raise RuntimeError(_missing_message(name, path))
                progress(f"building the {name} image {reference} (key {key})")
                started = time.monotonic()
                staging = path.with_name(f".{path.name}.partial")
                staging.unlink(missing_ok=True)
                builders[name](staging, progress)
                seconds = time.monotonic() - started
                _metadata_path(path).write_text(json.dumps({"reference": reference, "key": key, "build_seconds": round(seconds, 1), "built_at": time.time()}))
                # The rename is the commit point: a lookup sees a whole archive or none.
                staging.replace(path)
                _remove_stale(name=name, keep=path)
                progress(f"built {reference} in {seconds:.0f} s: {path} ({path.stat().st_size / 2**20:.0f} MiB)")
            results[name] = ImageArchive(reference=reference, archive=path)
        return results


def _metadata_path(path: pathlib.Path) -> pathlib.Path:
    return path.with_name(path.name.removesuffix(".oci.tar") + ".json")


def build_seconds(*, image: ImageArchive) -> float | None:
    """How long the archive took to build, as recorded when it was built."""
    try:
        return float(json.loads(_metadata_path(image.archive).read_text())["build_seconds"])
    except (OSError, ValueError, KeyError):
        return None


# Each archive is hundreds of MiB, but several checkouts of the repository (git worktrees) may share this
# cache, each looking up the archive of its own sources: the newest few stay.
_KEEP_ARCHIVES = 3


def _remove_stale(*, name: str, keep: pathlib.Path) -> None:
    others = sorted((old for old in images_directory().glob(f"{name}-*.oci.tar") if old != keep),
                    key=lambda path: path.stat().st_mtime, reverse=True)
    for old in others[_KEEP_ARCHIVES - 1:]:
        old.unlink(missing_ok=True)
        _metadata_path(old).unlink(missing_ok=True)


@contextlib.contextmanager
def _lock(path: pathlib.Path) -> Iterator[None]:
    # Two `make` runs at once must not build into the same buildah storage or the same archive names.
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ---------------------------------------------------------------------------------------------------
# buildah, with every file under the cache


def _buildah_environment() -> dict[str, str]:
    """buildah reads its settings from these files: ours, so it never touches /var/lib/containers."""
    directory = images_directory()
    storage = directory / "buildah"
    temporary = directory / "tmp"
    for path in (storage / "root", storage / "runroot", temporary):
        path.mkdir(parents=True, exist_ok=True)
    storage_conf = storage / "storage.conf"
    storage_conf.write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{storage / "root"}"\nrunroot = "{storage / "runroot"}"\n')
    containers_conf = storage / "containers.conf"
    ulimits = ", ".join(f'"{limit}"' for limit in _ULIMITS)
    containers_conf.write_text(
        "[containers]\n"
        f"default_ulimits = [{ulimits}]\n"
        "[engine]\n"
        # crun fails on this hybrid cgroup v1 host; Debian's runc works.
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
        'runtime = "runc"\n'
    )
    # No search registries: a short name must never turn into a pull from anywhere.
    registries_conf = storage / "registries.conf"
    registries_conf.write_text("unqualified-search-registries = []\n")
    environment = dict(os.environ)
    environment.update(
        CONTAINERS_STORAGE_CONF=str(storage_conf),
        CONTAINERS_CONF=str(containers_conf),
        CONTAINERS_REGISTRIES_CONF=str(registries_conf),
        BUILDAH_RUNTIME=shutil.which("runc") or "runc",
        BUILDAH_ISOLATION="oci",
        # Layer blobs and archives are staged here: hundreds of MiB that do not belong in /var/tmp.
        TMPDIR=str(temporary),
    )
    return environment


def _run(command: Sequence[str], *, progress: Progress, environment: Mapping[str, str] | None = None, timeout: float = _BUILD_TIMEOUT_SECONDS) -> str:
    try:
        completed = subprocess.run(list(command), env=dict(environment) if environment is not None else None, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(f"{command[0]} ran past {timeout:.0f} s: {' '.join(command)}") from error
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed with exit code {completed.returncode}:\n{completed.stderr[-4000:]}{completed.stdout[-2000:]}")
    return completed.stdout


def _buildah(*arguments: str, progress: Progress, timeout: float = _BUILD_TIMEOUT_SECONDS) -> str:
    return _run(["buildah", *arguments], progress=progress, environment=_buildah_environment(), timeout=timeout).strip()


def _commit_and_export(*, container: str, reference: str, archive: pathlib.Path, progress: Progress) -> None:
    """Commit a working container as `reference` and write it as an OCI archive, then drop both copies."""
    _buildah("commit", "--rm", "--timestamp", str(_IMAGE_TIMESTAMP), container, reference, progress=progress)
    _export(reference=reference, archive=archive, progress=progress)


def _export(*, reference: str, archive: pathlib.Path, progress: Progress) -> None:
    # The index's org.opencontainers.image.ref.name annotation carries the full reference: ctr import
    # names the image from it.
    _buildah("push", reference, f"oci-archive:{archive}:{reference}", progress=progress)
    # The archive is what is kept; the copy in buildah's storage would only double the disk used.
    _buildah("rmi", reference, progress=progress)


def _configure(container: str, *, options: Sequence[str], progress: Progress) -> None:
    _buildah("config", *options, container, progress=progress)


# ---------------------------------------------------------------------------------------------------
# Root filesystems from Debian's packages


def _rootfs(recipe: RootfsRecipe, *, progress: Progress) -> pathlib.Path:
    """The recipe's rootfs tarball, made once per recipe key (a minute or so, the slow part of a build)."""
    directory = images_directory() / "rootfs"
    directory.mkdir(parents=True, exist_ok=True)
    key = recipe.key()
    path = directory / f"{recipe.name}-{key}.tar"
    if path.is_file():
        return path
    progress(f"mmdebstrap {recipe.variant} {recipe.suite} + {', '.join(recipe.packages)}")
    staging = path.with_name(f".{path.name}.partial.tar")
    staging.unlink(missing_ok=True)
    command = [
        "mmdebstrap",
        f"--variant={recipe.variant}",
        "--mode=root",
        "--format=tar",
        f"--include={','.join(recipe.packages)}",
        *(f"--dpkgopt={option}" for option in _DPKG_EXCLUDES),
        *(f"--customize-hook={hook}" for hook in recipe.hooks),
        recipe.suite,
        str(staging),
    ]
    started = time.monotonic()
    _run(command, progress=progress, timeout=1200)
    staging.replace(path)
    for old in directory.glob(f"{recipe.name}-*.tar"):
        if old != path:
            old.unlink(missing_ok=True)
    progress(f"rootfs {path.name}: {path.stat().st_size / 2**20:.0f} MiB in {time.monotonic() - started:.0f} s")
    return path


# ---------------------------------------------------------------------------------------------------
# pause


def _build_pause(archive: pathlib.Path, progress: Progress) -> None:
    with tempfile.TemporaryDirectory(prefix="pause-", dir=images_directory()) as scratch:
        source = pathlib.Path(scratch) / "pause.c"
        binary = pathlib.Path(scratch) / "pause"
        source.write_text(PAUSE_SOURCE)
        _run(["gcc", *PAUSE_CFLAGS, "-o", str(binary), str(source)], progress=progress, timeout=120)
        container = _buildah("from", "scratch", progress=progress)
        try:
            _buildah("copy", container, str(binary), "/pause", progress=progress)
            # Any unprivileged id: pause needs nothing, and restricted pods may demand non-root.
            _configure(container, options=["--entrypoint", '["/pause"]', "--user", "65535:65535"], progress=progress)
            _commit_and_export(container=container, reference=PAUSE, archive=archive, progress=progress)
        except BaseException:
            _remove_container(container)
            raise


def _remove_container(container: str) -> None:
    with contextlib.suppress(Exception):
        subprocess.run(["buildah", "rm", container], env=_buildah_environment(), capture_output=True, timeout=120)


# ---------------------------------------------------------------------------------------------------
# triton


def _triton_config() -> dict[str, object]:
    """The image config, NGC-style: PATH and LD_LIBRARY_PATH, user triton-server, tini as PID 1."""
    return {
        "env": {
            "PATH": f"/opt/tritonserver/bin:{_DEFAULT_PATH}",
            "LD_LIBRARY_PATH": "/opt/tritonserver/lib",
            "LANG": "C.UTF-8",
            "TRITON_SERVER_VERSION": TRITON_SERVER_VERSION,
        },
        # Pods pass `args: [tritonserver, ...]`. tritonserver must not be PID 1: the kernel drops SIGKILL
        # sent to PID 1 from inside its own pid namespace, which is how a test model simulates a crash.
        # tini -g forwards signals to the whole process group and exits with the child's status.
        "entrypoint": ["/usr/bin/tini", "-g", "--"],
        "cmd": ["tritonserver", "--model-repository=/models"],
        "user": f"{TRITON_USER_ID}:{TRITON_USER_ID}",
        "workdir": "/opt/tritonserver",
        "ports": ["8000/tcp", "8001/tcp", "8002/tcp"],
    }


def _stage_tritonserver(target: pathlib.Path) -> None:
    """Lay the wheel's tritonserver out like NGC's /opt/tritonserver (bin, lib, backends, caches)."""
    import importlib.util

    spec = importlib.util.find_spec("pytriton")
    if spec is None or spec.origin is None:
        raise RuntimeError("nvidia-pytriton is not installed: pip install 'tritonops[dev]'")
    package = pathlib.Path(spec.origin).parent
    shipped = package / "tritonserver"
    stub = shipped / "python_backend_stubs" / IMAGE_PYTHON / "triton_python_backend_stub"
    if not stub.is_file():
        raise RuntimeError(f"pytriton ships no python backend stub for Python {IMAGE_PYTHON}")
    (target / "bin").mkdir(parents=True)
    shutil.copy2(shipped / "bin" / "tritonserver", target / "bin" / "tritonserver")
    # tritonserver's RPATH already includes $ORIGIN/../lib; the stub's does not, hence LD_LIBRARY_PATH too.
    shutil.copytree(package.parent / "nvidia_pytriton.libs", target / "lib")
    python_backend = target / "backends" / "python"
    python_backend.mkdir(parents=True)
    for item in (shipped / "backends" / "python").iterdir():
        if item.is_file():
            shutil.copy2(item, python_backend / item.name)
    # The stub for the image's Python, where tritonserver looks for it (its default --backend-directory).
    shutil.copy2(stub, python_backend / "triton_python_backend_stub")
    shutil.copytree(shipped / "caches", target / "caches", ignore=shutil.ignore_patterns("__pycache__"))
    for path in [target, *target.rglob("*")]:
        # World-readable, root-owned: the unprivileged user runs it, and nobody may change it.
        path.chmod(0o755 if path.is_dir() or os.access(path, os.X_OK) else 0o644)


def _config_options(config: Mapping[str, object]) -> list[str]:
    options: list[str] = []
    environment = config.get("env", {})
    assert isinstance(environment, dict)
    for name, value in environment.items():
        options += ["--env", f"{name}={value}"]
    options += ["--entrypoint", json.dumps(config["entrypoint"]), "--cmd", json.dumps(config["cmd"])]
    options += ["--user", str(config["user"]), "--workingdir", str(config["workdir"])]
    ports = config.get("ports", [])
    assert isinstance(ports, list)
    for port in ports:
        options += ["--port", str(port)]
    return options


def _build_triton(archive: pathlib.Path, progress: Progress) -> None:
    rootfs = _rootfs(TRITON_ROOTFS, progress=progress)
    with tempfile.TemporaryDirectory(prefix="triton-", dir=images_directory()) as scratch:
        staged = pathlib.Path(scratch) / "tritonserver"
        _stage_tritonserver(staged)
        container = _buildah("from", "scratch", progress=progress)
        try:
            # Debian's rootfs, then NGC's /opt/tritonserver layout; commit squashes both into one layer.
            _buildah("add", container, str(rootfs), "/", progress=progress)
            _buildah("copy", "--chown", "0:0", container, str(staged), "/opt/tritonserver", progress=progress)
            _configure(container, options=_config_options(_triton_config()), progress=progress)
            _commit_and_export(container=container, reference=TRITON, archive=archive, progress=progress)
        except BaseException:
            _remove_container(container)
            raise


# ---------------------------------------------------------------------------------------------------
# operator


def _operator_base(*, progress: Progress) -> str:
    """A local stand-in for python:3.11-slim-bookworm, from Debian's packages, in buildah's storage."""
    reference = f"localhost/tritonops/operator-base:{OPERATOR_BASE_ROOTFS.key()}"
    present = subprocess.run(["buildah", "inspect", "--type", "image", reference], env=_buildah_environment(), capture_output=True, timeout=120)
    if present.returncode == 0:
        return reference
    rootfs = _rootfs(OPERATOR_BASE_ROOTFS, progress=progress)
    container = _buildah("from", "scratch", progress=progress)
    try:
        _buildah("add", container, str(rootfs), "/", progress=progress)
        _configure(container, options=["--env", f"PATH={_DEFAULT_PATH}", "--env", "LANG=C.UTF-8", "--cmd", '["python3"]'], progress=progress)
        _buildah("commit", "--rm", "--timestamp", str(_IMAGE_TIMESTAMP), container, reference, progress=progress)
    except BaseException:
        _remove_container(container)
        raise
    return reference


def _ensure_wheelhouse(wheelhouse: Wheelhouse, *, progress: Progress) -> pathlib.Path:
    """Download the wheels once per wheelhouse key; the image build then installs with --no-index."""
    directory = images_directory() / "wheelhouse"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / wheelhouse.key()
    if path.is_dir():
        return path
    progress(f"pip download {len(wheelhouse.requirements)} requirements for Python {wheelhouse.python_version}")
    staging = pathlib.Path(tempfile.mkdtemp(prefix=".partial-", dir=directory))
    try:
        constraints = staging / "constraints.txt"
        constraints.write_text("".join(f"{line}\n" for line in wheelhouse.constraints))
        command = [
            sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
            "--dest", str(staging),
            # Wheels only, for the image's interpreter and platform, whatever this host runs.
            "--only-binary=:all:", "--python-version", wheelhouse.python_version, "--implementation", "cp",
            "--abi", f"cp{wheelhouse.python_version.replace('.', '')}",
            *(argument for platform in wheelhouse.platforms for argument in ("--platform", platform)),
            "--constraint", str(constraints),
            *wheelhouse.requirements,
        ]
        environment = dict(os.environ)
        # Only the index decides what goes in: a host-local find-links folder would make it unreproducible.
        environment.pop("PIP_FIND_LINKS", None)
        environment.pop("PIP_NO_INDEX", None)
        _run(command, progress=progress, environment=environment, timeout=900)
        constraints.unlink()
        staging.rename(path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for old in directory.iterdir():
        if old != path and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    return path


def _build_operator(archive: pathlib.Path, progress: Progress) -> None:
    wheelhouse = _ensure_wheelhouse(operator_wheelhouse(), progress=progress)
    base = _operator_base(progress=progress)
    command = [
        # No network during the build, whatever buildah or pip might try: a fresh namespace without routes.
        "unshare", "--net", "--",
        "buildah", "bud",
        "--network=none",
        "--pull=never",
        "--layers=false",
        "--timestamp", str(_IMAGE_TIMESTAMP),
        *(f"--ulimit={limit}" for limit in _ULIMITS),
        "--build-arg", f"BASE_IMAGE={base}",
        "--build-arg", "PIP_OPTIONS=--no-index --find-links=/wheels",
        "--volume", f"{wheelhouse}:/wheels:ro",
        "--file", str(REPOSITORY_ROOT / "Containerfile"),
        "--tag", OPERATOR,
        str(REPOSITORY_ROOT),
    ]
    progress("buildah bud of the Containerfile (offline, wheels from the local wheelhouse)")
    _run(command, progress=progress, environment=_buildah_environment())
    _export(reference=OPERATOR, archive=archive, progress=progress)


# ---------------------------------------------------------------------------------------------------
# reading archives back (tests, the report below)


def read_archive_config(*, archive: pathlib.Path) -> tuple[dict[str, object], dict[str, object], str]:
    """(manifest, image config, reference) of the single image in an OCI archive."""
    with tarfile.open(archive) as tar:

        def blob(digest: str) -> dict[str, object]:
            algorithm, value = digest.split(":", 1)
            member = tar.extractfile(f"blobs/{algorithm}/{value}")
            assert member is not None
            loaded = json.loads(member.read())
            assert isinstance(loaded, dict)
            return loaded

        index_file = tar.extractfile("index.json")
        assert index_file is not None
        index = json.loads(index_file.read())
        (entry,) = index["manifests"]
        manifest = blob(entry["digest"])
        config_descriptor = manifest["config"]
        assert isinstance(config_descriptor, dict)
        config = blob(str(config_descriptor["digest"]))
        return manifest, config, str(entry.get("annotations", {}).get("org.opencontainers.image.ref.name", ""))


def main() -> None:
    started = time.monotonic()
    archives = ensure_images()
    for name, image in archives.items():
        seconds = build_seconds(image=image)
        size = image.archive.stat().st_size / 2**20
        print(f"{name:9} {image.reference}\n          {image.archive} {size:.1f} MiB, built in {seconds if seconds is not None else '?'} s")
    print(f"total {time.monotonic() - started:.1f} s this run")


if __name__ == "__main__":
    main()
