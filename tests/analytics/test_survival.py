"""The Kaplan-Meier lines and the breach odds: exact values on hand-counted data, and the same
curve as lifelines' on random data."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.analytics.survival import BreachOdds, Observation, kaplan_meier

Ob = Observation


def test_without_running_clocks_it_is_the_plain_share():
    curve = kaplan_meier([Ob(d, True) for d in (10, 20, 30, 40)])
    assert curve.times == (10, 20, 30, 40)
    assert curve.survival == pytest.approx((0.75, 0.5, 0.25, 0.0))
    assert curve.quantile(0.5) == 20
    assert curve.quantile(0.9) == 40
    assert curve.quantile(0.25) == 10
    assert curve.survival_at(9) == 1.0 and curve.survival_at(25) == pytest.approx(0.5)


def test_a_running_clock_counts_for_as_long_as_it_has_run():
    # 10 stopped, then one clock still running after 15, then 20 and 30 stopped:
    # S(10) = 3/4; at 20 two are at risk: S(20) = 3/4 * 1/2; S(30) = 0
    curve = kaplan_meier([Ob(10, True), Ob(15, False), Ob(20, True), Ob(30, True)])
    assert curve.times == (10, 20, 30)
    assert curve.survival == pytest.approx((0.75, 0.375, 0.0))
    assert (curve.count, curve.stopped) == (4, 3)
    assert curve.quantile(0.5) == 20  # dropping the running clock would give the same here ...
    # ... but a queue of unanswered clocks keeps the estimate from reaching high shares at all
    queue = kaplan_meier([Ob(10, True), Ob(20, True)] + [Ob(100, False)] * 8)
    assert queue.quantile(0.2) == 20
    assert queue.quantile(0.5) is None


def test_a_clock_censored_at_a_stop_time_is_still_at_risk_then():
    curve = kaplan_meier([Ob(10, True), Ob(10, False), Ob(20, True)])
    assert curve.survival == pytest.approx((2 / 3, 0.0))


def test_no_observations():
    curve = kaplan_meier([])
    assert curve.quantile(0.5) is None and curve.count == 0


def test_breach_odds_count_what_a_lead_can_count():
    history = [Ob(30, True), Ob(50, True), Ob(70, True), Ob(90, True), Ob(200, False), Ob(45, False)]
    odds = BreachOdds(history)
    # a clock that has run 40 with a target of 60: past clocks longer than 40 are 50, 70, 90 and
    # the one still running at 200 (known past 60); the one running at 45 cannot tell
    assert odds.odds(40, 60) == (3, 4)
    assert odds.odds(0, 60) == (3, 5)
    assert odds.odds(95, 60) == (1, 1)  # already past its target: only the running one is longer
    assert BreachOdds([]).odds(10, 20) == (0, 0)


durations = st.lists(st.tuples(st.integers(1, 40), st.booleans()), min_size=1, max_size=60)


@pytest.mark.filterwarnings("ignore:Approximating")
@settings(max_examples=60, deadline=None)
@given(durations)
def test_the_curve_is_lifelines_curve(data):
    lifelines = pytest.importorskip("lifelines")
    curve = kaplan_meier([Ob(d, e) for d, e in data])
    fitter = lifelines.KaplanMeierFitter().fit([d for d, _ in data], [e for _, e in data])
    reference = fitter.survival_function_.iloc[:, 0]
    for t in range(0, 42):
        expected = float(reference[reference.index <= t].iloc[-1])
        assert curve.survival_at(t) == pytest.approx(expected, abs=1e-9)
    for share in (0.5, 0.8, 0.9, 0.95):
        if any(abs(s - (1 - share)) < 1e-6 for s in curve.survival):
            continue  # a tie with the limit: float noise decides either way
        theirs = fitter.percentile(1 - share)
        assert curve.quantile(share) == (None if theirs == float("inf") else theirs)


@settings(max_examples=100, deadline=None)
@given(durations, st.integers(0, 45), st.integers(1, 45))
def test_breach_odds_are_the_loop_a_lead_would_write(data, elapsed, target):
    history = [Ob(d, e) for d, e in data]
    past = comparable = 0
    for d, stopped in history:
        if stopped and d > elapsed:
            comparable += 1
            past += d > target
        elif not stopped and d > max(elapsed, target):
            comparable += 1
            past += 1
    assert BreachOdds(history).odds(elapsed, target) == (past, comparable)
