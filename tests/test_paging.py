"""Paging as pure functions: what to ask next, given what the pages that came back held."""

from __future__ import annotations

import pytest

from drs_exporter.drs.paging import listing_settled, next_offsets, pages_allowed
from drs_exporter.list_apis import page_at


def test_after_a_full_first_page_the_rest_follow_at_its_size() -> None:
    assert next_offsets({0: 100}, 350, 100, 10) == [100, 200, 300]


def test_a_server_that_returns_fewer_than_asked_sets_the_step() -> None:
    # Asked for 1000, got 7: the next pages start where the short ones ended.
    assert next_offsets({0: 7}, 20, 7, 10) == [7, 14]


def test_a_short_page_in_the_middle_leaves_a_gap_to_fill() -> None:
    assert next_offsets({0: 10, 10: 4, 20: 10}, 30, 10, 10) == [14]


def test_an_empty_page_ends_the_listing_whatever_the_total_said() -> None:
    assert next_offsets({0: 10, 10: 0}, 100, 10, 10) == []
    assert next_offsets({0: 10, 10: 10, 20: 0, 30: 10}, 100, 10, 10) == []


def test_without_a_total_one_more_page_until_one_comes_back_empty() -> None:
    assert next_offsets({0: 10}, None, 10, 10) == [10]
    assert next_offsets({0: 10, 10: 3}, None, 10, 10) == [13]
    assert next_offsets({0: 10, 10: 3, 13: 0}, None, 10, 10) == []


def test_nothing_more_when_the_pages_cover_the_total() -> None:
    assert next_offsets({0: 10, 10: 10}, 20, 10, 10) == []
    assert next_offsets({0: 0}, 0, 10, 10) == []
    assert next_offsets({0: 5}, 3, 5, 10) == []  # more than the total came: done


def test_pages_already_asked_for_are_never_asked_again() -> None:
    counts = {0: 10, 10: 10, 30: 10}
    assert next_offsets(counts, 50, 10, 10) == [20, 40]


def test_no_more_offsets_than_asked_for_in_order() -> None:
    assert next_offsets({0: 100}, 350, 100, 2) == [100, 200]
    assert next_offsets({0: 10, 10: 4, 20: 10, 40: 10}, 100, 10, 2) == [14, 30]
    assert next_offsets({0: 10}, 100, 10, 0) == []


@pytest.mark.parametrize("total", [10**8, 10**18, 2**63 + 1])
def test_a_total_that_lies_costs_no_more_than_the_offsets_asked_for(total: int) -> None:
    # The range up to the total is never built: this takes no time and no memory.
    assert next_offsets({0: 7}, total, 7, 3) == [7, 14, 21]
    assert next_offsets({0: 1}, total, 1, 5) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("total", [-1, -(10**18)])
def test_a_negative_total_asks_for_nothing_more(total: int) -> None:
    assert next_offsets({0: 7}, total, 7, 10) == []


def test_a_gap_before_an_empty_page_is_filled_once() -> None:
    assert next_offsets({0: 10, 20: 0}, 100, 10, 10) == [10]


@pytest.mark.parametrize(
    ("max_jobs", "held", "step", "pages"),
    [
        (100_000, 1, 1, 100_000),  # a server paging one job a page: every job, then one more
        (100_000, 100, 100, 1000),
        (100_000, 100_000, 100, 1),  # at the bound: one more page shows whether it is passed
        (100_000, 100_001, 100, 0),
        (250, 100, 100, 3),  # a short last page
    ],
)
def test_the_pages_a_listing_may_still_ask_follow_from_max_jobs_and_the_page_size(
    max_jobs: int, held: int, step: int, pages: int
) -> None:
    assert pages_allowed(max_jobs, held, step) == pages


@pytest.mark.parametrize(
    ("listed", "totals", "settled"),
    [
        (20, set(), True),  # no total at all: nothing to check against
        (20, {20}, True),
        (21, {20}, True),  # a job created on the last page
        (19, {20}, False),  # a job lost between pages
        (20, {20, 21}, False),  # the total changed while we paged
    ],
)
def test_a_listing_is_settled_when_one_total_was_seen_and_met(
    listed: int, totals: set[int], settled: bool
) -> None:
    assert listing_settled(listed, totals) is settled


@pytest.mark.parametrize(
    ("offset", "step", "page"),
    [
        (0, 100, (1, 100)),
        (200, 100, (3, 100)),
        (7, 7, (2, 7)),  # a server capping pages at 7: page 2 of 7
        (14, 10, (8, 2)),  # a gap at 14 after a short page: pages of 2 reach it exactly
        (13, 10, (14, 1)),
    ],
)
def test_a_numbered_page_starts_exactly_at_the_offset(
    offset: int, step: int, page: tuple[int, int]
) -> None:
    number, size = page_at(offset, step)
    assert (number, size) == page
    assert (number - 1) * size == offset and size <= step
