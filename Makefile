# tritonops: `make test` installs what it needs and runs every test tier; `make demo` shows a canary.
CACHE ?= $(HOME)/.cache/tritonops
VENV ?= $(CACHE)/venv
PYTEST = tests/sandbox.sh $(VENV)/bin/python -m pytest

.PHONY: deps image manifests typecheck test test-unit test-integration test-e2e demo bench-scale bench-write-costs bench-rollback bench-versus bench-spec-change bench-capacity docs

deps:
	tests/install-dependencies.sh

test: deps typecheck
	$(PYTEST) -ra tests/unit tests/integration tests/e2e

# The pause, Triton and operator images as OCI archives under ~/.cache/tritonops/images, built outside the
# network sandbox (Debian packages and wheels are downloaded once); the real nodes import them into containerd.
image: deps
	$(VENV)/bin/python -m tritonops.devcluster.images

# The chart's copy of crds/ and manifests/install.yaml, rendered from the chart (a test checks for drift).
manifests: deps
	$(VENV)/bin/python -m tritonops.devcluster.chart

typecheck: deps
	$(VENV)/bin/mypy

test-unit: deps
	$(PYTEST) -ra tests/unit

test-integration: deps
	$(PYTEST) -ra tests/integration

test-e2e: deps
	$(PYTEST) -ra tests/e2e

# The README's main command: a local control plane, real Triton pods and a canary release of a packaged
# PyTorch model (a broken version rolled back, a good one promoted), inside a loopback-only namespace.
demo: deps
	tests/sandbox.sh $(VENV)/bin/python -m tritonops.demo

bench-scale: deps
	tests/sandbox.sh $(VENV)/bin/python -m bench.scale $(ARGS)

# What each kind of write the operator makes for a new object costs kube-apiserver and etcd (quiet cluster).
bench-write-costs: deps
	tests/sandbox.sh $(VENV)/bin/python -m bench.write_costs

bench-rollback: deps
	tests/sandbox.sh $(VENV)/bin/python -m bench.rollback

# Flagger (built once from its Go module, with its CRDs, outside the sandbox: `make deps` never builds it)
# and tritonops on the same cluster and faults. ARGS is passed through, e.g. ARGS="--runs 1 --faults errors".
bench-versus: deps
	$(VENV)/bin/python -m bench.flagger
	tests/sandbox.sh $(VENV)/bin/python -m bench.versus $(ARGS)

bench-spec-change: deps
	tests/sandbox.sh $(VENV)/bin/python -m bench.spec_change

bench-capacity: deps
	tests/sandbox.sh $(VENV)/bin/python -m bench.capacity

docs: deps
	$(VENV)/bin/python -m tritonops.api_reference
