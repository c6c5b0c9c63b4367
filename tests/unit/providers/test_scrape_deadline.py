"""Bounded scrapes: a total (wall-clock) deadline per scrape and per analysis, pods scraped in parallel.

The peers are real HTTP servers on loopback that trickle their answers one byte at a time: a per-read
socket timeout never fires against them, only a deadline on the whole request does. Bounds are generous
("< 3x the deadline"): they tell a bounded request from one that runs as long as the peer likes.
"""

from __future__ import annotations

import pathlib
import ssl
import threading
import time

import pytest

from tests.harness.specs import model_deployment
from tests.harness.trickle import trickling_pod, trickling_server
from tritonops.analyzer import Analyzer
from tritonops.devcluster.pki import create_cluster_pki
from tritonops.providers import bounded_http
from tritonops.desired.revision import Revision
from tritonops.providers import RevisionTarget
from tritonops.providers.bounded_http import Deadline, DeadlineExceeded
from tritonops.providers.prometheus import http_query
from tritonops.providers.triton import TritonProvider

STABLE = Revision(hash="aaaa", version="1", image="i")
CANARY = Revision(hash="bbbb", version="2", image="i")
# 400 bytes of headers and body at 25 ms a byte: about 10 s to send in full.
SLOW = (0.025, b"# padding\n" * 36)


def exposition(*, version: str, success: int, failure: int = 0) -> str:
    labels = f'model="resnet",version="{version}"'
    return (
        f"nv_inference_request_success{{{labels}}} {success}\n"
        f'nv_inference_request_failure{{{labels},reason="BACKEND"}} {failure}\n'
        f"nv_inference_request_duration_us{{{labels}}} {success * 1000}\n"
        f"nv_inference_queue_duration_us{{{labels}}} 0\n"
    )


def target(address: str, *, pods: int = 1, key: tuple[str, str] = ("default", "resnet")) -> RevisionTarget:
    return RevisionTarget(key=key, revision=CANARY.hash, model="resnet", version="2", pods={f"c-{n}": address for n in range(pods)})


def test_a_trickling_pod_is_cut_off_at_the_default_scrape_deadline() -> None:
    interval, body = SLOW
    with trickling_pod(body=body, byte_interval=interval) as server:
        provider = TritonProvider()
        started = time.monotonic()
        with pytest.raises(OSError, match="deadline"):
            provider.measure(target(server.address), window_seconds=15)
        # The default scrape deadline is 2 s; the peer would take about 10 s.
        assert time.monotonic() - started < 6.0


def test_a_trickling_pod_misses_a_short_deadline_and_nothing_is_remembered() -> None:
    interval, body = SLOW
    with trickling_pod(body=body, byte_interval=interval) as server:
        provider = TritonProvider(scrape_deadline_seconds=0.5)
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match="c-0"):
            provider.measure(target(server.address), window_seconds=15)
        assert time.monotonic() - started < 1.5
        # No half sample: the next call takes the first sample again, so no window mixes in older traffic.
        assert not provider.has_sample(("default", "resnet"), CANARY.hash)


def test_a_revisions_pods_are_scraped_in_parallel() -> None:
    body = b'nv_inference_request_success{model="resnet",version="2"} 10\n'
    # Each answer takes about 0.6 s in full (headers included), whatever the deadline.
    interval = 0.6 / (len(body) + 80)
    with trickling_pod(body=body, byte_interval=interval) as server:
        provider = TritonProvider(scrape_deadline_seconds=10.0)
        started = time.monotonic()
        provider.measure(target(server.address, pods=1, key=("default", "one")), window_seconds=15)
        one = time.monotonic() - started
        assert one >= 0.5
        started = time.monotonic()
        assert provider.measure(target(server.address, pods=6), window_seconds=15) is None
        # Six pods one after another would take six times as long as one; in parallel about as long.
        assert time.monotonic() - started < 3 * one
        assert server.requests == 7
        measured = provider.measure(target(server.address, pods=6), window_seconds=15)
        assert measured is not None and measured.requests == 0
        assert provider.sampled(("default", "resnet")) == {CANARY.hash: frozenset(f"c-{n}" for n in range(6))}


