"""Global and local explanations of a model bundle, from its own fast contribution path.

Why no SHAP explainer here: for LightGBM, SHAP's TreeExplainer *is*
``booster.predict(X, pred_contrib=True)`` (bit-identical, measured in STACK_NOTES), and for the
linear bundle the exact contributions are ``coef * standardised value``. Both are what
:meth:`scoring.bundle.Bundle.contributions` returns, so the pipeline, the API and these reports
all explain a score with the same numbers. ``shap`` (4 s, 400 MB to import) is used only to draw
the standard bar and beeswarm figures, and only inside :func:`plot_shap_summary`.

Contributions are in log-odds of default before calibration; the last column is the bias (the
model's average raw score), and each row sums to the raw score. Calibration is monotone, so a
positive contribution always pushes the calibrated probability toward refusal.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scoring.bundle import Bundle, LinearModel

ID = "SK_ID_CURR"
TARGET = "TARGET"


# --------------------------------------------------------------------------------------------
# Rows to explain
# --------------------------------------------------------------------------------------------
def holdout_rows(
    features: pd.DataFrame, split: pd.DataFrame, *, subset: str = "holdout"
) -> pd.DataFrame:
    """The feature rows of the ``subset`` clients of ``split``, with their ``TARGET``.

    The holdout is the only set the final model never saw, so explanations and fairness are
    measured there. A holdout client without a feature row is an error (the two files come from
    different runs), not something to drop silently.
    """
    for name, frame in (("features", features), ("split", split)):
        if ID not in frame.columns:
            raise KeyError(f"{name} frame has no {ID} column")
    if "subset" not in split.columns:
        raise KeyError("split frame has no 'subset' column")
    ids = split.loc[split["subset"] == subset, [ID, TARGET]]
    if ids.empty:
        raise ValueError(f"split has no {subset!r} rows")
    feats = features.drop(columns=[TARGET], errors="ignore")
    rows = ids.merge(feats, on=ID, how="left", indicator=True, validate="one_to_one")
    orphans = rows.loc[rows["_merge"] == "left_only", ID]
    if len(orphans):
        raise ValueError(
            f"{len(orphans)} {subset} clients have no feature row, e.g. {ID}={orphans.iloc[0]}"
        )
    return rows.drop(columns="_merge").reset_index(drop=True)


def sample_rows(frame: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """At most ``max_rows`` rows, drawn with ``seed`` and kept in their original order.

    Contributions cost about 4 ms per row for a large booster; a few thousand rows give a stable
    global ranking, while the whole Kaggle holdout (61 k rows) would take minutes.
    """
    if max_rows <= 0:
        raise ValueError(f"max_rows must be positive, got {max_rows}")
    if len(frame) <= max_rows:
        return frame.reset_index(drop=True)
    return frame.sample(n=max_rows, random_state=seed).sort_index().reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Global view
# --------------------------------------------------------------------------------------------
def global_importance(
    contrib: np.ndarray, feature_names: Sequence[str], labels: Mapping[str, str]
) -> pd.DataFrame:
    """SHAP-style global ranking: mean |contribution| per feature, largest first.

    ``mean_contribution`` keeps the sign (does the feature push the average client toward
    default?) and ``share`` is the feature's part of the total mean |contribution|. Ties are
    broken by feature name so the ranking, and the drift stage's top-N list, is reproducible.
    """
    k = len(feature_names)
    if contrib.ndim != 2 or contrib.shape[1] not in (k, k + 1):
        raise ValueError(f"contributions of shape {contrib.shape} do not match {k} features")
    values = contrib[:, :k]
    mean_abs = np.abs(values).mean(axis=0)
    total = float(mean_abs.sum())
    table = pd.DataFrame(
        {
            "feature": list(feature_names),
            "label": [labels.get(f, f) for f in feature_names],
            "mean_abs_contribution": mean_abs,
            "mean_contribution": values.mean(axis=0),
            "share": mean_abs / total if total > 0 else np.zeros(k),
        }
    )
    table = table.sort_values(
        ["mean_abs_contribution", "feature"], ascending=[False, True], kind="mergesort"
    ).reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, k + 1))
    return table


def top_features(importance: pd.DataFrame, n: int) -> list[str]:
    """The ``n`` most important features that the model actually uses (mean |value| > 0)."""
    used = importance[importance["mean_abs_contribution"] > 0]
    return [str(f) for f in used["feature"].head(n)]


def linear_coefficients(
    linear: LinearModel,
    feature_names: Sequence[str],
    levels: Mapping[str, Sequence[str]],
    labels: Mapping[str, str],
) -> pd.DataFrame:
    """The logistic model's coefficients, one row per numeric feature or categorical level.

    Numeric coefficients are per standard deviation (the model scales its inputs), so their
    sizes compare across features; a categorical level's coefficient is its log-odds shift.
    Sorted by |coefficient|, largest first.
    """
    rows: list[dict[str, Any]] = []
    for name in feature_names:
        if name in linear.numeric:
            rows.append(
                {
                    "feature": name,
                    "level": "",
                    "label": labels.get(name, name),
                    "coefficient": float(linear.numeric[name]["coef"]),
                }
            )
        elif name in linear.cat_coef:
            names = list(levels.get(name, []))
            for code, coef in enumerate(linear.cat_coef[name]):
                level = names[code] if code < len(names) else f"code {code}"
                rows.append(
                    {
                        "feature": name,
                        "level": level,
                        "label": f"{labels.get(name, name)}: {level}",
                        "coefficient": float(coef),
                    }
                )
    table = pd.DataFrame(rows, columns=["feature", "level", "label", "coefficient"])
    order = table["coefficient"].abs().sort_values(ascending=False, kind="mergesort").index
    return table.loc[order].reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Local view: reason codes of refused applicants
# --------------------------------------------------------------------------------------------
REASON_COLUMNS: tuple[str, ...] = (
    ID,
    "probability",
    "rank",
    "feature",
    "label",
    "value",
    "contribution",
)


def refusal_reasons(
    bundle: Bundle,
    X: np.ndarray,
    contrib: np.ndarray,
    ids: Sequence[Any],
    proba: np.ndarray,
    *,
    k: int = 4,
) -> pd.DataFrame:
    """Up to ``k`` reason codes per refused applicant (long format, strongest reason first).

    Uses :meth:`Bundle.reason_codes`, the exact code the API serves, so the report and the API
    can never disagree. A refused applicant with no positive contribution gets no row (it can
    only happen when the threshold is below the model's base rate).
    """
    if not len(X) == len(contrib) == len(ids) == len(proba):
        raise ValueError("X, contrib, ids and proba must have the same number of rows")
    rows: list[tuple[Any, ...]] = []
    for i in map(int, np.flatnonzero(np.asarray(proba) >= bundle.threshold)):
        for rank, rc in enumerate(bundle.reason_codes(X[i], contrib[i], k=k), start=1):
            rows.append(
                (ids[i], float(proba[i]), rank, rc.feature, rc.label, rc.value, rc.contribution)
            )
    return pd.DataFrame(rows, columns=list(REASON_COLUMNS))


def reason_summary(reasons: pd.DataFrame, n_refused: int) -> pd.DataFrame:
    """How often each feature is given as a reason: share of refusals, and share as first reason.

    This is the view a compliance officer asks for ("what do we tell refused clients?").
    """
    if reasons.empty or n_refused == 0:
        return pd.DataFrame(columns=["feature", "label", "n", "share_of_refused", "share_first"])
    grouped = reasons.groupby(["feature", "label"], sort=False)
    table = pd.DataFrame(
        {
            "n": grouped[ID].nunique(),
            "n_first": grouped["rank"].apply(lambda r: int((r == 1).sum())),
        }
    ).reset_index()
    table["share_of_refused"] = table["n"] / n_refused
    table["share_first"] = table["n_first"] / n_refused
    table = table.sort_values(["n", "feature"], ascending=[False, True], kind="mergesort")
    return table[["feature", "label", "n", "share_of_refused", "share_first"]].reset_index(
        drop=True
    )


def protected_features(
    feature_names: Iterable[str],
    protected: Iterable[str],
    expressions: Mapping[str, str] | None = None,
) -> list[str]:
    """Model features derived from a protected attribute.

    A feature qualifies when its name contains the attribute (generated names embed their
    source column, e.g. ``NAME_FAMILY_STATUS_FREQ``) or when its spec expression reads it
    (``AGE_YEARS = -DAYS_BIRTH / 365.25``); ``expressions`` maps derived features to their
    expression text (:func:`derived_expressions`).
    """
    attrs = [a.upper() for a in protected]
    exprs = {k: v.upper() for k, v in (expressions or {}).items()}
    patterns = [re.compile(rf"\b{re.escape(a)}\b") for a in attrs]
    return [
        f
        for f in feature_names
        if any(a in f.upper() for a in attrs)
        or (f in exprs and any(p.search(exprs[f]) for p in patterns))
    ]


def derived_expressions(spec: Any) -> dict[str, str]:
    """``{feature: expression text}`` of the spec's derived application and cross features."""
    derived = [*spec.application.derived, *spec.cross]
    return {str(d.name): str(d.text) for d in derived}


def share_with_protected_reason(
    reasons: pd.DataFrame,
    protected: Iterable[str],
    n_refused: int,
    expressions: Mapping[str, str] | None = None,
) -> float:
    """Share of refused applicants told, among their reasons, a protected attribute.

    A refusal explained by gender or marital status is what a regulator objects to first; the
    number shows whether excluding such attributes from training is needed.
    """
    if n_refused == 0:
        return 0.0
    flagged = set(protected_features(reasons["feature"].unique(), protected, expressions))
    hit = reasons.loc[reasons["feature"].isin(flagged), ID].nunique()
    return float(hit) / n_refused


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------
def _short(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def plot_shap_summary(
    contrib: np.ndarray,
    X: np.ndarray,
    feature_names: Sequence[str],
    labels: Mapping[str, str],
    categorical: Iterable[str],
    *,
    bar_path: str | Path,
    beeswarm_path: str | Path,
    max_display: int = 20,
) -> tuple[Path, Path]:
    """SHAP bar (mean |value|) and beeswarm figures, drawn by ``shap`` from our contributions.

    Categorical columns hold level codes whose order means nothing, so their points are drawn
    grey (value missing) in the beeswarm instead of a misleading low/high colour.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import shap  # 4 s to import: only the figure needs it

    k = len(feature_names)
    data = np.array(X, dtype=np.float64, copy=True)
    cats = set(categorical)
    for j, name in enumerate(feature_names):
        if name in cats:
            data[:, j] = np.nan
    expl = shap.Explanation(
        values=contrib[:, :k],
        base_values=contrib[:, k] if contrib.shape[1] > k else np.zeros(len(contrib)),
        data=data,
        feature_names=[_short(labels.get(f, f)) for f in feature_names],
    )
    paths = (Path(bar_path), Path(beeswarm_path))
    for path, draw in zip(paths, (shap.plots.bar, shap.plots.beeswarm), strict=True):
        plt.figure()
        with warnings.catch_warnings():
            # shap takes colour quantiles of each column; our all-NaN categorical columns warn
            warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
            draw(expl, max_display=max_display, show=False)
        fig = plt.gcf()
        fig.set_size_inches(11, 0.35 * min(max_display, k) + 2)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close("all")
    return paths


def plot_coefficients(coefs: pd.DataFrame, path: str | Path, max_display: int = 20) -> Path:
    """Horizontal bar chart of the largest logistic coefficients (red = toward default)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    top = coefs.head(max_display).iloc[::-1]
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(top) + 1.5))
    colors = ["#c0392b" if c > 0 else "#2471a3" for c in top["coefficient"]]
    ax.barh([_short(str(s)) for s in top["label"]], top["coefficient"], color=colors)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_xlabel("coefficient (log-odds of default per standard deviation or per level)")
    ax.set_title("Logistic regression: largest coefficients")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
