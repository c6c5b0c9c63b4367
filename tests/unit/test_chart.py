"""Pure parts of the chart tooling: the CRD copy kept in sync, OpenAPI to strict kubeconform schemas, and
counting refused requests from the API server's metrics."""

from __future__ import annotations

import json
import pathlib

from tests.harness import chart as harness
from tritonops.devcluster import chart


def _repository(tmp_path: pathlib.Path) -> pathlib.Path:
    (tmp_path / "crds").mkdir()
    (tmp_path / "crds" / "a.yaml").write_bytes(b"kind: CustomResourceDefinition\n# a\n")
    (tmp_path / "charts" / "tritonops" / "crds").mkdir(parents=True)
    return tmp_path


def test_sync_crds_makes_the_chart_copy_exact(tmp_path: pathlib.Path) -> None:
    root = _repository(tmp_path)
    copy = root / "charts" / "tritonops" / "crds" / "a.yaml"
    assert chart.stale_crd_copies(root) == [copy]
    leftover = root / "charts" / "tritonops" / "crds" / "old.yaml"
    leftover.write_text("kind: CustomResourceDefinition\n")
    assert sorted(chart.sync_crds(root)) == sorted([copy, leftover])
    assert copy.read_bytes() == (root / "crds" / "a.yaml").read_bytes() and not leftover.exists()
    assert chart.stale_crd_copies(root) == [] and chart.sync_crds(root) == []
    copy.write_bytes(copy.read_bytes() + b" ")  # one byte of drift
    assert chart.stale_crd_copies(root) == [copy]


def test_the_install_namespace_enforces_the_restricted_profile() -> None:
    assert "pod-security.kubernetes.io/enforce: restricted" in chart.namespace_document()
    assert chart.INSTALL_HEADER.startswith("#") and all(line.startswith("#") for line in chart.INSTALL_HEADER.splitlines())


def test_kind_suffix_is_kubeconforms() -> None:
    assert harness.kind_suffix("v1") == "-v1"
    assert harness.kind_suffix("apps/v1") == "-apps-v1"
    assert harness.kind_suffix("rbac.authorization.k8s.io/v1") == "-rbac-v1"
    assert harness.kind_suffix("inference.tritonops.dev/v1alpha1") == "-inference-v1alpha1"


def test_strict_schema_closes_objects_and_accepts_int_or_string() -> None:
    openapi = {
        "type": "object",
        "properties": {
            "port": {"type": "string", "format": "int-or-string"},
            "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True, "properties": {"a": {"type": "string"}}},
            "list": {"type": "array", "items": {"type": "object", "properties": {"b": {"x-kubernetes-int-or-string": True}}}},
            # A property *named* like a keyword is a property, not the keyword.
            "format": {"type": "string"},
            "x-kubernetes-int-or-string": {"type": "boolean"},
        },
    }
    strict = harness.strict_schema(openapi)
    assert strict["additionalProperties"] is False
    assert strict["properties"]["port"]["oneOf"] == [{"type": "string"}, {"type": "integer"}]
    assert "additionalProperties" not in strict["properties"]["free"]
    assert strict["properties"]["list"]["items"]["additionalProperties"] is False
    assert strict["properties"]["list"]["items"]["properties"]["b"]["oneOf"] == [{"type": "string"}, {"type": "integer"}]
    assert strict["properties"]["format"] == {"type": "string"}
    assert strict["properties"]["x-kubernetes-int-or-string"] == {"type": "boolean"}


def test_schemas_are_standalone_per_kind(tmp_path: pathlib.Path) -> None:
    openapi = {
        "definitions": {
            "io.k8s.api.apps.v1.Deployment": {
                "type": "object",
                "properties": {"spec": {"$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentSpec"}},
                "x-kubernetes-group-version-kind": [{"group": "apps", "version": "v1", "kind": "Deployment"}],
            },
            "io.k8s.api.apps.v1.DeploymentSpec": {"type": "object", "properties": {"replicas": {"type": "integer"}}},
            "io.k8s.api.core.v1.Unrelated": {"type": "object"},
            "io.k8s.apimachinery.pkg.api.resource.Quantity": {"type": "string", "description": "q"},
        }
    }
    written = harness.write_kubeconform_schemas(openapi, tmp_path)
    assert set(written) == {"apps/v1/Deployment"} and written["apps/v1/Deployment"].name == "deployment-apps-v1.json"
    schema = json.loads(written["apps/v1/Deployment"].read_text())
    assert set(schema["definitions"]) == {"io.k8s.api.apps.v1.DeploymentSpec"}
    assert schema["definitions"]["io.k8s.api.apps.v1.DeploymentSpec"]["additionalProperties"] is False


def test_refused_requests_are_counted_from_both_metrics() -> None:
    text = "\n".join([
        '# HELP authorization_attempts_total x',
        'authorization_attempts_total{result="allowed"} 640',
        'authorization_attempts_total{result="no-opinion"} 3',
        'apiserver_request_total{code="200",component="apiserver",group="apps",resource="deployments",scope="namespace",subresource="",verb="LIST",version="v1"} 9',
        'apiserver_request_total{code="403",component="apiserver",group="",resource="pods",scope="resource",subresource="exec",verb="POST",version="v1"} 2',
    ])
    counts = harness.forbidden_requests(text)
    assert counts == {"authorization no-opinion": 3, "403 POST core/pods/exec (resource)": 2}
    assert harness.new_forbidden(counts, {**counts, "authorization no-opinion": 4}) == {"authorization no-opinion": 1}
    assert harness.new_forbidden(counts, counts) == {}
