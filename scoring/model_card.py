"""The model card (docs/model_card.md), rendered for each bundle from measured artefacts only.

Every number in the card comes from an input: ``bundle.json``, ``metrics/*.json`` or the params
the explain stage declares. The template text holds no digit at all (tests/unit/test_model_card.py
renders the card with every number removed and checks that no digit is left), so the card can
never state a figure that the pipeline did not produce for this very bundle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scoring.fairness import attribute_names

MISSING = "n/a"


@dataclass(frozen=True)
class CardInputs:
    """What the card is built from; each field is a parsed JSON artefact or a params section.

    ``models`` is ``metrics/models.json`` (one entry per compared model, as a mapping keyed by
    model name or a list of entries with a ``model`` key). ``context`` holds stage facts that
    are not metrics: ``raw_dir``, ``synthetic``, ``protected`` (attribute names),
    ``protected_used`` ({attribute: [model features derived from it]}), ``target_definition``,
    ``n_reasons``.
    """

    bundle: Mapping[str, Any]
    test: Mapping[str, Any] = field(default_factory=dict)
    cv: Mapping[str, Any] = field(default_factory=dict)
    models: Mapping[str, Any] | Sequence[Mapping[str, Any]] = field(default_factory=dict)
    explain: Mapping[str, Any] = field(default_factory=dict)
    fairness: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------
def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(float(v))


def num(v: Any, digits: int = 3) -> str:
    """A number with ``digits`` decimals, ``n/a`` when absent or NaN."""
    return f"{float(v):.{digits}f}" if _is_num(v) else MISSING


def pct(v: Any, digits: int = 1) -> str:
    """A share as a percentage."""
    return f"{100 * float(v):.{digits}f} %" if _is_num(v) else MISSING


def count(v: Any) -> str:
    """An integer count with thousands separators."""
    return f"{int(v):,}" if _is_num(v) else MISSING


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def model_entries(
    models: Mapping[str, Any] | Sequence[Mapping[str, Any]],
) -> list[tuple[str, Any]]:
    if isinstance(models, Mapping):
        return [(str(k), v) for k, v in models.items() if isinstance(v, Mapping)]
    return [(str(m.get("model", "?")), m) for m in models if isinstance(m, Mapping)]


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------
def _param(v: Any) -> str:
    """A hyper-parameter: searched floats at four significant digits, the rest as given."""
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def excluded_attributes_line(bundle: Mapping[str, Any]) -> str:
    """What ``train.exclude_attributes`` kept out of this bundle's training (bundle.json)."""
    excluded = bundle.get("excluded_attributes")
    if excluded is None:
        return "not recorded in the bundle (built before `train.exclude_attributes` existed)"
    if not excluded:
        return "none (`train.exclude_attributes` is empty)"
    parts = []
    for attr, feats in excluded.items():
        removed = ", ".join(f"`{f}`" for f in feats) or "no model feature was derived from it"
        parts.append(f"`{attr}` (removed: {removed})")
    return "; ".join(parts)


def _details(inp: CardInputs) -> list[str]:
    b = inp.bundle
    kind = str(b.get("model_kind", MISSING))
    names = list(b.get("feature_names", []))
    lines = [
        "## Model details",
        "",
        f"- **Model version:** `{b.get('model_version', MISSING)}` (content hash of the bundle)",
        f"- **Kind:** {'gradient-boosted trees (LightGBM)' if kind == 'lightgbm' else kind}",
        f"- **Features:** {count(len(names)) if names else MISSING}",
        "- **Code revision:** "
        + (f"`{b['git_rev']}`" if b.get("git_rev") else "not recorded in the bundle"),
        f"- **Training-data digest:** `{b.get('data_digest') or MISSING}`",
        f"- **Protected attributes excluded from training:** {excluded_attributes_line(b)}",
        f"- **Selected in cross-validation:** {inp.cv.get('model', MISSING)}"
        f" (resampling: {inp.cv.get('resample', MISSING)})",
    ]
    scalars = {k: v for k, v in b.get("params", {}).items() if isinstance(v, (int, float, str))}
    if scalars:
        lines += ["", "Hyper-parameters:", ""]
        lines += md_table(
            ["parameter", "value"], [[f"`{k}`", _param(v)] for k, v in scalars.items()]
        )
    return lines


