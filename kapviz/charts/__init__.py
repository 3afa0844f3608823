"""Pure plotly: tidy frames in, `go.Figure` out, all drawn with the one theme in `theme`.

Charts draw what `kapviz.metrics` computed; they never compute statistics themselves and
never import streamlit.
"""
