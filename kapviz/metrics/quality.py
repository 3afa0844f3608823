"""Data quality a clinic should fix: missing pre-dose scores, terms worth a second look."""

from __future__ import annotations

import pandas as pd

PRE_DOSE_WINDOW_DAYS = 7
"""A PHQ-9 counts as pre-dose when taken in the 7 days up to the start of the session."""


MISSING_COLUMNS = ["session_id", "patient_id", "course_id", "site", "started_at"]


def newest_first(missing: pd.DataFrame) -> pd.DataFrame:
    """Sessions newest first; sessions started at the same moment by session id.

    Ids and site as plain objects, whichever way the frame was read.
    """
    ordered = missing.sort_values(
        ["started_at", "session_id"], ascending=[False, True], kind="stable"
    )
    out = ordered[MISSING_COLUMNS].reset_index(drop=True)
    return out.astype({c: object for c in MISSING_COLUMNS[:-1]})


def term_mapping(side_effects: pd.DataFrame) -> pd.DataFrame:
    """How recorded wordings were mapped to preferred terms, for review (most frequent first).

    Only wordings that differ from their preferred term are listed: these are the
    synonym mappings a clinician may want to confirm.
    """
    rows = side_effects[side_effects["verbatim"].notna()]
    counts = rows.groupby(["verbatim", "term"], as_index=False).size()
    return mapping_from_counts(counts.rename(columns={"size": "records"}))


def mapping_from_counts(counts: pd.DataFrame) -> pd.DataFrame:
    """`term_mapping` from records per recorded wording and term (verbatim, term, records).

    Python's strip() and lower() decide which wordings differ from their term (SQL's trim
    and lower do not treat every Unicode space and letter alike), so the counts may come
    grouped from SQL (kapviz.db.aggregates.quality) and the rule is applied here.
    """
    if counts.empty:
        return pd.DataFrame(
            {
                "verbatim": pd.Series(dtype=object),
                "term": pd.Series(dtype=object),
                "records": pd.Series(dtype="int64"),
            }
        )
    differs = counts["verbatim"].str.strip().str.lower() != counts["term"]
    out = counts.loc[differs, ["verbatim", "term", "records"]]
    out = out.astype({"verbatim": object, "term": object, "records": "int64"})
    out = out.sort_values(
        ["records", "verbatim", "term"], ascending=[False, True, True], kind="stable"
    )
    return out.reset_index(drop=True)
