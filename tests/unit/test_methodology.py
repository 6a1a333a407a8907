"""The methodology note holds only numbers that come from the run's artefacts."""

from __future__ import annotations

import re

from scoring.methodology import NoteInputs, render

PARAMS = {
    "data": {"raw_dir": "data/raw"},
    "split": {"test_size": 0.2},
    "cv": {"n_folds": 5},
    "cost": {"fn": 10.0, "fp": 1.0},
    "seed": 42,
}
CV = {
    "model": "lightgbm",
    "resample": "class_weight",
    "auc_mean": 0.7612,
    "auc_std": 0.0101,
    "fit_seconds": 12.5,
    "n_folds": 5,
    "business_cost_mean": 1234.0,
}
TEST = {
    "auc": 0.7562,
    "accuracy": 0.7,
    "precision": 0.2,
    "recall": 0.6,
    "f1": 0.3,
    "brier": 0.066,
    "business_cost": 4321.0,
    "cost_per_client": 0.5432,
    "threshold": 0.0987,
    "approval_rate": 0.69,
}
MODELS = [
    {"model": "dummy", "resample": "none", "auc": 0.5, "business_cost": 9000.0},
    {"model": "lightgbm", "resample": "smote", "auc": 0.74, "business_cost": 5000.0},
]
DRIFT = {
    "share_drifted_columns": 0.1,
    "n_drifted_columns": 3,
    "n_columns": 30,
    "dataset_drift": False,
    "top_drifted": ["AMT_CREDIT", "DAYS_BIRTH"],
}


def _full() -> NoteInputs:
    return NoteInputs(
        params=PARAMS,
        cv=CV,
        test=TEST,
        models=MODELS,
        drift=DRIFT,
        bundle={
            "model_version": "abc123",
            "top_features": ["EXT_SOURCE_MEAN"],
            "labels": {"EXT_SOURCE_MEAN": "Average external score"},
        },
    )


def test_note_reports_the_measured_figures() -> None:
    note = render(_full())
    for needle in (
        "0.761",
        "0.756",
        "0.099",
        "4321",
        "0.543",
        "AMT_CREDIT",
        "abc123",
        "Average external score",
        "lightgbm / smote",
    ):
        assert needle in note, needle
    # results table is sorted by business cost: lightgbm (5000) before dummy (9000)
    assert note.index("lightgbm / smote") < note.index("dummy / none")


def test_template_types_no_number_of_its_own() -> None:
    """With every input empty, no digit may remain (section numbers aside)."""
    note = render(NoteInputs(params={}))
    assert re.findall(r"\d", note) == [], re.findall(r".{20}\d.{20}", note)


def test_missing_artefacts_show_as_na() -> None:
    note = render(NoteInputs(params=PARAMS))
    assert "n/a" in note and "metrics/models.json` was not produced" in note
