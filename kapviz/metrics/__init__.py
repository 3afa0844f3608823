"""Pure pandas metrics: outcomes, trajectories, side-effect rates, safety flags.

Nothing here imports streamlit or touches the database; functions take tidy frames from
`kapviz.db.queries` and return new frames.
"""