def _intended_use() -> list[str]:
    return [
        "## Intended use",
        "",
        "- **Purpose:** estimate, for a consumer-credit application at Prêt à dépenser, the",
        "  probability that the client will have payment difficulties, and recommend approval or",
        "  refusal at the cost-optimal threshold, with the reasons that drive a refusal.",
        "- **Users:** client-relationship officers, who see the score, the decision, the reason",
        "  codes and comparisons with similar clients in the dashboard, and decide.",
        "- **Out of scope:** fully automated refusals without human review (GDPR, automated",
        "  individual decisions); pricing; other products, countries or populations than the",
        "  one the training data describes; any use of the reason codes as legal advice.",
    ]


def _data(inp: CardInputs) -> list[str]:
    ctx, ex = inp.context, inp.explain
    source = (
        "synthetic data from the project's generator (`scoring/synth`), shaped like the Kaggle "
        "Home Credit tables; **not real clients**"
        if ctx.get("synthetic")
        else f"Kaggle Home Credit Default Risk files read from `{ctx.get('raw_dir', MISSING)}`"
    )
    return [
        "## Data",
        "",
        f"- **Source:** {source}.",
        f"- **Target:** {ctx.get('target_definition') or MISSING}",
        f"- **Training clients:** {count(ex.get('n_train'))} (observed default rate "
        f"{pct(ex.get('train_default_rate'))}); **holdout clients:** {count(ex.get('n_holdout'))}"
        f" (default rate {pct(ex.get('holdout_default_rate'))}), a stratified split by client "
        "that the final model never saw.",
        "- **Features:** the application row plus per-client aggregates of the history tables"
        " (credit bureau, previous applications, instalments, POS and card balances), computed by"
        " one code path for training and serving.",
    ]


METRIC_ROWS: tuple[tuple[str, str], ...] = (
    ("auc", "ROC AUC"),
    ("business_cost", "business cost"),
    ("cost_per_client", "cost per client"),
    ("accuracy", "accuracy"),
    ("precision", "precision of refusals"),
    ("recall", "recall of defaults"),
    ("f1", "F-score"),
    ("brier", "Brier score"),
    ("approval_rate", "approval rate"),
)


def _performance(inp: CardInputs) -> list[str]:
    cv, test = inp.cv, inp.test
    lines = ["## Performance", ""]
    auc_cv = f"{num(cv.get('auc_mean'))} ± {num(cv.get('auc_std'))}"
    lines += [
        f"Cross-validation ({count(cv.get('n_folds'))} stratified folds): AUC {auc_cv}, mean "
        f"business cost per fold {num(cv.get('business_cost_mean'), 1)}. Holdout:",
        "",
    ]
    fmt = {"approval_rate": pct, "business_cost": lambda v: num(v, 1)}
    rows = [[name, fmt.get(k, num)(test.get(k))] for k, name in METRIC_ROWS]
    lines += md_table(["metric (holdout)", "value"], rows)
    entries = model_entries(inp.models)
    if entries:
        lines += ["", "Compared models (same folds, same metrics):", ""]
        keys = [
            k
            for k in ("auc", "auc_mean", "business_cost", "business_cost_mean", "cost_per_client")
            if any(k in e for _, e in entries)
        ]
        digits = {"business_cost": 1, "business_cost_mean": 1}
        lines += md_table(
            ["model", *keys],
            [[name, *[num(e.get(k), digits.get(k, 3)) for k in keys]] for name, e in entries],
        )
    return lines


def _threshold(inp: CardInputs) -> list[str]:
    b, test = inp.bundle, inp.test
    cost = b.get("cost", {})
    return [
        "## Decision threshold and cost",
        "",
        f"- **Threshold:** refuse when the calibrated probability of default is at least "
        f"**{num(b.get('threshold'))}**.",
        f"- **Cost model:** a granted loan that defaults (false negative) costs "
        f"{num(cost.get('fn'), 1)}, a good client refused (false positive) costs "
        f"{num(cost.get('fp'), 1)}; the threshold minimises the total on out-of-fold "
        "probabilities, never on the holdout.",
        f"- **On the holdout:** business cost {num(test.get('business_cost'), 1)}, i.e. "
        f"{num(test.get('cost_per_client'))} per client, approval rate "
        f"{pct(test.get('approval_rate'))}.",
    ]


