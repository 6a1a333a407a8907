"""Group fairness of the credit decision: who is refused, and who is refused wrongly.

Conventions (fixed here once, because "positive" is ambiguous in credit scoring):

- the *positive class* is a default (``TARGET == 1``) and the *positive decision of the model* is a
  refusal, so ``tpr`` = P(refused | defaulted) is the share of bad loans the model catches and
  ``fpr`` = P(refused | repaid) is the share of good clients wrongly refused, the harm a fairness
  review cares most about;
- ``approval_rate`` = P(approved), the favourable outcome; the *disparate-impact ratio* of an
  attribute is the lowest group approval rate divided by the highest (the US "four-fifths rule"
  flags ratios below 0.8);
- groups smaller than ``min_group_size`` are reported but left out of ratios and gaps: a group of
  four ``XNA`` genders would otherwise decide the ratio on noise.

Everything is a pure function of arrays and frames so that it can be checked by hand on a tiny
example (tests/unit/test_fairness.py).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Name of the derived fairness attribute built from DAYS_BIRTH.
AGE_BAND = "AGE_BAND"
RATE_COLUMNS: tuple[str, ...] = ("approval_rate", "tpr", "fpr", "default_rate")
RATE_NAMES: dict[str, str] = {
    "approval_rate": "approval rate",
    "tpr": "TPR (defaulters refused)",
    "fpr": "FPR (good clients refused)",
    "default_rate": "observed default rate",
}
DAYS_PER_YEAR = 365.25


def age_in_years(days_birth: pd.Series) -> pd.Series:
    """Whole years of age from ``DAYS_BIRTH`` (days before the application, so negative)."""
    days = pd.to_numeric(days_birth, errors="coerce").astype("float64")
    return (-days / DAYS_PER_YEAR).apply(np.floor)


def age_band(days_birth: pd.Series, edges: Sequence[int]) -> pd.Series:
    """Age band labels (``"<25"``, ``"25-34"``, ..., ``"65+"``) from ``DAYS_BIRTH``.

    Bands are closed on the left: a client aged exactly 25 is in ``25-34``. The result is an
    ordered categorical, so reports list the bands youngest first. A missing birth date gives a
    missing band (reported as its own ``"missing"`` group by :func:`group_rates`).
    """
    if not edges or any(b <= a for a, b in itertools.pairwise(edges)):
        raise ValueError(f"age band edges must be a non-empty increasing list, got {list(edges)}")
    bins = [-math.inf, *[float(e) for e in edges], math.inf]
    names = [f"<{edges[0]}"]
    names += [f"{lo}-{hi - 1}" for lo, hi in itertools.pairwise(edges)]
    names.append(f"{edges[-1]}+")
    return pd.cut(age_in_years(days_birth), bins=bins, labels=names, right=False)


def _rate(numerator: int, denominator: int) -> float:
    """A share, NaN when the group has no one to count (e.g. no defaulter in a small group)."""
    return numerator / denominator if denominator else math.nan


def group_rates(y_true: np.ndarray, refused: np.ndarray, groups: pd.Series) -> pd.DataFrame:
    """Approval rate, TPR, FPR and observed default rate per group (index = group label).

    ``y_true`` is 1 for a default, ``refused`` is True when the model refuses. Missing group
    values form a ``"missing"`` group rather than disappearing from the denominators. Groups are
    sorted by name, or kept in category order for an ordered attribute such as age bands.
    """
    y = np.asarray(y_true).astype(np.int64)
    r = np.asarray(refused).astype(bool)
    if not len(y) == len(r) == len(groups):
        raise ValueError(f"lengths differ: y_true {len(y)}, refused {len(r)}, groups {len(groups)}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must hold only 0 (repaid) and 1 (default)")
    g = groups.astype("object").where(groups.notna(), "missing").astype(str).to_numpy()
    present = set(g)
    if isinstance(groups.dtype, pd.CategoricalDtype):  # e.g. age bands: keep their own order
        order = [str(c) for c in groups.cat.categories if str(c) in present]
        order += sorted(present - set(order))
    else:
        order = sorted(present)
    rows: list[dict[str, Any]] = []
    for name in order:
        m = g == name
        yd, rd = y[m], r[m]
        n_default = int(yd.sum())
        n_repaid = int(m.sum()) - n_default
        rows.append(
            {
                "group": name,
                "n": int(m.sum()),
                "n_default": n_default,
                "approval_rate": _rate(int((~rd).sum()), int(m.sum())),
                "tpr": _rate(int((rd & (yd == 1)).sum()), n_default),
                "fpr": _rate(int((rd & (yd == 0)).sum()), n_repaid),
                "default_rate": _rate(n_default, int(m.sum())),
            }
        )
    return pd.DataFrame(rows).set_index("group")


def disparity(rates: pd.DataFrame, min_group_size: int) -> dict[str, Any]:
    """Disparate-impact ratio and TPR/FPR gaps over the groups of at least ``min_group_size``.

    Returns NaN ratios when fewer than two groups are large enough: one group cannot be
    treated unfairly relative to itself, and a ratio of 1.0 would wrongly read as "fair".
    """
    big = rates[rates["n"] >= min_group_size]
    out: dict[str, Any] = {
        "groups_compared": [str(g) for g in big.index],
        "disparate_impact": math.nan,
        "least_approved_group": None,
        "most_approved_group": None,
        "tpr_gap": math.nan,
        "fpr_gap": math.nan,
    }
    if len(big) < 2:
        return out
    appr = big["approval_rate"]
    hi = float(appr.max())
    out["disparate_impact"] = float(appr.min()) / hi if hi > 0 else math.nan
    out["least_approved_group"] = str(appr.idxmin())
    out["most_approved_group"] = str(appr.idxmax())
    for col in ("tpr", "fpr"):
        vals = big[col].dropna()
        out[f"{col}_gap"] = float(vals.max() - vals.min()) if len(vals) >= 2 else math.nan
    return out


def fairness_report(
    y_true: np.ndarray,
    refused: np.ndarray,
    attributes: pd.DataFrame,
    *,
    min_group_size: int,
    di_threshold: float = 0.8,
) -> dict[str, Any]:
    """The fairness metrics of every column of ``attributes`` as a JSON-ready dict.

    Layout: ``{"n": .., "approval_rate": .., "<ATTRIBUTE>": {"disparate_impact": ..,
    "tpr_gap": .., "fpr_gap": .., "below_di_threshold": bool, "groups": {group: {n, n_default,
    approval_rate, tpr, fpr, default_rate}}}}``. NaN becomes ``None`` (valid JSON).
    """
    r = np.asarray(refused).astype(bool)
    report: dict[str, Any] = {
        "n": len(r),
        "approval_rate": float((~r).mean()) if len(r) else math.nan,
        "min_group_size": int(min_group_size),
        "di_threshold": float(di_threshold),
    }
    for col in attributes.columns:
        rates = group_rates(y_true, r, attributes[col].reset_index(drop=True))
        summary = disparity(rates, min_group_size)
        di = summary["disparate_impact"]
        summary["below_di_threshold"] = bool(not math.isnan(di) and di < di_threshold)
        summary["groups"] = {
            str(g): {k: _json_number(v) for k, v in row.items()}
            for g, row in rates.to_dict(orient="index").items()
        }
        report[str(col)] = summary
    return _json_clean(report)


def _json_number(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(float(v)) else float(v)
    return v


def _json_clean(obj: Any) -> Any:
    """NaN → None recursively, numpy scalars → Python numbers (json.dumps writes valid JSON)."""
    if isinstance(obj, Mapping):
        return {str(k): _json_clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_clean(v) for v in obj]
    return _json_number(obj)


def attribute_names(report: Mapping[str, Any]) -> list[str]:
    """The attributes present in a :func:`fairness_report` dict, in insertion order."""
    return [k for k, v in report.items() if isinstance(v, Mapping) and "groups" in v]


def plot_fairness(report: Mapping[str, Any], out: str | Path) -> Path:
    """One panel per attribute: approval rate, TPR, FPR and observed default rate by group.

    Groups below the minimum size are drawn hatched, so a reader does not over-read them.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    attrs = attribute_names(report)
    if not attrs:
        raise ValueError("fairness report has no attribute to plot")
    min_n = int(report.get("min_group_size", 0))
    fig, axes = plt.subplots(len(attrs), 1, figsize=(9, 3.2 * len(attrs)), squeeze=False)
    width = 0.8 / len(RATE_COLUMNS)
    for ax, attr in zip(axes[:, 0], attrs, strict=True):
        groups = report[attr]["groups"]
        names = list(groups)
        x = np.arange(len(names))
        for i, metric in enumerate(RATE_COLUMNS):
            vals = [groups[g][metric] for g in names]
            heights = [math.nan if v is None else v for v in vals]
            offset = (i - (len(RATE_COLUMNS) - 1) / 2) * width
            bars = ax.bar(x + offset, heights, width, label=RATE_NAMES[metric], color=f"C{i}")
            for bar, g in zip(bars, names, strict=True):
                if groups[g]["n"] < min_n:
                    bar.set_hatch("//")
                    bar.set_alpha(0.5)
        di = report[attr].get("disparate_impact")
        di_text = "n/a" if di is None else f"{di:.2f}"
        ax.set_title(f"{attr} — disparate impact (approval) {di_text}")
        ax.set_xticks(x, [f"{g}\n(n={groups[g]['n']})" for g in names], fontsize=8)
        ax.set_ylim(0, 1.15)  # headroom for the legend
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].legend(ncol=len(RATE_COLUMNS), fontsize=8, loc="upper center")
    fig.tight_layout()
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
