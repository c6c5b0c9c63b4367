import pytest

from bench.write_costs import BASELINE_WRITES, OPERATOR_WRITES, WriteCost, median_costs, per_object


def test_a_write_costs_the_apiserver_and_etcd_cpu_over_the_writes_made():
    cost = WriteCost(write="Service create", count=200, wall_seconds=1.0, cpu_seconds={"kube-apiserver": 0.8, "etcd": 0.2, "kube-scheduler": 5.0})
    assert cost.milliseconds_per_write() == pytest.approx(5.0)
    assert cost.milliseconds_per_write(("kube-scheduler",)) == pytest.approx(25.0)


def test_a_process_that_did_not_run_costs_nothing():
    assert WriteCost(write="Event create", count=10, wall_seconds=1.0, cpu_seconds={"kube-apiserver": 0.01}).milliseconds_per_write() == pytest.approx(1.0)


def test_the_median_over_rounds_is_taken_per_kind_of_write():
    def cost(write, apiserver):
        return WriteCost(write=write, count=100, wall_seconds=1.0, cpu_seconds={"kube-apiserver": apiserver})

    rounds = [[cost("a", 0.1), cost("b", 0.5)], [cost("a", 0.3), cost("b", 0.4)], [cost("a", 0.2), cost("b", 0.9)]]
    assert median_costs(rounds) == {"a": 2.0, "b": 5.0}


@pytest.mark.parametrize(
    ("milliseconds", "writes", "expected"),
    [
        ({"a": 2.0, "b": 3.5}, {"a": 1, "b": 2}, 9.0),
        ({"a": 2.0, "b": 3.5}, {"a": 1}, 2.0),
        ({"a": 2.0}, {}, 0.0),
    ],
)
def test_an_objects_writes_cost_the_sum_of_each_write_times_its_count(milliseconds, writes, expected):
    assert per_object(milliseconds, writes) == pytest.approx(expected)


def test_a_write_that_was_not_measured_is_an_error_not_free():
    with pytest.raises(KeyError, match="Event create"):
        per_object({"Service apply": 1.0}, {"Service apply": 1, "Event create": 1})


def test_the_operators_phase_writes_what_bench_scale_counts_per_object():
    # bench-scale: 5 operator writes per object (2 children, 2 status, 1 event), plus the object itself.
    assert sum(OPERATOR_WRITES.values()) == 6
    assert sum(BASELINE_WRITES.values()) == 2
    assert {write.split()[0] for write in BASELINE_WRITES} <= {write.split()[0] for write in OPERATOR_WRITES}
