"""Style every page needs on ordinary screens, laptops included (kapviz/ui/narrow.css):
labels that wrap rather than end in "…", charts stacked full width below 1280 px."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import streamlit as st

NARROW_CSS = Path(__file__).with_name("narrow.css")


@cache
def _style() -> str:
    return f"<style>{NARROW_CSS.read_text(encoding='utf-8')}</style>"


def apply() -> None:
    """Add the style sheet to this page (a hidden element)."""
    st.html(_style())
