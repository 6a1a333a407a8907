"""The methodology note (docs/methodology.md), generated from the pipeline's measured artefacts.

Every number in the note comes from ``metrics/*.json``, ``params.yaml`` or ``bundle.json``; the
template text holds none (tests/unit/test_methodology.py checks that), so the note can never
disagree with the run that produced it. `make docs` (or the DVC ``docs`` stage) regenerates it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scoring.model_card import MISSING, count, md_table, model_entries, num, pct


@dataclass(frozen=True)
class NoteInputs:
    """Parsed artefacts; a missing file is an empty mapping and shows as ``n/a``."""

    params: Mapping[str, Any]
    bundle: Mapping[str, Any] = field(default_factory=dict)
    cv: Mapping[str, Any] = field(default_factory=dict)
    test: Mapping[str, Any] = field(default_factory=dict)
    models: Mapping[str, Any] | Sequence[Mapping[str, Any]] = field(default_factory=dict)
    resample: Mapping[str, Any] = field(default_factory=dict)
    explain: Mapping[str, Any] = field(default_factory=dict)
    fairness: Mapping[str, Any] = field(default_factory=dict)
    drift: Mapping[str, Any] = field(default_factory=dict)
    figures: Sequence[str] = ()


def _p(params: Mapping[str, Any], dotted: str) -> Any:
    cur: Any = params
    for part in dotted.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _training(inp: NoteInputs) -> list[str]:
    p = inp.params
    return [
        "## Training methodology",
        "",
        f"- **Data:** `{_p(p, 'data.raw_dir') or MISSING}` (the synthetic generator's output "
        "unless `DATA_DIR` points at the Kaggle files), validated by the ingest stage against the "
        "Kaggle schema, then one declarative feature spec aggregates the six history tables per "
        "client.",
        f"- **Holdout:** a stratified split keeps {pct(_p(p, 'split.test_size'), 0)} of "
        "application_train aside, by client; it is used once, to evaluate the final model.",
        f"- **Cross-validation:** {count(_p(p, 'cv.n_folds'))} stratified folds on the training "
        "part; every fitted transformer (imputer, scaler, encoder, resampler) lives inside the "
        "fold's pipeline, so validation folds never influence what is fitted.",
        f"- **Search:** Optuna (TPE sampler, median pruning) minimises the out-of-fold business "
        f"cost; a coarse search for every algorithm, then a refined search for the selected one "
        f"(`search` group: `{_p(p, 'search.name') or 'see params.yaml'}`).",
        f"- **Selected model:** {inp.cv.get('model', MISSING)} with resampling "
        f"`{inp.cv.get('resample', MISSING)}`; CV AUC {num(inp.cv.get('auc_mean'))} ± "
        f"{num(inp.cv.get('auc_std'))}; fit time {num(inp.cv.get('fit_seconds'), 1)} s.",
        f"- **Seed:** `{_p(p, 'seed')}` everywhere; the same seed gives the same metrics.",
    ]


def _imbalance(inp: NoteInputs) -> list[str]:
    r = inp.resample
    lines = [
        "## Class imbalance",
        "",
        "Defaults are the minority class. Four strategies are compared on the same folds: none, "
        "class weights, SMOTE and random undersampling (imbalanced-learn), always applied inside "
        "the training folds only (a test proves validation folds never hold synthetic rows).",
    ]
    scalars = {k: v for k, v in r.items() if isinstance(v, (int, float, str, bool))}
    if scalars:
        lines += ["", "Resampling plan of the final fit:", ""]
        lines += md_table(["key", "value"], [[f"`{k}`", str(v)] for k, v in scalars.items()])
    return lines


def _cost(inp: NoteInputs) -> list[str]:
    c = _p(inp.params, "cost") or {}
    t = inp.test
    return [
        "## Cost function, threshold and evaluation metric",
        "",
        f"- **Business cost** = {num(c.get('fn'), 0)} × FN + {num(c.get('fp'), 0)} × FP: "
        "granting a loan to a client who defaults costs far more than refusing a good client.",
        "- **Threshold:** the probability above which a loan is refused is chosen on out-of-fold "
        "probabilities over a fine grid, by minimising the business cost; it is never tuned on "
        "the holdout.",
        f"- **Final model on the holdout:** threshold {num(t.get('threshold'))}, business cost "
        f"{num(t.get('business_cost'), 0)} ({num(t.get('cost_per_client'))} per client), AUC "
        f"{num(t.get('auc'))}, accuracy {num(t.get('accuracy'))}, recall of defaults "
        f"{num(t.get('recall'))}, precision of refusals {num(t.get('precision'))}, Brier "
        f"{num(t.get('brier'), 4)}, approval rate {pct(t.get('approval_rate'))}.",
        "- AUC ranks clients regardless of the threshold; the business cost is the selection "
        "criterion because it prices the two kinds of error as the bank does.",
    ]


def _results(inp: NoteInputs) -> list[str]:
    entries = model_entries(inp.models)
    lines = ["## Results: every model and strategy", ""]
    if not entries:
        return [*lines, f"{MISSING}: `metrics/models.json` was not produced."]
    keys = [
        k
        for k in (
            "auc",
            "business_cost",
            "cost_per_client",
            "threshold",
            "accuracy",
            "recall",
            "approval_rate",
            "fit_seconds",
        )
        if any(k in e for _, e in entries)
    ]
    rows = []
    for name, e in sorted(entries, key=lambda kv: float(kv[1].get("business_cost", 1e300))):
        label = name if "resample" not in e else f"{e.get('model', name)} / {e['resample']}"
        rows.append([label, *[num(e.get(k), 4 if k != "business_cost" else 0) for k in keys]])
    lines += [
        "Out-of-fold figures, each entry at its own cost-optimal threshold, best cost first:",
        "",
    ]
    return lines + md_table(["model / resampling", *keys], rows)


def _interpretability(inp: NoteInputs) -> list[str]:
    ex = inp.explain
    top = ex.get("top_features") or inp.bundle.get("top_features") or []
    labels = inp.bundle.get("labels", {})
    lines = [
        "## Global and local interpretability",
        "",
        "- **Global:** mean |contribution| of each feature over the holdout (exact TreeSHAP values "
        "from LightGBM's `pred_contrib`), shown as a bar chart and a beeswarm "
        "(`reports/figures/`).",
        "- **Local:** every score comes with per-feature contributions that sum to the model's "
        "log-odds; a refused applicant gets up to four reason codes, taken only from the features "
        "that push toward refusal, each with a plain-language label.",
    ]
    if top:
        lines += ["", "Most influential features:", ""]
        rows = [[str(i + 1), f"`{f}`", labels.get(f, "")] for i, f in enumerate(top[:10])]
        lines += md_table(["rank", "feature", "label"], rows)
    for fig in inp.figures:
        lines += ["", f"![{fig}](../{fig})"]
    return lines


def _drift(inp: NoteInputs) -> list[str]:
    d = inp.drift
    top = d.get("top_drifted") or []
    names = ", ".join(f"`{t}`" if isinstance(t, str) else f"`{t.get('column', t)}`" for t in top)
    return [
        "## Drift analysis",
        "",
        f"application_test (the production population) against application_train: "
        f"{count(d.get('n_drifted_columns'))} of {count(d.get('n_columns'))} monitored columns "
        f"drift ({pct(d.get('share_drifted_columns'))}); dataset drift: "
        f"{d.get('dataset_drift', MISSING)}. Most drifted: {names or MISSING}. "
        "The full report is `reports/drift.html`; production traffic is watched by the monitor "
        "(score PSI, approval rate, error rate, latency).",
    ]


def _limits(inp: NoteInputs) -> list[str]:
    fair = inp.fairness
    di = fair.get("disparate_impact") if isinstance(fair, Mapping) else None
    lines = [
        "## Limits and improvements",
        "",
        "- The default data are synthetic: their figures show that the pipeline works and how "
        "models compare, not how the model would do on real clients. Run on the Kaggle files for "
        "real figures (`make pipeline DATA_DIR=...`).",
        "- The cost weights are a business assumption; the threshold moves with them "
        "(`dvc exp run -S cost.fn=...`).",
        "- Reason codes explain the model, not the world: a feature that pushes toward refusal is "
        "correlated with default in the training data, not necessarily a cause.",
        "- The holdout is one draw; the CV spread shows how much the figures move between folds.",
    ]
    if isinstance(di, Mapping) and di:
        worst = min((float(v), k) for k, v in di.items() if isinstance(v, (int, float)))
        lines.append(
            f"- Fairness: the lowest disparate-impact ratio is {num(worst[0])} ({worst[1]}); "
            "see `metrics/fairness.json` and the model card."
        )
    return lines


def render(inp: NoteInputs) -> str:
    """The whole note as Markdown."""
    bundle = inp.bundle
    parts = [
        "# Methodology note",
        "",
        "_Generated by `make docs` from `metrics/*.json`, `params.yaml` and the model bundle "
        f"(`{bundle.get('model_version', MISSING)}`); do not edit by hand._",
        "",
        *_training(inp),
        "",
        *_imbalance(inp),
        "",
        *_cost(inp),
        "",
        *_results(inp),
        "",
        *_interpretability(inp),
        "",
        *_limits(inp),
        "",
        *_drift(inp),
        "",
    ]
    return "\n".join(parts)
