"""The model card states only what the artefacts say, and says it for every section."""

from __future__ import annotations

import copy
import re
from typing import Any

from scoring.model_card import CardInputs, render_model_card


def _inputs() -> CardInputs:
    fairness = {
        "n": 4000,
        "approval_rate": 0.81,
        "min_group_size": 30,
        "di_threshold": 0.8,
        "CODE_GENDER": {
            "disparate_impact": 0.7123,
            "tpr_gap": 0.1,
            "fpr_gap": 0.05,
            "below_di_threshold": True,
            "groups": {
                "F": {
                    "n": 2600,
                    "approval_rate": 0.85,
                    "tpr": 0.5,
                    "fpr": 0.1,
                    "default_rate": 0.07,
                },
                "M": {
                    "n": 1400,
                    "approval_rate": 0.605,
                    "tpr": 0.6,
                    "fpr": 0.15,
                    "default_rate": 0.1,
                },
            },
        },
    }
    return CardInputs(
        bundle={
            "model_version": "abcdefabcdef",
            "model_kind": "lightgbm",
            "feature_names": ["EXT_SOURCE_TWO", "CODE_GENDER"],
            "threshold": 0.4321,
            "calibration": {"method": "platt", "a": 1.1, "b": -0.2},
            "cost": {"fn": 10.0, "fp": 1.0},
            "params": {"learning_rate": 0.05},
            "git_rev": "deadbeef",
            "data_digest": "cafe",
        },
        test={
            "auc": 0.7654,
            "brier": 0.0712,
            "business_cost": 2468.0,
            "cost_per_client": 0.617,
            "approval_rate": 0.81,
        },
        cv={
            "auc_mean": 0.75,
            "auc_std": 0.01,
            "n_folds": 5,
            "model": "lightgbm",
            "resample": "none",
            "business_cost_mean": 2500.0,
        },
        models={"dummy": {"auc": 0.5}, "logistic": {"auc": 0.7}, "lightgbm": {"auc": 0.7654}},
        explain={
            "n_train": 16000,
            "train_default_rate": 0.08,
            "n_holdout": 4000,
            "holdout_default_rate": 0.08,
            "n_refused_explained": 760,
            "n_label_issues": 3,
            "share_refused_with_protected_reason": 0.25,
            "top": [
                {
                    "rank": 1,
                    "feature": "EXT_SOURCE_TWO",
                    "label": "External credit score (source two)",
                    "share": 0.4,
                }
            ],
            "reasons": [
                {
                    "label": "External credit score (source two)",
                    "share_of_refused": 0.9,
                    "share_first": 0.6,
                }
            ],
            "linear_note": "the bundle is LightGBM; see metrics/models.json.",
        },
        fairness=fairness,
        context={
            "synthetic": True,
            "raw_dir": "data/raw",
            "protected_used": {"CODE_GENDER": ["CODE_GENDER"], "NAME_FAMILY_STATUS": []},
            "protected": ["CODE_GENDER"],
            "n_reasons": 4,
            "target_definition": "Client with payment difficulties.",
        },
    )


def _strip_numbers(obj: Any) -> Any:
    """Every number in the inputs replaced by None (what a card with no measurement shows)."""
    if isinstance(obj, dict):
        return {k: _strip_numbers(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_strip_numbers(v) for v in obj]
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return None
    return obj


def test_card_reports_the_artefacts_numbers() -> None:
    card = render_model_card(_inputs())
    assert "`abcdefabcdef`" in card
    assert "**0.432**" in card  # threshold
    assert "| ROC AUC | 0.765 |" in card
    assert "| business cost | 2468.0 |" in card
    assert "Disparate impact 0.712 — **below the flag level**" in card
    assert "| M | 1,400 | 60.5 % |" in card
    assert "synthetic data" in card and "not real clients" in card
    assert "External credit score (source two)" in card
    assert "Label audit (`scoring/labels.py`): 3 feature labels" in card
    assert "- `CODE_GENDER`: used, through `CODE_GENDER`" in card
    assert "- `NAME_FAMILY_STATUS`: **not used by the model**" in card
    for heading in (
        "Intended use",
        "Data",
        "Performance",
        "Decision threshold",
        "Calibration",
        "Explanations",
        "Fairness",
        "Limitations",
    ):
        assert f"## {heading}" in card


def test_card_follows_the_inputs_when_they_change() -> None:
    inp = _inputs()
    bundle = {**inp.bundle, "threshold": 0.1234}
    fairness = copy.deepcopy(dict(inp.fairness))
    fairness["CODE_GENDER"]["disparate_impact"] = 0.95
    fairness["CODE_GENDER"]["below_di_threshold"] = False
    card = render_model_card(
        CardInputs(
            bundle=bundle,
            test=inp.test,
            cv=inp.cv,
            models=inp.models,
            explain=inp.explain,
            fairness=fairness,
            context={**inp.context, "synthetic": False},
        )
    )
    assert "**0.123**" in card and "0.432" not in card
    assert "Disparate impact 0.950;" in card and "below the flag level" not in card
    assert "not real clients" not in card


def test_card_holds_no_hand_typed_number() -> None:
    inp = _inputs()
    parts = {k: _strip_numbers(copy.deepcopy(v)) for k, v in vars(inp).items()}
    parts["bundle"]["feature_names"] = []  # the card counts them: a count is an input too
    card = render_model_card(CardInputs(**parts))
    assert re.findall(r"\d", card) == [], "the template itself states a number"
    assert "n/a" in card  # missing numbers are shown as missing, not invented
