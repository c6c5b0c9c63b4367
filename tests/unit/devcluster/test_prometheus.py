from __future__ import annotations

import pytest

from tritonops.devcluster.prometheus import ScrapeJob, scrape_configuration


def test_scrape_configuration_lists_each_job() -> None:
    configuration = scrape_configuration(
        jobs=[ScrapeJob(name="triton", targets=["127.0.0.5:8002", "127.0.0.6:8002"])], interval_seconds=1
    )
    assert configuration["global"]["scrape_interval"] == "1s"
    assert configuration["scrape_configs"] == [
        {"job_name": "triton", "metrics_path": "/metrics", "static_configs": [{"targets": ["127.0.0.5:8002", "127.0.0.6:8002"]}]}
    ]


def test_scrape_configuration_refuses_a_non_loopback_target() -> None:
    with pytest.raises(ValueError):
        scrape_configuration(jobs=[ScrapeJob(name="x", targets=["10.0.0.5:8002"])], interval_seconds=1)
