"""The load generator moved into the package (tritonops.devcluster.load) so that `make demo` can use it."""

from tritonops.devcluster.load import (
    MODEL_DEPLOYMENT_LABEL,
    REVISION_LABEL,
    Counts,
    LoadGenerator,
    Request,
    Target,
    doubler_request,
)

__all__ = ["MODEL_DEPLOYMENT_LABEL", "REVISION_LABEL", "Counts", "LoadGenerator", "Request", "Target", "doubler_request"]
