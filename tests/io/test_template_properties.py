"""Property: random corruptions of a valid folder never crash the importer or half-write."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kapviz.db.engine import make_engine
from kapviz.io.template import read_template
from kapviz.io.validate import ExistingKeys, validate
from kapviz.io.write import write_batch
from tests.io.test_template import VALID, dump

FILES = ["patients", "sessions", "assessments", "side_effects", "vitals"]
JUNK = st.sampled_from(["", "x", "-1", "999999", "2026-13-45", "true", "=1+1", "NaN", "é", "0"])


@st.composite
def corruption(draw):
    file = draw(st.sampled_from(FILES))
    kind = draw(st.sampled_from(["blank", "junk", "duplicate", "drop_column"]))
    return file, kind, draw(st.integers(0, 50)), draw(st.integers(0, 50)), draw(JUNK)


def corrupt(folder: Path, spec) -> None:
    file, kind, r, c, junk = spec
    path = folder / f"{file}.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    row, col = r % len(frame), frame.columns[c % len(frame.columns)]
    if kind == "blank":
        frame.loc[row, col] = ""
    elif kind == "junk":
        frame.loc[row, col] = junk
    elif kind == "duplicate":
        frame = pd.concat([frame, frame.iloc[[row]]], ignore_index=True)
    else:
        frame = frame.drop(columns=[col])
    frame.to_csv(path, index=False)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(corruption(), min_size=1, max_size=3))
def test_corruptions_never_crash_or_half_write(specs):
    """Either a clean problem report and an untouched database, or a full valid import."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        shutil.copytree(VALID, folder)
        for spec in specs:
            corrupt(folder, spec)
        url = f"sqlite:///{tmp}/db.sqlite"
        engine = make_engine(url)
        write_batch(engine, validate(read_template(VALID)), source="seed", kind="template")
        before = dump(url)
        with engine.connect() as conn:
            result = validate(read_template(folder), existing=ExistingKeys.load(conn))
        if result.problems:
            assert all(p.file and p.expected for p in result.problems)
            assert dump(url) == before
        else:
            write_batch(engine, result, source="corrupted", kind="template")
