"""Paging as pure functions: from what the pages that came back hold to what to ask next.

A server may return fewer jobs than asked for, without saying so, and ``total_count`` may be
missing or change while a listing is paged. So paging never assumes a full page: it goes by
the number of entries each page actually held and by the totals the pages reported. Nor does
it trust a total to say how much to ask: what it asks next is worked out lazily, at most as
many pages as it may still ask, whatever number a total claims.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Iterator, Mapping

# The most pages of one listing asked at once. An empty page ends a listing whatever its
# total said, and is seen only once it comes back: a total that lies costs at most these.
PAGES_AT_ONCE = 256


def next_offsets(counts: Mapping[int, int], total: int | None, step: int, most: int) -> list[int]:
    """Up to ``most`` offsets still to fetch, in order, given the entries per page so far
    (offset -> count) and the total.

    ``step`` is the page size the server showed on the first page. Gaps left by short pages
    are filled; an empty page ends the listing whatever the total said; without a total,
    one more page is asked for until one comes back empty.
    """
    return list(itertools.islice(_missing(counts, total, step), max(most, 0)))


def _missing(counts: Mapping[int, int], total: int | None, step: int) -> Iterator[int]:
    """Every offset still to fetch, lazily: the range up to a total is never built."""
    pages = sorted(counts)
    end = total
    cursor = 0
    for offset in pages:
        if counts[offset] == 0:
            # Nothing at this offset: the listing ends here, whatever total_count said.
            end = offset if end is None else min(end, offset)
            break
        cursor = max(cursor, offset + counts[offset])
    else:
        if end is None:
            end = cursor + 1  # no total_count: one more page, until one comes back empty
    cursor = 0
    for offset in pages:
        if offset >= end:
            break
        if offset > cursor:
            yield from (o for o in range(cursor, offset, step) if o not in counts)
        cursor = max(cursor, offset + counts[offset])
    yield from (o for o in range(cursor, end, step) if o not in counts)


def pages_allowed(max_jobs: int, held: int, step: int) -> int:
    """The most pages a listing may still ask when it holds ``held`` entries of at most
    ``max_jobs``: enough for the rest at the page size the server showed, and one more to
    see whether there is more than that."""
    if held > max_jobs:
        return 0
    return -(-(max_jobs - held) // max(step, 1)) + 1  # whole pages, the last one short


def listing_settled(listed: int, totals: Collection[int]) -> bool:
    """Whether a finished listing can be trusted, or should be fetched once more.

    ``listed`` counts the distinct top-level jobs it found; ``totals`` are the distinct
    totals its pages reported. A total that changed between pages, or fewer jobs than the
    total, means jobs were created or deleted while we paged and the rest shifted under our
    offsets: one job may be missed while a deleted one is kept, at the same count.
    """
    return not totals or (len(totals) == 1 and listed >= min(totals))
