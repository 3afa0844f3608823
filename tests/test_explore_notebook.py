"""`python -m kapviz notebook`: the written notebook runs (nbclient, a real python3 kernel)
and prints the API's table; a password never lands in it."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import nbformat
import pandas as pd
import pytest

import kapviz
from kapviz import explore
from kapviz.cli import main
from kapviz.db.engine import make_engine
from kapviz.explore import CohortSpec, ExploreView
from kapviz.explore_notebook import notebook_for
from tests.clinic import build_clinic

ROOT = Path(__file__).resolve().parents[1]


def _stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout")


def test_the_notebook_runs_and_prints_the_apis_table(sqlite_url, tmp_path, capsys):
    nbclient = pytest.importorskip("nbclient")
    build_clinic(make_engine(sqlite_url))
    out = tmp_path / "view.ipynb"
    argv = ["notebook", "--db", sqlite_url, "--measure", "adverse_events_per_100",
            "--by", "site", "--by", "route", "--doses-min", "2", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert "Wrote" in capsys.readouterr().out
    notebook = nbformat.read(out, as_version=4)
    rules = notebook.cells[0].source
    assert explore.MEASURES["adverse_events_per_100"].rule in rules
    assert "Breakdown by route" in rules and "at least 2 completed doses" in rules
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    client = nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": elsewhere}}
    )
    # The kernel imports this checkout's kapviz (an analyst's has it installed).
    client.execute(env={**os.environ, "PYTHONPATH": str(ROOT)})
    printed = _stdout(notebook.cells[2])
    sentence, csv = printed.split("\n", 1)
    table = pd.read_csv(io.StringIO(csv))
    view = ExploreView(
        "adverse_events_per_100", by=("site", "route"), cohort=CohortSpec(doses_min=2)
    )
    clinic = kapviz.connect(sqlite_url)
    expected = explore.run(clinic, view)
    assert sentence == expected.sentence
    pd.testing.assert_frame_equal(table, expected.table, check_dtype=False)
    api = clinic.adverse_events(by=["site", "route"], doses_min=2)
    assert table["value"].tolist() == pytest.approx(api["events_per_100_doses"].tolist())
    assert table["numerator"].tolist() == api["events"].tolist()
    # The direct API call cell shows the same table; the chart cell draws a plotly figure.
    assert "events_per_100_doses" in notebook.cells[4].outputs[0]["data"]["text/plain"]
    figure = notebook.cells[6].outputs[0]["data"]["application/vnd.plotly.v1+json"]
    assert figure["data"], "the chart has traces"


def test_a_password_is_not_written(tmp_path):
    view = ExploreView(measure="sedation_rate")
    notebook = notebook_for(view, "postgresql+psycopg://kapviz:s3cret@db.example:5432/clinic")
    text = nbformat.writes(notebook)
    assert "s3cret" not in text
    assert 'os.environ[\\"KAPVIZ_DATABASE_URL\\"]' in text
    assert "postgresql+psycopg://kapviz@db.example:5432/clinic" in text


def test_a_relative_sqlite_path_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    source = notebook_for(ExploreView(), "sqlite:///data/kapviz.db").cells[1].source
    assert f"'sqlite:///{tmp_path / 'data' / 'kapviz.db'}'" in source


def test_every_view_field_is_rebuilt_in_the_notebook():
    """The view cell, run as Python, rebuilds the very view (every cohort field)."""
    from tests.test_explore import FULL

    source = notebook_for(FULL, "sqlite:////tmp/x.db").cells[2].source
    code = source.split("result = ")[0]
    scope: dict = {"explore": explore}
    exec(code, scope)  # noqa: S102 - the notebook's own cell, written by this test's code
    assert scope["view"] == FULL


def test_bad_options_are_errors(sqlite_url, tmp_path, capsys):
    out = tmp_path / "x.ipynb"
    base = ["notebook", "--db", sqlite_url, "--out", str(out)]
    assert main([*base, "--measure", "side_effect_rate"]) == 2
    assert "needs --term" in capsys.readouterr().err
    assert main([*base, "--sex", "robot", "--first-dose-from", "2026-13-01"]) == 2
    err = capsys.readouterr().err
    assert "sex 'robot'" in err and "first_dose_from '2026-13-01' is not a date" in err
    assert not out.exists()
    json.dumps(notebook_for(ExploreView(), sqlite_url))  # plain JSON-able
