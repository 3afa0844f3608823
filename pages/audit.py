"""Audit: who signed in, opened which case, exported or imported what (directors only)."""

from kapviz.ui import audit_trail, page

page.setup(
    "Audit",
    "The append-only audit trail: sign-ins and failures, case views, exports and imports.",
    with_filters=False,
)
audit_trail.show()
