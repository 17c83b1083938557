"""Paging as pure functions: from what the pages that came back hold to what to ask next.

A server may return fewer jobs than asked for, without saying so, and ``total_count`` may be
missing or change while a listing is paged. So paging never assumes a full page: it goes by
the number of entries each page actually held and by the totals the pages reported.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping

MAX_PAGES = 10_000  # per listing: a hostile total must not make us page forever


def next_offsets(counts: Mapping[int, int], total: int | None, step: int) -> list[int]:
    """Offsets still to fetch, given entries per page so far (offset -> count) and the total.

    ``step`` is the page size the server showed on the first page. Gaps left by short pages
    are filled; an empty page ends the listing whatever the total said; without a total,
    one more page is asked for until one comes back empty.
    """
    end = total
    cursor = 0
    missing: list[int] = []
    for offset in sorted(counts):
        if offset > cursor:
            missing.extend(range(cursor, offset, step))
        count = counts[offset]
        if count == 0:
            # Nothing at this offset: the listing ends here, whatever total_count said.
            end = offset if end is None else min(end, offset)
            break
        cursor = max(cursor, offset + count)
    else:
        if end is None:
            end = cursor + 1  # no total_count: one more page, until one comes back empty
    missing.extend(range(cursor, end, step))
    return [o for o in missing if o < end and o not in counts]


def page_at(offset: int, step: int) -> tuple[int, int]:
    """The (page number from 1, page size) that starts at ``offset``, for APIs that page by
    number in units of the page size (v3): ``step`` when the offset is a multiple of it,
    else the largest size that divides both (a gap after a short page), never above step.
    """
    size = step if offset % step == 0 else math.gcd(offset, step)
    return offset // size + 1, size


def listing_settled(listed: int, totals: Collection[int]) -> bool:
    """Whether a finished listing can be trusted, or should be fetched once more.

    ``listed`` counts the distinct top-level jobs it found; ``totals`` are the distinct
    totals its pages reported. A total that changed between pages, or fewer jobs than the
    total, means jobs were created or deleted while we paged and the rest shifted under our
    offsets: one job may be missed while a deleted one is kept, at the same count.
    """
    return not totals or (len(totals) == 1 and listed >= min(totals))
