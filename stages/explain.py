"""Stage `explain`: SHAP global view, refusal reason codes, fairness report and the model card.

It runs after the bundle exists and reads it as the API does (:func:`scoring.bundle.load_bundle`),
on the holdout clients only (the rows the final model never saw): contributions from the
bundle's fast path, a global ranking and figures, up to ``n_reasons`` reason codes per refused
applicant, fairness by protected attribute at the bundle's threshold, the top-N feature list
for the drift stage, and ``docs/model_card.md`` rendered from all of it.

    python -m stages.explain --params params.yaml --bundle models/bundle \
        --features data/features/train.parquet --feature-spec data/features/features.yaml \
        --split data/split/split.parquet \
        --application data/interim/application_train.parquet --test-metrics metrics/test.json \
        --cv-metrics metrics/cv.json --models-metrics metrics/models.json \
        --explain-metrics metrics/explain.json --fairness-metrics metrics/fairness.json \
        --importance reports/shap_importance.csv --reasons reports/reason_codes.csv \
        --coefficients reports/linear_coefficients.csv --top-features models/top_features.json \
        --shap-bar reports/figures/shap_bar.png --shap-beeswarm reports/figures/shap_beeswarm.png \
        --fairness-figure reports/figures/fairness.png --model-card docs/model_card.md
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scoring import explain as ex
from scoring.bundle import Bundle, load_bundle
from scoring.config import load_params, section, setup_logging
from scoring.fairness import AGE_BAND, age_band, fairness_report, plot_fairness
from scoring.labels import audit_labels
from scoring.model_card import CardInputs, render_model_card
from scoring.protected import attribute_lineage, load_resolved_spec
from scoring.schema import APPLICATION_TRAIN, table_schema

if TYPE_CHECKING:
    from scoring.features import FeatureSpec

log = logging.getLogger("stages.explain")
ID, TARGET = ex.ID, ex.TARGET
#: The raw data's default location: the synthetic generator's output (dvc.yaml `generate`).
SYNTHETIC_RAW_DIR = "data/raw"


@dataclass(frozen=True)
class ExplainParams:
    """``explain`` section of params.yaml plus the ``seed`` and ``data.raw_dir`` it reads."""

    seed: int
    raw_dir: str
    top_n: int
    max_rows: int
    n_reasons: int
    protected: tuple[str, ...]
    attributes: tuple[str, ...]
    age_edges: tuple[int, ...]
    min_group_size: int
    di_threshold: float

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> ExplainParams:
        e = section(params, "explain")
        f = e["fairness"]
        out = cls(
            seed=int(params["seed"]),
            raw_dir=str(section(params, "data")["raw_dir"]),
            top_n=int(e["top_n"]),
            max_rows=int(e["max_rows"]),
            n_reasons=int(e["n_reasons"]),
            protected=tuple(str(p) for p in e["protected"]),
            attributes=tuple(str(a) for a in f["attributes"]),
            age_edges=tuple(int(x) for x in f["age_edges"]),
            min_group_size=int(f["min_group_size"]),
            di_threshold=float(f["di_threshold"]),
        )
        if not 1 <= out.n_reasons <= 4:
            raise ValueError(
                f"explain.n_reasons must be 1..4 (regulators: at most four), got {out.n_reasons}"
            )
        return out


def group_attributes(
    application: pd.DataFrame, ids: pd.Series, attributes: Sequence[str], age_edges: Sequence[int]
) -> pd.DataFrame:
    """The fairness attributes of ``ids`` (same order), ``AGE_BAND`` derived from DAYS_BIRTH.

    They come from the raw application rows, not the model features, so fairness is measured
    even when an attribute is excluded from training (that is the point of the check).
    """
    needed = sorted({"DAYS_BIRTH" if a == AGE_BAND else a for a in attributes} | {ID})
    missing = [c for c in needed if c not in application.columns]
    if missing:
        raise KeyError(f"application_train lacks fairness column(s) {missing}")
    raw = application[needed].drop_duplicates(ID).set_index(ID).reindex(ids.to_numpy())
    absent = raw.index[raw.isna().all(axis=1)]
    if len(absent):
        raise ValueError(
            f"{len(absent)} holdout clients not in application_train, e.g. {ID}={absent[0]}"
        )
    cols = {
        a: age_band(raw["DAYS_BIRTH"], age_edges) if a == AGE_BAND else raw[a].astype("object")
        for a in attributes
    }
    return pd.DataFrame(cols).reset_index(drop=True)


def _records(frame: pd.DataFrame, columns: Sequence[str], n: int) -> list[dict[str, Any]]:
    return [
        {str(c): (v.item() if isinstance(v, np.generic) else v) for c, v in row.items()}
        for row in frame[list(columns)].head(n).to_dict(orient="records")
    ]


def explain_holdout(
    bundle: Bundle, rows: pd.DataFrame, p: ExplainParams, expressions: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, pd.DataFrame], np.ndarray]:
    """Contributions, ranking and reason codes of the holdout rows.

    Returns the card/metrics facts, the tables to write, and the contributions (for figures).
    """
    X = bundle.encode(rows)
    contrib = bundle.contributions(X)
    proba = bundle.predict_proba(X)
    sum_error = float(np.max(np.abs(contrib.sum(axis=1) - bundle.raw_score(X))))
    importance = ex.global_importance(contrib, bundle.feature_names, bundle.labels)
    reasons = ex.refusal_reasons(bundle, X, contrib, rows[ID].tolist(), proba, k=p.n_reasons)
    n_refused = int((proba >= bundle.threshold).sum())
    summary = ex.reason_summary(reasons, n_refused)
    label_issues = audit_labels(bundle.labels)
    for issue in label_issues[:10]:
        log.warning("label of %s: %s (%r)", issue.feature, issue.problem, issue.label)
    facts: dict[str, Any] = {
        "n_label_issues": len(label_issues),
        "n_explained": len(rows),
        "n_refused_explained": n_refused,
        "reasons_per_refused_mean": len(reasons) / n_refused if n_refused else 0.0,
        "share_refused_with_protected_reason": ex.share_with_protected_reason(
            reasons, p.protected, n_refused, expressions
        ),
        "contribution_sum_max_abs_error": sum_error,
        "top": _records(importance, ["rank", "feature", "label", "share"], p.top_n),
        "reasons": _records(summary, ["feature", "label", "share_of_refused", "share_first"], 10),
    }
    tables = {"importance": importance, "reasons": reasons}
    return facts, tables, contrib


def coefficient_table(bundle: Bundle) -> tuple[pd.DataFrame, str]:
    """The logistic coefficients when the bundle is linear, else an empty table and why."""
    if bundle.linear is not None:
        table = ex.linear_coefficients(
            bundle.linear, bundle.feature_names, bundle.categorical_levels, bundle.labels
        )
        return table, ""
    note = (
        "the served model is LightGBM; its explanations are the SHAP contributions above. The "
        "logistic regression is compared in `metrics/models.json` (same folds, same metrics); "
        "set the model to `logistic` to serve it and get its coefficient table here."
    )
    return pd.DataFrame(columns=["feature", "level", "label", "coefficient"]), note


def protected_used(
    spec: FeatureSpec, feature_names: Sequence[str], protected: Sequence[str]
) -> dict[str, list[str]]:
    """``{attribute: [model features derived from it]}``, by lineage in the feature spec.

    The same lineage as ``train.exclude_attributes`` (:mod:`scoring.protected`), so an attribute
    excluded from training always shows as not used (``AGE_YEARS`` counts for ``DAYS_BIRTH``,
    which the feature names alone do not say).
    """
    present = set(feature_names)
    return {a: [f for f in attribute_lineage(spec, a) if f in present] for a in protected}


def _read_json(path: str | None) -> Any:
    if not path:
        return {}
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: metrics file not found (run the stage that writes it)")
    return json.loads(p.read_text(encoding="utf-8"))


def _write_json(path: str, obj: Any) -> None:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(obj, indent=1, allow_nan=False) + "\n", encoding="utf-8")


def _write_csv(path: str, frame: pd.DataFrame) -> None:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(out, index=False, float_format="%.6g")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in (
        "params",
        "bundle",
        "features",
        "feature-spec",
        "split",
        "application",
        "test-metrics",
        "cv-metrics",
        "models-metrics",
        "explain-metrics",
        "fairness-metrics",
        "importance",
        "reasons",
        "coefficients",
        "top-features",
        "shap-bar",
        "shap-beeswarm",
        "fairness-figure",
        "model-card",
    ):
        ap.add_argument(f"--{name}", required=True)
    args = ap.parse_args(argv)
    setup_logging()
    params = load_params(args.params)
    p = ExplainParams.from_params(params)
    bundle = load_bundle(args.bundle)
    split = pd.read_parquet(args.split)
    holdout = ex.holdout_rows(pd.read_parquet(args.features), split)
    rows = ex.sample_rows(holdout, p.max_rows, p.seed)
    log.info("explaining %d of %d holdout clients", len(rows), len(holdout))

    spec = load_resolved_spec(args.feature_spec)  # derived expressions and feature lineage
    expressions = ex.derived_expressions(spec)
    facts, tables, contrib = explain_holdout(bundle, rows, p, expressions)
    train_y = split.loc[split["subset"] == "train", TARGET]
    facts |= {
        "n_train": len(train_y),
        "train_default_rate": float(train_y.mean()),
        "n_holdout": len(holdout),
        "holdout_default_rate": float(holdout[TARGET].mean()),
    }
    coefs, note = coefficient_table(bundle)
    facts["linear_coefficients"] = _records(coefs, ["label", "coefficient"], p.top_n)
    facts["linear_note"] = note

    application = pd.read_parquet(args.application)
    attrs = group_attributes(application, holdout[ID], p.attributes, p.age_edges)
    proba = bundle.predict_proba(bundle.encode(holdout))
    fairness = fairness_report(
        holdout[TARGET].to_numpy(),
        proba >= bundle.threshold,
        attrs,
        min_group_size=p.min_group_size,
        di_threshold=p.di_threshold,
    )
    fairness["threshold"] = bundle.threshold

    importance = tables["importance"]
    top = ex.top_features(importance, p.top_n)
    _write_json(
        args.top_features,
        {
            "model_version": bundle.model_version,
            "features": top,
            "labels": {f: bundle.labels[f] for f in top},
        },
    )
    _write_csv(args.importance, importance)
    _write_csv(args.reasons, tables["reasons"])
    _write_csv(args.coefficients, coefs)
    ex.plot_shap_summary(
        contrib,
        bundle.encode(rows),
        bundle.feature_names,
        bundle.labels,
        bundle.categorical_levels,
        bar_path=args.shap_bar,
        beeswarm_path=args.shap_beeswarm,
        max_display=p.top_n,
    )
    plot_fairness(fairness, args.fairness_figure)
    metrics = {k: v for k, v in facts.items() if isinstance(v, (int, float))}
    _write_json(args.explain_metrics, metrics)
    _write_json(args.fairness_metrics, fairness)

    used = protected_used(spec, bundle.feature_names, p.protected)
    card = render_model_card(
        CardInputs(
            bundle=bundle.meta,
            test=_read_json(args.test_metrics),
            cv=_read_json(args.cv_metrics),
            models=_read_json(args.models_metrics),
            explain=facts,
            fairness=fairness,
            context={
                "synthetic": p.raw_dir == SYNTHETIC_RAW_DIR,
                "raw_dir": p.raw_dir,
                "protected": list(p.protected),
                "protected_used": used,
                "n_reasons": p.n_reasons,
                "target_definition": table_schema(APPLICATION_TRAIN).column(TARGET).description,
            },
        )
    )
    Path(args.model_card).parent.mkdir(parents=True, exist_ok=True)
    Path(args.model_card).write_text(card, encoding="utf-8")
    log.info("top features: %s", ", ".join(top[:5]))
    log.info("fairness: %s", {a: fairness[a]["disparate_impact"] for a in p.attributes})


if __name__ == "__main__":
    main()
