"""Run one analysis window: ask the spec's provider for each revision's window, then judge it (pure)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from tritonops.desired.revision import Revision
from tritonops.engine.analysis import Check, Verdict, judge
from tritonops.engine.golden_gate import RevisionProbe, combine, judge_golden
from tritonops.golden import probe
from tritonops.golden.golden_set import GoldenSet
from tritonops.providers import Provider, RevisionTarget
from tritonops.providers.bounded_http import Deadline
from tritonops.providers.prometheus import PrometheusProvider, Query, http_query
from tritonops.providers.triton import SCRAPE_DEADLINE_SECONDS, Fetch, TritonProvider, http_fetch
from tritonops.resource import ModelDeployment
from tritonops.spec import AnalysisSpec

logger = logging.getLogger(__name__)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# One analysis (both revisions and the custom queries) in all: a slow pod or Prometheus holds a worker no longer.
ANALYSIS_DEADLINE_SECONDS = 8.0


class QueryFactory(Protocol):
    def __call__(self, base_url: str, *, deadline: Deadline) -> Query:
        """An instant-query function against one Prometheus server, whose queries are over by `deadline`."""
        ...


def address_filter(networks: Sequence[str]) -> Callable[[str], bool]:
    """Whether an address may be contacted; no networks means any address."""
    parsed: list[Network] = [ipaddress.ip_network(network) for network in networks]

    def allowed(address: str) -> bool:
        if not parsed:
            return True
        try:
            value = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(value in network for network in parsed)

    return allowed


class Analyzer:
    def __init__(
        self,
        *,
        scrape_networks: Sequence[str] = (),
        fetch: Fetch = http_fetch,
        prometheus_query: QueryFactory = http_query,
        scrape_deadline_seconds: float = SCRAPE_DEADLINE_SECONDS,
        analysis_deadline_seconds: float = ANALYSIS_DEADLINE_SECONDS,
        golden_client: probe.ClientFactory = probe.http_client,
        golden_deadline_seconds: float = probe.PROBE_DEADLINE_SECONDS,
    ) -> None:
        self.allowed = address_filter(scrape_networks)
        self.triton = TritonProvider(fetch=fetch, allowed=self.allowed, scrape_deadline_seconds=scrape_deadline_seconds)
        self.golden_client = golden_client
        self.golden_deadline_seconds = golden_deadline_seconds
        self.prometheus_query = prometheus_query
        self.analysis_deadline_seconds = analysis_deadline_seconds

    def _provider(self, analysis: AnalysisSpec, *, deadline: Deadline) -> Provider:
        if analysis.provider == "prometheus":
            # The CRD requires the URL with this provider; without one every query fails: inconclusive.
            return PrometheusProvider(self.prometheus_query(analysis.prometheus_url or "", deadline=deadline))
        return self.triton.within(deadline)

    def golden(
        self, resource: ModelDeployment, *, golden_set: GoldenSet | str, stable: Revision, canary: Revision, pods: Iterable[Mapping[str, Any]]
    ) -> Verdict:
        """The golden checks: the golden set sent to the canary's Ready pods, then to the stable's as the
        baseline, within one deadline. `golden_set` is the set, or why it could not be read."""
        golden = resource.spec.rollout.analysis.golden
        assert golden is not None
        if isinstance(golden_set, str):
            return Verdict("Inconclusive", (Check("golden", "canary", None, "every golden case answered", None, golden_set),),
                           f"golden set unreadable: {golden_set}")
        deadline = Deadline.after(self.golden_deadline_seconds)
        ready = [pod for pod in pods if pod.get("ready") and pod.get("ip")]

        def probed(revision: Revision) -> RevisionProbe:
            addresses = {str(pod["name"]): str(pod["ip"]) for pod in ready if pod.get("revision") == revision.hash}
            return probe.probe_revision(golden_set=golden_set, golden=golden, model=resource.model_name, version=revision.version,
                                        pods=addresses, deadline=deadline, allowed=self.allowed, client_factory=self.golden_client)

        outputs = sorted({name for case in golden_set.cases for name in case.outputs})
        try:
            canary_probe = probed(canary)
            stable_probe = probed(stable)
        except Exception as error:  # noqa: BLE001
            # A bug here must not abort the reconcile (and with it the rollback of a crashing canary).
            logger.exception("golden probe of %s/%s failed", resource.namespace, resource.name)
            return Verdict("Inconclusive", (), f"the golden probe failed: {type(error).__name__}: {error}")
        return judge_golden(golden=golden, outputs=outputs, canary=canary_probe, stable=stable_probe)

    def analyse(
        self, resource: ModelDeployment, *, stable: Revision, canary: Revision, pods: Iterable[Mapping[str, Any]],
        golden_set: GoldenSet | str | None = None,
    ) -> Verdict | None:
        """Judge the window ending now; None when the provider only took its first sample. It is over
        within the analysis deadline: whatever did not answer by then leaves the window inconclusive.
        With spec.rollout.analysis.golden, the golden checks join the window's (`golden_set`: the set, or
        why it could not be read)."""
        listed = list(pods)
        verdict = self._metrics(resource, stable=stable, canary=canary, pods=listed)
        if verdict is None or resource.spec.rollout.analysis.golden is None or golden_set is None:
            return verdict
        return combine(verdict, self.golden(resource, golden_set=golden_set, stable=stable, canary=canary, pods=listed))

    def _metrics(
        self, resource: ModelDeployment, *, stable: Revision, canary: Revision, pods: Iterable[Mapping[str, Any]]
    ) -> Verdict | None:
        analysis = resource.spec.rollout.analysis
        window_seconds = analysis.interval_seconds
        provider = self._provider(analysis, deadline=Deadline.after(self.analysis_deadline_seconds))
        listed = list(pods)
        ready = [pod for pod in listed if pod.get("ready") and pod.get("ip")]
        key = (resource.namespace, resource.name)
        # Only these two revisions are measured now, and only listed pods can be scraped again.
        self.triton.retain(key, revisions={stable.hash, canary.hash}, pods={str(pod.get("name")) for pod in listed})

        def target(revision: Revision) -> RevisionTarget:
            addresses = {str(pod["name"]): str(pod["ip"]) for pod in ready if pod.get("revision") == revision.hash}
            return RevisionTarget(key=key, revision=revision.hash, model=resource.model_name, version=revision.version, pods=addresses)

        try:
            canary_window = provider.measure(target(canary), window_seconds=window_seconds)
            stable_window = provider.measure(target(stable), window_seconds=window_seconds)
            custom = provider.custom(analysis.custom, window_seconds=window_seconds)
        except (OSError, RuntimeError, ValueError) as error:
            # A provider that cannot answer leaves the window inconclusive: never a pass, never a fail.
            logger.warning("analysis of %s/%s could not be measured: %s", key[0], key[1], error)
            return Verdict("Inconclusive", (), f"the {analysis.provider} provider could not measure: {error}")
        except Exception as error:  # noqa: BLE001
            # Anything else is a bug, but raising would abort every reconcile of the object, and with it the
            # rollback of a crashing canary: the window is inconclusive and the traceback goes to the log.
            logger.exception("analysis of %s/%s failed", key[0], key[1])
            return Verdict("Inconclusive", (), f"the {analysis.provider} provider failed: {type(error).__name__}: {error}")
        if canary_window is None or stable_window is None:
            return None
        return judge(analysis=analysis, canary=canary_window, stable=stable_window, custom_values=custom)

    def prime(self, resource: ModelDeployment, *, stable: Revision, canary: Revision, pods: Iterable[Mapping[str, Any]]) -> None:
        """Take the triton provider's first sample as soon as the canary is up, so the first window is whole."""
        if resource.spec.rollout.analysis.provider == "triton" and not self.triton.has_sample((resource.namespace, resource.name), canary.hash):
            self.analyse(resource, stable=stable, canary=canary, pods=pods)

    def forget(self, key: tuple[str, str]) -> None:
        self.triton.forget(key)
