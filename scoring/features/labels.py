"""Short human-readable column labels built from the Kaggle data dictionary.

Why: feature labels become the reason codes shown to refused clients and to the
client-relationship officer, so "BURO_ACTIVE_AMT_CREDIT_SUM_DEBT_SUM" must read as a sentence
fragment. The dictionary descriptions (in :mod:`scoring.schema`) are the starting point; two of
their quirks are repaired here:

- the 47 building columns (``APARTMENTS_AVG``, ``FLOORSMAX_MEDI`` ...) share one 300-character
  description, so their label is built from the column name instead
  ("Building where the client lives: floors max (median)");
- long descriptions are cut at the first clause boundary after ~70 characters.

The spec can override any label (``labels:`` in ``conf/features/default.yaml``).
"""

from __future__ import annotations

import re

from scoring.schema import table_schema

_BUILDING_SUFFIX = {"AVG": "average", "MODE": "most common", "MEDI": "median"}
_MAX_LEN = 90


def column_label(table: str, column: str) -> str:
    """A short label for one raw column; falls back to a readable form of the column name."""
    try:
        description = table_schema(table).column(column).description.strip()
    except KeyError:
        description = ""
    if description.startswith("Normalized information about building"):
        stem, _, suffix = column.rpartition("_")
        kind = _BUILDING_SUFFIX.get(suffix)
        words = _words(stem if kind else column)
        return f"Building where the client lives: {words}" + (f" ({kind})" if kind else "")
    if not description:
        return _words(column).capitalize()
    return _shorten(description)


def _words(name: str) -> str:
    return name.replace("_", " ").lower()


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= _MAX_LEN:
        return text
    cut = re.search(r"[.;(]| - ", text[40:])
    if cut and 40 + cut.start() <= _MAX_LEN:
        return text[: 40 + cut.start()].rstrip(" ,")
    head = text[:_MAX_LEN].rsplit(" ", 1)[0]
    return head.rstrip(" ,") + "…"
