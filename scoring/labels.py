"""Feature labels that read well to a client-relationship officer: refinement and audit.

Labels are what a refused client is told (reason codes) and what the dashboard shows, so
``Did client provide home phone (1=YES, 0=NO)`` or two features sharing one label are defects,
not cosmetics. The feature spec builds labels from the Kaggle data dictionary
(:mod:`scoring.features.labels`); this module is the last pass over the finished
``{feature: label}`` map:

- :func:`refine_labels` removes data-dictionary coding notes (``(1=YES, 0=NO)``,
  ``(-1 means the freshest balance date)``), turns flag questions into statements
  (``Did client provide home phone`` → ``Home phone provided``), and gives features that would
  share a label the words of their name that tell them apart (``... contact address (city)``);
- :func:`audit_labels` lists what is still wrong (empty, just the column name, coding notes,
  too long, shared), so a stage can log or fail on it.

Pure string functions: the same map in gives the same map out.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

#: Longer labels do not fit a reason-code line or a chart axis.
MAX_LEN = 120

_CODING_NOTES = (
    re.compile(r"\s*\(\s*1\s*=\s*YES\s*,\s*0\s*=\s*NO\s*\)", re.IGNORECASE),
    re.compile(r"\s*\(\s*1\s*=\s*different[^)]*\)", re.IGNORECASE),
    re.compile(r"\s*\(\s*-1 means[^)]*\)", re.IGNORECASE),
)
#: "(1=different, 0=same, at region level)" keeps its useful part: "(region level)".
_LEVEL_NOTE = re.compile(r"\(\s*1\s*=\s*different[^)]*?\bat (\w+) level\s*\)", re.IGNORECASE)
_DID_PROVIDE = re.compile(r"^Did (?:the )?client provide (?:an? )?(.+)$", re.IGNORECASE)
_FLAG_IF = re.compile(r"^Flag if (?:the )?(.+)$", re.IGNORECASE)


@dataclass(frozen=True)
class LabelIssue:
    """One label problem: which feature, its label, and what is wrong in plain words."""

    feature: str
    label: str
    problem: str


def _words(name: str) -> str:
    return " ".join(t for t in re.split(r"[^0-9A-Za-z]+", name) if t).lower()


def is_raw_name(feature: str, label: str) -> bool:
    """True when the label only spells the column name (``AMT_CREDIT``, ``Amt credit``).

    Punctuation counts as editing: ``Age (years)`` for ``AGE_YEARS`` is a real label.
    """
    text = label.strip().lower()
    return text in {feature.lower(), feature.lower().replace("_", " ")}


def refine_label(label: str) -> str:
    """One label, cleaned: coding notes out, flag questions turned into statements."""
    text = _LEVEL_NOTE.sub(r"(\1 level)", " ".join(label.split()))
    for pattern in _CODING_NOTES:
        text = pattern.sub("", text)
    m = _DID_PROVIDE.match(text)
    if m:
        text = f"{m.group(1)} provided"
    m = _FLAG_IF.match(text)
    if m:
        text = m.group(1)
    text = text.strip(" ,;")
    return text[:1].upper() + text[1:]


def _disambiguate(labels: dict[str, str]) -> dict[str, str]:
    """Features that share a label get the name words that differ between them appended."""
    by_label: dict[str, list[str]] = defaultdict(list)
    for feature, label in labels.items():
        by_label[label.lower()].append(feature)
    out = dict(labels)
    for features in by_label.values():
        if len(features) < 2:
            continue
        tokens = {f: list(dict.fromkeys(t for t in f.split("_") if t)) for f in features}
        common = set.intersection(*(set(t) for t in tokens.values()))
        for f in features:
            extra = " ".join(t.lower() for t in tokens[f] if t not in common)
            if extra:
                out[f] = f"{labels[f]} ({extra})"
    return out


def refine_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Refined labels for every feature, in the same order; an empty one falls back to words.

    A label left empty by the refinement (or given empty) becomes the capitalised words of the
    feature name: better than nothing, and :func:`audit_labels` still reports it.
    """
    refined = {}
    for feature, label in labels.items():
        text = refine_label(label or "")
        refined[feature] = text or _words(feature).capitalize()
    return _disambiguate(refined)


def audit_labels(labels: Mapping[str, str]) -> list[LabelIssue]:
    """Every remaining problem, one :class:`LabelIssue` each (empty list = all labels fine)."""
    issues: list[LabelIssue] = []
    seen: dict[str, str] = {}
    for feature, label in labels.items():
        if not label or not label.strip():
            issues.append(LabelIssue(feature, label, "empty label"))
            continue
        if is_raw_name(feature, label):
            issues.append(LabelIssue(feature, label, "label only repeats the column name"))
        if any(p.search(label) for p in _CODING_NOTES):
            issues.append(LabelIssue(feature, label, "data-dictionary coding note left in"))
        if len(label) > MAX_LEN:
            issues.append(LabelIssue(feature, label, f"longer than {MAX_LEN} characters"))
        key = label.strip().lower()
        if key in seen:
            issues.append(LabelIssue(feature, label, f"same label as {seen[key]}"))
        else:
            seen[key] = feature
    return issues
