"""Run one analysis window: ask the spec's provider for each revision's window, then judge it (pure)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from tritonops.desired.revision import Revision
from tritonops.engine.analysis import Verdict, judge
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
    ) -> None:
        self.triton = TritonProvider(fetch=fetch, allowed=address_filter(scrape_networks), scrape_deadline_seconds=scrape_deadline_seconds)
        self.prometheus_query = prometheus_query
        self.analysis_deadline_seconds = analysis_deadline_seconds

    def _provider(self, analysis: AnalysisSpec, *, deadline: Deadline) -> Provider:
        if analysis.provider == "prometheus":
            # The CRD requires the URL with this provider; without one every query fails: inconclusive.
            return PrometheusProvider(self.prometheus_query(analysis.prometheus_url or "", deadline=deadline))
        return self.triton.within(deadline)

    def analyse(
        self, resource: ModelDeployment, *, stable: Revision, canary: Revision, pods: Iterable[Mapping[str, Any]]
    ) -> Verdict | None:
        """Judge the window ending now; None when the provider only took its first sample. It is over
        within the analysis deadline: whatever did not answer by then leaves the window inconclusive."""
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
