"""Stepping through the cases of a meeting."""

import pytest

from kapviz.meeting import agenda, step_case

MEETING = ["P3", "P1", "P7"]


def test_agenda_keeps_order_and_drops_repeats_and_blanks():
    """The order typed is the order presented; a case named twice is presented once."""
    assert agenda(["P3", " P1 ", "", "P3", "P7"]) == ["P3", "P1", "P7"]


@pytest.mark.parametrize(
    ("current", "step", "expected"),
    [("P3", 1, "P1"), ("P1", 1, "P7"), ("P7", 1, None), ("P1", -1, "P3"), ("P3", -1, None),
     ("P9", 1, "P3"), ("P9", -1, "P7"), (None, 1, "P3")],
)  # fmt: skip
def test_step_case(current, step, expected):
    """Next and previous through the meeting; none past the ends."""
    assert step_case(MEETING, current, step) == expected


def test_step_case_empty_meeting():
    assert step_case([], "P1", 1) is None
