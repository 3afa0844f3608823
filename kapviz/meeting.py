"""The cases of a supervision meeting, in the order they are presented (and printed)."""

from __future__ import annotations

from collections.abc import Sequence


def agenda(case_ids: Sequence[str]) -> list[str]:
    """The meeting's cases in the order given, each once, blanks dropped."""
    return list(dict.fromkeys(c.strip() for c in case_ids if c and c.strip()))


def step_case(case_ids: Sequence[str], current: str | None, step: int) -> str | None:
    """The case `step` places after `current` in the meeting (negative: before), or None past
    either end. A current case not in the meeting steps to the first (or, backwards, last)."""
    cases = agenda(case_ids)
    if not cases:
        return None
    if current not in cases:
        return cases[0] if step > 0 else cases[-1]
    position = cases.index(current) + step
    return cases[position] if 0 <= position < len(cases) else None
