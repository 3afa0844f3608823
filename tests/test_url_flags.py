"""URL flags: every usual spelling of "on" counts (`?present=1` was dropped before)."""

import pytest

from kapviz.url_flags import is_on, positive_int


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", True),
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("yes", True),
        ("Yes", True),
        ("on", True),
        ("ON", True),
        (" 1 ", True),
        (["0", "yes"], True),
        ("0", False),
        ("false", False),
        ("no", False),
        ("off", False),
        ("", False),
        ("2", False),
        ("yes please", False),
        (None, False),
        ([], False),
    ],
)
def test_is_on(value, expected):
    """Only 1/true/yes/on (any case, trimmed) mean on; a repeated parameter's last value."""
    assert is_on(value) is expected


@pytest.mark.parametrize(
    ("value", "default", "expected"),
    [("30", None, 30), (" 5 ", None, 5), ("0", None, None), ("-3", 7, 7), ("x", 7, 7),
     (None, None, None), ("2.5", 9, 9)],
)  # fmt: skip
def test_positive_int(value, default, expected):
    """Seconds from a URL: positive whole numbers only, else the default."""
    assert positive_int(value, default=default) == expected
