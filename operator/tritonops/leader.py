"""Leader election on a coordination.k8s.io Lease: with several replicas running, exactly one acts.

Every replica watches and keeps its indexes warm; only the leader's workers reconcile. The decision is
pure (`decide`); `LeaderElection` reads and writes the Lease. A leader that cannot renew within the
lease duration stops the process, as client-go's elector does, so two replicas never act at once.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes.client.rest import ApiException

from tritonops.kube import request_json

logger = logging.getLogger(__name__)
MICROTIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def _parse(value: Any) -> datetime.datetime | None:
    if not value:
        return None
    text = str(value)
    for pattern in (MICROTIME, "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.datetime.strptime(text, pattern).replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            continue
    return None


@dataclasses.dataclass(frozen=True)
class Decision:
    """Whether to write the Lease (take or renew it), and the spec to write."""

    acquire: bool
    spec: Mapping[str, Any]


def decide(lease_spec: Mapping[str, Any] | None, *, identity: str, lease_seconds: int, now: datetime.datetime) -> Decision:
    """Take a lease that is ours, free or expired; leave one that another holder keeps renewing."""
    stamp = now.astimezone(datetime.timezone.utc).strftime(MICROTIME)
    spec = dict(lease_spec or {})
    holder = spec.get("holderIdentity")
    renewed = _parse(spec.get("renewTime"))
    duration = int(spec.get("leaseDurationSeconds") or lease_seconds)
    expired = renewed is None or now >= renewed + datetime.timedelta(seconds=duration)
    if holder and holder != identity and not expired:
        return Decision(acquire=False, spec=spec)
    taking_over = holder != identity
    updated = {
        **spec,
        "holderIdentity": identity,
        "leaseDurationSeconds": lease_seconds,
        "renewTime": stamp,
        "acquireTime": stamp if taking_over else spec.get("acquireTime", stamp),
        "leaseTransitions": int(spec.get("leaseTransitions", 0)) + (1 if taking_over and holder else 0),
    }
    return Decision(acquire=True, spec=updated)


class LeaderElection:
    def __init__(
        self,
        api_client: Any,
        *,
        namespace: str,
        name: str,
        identity: str,
        lease_seconds: int = 15,
        retry_seconds: float = 2.0,
        on_lost: Callable[[], None],
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.timezone.utc),
    ) -> None:
        self.api_client = api_client
        self.path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        self.namespace, self.name, self.identity = namespace, name, identity
        self.lease_seconds, self.retry_seconds = lease_seconds, retry_seconds
        self.on_lost, self.clock = on_lost, clock
        self.leading = threading.Event()
        self._stop = threading.Event()
        self._last_renewal: datetime.datetime | None = None

    def _try_once(self) -> bool:
        """True when this replica holds the Lease now; False when another replica does."""
        try:
            lease: dict[str, Any] | None = request_json(self.api_client, "GET", f"{self.path}/{self.name}", timeout=5)
        except ApiException as error:
            if error.status != 404:
                raise
            lease = None
        decision = decide((lease or {}).get("spec"), identity=self.identity, lease_seconds=self.lease_seconds, now=self.clock())
        if not decision.acquire:
            return False
        if lease is None:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": self.name, "namespace": self.namespace},
                    "spec": dict(decision.spec)}
            request_json(self.api_client, "POST", self.path, body=body, timeout=5)
        else:
            # The resourceVersion makes the write fail if another replica wrote the Lease first.
            body = {**lease, "spec": dict(decision.spec)}
            request_json(self.api_client, "PUT", f"{self.path}/{self.name}", body=body, timeout=5)
        return True

    def run(self) -> None:
        """Campaign, then renew, until stopped; calls on_lost if leadership cannot be kept."""
        renew_every = max(1.0, self.lease_seconds / 3)
        # Stop acting well before another replica may take an unrenewed lease over.
        renew_deadline = self.lease_seconds * 2 / 3
        while not self._stop.is_set():
            held: bool | None
            try:
                held = self._try_once()
            except (ApiException, OSError) as error:
                logger.warning("leader election: %s", getattr(error, "reason", error))
                held = None
            now = self.clock()
            if held:
                if not self.leading.is_set():
                    logger.info("leader election: %s now leads %s/%s", self.identity, self.namespace, self.name)
                self._last_renewal = now
                self.leading.set()
            elif self.leading.is_set():
                last = self._last_renewal or now
                if held is False or (now - last).total_seconds() >= renew_deadline:
                    logger.error("leader election: lease %s/%s lost; stopping", self.namespace, self.name)
                    self.leading.clear()
                    self.on_lost()
                    return
            self._stop.wait(renew_every if self.leading.is_set() else self.retry_seconds)

    def start(self) -> None:
        threading.Thread(target=self.run, name="leader-election", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
