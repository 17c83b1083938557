"""The one writer of sample lines: labels from the family's names, values escaped once,
numbers spelled as both formats spell them."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drs_exporter.metrics.samples import (
    JOB_LABELS,
    TARGET_LABELS,
    figure_lines,
    leading,
    line_writer,
    number,
    numbers,
)


def test_a_line_names_its_labels_in_order_and_escapes_every_value() -> None:
    line = line_writer("x_total", ("reason", "api"))
    assert line('a"b', "c\\d\ne", 3) == 'x_total{reason="a\\"b",api="c\\\\d\\ne"} 3\n'
    assert line("plain", "", 0.5) == 'x_total{reason="plain",api=""} 0.5\n'


def test_leading_labels_come_as_one_text_and_the_rest_after_them() -> None:
    assert leading((*JOB_LABELS, "status")) == JOB_LABELS
    assert leading((*TARGET_LABELS, "reason")) == TARGET_LABELS
    assert leading(("project_id", "region", "resource")) == ()  # not a target's labels
    line = line_writer("drs_job_status", (*JOB_LABELS, "status"))
    assert line('job_id="j"', 'A"B', 1) == 'drs_job_status{job_id="j",status="A\\"B"} 1\n'
    assert line_writer("drs_up", TARGET_LABELS)('region="r"', True) == 'drs_up{region="r"} 1\n'


def test_a_family_without_labels_writes_name_and_value() -> None:
    assert line_writer("drs_x", ())(1_700_000_000.25) == "drs_x 1700000000.25\n"


def test_values_can_be_read_from_one_objects_fields() -> None:
    line = line_writer("info", (*JOB_LABELS, "name", "kind"), fields=("name", "kind"))
    job = SimpleNamespace(name='q"', kind="k")
    assert line('job_id="x"', job, 1) == 'info{job_id="x",name="q\\"",kind="k"} 1\n'
    with pytest.raises(TypeError):  # a line that reads fields takes the object, not values
        line('job_id="x"', 'q"', "k", 1)
    with pytest.raises(ValueError, match="shorter"):  # a field for every label after the lead
        line_writer("info", (*JOB_LABELS, "name", "kind"), fields=("name",))


@pytest.mark.parametrize(
    ("value", "spelled"),
    [
        (0, "0"),
        (True, "1"),
        (-0.0, "0"),
        (10**16, "10000000000000000"),
        (7, "7"),
        (2.0, "2"),
        (0.1, "0.1"),
        (-1.5, "-1.5"),
        (1e15, "1000000000000000.0"),
        (1.7e9, "1700000000"),
        (math.inf, "+Inf"),
        (-math.inf, "-Inf"),
        (math.nan, "NaN"),
    ],
)
def test_numbers_are_spelled_as_both_formats_read_them(value: float, spelled: str) -> None:
    assert number(value) == spelled
    assert line_writer("m", ())(value) == f"m {spelled}\n"
    assert numbers([value, 0.5]) == [spelled, "0.5"]
    assert line_writer("m", ())(numbers([value])[0]) == f"m {spelled}\n"


# Floats of every size and kind, the odd ones (exponents, -0, NaN, the infinities, tiny and
# huge whole numbers) mixed with the usual ones; ints and bools, which a figure never is.
values = st.one_of(
    st.floats(),
    st.floats(min_value=-1e6, max_value=1e6),
    st.integers(min_value=-(10**18), max_value=10**18).map(float),
    st.integers(min_value=0, max_value=10**20),
    st.booleans(),
    st.sampled_from([0.0, -0.0, 1e15, 1e16, 1e-4, 9.99e-5, 1e-5, 10.00001]),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(values, max_size=20))
def test_many_numbers_are_spelled_each_as_number_spells_it(vs: list[float]) -> None:
    assert numbers(vs) == [number(v) for v in vs]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=8), values), max_size=20))
def test_many_lines_of_one_figure_are_what_the_line_writer_writes(
    samples: list[tuple[str, float]],
) -> None:
    line = line_writer("drs_job_progress_ratio", JOB_LABELS)
    leads = [f'job_id="{i}"' for i, _ in samples]
    spelled = numbers([v for _, v in samples])
    written = "".join(map(line, leads, spelled))
    assert figure_lines("drs_job_progress_ratio", leads, spelled) == written
