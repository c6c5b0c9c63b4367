from __future__ import annotations

import pytest

from tests.harness.specs import model_deployment
from tritonops.desired.revision import revision_of

BASE = model_deployment()


@pytest.mark.parametrize(
    ("change", "changes_revision"),
    [
        ({"model": {"version": "2"}}, True),
        ({"model": {"repository": "s3://models/other"}}, True),
        ({"model": {"name": "other"}}, True),
        ({"server": {"image": "nvcr.io/nvidia/tritonserver:25.09-py3"}}, True),
        ({"server": {"args": ["--log-verbose=1"]}}, True),
        ({"server": {"env": [{"name": "A", "value": "1"}]}}, True),
        ({"server": {"gpu": {"count": 2}}}, True),
        ({"server": {"resources": {"requests": {"cpu": "2"}}}}, True),
        ({"server": {"nodeSelector": {"pool": "a"}}}, True),
        ({"replicas": 5}, False),
        ({"autoscaling": {"enabled": True, "maxReplicas": 9}}, False),
        ({"rollout": {"stepSeconds": 5, "analysis": {"failureLimit": 4}}}, False),
        ({"traffic": {"router": "gatewayAPI", "gatewayAPI": {"parentRefs": [{"name": "g"}]}}}, False),
        ({"service": {"type": "NodePort"}}, False),
        ({"server": {"args": []}}, False),
    ],
)
def test_only_pod_shaping_changes_alter_the_revision(change: dict, changes_revision: bool) -> None:
    changed = model_deployment(change)
    assert (revision_of(changed).hash != revision_of(BASE).hash) is changes_revision


def test_revision_is_stable_and_short() -> None:
    first, second = revision_of(model_deployment()), revision_of(model_deployment())
    assert first == second
    assert len(first.hash) == 8 and int(first.hash, 16) >= 0
    assert first.version == "1"
    assert first.image.startswith("nvcr.io/nvidia/tritonserver:")


def test_model_name_defaults_to_metadata_name() -> None:
    assert revision_of(model_deployment(name="a")).hash == revision_of(model_deployment({"model": {"name": "a"}}, name="a")).hash
