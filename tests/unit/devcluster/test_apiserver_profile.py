import pytest

from tritonops.devcluster.apiserver_profile import ProfileEntry, parse_top, seconds_of

# What `go tool pprof -top` prints: a preamble, the column header, then one row per function.
TOP_OUTPUT = """\
File: kube-apiserver
Type: cpu
Time: 2026-12-04 19:00:00 UTC
Duration: 60s, Total samples = 48.20s (80.33%)
Showing nodes accounting for 20.10s, 41.70% of 48.20s total
Dropped 1200 nodes (cum <= 0.24s)
      flat  flat%   sum%        cum   cum%
     4.10s  8.51%  8.51%      4.10s  8.51%  runtime.memclrNoHeapPointers
     2.02s  4.19% 12.70%     12.30s 25.52%  encoding/json.(*encodeState).reflectValue
     0.01s 0.021% 12.72%     30.50s 63.28%  net/http.(*conn).serve
         0     0% 12.72%      9.80s 20.33%  sigs.k8s.io/structured-merge-diff/v6/typed.TypedValue.Merge
"""


def test_parse_top_reads_every_row_and_skips_the_preamble() -> None:
    assert parse_top(TOP_OUTPUT) == [
        ProfileEntry(function="runtime.memclrNoHeapPointers", flat_percent=8.51, cumulative_percent=8.51, flat_seconds=4.1, cumulative_seconds=4.1),
        ProfileEntry(function="encoding/json.(*encodeState).reflectValue", flat_percent=4.19, cumulative_percent=25.52, flat_seconds=2.02,
                     cumulative_seconds=12.3),
        ProfileEntry(function="net/http.(*conn).serve", flat_percent=0.021, cumulative_percent=63.28, flat_seconds=0.01, cumulative_seconds=30.5),
        ProfileEntry(function="sigs.k8s.io/structured-merge-diff/v6/typed.TypedValue.Merge", flat_percent=0.0, cumulative_percent=20.33,
                     flat_seconds=0.0, cumulative_seconds=9.8),
    ]


def test_parse_top_of_an_empty_profile_is_empty() -> None:
    assert parse_top("File: kube-apiserver\nType: cpu\n      flat  flat%   sum%        cum   cum%\n") == []


def test_entry_as_json_names_its_fields() -> None:
    entry = ProfileEntry(function="f", flat_percent=1.5, cumulative_percent=2.5, flat_seconds=0.3, cumulative_seconds=0.5)
    assert entry.as_json() == {"function": "f", "flat_percent": 1.5, "cumulative_percent": 2.5, "flat_seconds": 0.3, "cumulative_seconds": 0.5}


@pytest.mark.parametrize(("text", "seconds"), [
    ("0", 0.0), ("4.10s", 4.1), ("450ms", 0.45), ("20us", 2e-05), ("1.50mins", 90.0), ("2hrs", 7200.0), ("7ns", 7e-09),
])
def test_seconds_of_reads_every_unit_pprof_prints(text: str, seconds: float) -> None:
    assert seconds_of(text) == pytest.approx(seconds)


def test_seconds_of_refuses_what_is_no_time() -> None:
    with pytest.raises(ValueError, match="not a pprof time"):
        seconds_of("4.1 parsecs")
