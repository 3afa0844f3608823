"""Small-cell suppression (primary and complementary), CSV formula neutralising, upload checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from kapviz.config import Settings
from kapviz.privacy import (
    DEFAULT_THRESHOLD,
    UploadRefused,
    check_upload,
    neutralise_formulas,
    suppress_series,
    suppress_small_cells,
    suppression_mask,
)

S = "<11"


def test_default_threshold_is_the_setting():
    """The default threshold is Settings.small_cell_threshold (11)."""
    assert DEFAULT_THRESHOLD == Settings().small_cell_threshold == 11


@pytest.mark.parametrize(
    ("counts", "expected", "kwargs"),
    [
        ([3, 20, 30], [S, S, 30], {}),
        ([3, 5, 30], [S, S, 30], {}),
        ([0, 20, 30], [0, 20, 30], {}),
        ([10, 11, 40], [S, S, 40], {}),
        ([11, 12, 40], [11, 12, 40], {}),
        ([20, 5, 20], [S, S, 20], {}),
        ([1], [S], {}),
        ([4, 5, 9], ["<5", "<5", 9], {"threshold": 5}),
        ([0, 20, 30], [S, S, 30], {"suppress_zero": True}),
    ],
    ids=[
        "one-small-plus-complement",
        "two-small-no-complement",
        "zero-shown",
        "boundary-10-hidden-11-complement",
        "nothing-small",
        "tie-goes-to-first",
        "single-cell-cannot-be-protected",
        "threshold-5",
        "zero-suppressed-on-request",
    ],
)
def test_suppress_series(counts, expected, kwargs):
    """A column of counts: cells below the threshold hidden, plus the next smallest if alone."""
    out = suppress_series(pd.Series(counts, name="patients"), **kwargs)
    assert out.name == "patients"
    assert out.tolist() == expected


def test_complementary_suppression_in_rows_and_columns():
    """One small cell forces a complement in its row, and both then force one in their columns.

    a.x = 5 is hidden; row a then hides a.y = 20 (smallest other); column x hides c.x = 25
    (smaller than b.x = 40); column y hides c.y = 35 (smaller than b.y = 50). Row c now has
    two hidden cells and every row and column has zero or two: done.
    """
    counts = pd.DataFrame(
        {"x": [5, 40, 25], "y": [20, 50, 35], "z": [30, 60, 45]}, index=["a", "b", "c"]
    )
    expected = pd.DataFrame(
        {"x": [S, 40, S], "y": [S, 50, S], "z": [30, 60, 45]},
        index=["a", "b", "c"],
        dtype=object,
    )
    expected["z"] = expected["z"].astype("int64")
    assert_frame_equal(suppress_small_cells(counts), expected)


def test_no_row_or_column_has_a_lone_hidden_cell():
    """On a random table every row and column ends with zero or at least two hidden cells."""
    rng = np.random.default_rng(3)
    counts = pd.DataFrame(rng.integers(0, 40, size=(8, 6)))
    mask = suppression_mask(counts)
    assert (mask.sum(axis=1) != 1).all()
    assert (mask.sum(axis=0) != 1).all()
    assert (mask | (counts >= 11) | (counts == 0)).all().all()


def test_only_named_columns_take_part():
    """Label columns pass through; only the named count columns are suppressed."""
    counts = pd.DataFrame({"site": ["North", "South"], "n": [3, 40], "responders": [2, 30]})
    out = suppress_small_cells(counts, columns=["n", "responders"])
    # Row 0: 3 and 2 both small (two hidden, fine). Each column then has exactly one
    # hidden cell, so each hides its other cell too: 40 and 30.
    expected = pd.DataFrame({"site": ["North", "South"], "n": [S, S], "responders": [S, S]}).astype(
        {"n": object, "responders": object}
    )
    assert_frame_equal(out, expected)
    assert_frame_equal(
        counts, pd.DataFrame({"site": ["North", "South"], "n": [3, 40], "responders": [2, 30]})
    )


def test_missing_counts_refused():
    """A missing count cannot be judged small or not: refused."""
    with pytest.raises(ValueError, match="missing"):
        suppress_small_cells(pd.DataFrame({"n": [1.0, None]}))


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=SUM(A1:A2)", "'=SUM(A1:A2)"),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@cmd", "'@cmd"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("a=b", "a=b"),
        ("North", "North"),
        ("", ""),
    ],
    ids=["equals", "plus", "minus", "at", "tab", "cr", "inner-equals", "plain", "empty"],
)
def test_neutralise_text_cells(cell, expected):
    """Text starting with a formula character gets an apostrophe; other text is unchanged."""
    frame = pd.DataFrame({"note": [cell, None]}, dtype=object)
    out = neutralise_formulas(frame)
    assert out["note"].iloc[0] == expected
    assert out["note"].iloc[1] is None


def test_numbers_stay_numbers():
    """Negative numbers (also as text), dates and booleans are kept; headers are neutralised."""
    frame = pd.DataFrame(
        {
            "=x": ["-1"],
            "dose": [-3.5],
            "n": [-2],
            "at": pd.to_datetime(["2026-01-02"]),
            "ok": [True],
            "kind": pd.Categorical(["@a"]),
        }
    )
    out = neutralise_formulas(frame)
    assert list(out.columns) == ["'=x", "dose", "n", "at", "ok", "kind"]
    assert out["'=x"].iloc[0] == "-1"  # a number written as text is a number, not a formula
    assert out["dose"].dtype == "float64" and out["dose"].iloc[0] == -3.5
    assert out["n"].dtype == "int64" and out["n"].iloc[0] == -2
    assert out["at"].dtype == frame["at"].dtype
    assert out["ok"].dtype == bool
    assert list(out["kind"].cat.categories) == ["'@a"]
    assert list(frame.columns)[0] == "=x"


def test_string_dtype_kept():
    """A pandas str column stays str after neutralising."""
    frame = pd.DataFrame({"term": pd.Series(["=1", "nausea"], dtype="str")})
    out = neutralise_formulas(frame)
    assert out["term"].dtype == frame["term"].dtype
    assert out["term"].tolist() == ["'=1", "nausea"]


def test_small_cells_without_complement():
    """`complementary=False` for counts with no total: only the small cells are hidden."""
    counts = pd.DataFrame({"point": ["a", "b", "c"], "courses": [40, 9, 25]})
    out = suppress_small_cells(counts, columns=["courses"], complementary=False)
    assert out["courses"].tolist() == [40, S, 25]
    with_complement = suppress_small_cells(counts, columns=["courses"])
    assert with_complement["courses"].tolist() == [40, S, S]


# --- Uploads --------------------------------------------------------------------------------

MB = 1024 * 1024


def _xlsx() -> bytes:
    import io

    buffer = io.BytesIO()
    pd.DataFrame({"patient_id": ["P1"]}).to_excel(buffer, index=False)
    return buffer.getvalue()


def _zip(member: str) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(member, "x")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "kind"),
    [
        ("patients.csv", b"patient_id,site\nP1,North\n", "text"),
        ("PATIENTS.CSV", "\ufeffpatient_id,site\nP1,Nörth\n".encode(), "text"),
        ("mapping.toml", b'[redcap]\nrecord_id = "patient_id"\n', "text"),
        ("bundle.json", b'  {"resourceType": "Bundle"}', "json"),
        ("bundle.ndjson", b'{"resourceType": "Patient"}\n{"resourceType": "Patient"}\n', "json"),
        ("clinic.xlsx", None, "xlsx"),
    ],
    ids=["csv", "csv-bom-upper", "toml", "json", "ndjson", "xlsx"],
)
def test_upload_accepted(name, content, kind):
    """Files that are what their names say, under the size cap, are accepted."""
    assert check_upload(name, _xlsx() if content is None else content, max_bytes=MB) == kind


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("run.exe", b"MZ\x90\x00", "this kind of file is not accepted"),
        ("noextension", b"a,b\n", "this kind of file is not accepted"),
        ("big.csv", b"a" * (MB + 1), "1.0 MB is more than the 1.0 MB limit"),
        ("empty.csv", b"", "the file is empty"),
        ("image.csv", b"\x89PNG\r\n\x1a\n rest", "not a text file"),
        ("archive.csv", _zip("x.csv"), "not a text file"),
        ("binary.csv", b"a,b\n1,\x00\n", "not a text file"),
        ("report.json", b"%PDF-1.7", "not a text file"),
        ("data.json", b"patient_id,site\n", "not JSON"),
        ("mapping.toml", "name = 'Nörth'".encode("latin-1"), "must be UTF-8"),
        ("clinic.xlsx", b"patient_id,site\n", "not an Excel workbook"),
        ("clinic.xlsx", _zip("word/document.xml"), "a zip archive, but not an Excel workbook"),
        ("clinic.xlsx", b"PK\x03\x04 truncated", "damaged or incomplete"),
    ],
    ids=[
        "exe",
        "no-extension",
        "too-big",
        "empty",
        "png-as-csv",
        "zip-as-csv",
        "nul-byte",
        "pdf-as-json",
        "csv-as-json",
        "toml-latin1",
        "csv-as-xlsx",
        "docx-as-xlsx",
        "truncated-xlsx",
    ],
)
def test_upload_refused(name, content, message):
    """Wrong extension, too large, empty, or content that is not what the name says."""
    with pytest.raises(UploadRefused, match=message) as caught:
        check_upload(name, content, max_bytes=MB)
    assert str(caught.value).startswith(name)
    assert isinstance(caught.value, ValueError)  # the Data page shows it like any read error


def test_drop_small_counts_keeps_zero_and_threshold():
    """Rows with any count from 1 to 10 go; 0 and 11 stay (a zero identifies nobody)."""
    import pandas as pd

    from kapviz.privacy import drop_small_counts

    frame = pd.DataFrame({"n": [0, 1, 10, 11, 40], "events": [0, 0, 0, 3, 12]})
    kept = drop_small_counts(frame, ["n", "events"], threshold=11)
    assert kept.to_dict("list") == {"n": [0, 40], "events": [0, 12]}
    assert drop_small_counts(frame, ["n"], threshold=11)["n"].tolist() == [0, 11, 40]
