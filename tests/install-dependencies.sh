#!/usr/bin/env bash
# Install everything `make test` needs on a fresh machine, reusing what earlier runs cached under
# ~/.cache/tritonops: Debian packages, the Python environment, and the Go builds of the control plane.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${TRITONOPS_CACHE:-$HOME/.cache/tritonops}"
venv="$cache/venv"
python="${PYTHON:-python3}"

missing=()
command -v prometheus >/dev/null || missing+=(prometheus)
command -v promtool >/dev/null || missing+=(prometheus)
command -v ip >/dev/null || missing+=(iproute2)
command -v unshare >/dev/null || missing+=(util-linux)
# The images the real nodes run (tritonops.devcluster.images): a Debian rootfs, buildah on Debian's runc.
command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
command -v buildah >/dev/null || missing+=(buildah)
command -v runc >/dev/null || missing+=(runc)
command -v gcc >/dev/null || missing+=(gcc libc6-dev)
# Triton's python backend stub links against the system libpython of the same minor version.
pyminor=$("$python" -c 'import sys; print(f"{sys.version_info.major}.{sys.version_info.minor}")')
dpkg -s "libpython$pyminor" >/dev/null 2>&1 || missing+=("libpython$pyminor")
if [ ${#missing[@]} -gt 0 ]; then
  echo "[deps] apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "[deps] creating $venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
fi
# Reinstall when the dependencies or the checkout's location change (the install is editable).
stamp="$(cat pyproject.toml | sha256sum | cut -c1-16)-$(pwd)"
if [ "$(cat "$venv/.tritonops-stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "[deps] pip install -e .[test]"
  "$venv/bin/pip" install -q -e '.[test]'
  echo "$stamp" > "$venv/.tritonops-stamp"
fi

# Go builds of etcd, kube-apiserver, controller-manager, scheduler, kwok, metrics-server, helm,
# kubeconform, containerd and versitygw (the S3 server of the storage tests): only the first run pays for them.
"$venv/bin/python" -m tritonops.devcluster.gobuild

# The pause, Triton and operator images as OCI archives (Debian packages and wheels are fetched here, outside
# the sandbox, where nothing can be downloaded): rebuilt only when their inputs change.
"$venv/bin/python" -m tritonops.devcluster.images
