"""SQL-side aggregates: grouped queries that return the few rows a chart or tile needs.

One module per area (program, safety, quality, cohort). Every function takes a Connection
and the Filters (scoped filters included) and applies the same course scope as
kapviz.db.queries, so aggregates and raw frames always describe the same patients. Pages
reach them through kapviz.ui.data.aggregate(), which caches them per data version.
"""