def test_sixteen_objects_with_trickling_pods_all_finish_within_the_analysis_deadline() -> None:
    interval, body = SLOW
    with trickling_pod(body=body, byte_interval=interval) as server:
        address = server.address
        analyzer = Analyzer(scrape_networks=["127.0.0.0/8"], analysis_deadline_seconds=1.0)
        pods = [
            {"name": "s-1", "revision": STABLE.hash, "ip": address, "ready": True},
            {"name": "c-1", "revision": CANARY.hash, "ip": address, "ready": True},
            {"name": "c-2", "revision": CANARY.hash, "ip": address, "ready": True},
        ]
        verdicts: list[str] = []
        started = time.monotonic()

        def worker(number: int) -> None:
            resource = model_deployment({"model": {"name": "resnet"}}, name=f"resnet-{number}")
            verdict = analyzer.analyse(resource, stable=STABLE, canary=CANARY, pods=pods)
            verdicts.append(verdict.result if verdict is not None else "None")

        threads = [threading.Thread(target=worker, args=(number,), daemon=True) for number in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert time.monotonic() - started < 3.0
        assert verdicts == ["Inconclusive"] * 16


class Pods:
    """Fake /metrics per pod address; a slow pod answers only after its deadline has passed."""

    def __init__(self) -> None:
        self.success = {"127.77.0.1": 0, "127.77.0.2": 0, "127.77.0.3": 0}
        self.slow: set[str] = set()

    def __call__(self, url: str, *, deadline: Deadline) -> str:
        address = url.split("//")[1].split(":")[0]
        if address in self.slow:
            time.sleep(deadline.remaining() + 0.3)  # a fetch that overruns: the provider must not wait for it
        return exposition(version="1" if address == "127.77.0.1" else "2", success=self.success[address])


PODS = [
    {"name": "s-1", "revision": STABLE.hash, "ip": "127.77.0.1", "ready": True},
    {"name": "c-1", "revision": CANARY.hash, "ip": "127.77.0.2", "ready": True},
    {"name": "c-2", "revision": CANARY.hash, "ip": "127.77.0.3", "ready": True},
]


def test_a_pod_that_misses_the_deadline_makes_the_window_inconclusive_never_a_verdict() -> None:
    fetch = Pods()
    analyzer = Analyzer(fetch=fetch, scrape_networks=["127.0.0.0/8"], analysis_deadline_seconds=0.5)
    resource = model_deployment({"model": {"name": "resnet"}, "rollout": {"analysis": {"minRequests": 20}}})
    assert analyzer.analyse(resource, stable=STABLE, canary=CANARY, pods=PODS) is None
    # c-1 alone would pass; c-2 does not answer in time, so nothing can be said about the canary.
    fetch.success = {"127.77.0.1": 100, "127.77.0.2": 100, "127.77.0.3": 100}
    fetch.slow = {"127.77.0.3"}
    started = time.monotonic()
    verdict = analyzer.analyse(resource, stable=STABLE, canary=CANARY, pods=PODS)
    assert time.monotonic() - started < 1.5
    assert verdict is not None and verdict.result == "Inconclusive" and "c-2" in verdict.reason
    # The late pod answers again: the window runs from the last whole sample, so nothing was lost.
    fetch.slow = set()
    verdict = analyzer.analyse(resource, stable=STABLE, canary=CANARY, pods=PODS)
    assert verdict is not None and verdict.result == "Passed"
    assert dict(verdict.requests) == {"canary": 200, "stable": 100}


def test_a_trickling_prometheus_query_is_cut_off_at_its_total_timeout() -> None:
    interval, body = SLOW
    with trickling_server(body=body, byte_interval=interval) as server:
        query = http_query(f"http://127.0.0.1:{server.port}", timeout_seconds=0.5)
        started = time.monotonic()
        with pytest.raises(OSError):
            query("up")
        assert time.monotonic() - started < 1.5


def test_a_trickling_prometheus_makes_the_analysis_inconclusive_within_its_deadline() -> None:
    interval, body = SLOW
    with trickling_server(body=body, byte_interval=interval) as server:
        url = f"http://127.0.0.1:{server.port}"
        analyzer = Analyzer(analysis_deadline_seconds=1.0)
        resource = model_deployment({"rollout": {"analysis": {"provider": "prometheus", "prometheus": {"url": url}}}})
        started = time.monotonic()
        verdict = analyzer.analyse(resource, stable=STABLE, canary=CANARY, pods=PODS)
        assert time.monotonic() - started < 3.0
        assert verdict is not None and verdict.result == "Inconclusive"


def test_a_trickling_https_peer_is_cut_off_at_the_deadline_too(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pki = create_cluster_pki(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca.certificate))  # the client trusts the test's own CA
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.kwok.certificate, pki.kwok.key)  # a leaf for 127.0.0.1
    interval, body = SLOW
    with trickling_server(body=body, byte_interval=interval, tls=context) as server:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            bounded_http.get(f"https://127.0.0.1:{server.port}/api/v1/query", deadline=Deadline.after(0.5))
        assert time.monotonic() - started < 1.5


def test_no_message_repeats_credentials_from_the_url() -> None:
    from tritonops.providers import bounded_http

    with pytest.raises(bounded_http.UnusableURL) as raised:
        bounded_http.get("http://user:s3cret@127.0.0.1:9/metrics", deadline=bounded_http.Deadline.after(1))
    assert "s3cret" not in str(raised.value) and "127.0.0.1:9/metrics" in str(raised.value)
