"""Bringing clinic data in and out: the kapviz template (CSV/Excel), FHIR R4 and REDCap.

Every importer produces an `ImportBatch` in the template's columns; `validate` checks it
and `write_batch` writes it in one transaction, so every format gets the same rules.
"""
