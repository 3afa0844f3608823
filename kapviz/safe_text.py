"""Imported text shown as text: never as markdown, HTML or a link.

Site names, clinician codes, indications, ids, ineligibility reasons and every other value
that came from a clinic's files are data, not markup. Streamlit renders captions, messages,
headers and labels as markdown, and plotly renders chart labels, hover text and annotations
as a subset of HTML (`<a href>`, `<b>`, `<br>` ...). So every piece of data put into such
text goes through one of these two functions first:

- `markdown(value)`: every ASCII punctuation character that markdown, GFM or Streamlit
  give a meaning is backslash-escaped (CommonMark renders `\\x` as the character itself), so
  no link, image, emphasis, HTML tag, Streamlit directive (`:red[...]`, `:material/...:`) or
  formula (`$...$`) can form; line breaks become spaces, and a leading `-`, `.` or `1.` that
  would start a list is escaped too (inside a line, `P1-C1` or `2.5` need no escape).
  Streamlit also turns bare `http://…`, `www.…` and `name@host.org` into links after the
  escapes are read (GFM autolink literals), so an invisible WORD JOINER (U+2060) goes after
  `:` in `://`, after `www` and after `@`: the text looks the same and links nothing.
- `html(value)`: `&`, `<`, `>` and quotes as entities, for HTML documents (the case summary).
- `plotly(value)`: for plotly's labels, hover text and annotations, which understand a few
  tags (`<a href>`, `<b>`, `<br>`, `<span style>` ...) and entities: every `&` and every `<`
  that could open a tag (before a letter, `/`, `!` or `?`) become entities, which plotly
  shows as the characters. Text such as `<250 mg` or `n<20` is left as it is.

Text written by kapviz itself is not escaped; data interpolated into it is.
"""

from __future__ import annotations

import html as _html
import re

_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+!|<>:$~&^])")
_LIST_START = re.compile(r"^(\s*\d*)([-.])")
_LINE_BREAKS = re.compile(r"[\r\n]+")
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
_AUTOLINK = re.compile(r"(?<=:)(?=//)|(?<=www)(?=\.)|(?<=@)", re.IGNORECASE)
WORD_JOINER = "\u2060"


def markdown(value: object) -> str:
    """`value` as literal text inside Streamlit markdown (captions, messages, headers)."""
    text = _LINE_BREAKS.sub(" ", "" if value is None else str(value))
    text = _PUNCTUATION.sub(r"\\\1", _AUTOLINK.sub(WORD_JOINER, text))
    return _LIST_START.sub(r"\1\\\2", text)


def html(value: object) -> str:
    """`value` as literal text inside HTML or plotly's HTML-like labels."""
    return _html.escape("" if value is None else str(value), quote=True)


def plotly(value: object) -> str:
    """`value` as literal text in a plotly label, hover text or annotation."""
    text = "" if value is None else str(value)
    if "&" not in text and "<" not in text:
        return text
    return _TAG_START.sub("&lt;", text.replace("&", "&amp;"))


def needs_plotly_escape(text: str) -> bool:
    """Would `plotly(text)` change it? (A fast test before copying large arrays.)"""
    return "&" in text or _TAG_START.search(text) is not None


def markdown_list(values, *, sep: str = ", ") -> str:
    """Several values as literal text, joined by `sep` (kapviz's own separator)."""
    return sep.join(markdown(v) for v in values)
