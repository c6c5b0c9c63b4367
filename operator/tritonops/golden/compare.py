"""Compare an actual output tensor with the expected one under absolute and relative tolerances (pure).

Numbers match when |actual - expected| <= atol + rtol * |expected| (numpy's isclose). NaN matches only NaN,
an infinity only the same infinity; integers and booleans are compared as numbers under the same rule
(tolerance 0 makes them exact); BYTES compare exactly. Datatypes may differ within one kind (FP16 against
FP32 is compared by value), but a number never matches a string.
"""

from __future__ import annotations

import dataclasses
import math

from tritonops.golden.golden_set import Tensor


@dataclasses.dataclass(frozen=True)
class Tolerance:
    absolute: float = 1e-5
    relative: float = 1e-3


@dataclasses.dataclass(frozen=True)
class Comparison:
    matches: bool
    reason: str  # "" when it matches; else one line for lastAnalysis
    worst_absolute: float  # the largest |actual - expected| over finite pairs (inf where a pair is unmatched)
    worst_relative: float  # the largest |actual - expected| / |expected| over finite pairs, expected non-zero
    worst_index: int | None  # the flat index of the worst mismatch, or of the largest difference
    mismatches: int


def _kind(datatype: str) -> str:
    return "bytes" if datatype == "BYTES" else "number"


def compare(*, actual: Tensor, expected: Tensor, tolerance: Tolerance) -> Comparison:
    """Whether `actual` matches `expected`, with the worst difference and where it is."""
    if _kind(actual.datatype) != _kind(expected.datatype):
        return Comparison(False, f"datatype {actual.datatype}, expected {expected.datatype}", math.inf, math.inf, None, 0)
    if actual.shape != expected.shape:
        return Comparison(False, f"shape {list(actual.shape)}, expected {list(expected.shape)}", math.inf, math.inf, None, 0)
    if _kind(expected.datatype) == "bytes":
        wrong = [index for index, (a, e) in enumerate(zip(actual.data, expected.data)) if a != e]
        if wrong:
            return Comparison(False, f"{len(wrong)} of {len(expected.data)} elements differ, first at index {wrong[0]}",
                              math.inf, math.inf, wrong[0], len(wrong))
        return Comparison(True, "", 0.0, 0.0, None, 0)
    worst_absolute = 0.0
    worst_relative = 0.0
    worst_index: int | None = None
    first_bad: int | None = None
    mismatches = 0
    for index, (a_raw, e_raw) in enumerate(zip(actual.data, expected.data)):
        a = float(a_raw)
        e = float(e_raw)
        if math.isnan(a) or math.isnan(e) or math.isinf(a) or math.isinf(e):
            # Special values match only themselves; NaN == NaN is false in IEEE, so test it apart.
            same = (math.isnan(a) and math.isnan(e)) or a == e
            if not same:
                mismatches += 1
                if first_bad is None:
                    first_bad = index
                    worst_absolute = math.inf
                    worst_index = index
            continue
        difference = abs(a - e)
        relative = difference / abs(e) if e != 0 else (math.inf if difference > 0 else 0.0)
        if difference > tolerance.absolute + tolerance.relative * abs(e):
            mismatches += 1
            if first_bad is None:
                first_bad = index
        if difference > worst_absolute:
            worst_absolute = difference
            if worst_absolute != math.inf:
                worst_index = index
        worst_relative = max(worst_relative, relative)
    if mismatches:
        return Comparison(False, f"{mismatches} of {len(expected.data)} elements outside atol {tolerance.absolute:g} + "
                          f"rtol {tolerance.relative:g}, first at index {first_bad}, worst |difference| {worst_absolute:g}",
                          worst_absolute, worst_relative, worst_index, mismatches)
    return Comparison(True, "", worst_absolute, worst_relative, worst_index, 0)
