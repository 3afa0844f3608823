"""Streamlit glue: cached loaders, global filters, shared widgets. The only streamlit layer."""
