"""The monthly ranking of units (issue 19, item 9): the order of the three rates, ties
sharing a rank, the minimum sample, units with nothing to rate last."""

from __future__ import annotations

from datetime import date

from api.reports import UnitStats, _rank

MONTH = date(2026, 6, 1)


def unit(
    unit_id: str,
    assigned: int = 10,
    satisfaction: float | None = 0.9,
    on_time: float | None = 0.8,
    resolution: float | None = 0.7,
) -> UnitStats:
    return UnitStats(
        unit_id=unit_id,
        month=MONTH,
        assigned=assigned,
        satisfaction_rate=satisfaction,
        on_time_resolution_rate=on_time,
        resolution_rate=resolution,
    )


def ranks(stats: list[UnitStats], min_needs: int = 5) -> list[tuple[str, int | None]]:
    return [(s.unit_id, s.rank) for s in _rank(stats, min_needs)]


def test_satisfaction_first_then_on_time_then_resolution() -> None:
    stats = [
        unit("a", satisfaction=0.8),
        unit("b", satisfaction=0.9, on_time=0.5),
        unit("c", satisfaction=0.9, on_time=0.7, resolution=0.1),
        unit("d", satisfaction=0.9, on_time=0.7, resolution=0.2),
    ]
    assert ranks(stats) == [("d", 1), ("c", 2), ("b", 3), ("a", 4)]


def test_ties_share_a_rank_and_the_next_rank_skips() -> None:
    stats = [unit("z"), unit("m"), unit("a", satisfaction=0.95), unit("q", satisfaction=0.5)]
    assert ranks(stats) == [("a", 1), ("m", 2), ("z", 2), ("q", 4)]


def test_below_the_minimum_sample_a_unit_is_listed_unranked_after_the_ranked() -> None:
    stats = [unit("small", assigned=4, satisfaction=1.0), unit("big"), unit("also", assigned=5)]
    assert ranks(stats, min_needs=5) == [("also", 1), ("big", 1), ("small", None)]
    assert ranks(stats, min_needs=0)[0] == ("small", 1)


def test_a_unit_with_nothing_to_rate_ranks_below_any_figure() -> None:
    stats = [
        unit("none", satisfaction=None, on_time=None, resolution=None),
        unit("low", satisfaction=0.0, on_time=0.0, resolution=0.0),
    ]
    assert ranks(stats) == [("low", 1), ("none", 2)]
