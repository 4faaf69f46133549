"""A trend report's "real change or not" is Welch's t-test: the report's own p-value must be
SciPy's ``ttest_ind_from_stats(..., equal_var=False)``, for any two groups a report can hold."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from surveys.trends import welch_pvalue

means = st.floats(min_value=1.0, max_value=5.0)
# a report's spreads: none, or at least one differing answer among 50,000 (about 0.0045)
spreads = st.one_of(st.just(0.0), st.floats(min_value=1e-3, max_value=2.0))
sizes = st.integers(min_value=2, max_value=50_000)


@settings(max_examples=500, deadline=None)
@given(means, spreads, sizes, means, spreads, sizes)
def test_the_reports_p_value_is_scipys_welch_test(
    mean1: float, std1: float, n1: int, mean2: float, std2: float, n2: int
) -> None:
    if std1 == 0 and std2 == 0:
        return  # (the report calls no change real when neither group varies)
    ours = welch_pvalue(mean1, std1, n1, mean2, std2, n2)
    theirs = stats.ttest_ind_from_stats(mean1, std1, n1, mean2, std2, n2, equal_var=False)
    assert math.isclose(ours, float(theirs.pvalue), rel_tol=1e-9, abs_tol=1e-300)


def test_a_clear_change_is_real_and_a_small_one_is_not() -> None:
    """Twelve people's 4.1 against 3.2 a quarter before is a real change; 3.3 against 3.2 is not."""
    assert welch_pvalue(4.1, 0.6, 48, 3.2, 0.7, 48) < 0.05
    assert welch_pvalue(3.3, 0.9, 48, 3.2, 0.9, 48) > 0.05
