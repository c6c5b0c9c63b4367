"""Names shared by the API, the builders and the I/O layer."""

from __future__ import annotations

GROUP = "inference.tritonops.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ModelDeployment"
PLURAL = "modeldeployments"

# One field manager for every server-side apply, so ownership of fields never flips between writers.
FIELD_MANAGER = "tritonops"

# Recommended labels (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/).
LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_VERSION = "app.kubernetes.io/version"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_PART_OF = "app.kubernetes.io/part-of"
LABEL_REVISION = f"{GROUP}/revision"
LABEL_MODEL_DEPLOYMENT = f"{GROUP}/modeldeployment"

SERVER_NAME = "triton"
MANAGER_NAME = "tritonops"

# The hash of what was last applied; comparing it avoids any write when nothing changed.
ANNOTATION_APPLIED_HASH = f"{GROUP}/applied-hash"
ANNOTATION_PROMOTE = f"{GROUP}/promote"
ANNOTATION_ABORT = f"{GROUP}/abort"
ANNOTATION_RETRY = f"{GROUP}/retry"

HTTP_PORT = 8000
GRPC_PORT = 8001
METRICS_PORT = 8002

GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
GPU_TAINT_KEY = "nvidia.com/gpu"

# Leader election, as client-go's three durations; a lease shorter than its 15 s, so that a standby takes
# over within 15 s of a leader's death (lease plus one retry period, at most, after its last renewal).
LEADER_LEASE_SECONDS = 10
LEADER_RENEW_DEADLINE_SECONDS = 7.0
LEADER_RETRY_SECONDS = 2.0

# The init container that copies one model version out of an object store (tritonops.storage.fetch).
STORAGE_CONTAINER_NAME = "model-storage"
# Its image when --storage-image / TRITONOPS_STORAGE_IMAGE is not given: the operator's own, as the chart names it.
DEFAULT_STORAGE_IMAGE = "ghcr.io/tritonops/tritonops:0.1.0"