def _calibration(inp: CardInputs) -> list[str]:
    cal = inp.bundle.get("calibration", {})
    method = str(cal.get("method", MISSING))
    detail = {
        "isotonic": f"isotonic regression ({count(len(cal.get('x', [])))} knots)",
        "platt": f"Platt scaling (slope {num(cal.get('a'))}, intercept {num(cal.get('b'))})",
    }.get(method, method)
    if method == "none":
        how = (
            "- **Method:** none: the served probability is the model's own (no calibration is"
            " configured for this resampling strategy in `conf/resample`)."
        )
    else:
        how = (
            f"- **Method:** {detail}, fitted on out-of-fold predictions; the served probability"
            " is the calibrated one."
        )
    return [
        "## Calibration",
        "",
        how,
        f"- **Holdout Brier score:** {num(inp.test.get('brier'), 4)} (lower is better); the"
        " reliability curve is `metrics/plots/calibration.json` (`dvc plots show`).",
    ]


def _explanations(inp: CardInputs) -> list[str]:
    ex, ctx = inp.explain, inp.context
    lines = [
        "## Explanations",
        "",
        "Contributions are exact SHAP values in log-odds (LightGBM `pred_contrib`, identical to",
        "SHAP's TreeExplainer; for a linear model, coefficient × standardised value). They sum to",
        "the model's raw score and come from the bundle itself (`Bundle.contributions`), so the",
        "pipeline and every bundle reader give the same numbers. Reason codes",
        f"(`Bundle.reason_codes`): at most {count(ctx.get('n_reasons'))} per refused applicant,",
        "taken only from features that push toward refusal, strongest first, each with the",
        "human-readable label the bundle carries.",
        "",
        f"Label audit (`scoring/labels.py`): {count(ex.get('n_label_issues'))} feature labels"
        " still need work (empty, only the column name, coding notes, too long or shared).",
        "",
        "Global importance on the holdout (mean |contribution|):",
        "",
    ]
    top = ex.get("top", [])
    lines += md_table(
        ["rank", "feature", "label", "share of importance"],
        [
            [
                count(t.get("rank")),
                f"`{t.get('feature')}`",
                str(t.get("label")),
                pct(t.get("share")),
            ]
            for t in top
        ],
    )
    lines += [
        "",
        "![SHAP bar](../reports/figures/shap_bar.png) "
        "![SHAP beeswarm](../reports/figures/shap_beeswarm.png)",
    ]
    reasons = ex.get("reasons", [])
    if reasons:
        lines += [
            "",
            f"Most frequent reason codes among the {count(ex.get('n_refused_explained'))} refused "
            "holdout applicants:",
            "",
        ]
        lines += md_table(
            ["label", "given to", "as first reason"],
            [
                [str(r.get("label")), pct(r.get("share_of_refused")), pct(r.get("share_first"))]
                for r in reasons
            ],
        )
    lines += [
        "",
        f"Refused applicants given a protected attribute "
        f"({', '.join(ctx.get('protected', [])) or MISSING}) among their reasons: "
        f"**{pct(ex.get('share_refused_with_protected_reason'))}**.",
    ]
    coefs = ex.get("linear_coefficients", [])
    if coefs:
        lines += ["", "Largest logistic-regression coefficients (per standard deviation):", ""]
        lines += md_table(
            ["label", "coefficient"],
            [[str(c.get("label")), num(c.get("coefficient"))] for c in coefs],
        )
    else:
        lines += [
            "",
            f"Linear coefficients: {ex.get('linear_note') or 'not available for this bundle.'}",
        ]
    return lines


