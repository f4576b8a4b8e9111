"""Survival statistics of SLA clocks: how long clocks take, with running clocks as censored
observations. Pure: numbers in, numbers out, no store, no I/O.

Public API: `Observation`, `kaplan_meier(observations) -> Curve`, `Curve.quantile(share)`,
`Curve.survival(t)`, `BreachOdds(observations).odds(elapsed, target) -> (went past, comparable)`.

A clock that stopped is an observed duration; a clock still running is censored at the time it
has run so far: we know only that its reply will take longer than that. Dropping running clocks
would make a queue full of unanswered tickets look fast; counting them as if they stopped now
would too. Kaplan-Meier uses each censored clock for as long as it is known to be running.

Why our own few lines: the estimator is a product over the distinct durations, and the
well-known library for it (lifelines) brings pandas, scipy and matplotlib. The tests check these
lines against lifelines on the same data.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from typing import NamedTuple


class Observation(NamedTuple):
    duration: int  # business microseconds the clock took, or has run so far
    stopped: bool  # False: still running (censored at `duration`)


class Curve(NamedTuple):
    """The Kaplan-Meier estimate: after each distinct stopped duration, the share of clocks
    still running."""

    times: tuple[int, ...]  # distinct stopped durations, ascending
    survival: tuple[float, ...]  # S(t) just after each of them
    count: int  # all observations
    stopped: int  # observed (not censored) ones

    def survival_at(self, t: int) -> float:
        """The estimated share of clocks that run longer than `t`."""
        i = bisect_right(self.times, t)
        return 1.0 if i == 0 else self.survival[i - 1]

    def quantile(self, share: float) -> int | None:
        """The smallest duration by which `share` (0..1) of clocks had stopped: the first time
        at which S(t) <= 1 - share. None when the estimate never gets there (too many clocks
        still running past the longest observed one)."""
        limit = 1.0 - share + 1e-12  # float noise in products like 0.5 * 0.4
        for t, s in zip(self.times, self.survival):
            if s <= limit:
                return t
        return None


def kaplan_meier(observations: Iterable[Observation]) -> Curve:
    """S(t) = product over stopped durations d <= t of (1 - stopped at d / at risk at d). A clock
    censored at d is still at risk at d (the usual convention: stops before censorings)."""
    ordered = sorted(observations)
    n = len(ordered)
    times: list[int] = []
    survival: list[float] = []
    s, at_risk, i = 1.0, n, 0
    stopped_total = 0
    while i < n:
        d = ordered[i].duration
        stops = ends = 0
        while i < n and ordered[i].duration == d:
            stops += ordered[i].stopped
            ends += 1
            i += 1
        if stops:
            s *= 1.0 - stops / at_risk
            times.append(d)
            survival.append(s)
            stopped_total += stops
        at_risk -= ends
    return Curve(tuple(times), tuple(survival), n, stopped_total)


class BreachOdds:
    """Of the past clocks of a group that ran longer than a running clock has so far, how many
    went on past its target: `odds(elapsed, target) -> (went_past, comparable)`. A past clock
    still running counts only once it is past the target (then we know it went past); one still
    running short of the target cannot tell either way and is left out. Both numbers are counts
    of records in the SLA log, so a lead can check them by hand."""

    def __init__(self, history: Iterable[Observation]):
        history = list(history)
        self._stopped = sorted(o.duration for o in history if o.stopped)
        self._running = sorted(o.duration for o in history if not o.stopped)

    @classmethod
    def of_durations(cls, stopped: Iterable[int], running: Iterable[int]) -> BreachOdds:
        """The same from the durations alone: of the stopped clocks, and of those still running
        (no observation built for each of a hundred thousand past clocks)."""
        odds = cls(())
        odds._stopped, odds._running = sorted(stopped), sorted(running)
        return odds

    def odds(self, elapsed: int, target: int) -> tuple[int, int]:
        beyond = max(elapsed, target)
        stopped, running = self._stopped, self._running
        longer = len(stopped) - bisect_right(stopped, elapsed)
        past = len(stopped) - bisect_right(stopped, beyond)
        known_past = len(running) - bisect_right(running, beyond)
        return past + known_past, longer + known_past
