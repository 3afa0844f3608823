"""The clinicians' funnel plot: every clinician a point, only the farthest outliers named."""

import pandas as pd

from kapviz.charts import clinicians


def _curve() -> pd.DataFrame:
    n = pd.Series(range(1, 121))
    return pd.DataFrame({"n": n, "low95": 0.3, "high95": 0.55, "low998": 0.25, "high998": 0.6})


def _table(rates: list[float], outside: list[bool]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "clinician": [f"CL-{i:02d}" for i in range(len(rates))],
            "response_denominator": [100] * len(rates),
            "response_rate": rates,
            "outside": outside,
        }
    )


def test_few_outliers_are_all_named():
    table = _table([0.43, 0.60, 0.25], [False, True, True])
    fig = clinicians.clinician_funnel(table, _curve(), programme_rate=0.43, instrument="PHQ-9")
    out = next(t for t in fig.data if t.name == "Outside 95%")
    notes = {a.text: a.ay for a in fig.layout.annotations if a.text.startswith("CL-")}
    assert notes == {"CL-01": -18, "CL-02": 18}  # above / below: away from the line
    assert list(out.customdata) == ["CL-01", "CL-02"]  # hover names every point


def test_many_outliers_name_only_the_farthest():
    """Fourteen outliers at 20,000 patients overlapped: the six farthest from the programme
    are named, the legend says how many are not; hover still names each."""
    rates = [0.56 + 0.01 * i for i in range(7)] + [0.30 - 0.01 * i for i in range(7)]
    table = _table(rates, [True] * 14)
    fig = clinicians.clinician_funnel(table, _curve(), programme_rate=0.43, instrument="PHQ-9")
    (out,) = [t for t in fig.data if t.name.startswith("Outside")]
    assert out.name == "Outside 95% (14; the 6 farthest named)"
    named = [a.text for a in fig.layout.annotations if a.text.startswith("CL-")]
    # Farthest from 43%: 62% and 24% (19 points), 61% and 25% (18), 60% and 26% (17).
    assert sorted(named) == ["CL-04", "CL-05", "CL-06", "CL-11", "CL-12", "CL-13"]
    assert len(out.customdata) == 14


def test_close_names_step_out_a_row_each():
    """Outliers on one side, in order of volume, name themselves 18, 36, 54 px out, then
    again from 18: close points no longer print their names over each other."""
    table = _table([0.30, 0.28, 0.27, 0.26, 0.60], [True] * 5).assign(
        response_denominator=[91, 96, 97, 99, 90]
    )
    notes = clinicians.name_labels(table, 0.43)
    assert [(n["text"], n["ay"]) for n in notes] == [
        ("CL-00", 18),
        ("CL-01", 36),
        ("CL-02", 54),
        ("CL-03", 18),
        ("CL-04", -18),
    ]


def test_an_outliers_name_is_shown_as_its_characters():
    """A clinician's name is imported text: in its label a tag is text, never markup."""
    table = _table([0.43, 0.90], [False, True])
    table.loc[1, "clinician"] = "<b>bold</b> & <a href='http://evil.example'>x</a>"
    fig = clinicians.clinician_funnel(table, _curve(), programme_rate=0.43, instrument="PHQ-9")
    texts = [a.text for a in fig.layout.annotations if "bold" in a.text]
    assert texts == ["&lt;b>bold&lt;/b> &amp; &lt;a href='http://evil.example'>x&lt;/a>"]