def _fairness(inp: CardInputs) -> list[str]:
    fa, ctx = inp.fairness, inp.context
    used: Mapping[str, Sequence[str]] = ctx.get("protected_used", {})
    lines = [
        "## Fairness",
        "",
        f"Measured on the {count(fa.get('n'))} holdout clients at the bundle's threshold. TPR ="
        " share of defaulters refused; FPR = share of good clients refused; disparate impact ="
        " lowest group approval rate ÷ highest, over groups of at least "
        f"{count(fa.get('min_group_size'))} clients (flagged below "
        f"{num(fa.get('di_threshold'), 2)}).",
        "",
        "Protected attributes and the model's features (a feature counts when the feature spec"
        " computes it from the attribute, directly or through another derived feature):",
        "",
    ]
    for attr, feats in used.items():
        shown = ", ".join(f"`{f}`" for f in feats)
        lines.append(
            f"- `{attr}`: " + (f"used, through {shown}" if feats else "**not used by the model**")
        )
    if inp.bundle.get("excluded_attributes"):
        lines += [
            "",
            f"Excluded from training by `train.exclude_attributes`: "
            f"{excluded_attributes_line(inp.bundle)}. The groups below still come from the raw"
            " application fields, which the model never saw: what remains of a gap flows"
            " through correlated features (proxies), not the attribute itself.",
        ]
    lines.append("")
    for attr in attribute_names(fa):
        a = fa[attr]
        flag = " — **below the flag level**" if a.get("below_di_threshold") else ""
        lines += [
            f"### {attr}",
            "",
            f"Disparate impact {num(a.get('disparate_impact'))}{flag}; TPR gap "
            f"{num(a.get('tpr_gap'))}; FPR gap {num(a.get('fpr_gap'))}.",
            "",
        ]
        lines += md_table(
            ["group", "clients", "approval rate", "TPR", "FPR", "observed default rate"],
            [
                [
                    str(g),
                    count(r.get("n")),
                    pct(r.get("approval_rate")),
                    pct(r.get("tpr")),
                    pct(r.get("fpr")),
                    pct(r.get("default_rate")),
                ]
                for g, r in a.get("groups", {}).items()
            ],
        )
        lines.append("")
    lines.append("![Fairness by group](../reports/figures/fairness.png)")
    return lines


def _limitations(inp: CardInputs) -> list[str]:
    ctx, fa = inp.context, inp.fairness
    lines = ["## Limitations", ""]
    if ctx.get("synthetic"):
        lines.append(
            "- Trained and evaluated on synthetic data: the metrics show that the pipeline works,"
            " not how the model would perform on real applicants."
        )
    flagged = [a for a in attribute_names(fa) if fa[a].get("below_di_threshold")]
    if flagged:
        lines.append(
            "- Approval rates differ across groups of "
            + ", ".join(f"`{a}`" for a in flagged)
            + " beyond the flag level; part of the gap may follow observed default rates, which"
            " this report shows side by side but does not adjust for."
        )
    lines += [
        "- Contributions explain the model, not the world: a reason code says what moved this"
        " score, not what caused the risk, and is relative to the average applicant.",
        "- Removing a protected attribute does not remove its proxies (income type, occupation,"
        " family size...); fairness must be re-measured after every retraining.",
        "- The target is Kaggle's *payment difficulties* flag, not a loss amount; the cost"
        " weights are a business assumption.",
        "- Drift in the applicant population silently degrades both scores and explanations:"
        " see the drift report and the monitoring alerts.",
    ]
    return lines


def render_model_card(inp: CardInputs) -> str:
    """The whole card as Markdown."""
    sections = [
        [
            f"# Model card — credit scoring `{inp.bundle.get('model_version', MISSING)}`",
            "",
            "> Generated by the `explain` stage (`stages/explain.py`) from `models/bundle/`,"
            " `metrics/*.json` and `params.yaml`. Do not edit by hand: run `make pipeline`.",
        ],
        _details(inp),
        _intended_use(),
        _data(inp),
        _performance(inp),
        _threshold(inp),
        _calibration(inp),
        _explanations(inp),
        _fairness(inp),
        _limitations(inp),
    ]
    return "\n\n".join("\n".join(s) for s in sections).rstrip() + "\n"
