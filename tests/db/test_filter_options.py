"""The filter widgets' options (`queries.filter_options`, a loose index scan per column)
equal the plain `SELECT DISTINCT` answers on the hand and demo clinics on both backends,
also without any dosing and with patients of no indication."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from kapviz.db import queries
from kapviz.db.models import Dosing, Patient


def _plain(conn) -> dict[str, list[str]]:
    """The options as `SELECT DISTINCT` gives them (the reference)."""

    def distinct(column, *where):
        stmt = select(column).where(*where).distinct().order_by(column)
        return list(conn.execute(stmt).scalars())

    return {
        "sites": distinct(Patient.site),
        "indications": distinct(Patient.indication, Patient.indication.is_not(None)),
        "routes": distinct(Dosing.route),
    }


def test_hand_clinic_options(clinic):
    """Hand-listed: the hand clinic's two sites, four indications and three routes."""
    assert (
        queries.filter_options(clinic)
        == _plain(clinic)
        == {
            "sites": ["North", "South"],
            "indications": ["GAD", "MDD", "PTSD", "TRD"],
            "routes": ["im", "iv", "sublingual"],
        }
    )


def test_no_dosings_and_no_indications(clinic):
    """Without a dosing record there is no route to offer; a patient without an indication
    adds no empty option."""
    with clinic.begin_nested():
        clinic.execute(delete(Dosing))
        first = clinic.execute(select(Patient.patient_id).order_by(Patient.patient_id)).first()
        clinic.execute(
            update(Patient).where(Patient.patient_id == first[0]).values(indication=None)
        )
        options = queries.filter_options(clinic)
        assert options == _plain(clinic)
        assert options["routes"] == []
        assert None not in options["indications"]


def test_demo_clinic_options(demo):
    """The 300-patient demo clinic: the same options as `SELECT DISTINCT`."""
    options = queries.filter_options(demo)
    assert options == _plain(demo)
    assert options["routes"] and options["sites"] and options["indications"]
