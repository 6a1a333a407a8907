"""Stage `train`: cross-validated search and model comparison on the training side of the split.

    python -m stages.train --params params.yaml --features data/features/train.parquet \
        --feature-list data/features/feature_list.json --feature-spec data/features/features.yaml \
        --split data/split/split.parquet --out models/train \
        --cv-metrics metrics/cv.json --models-metrics metrics/models.json

``train.exclude_attributes`` (e.g. ``[CODE_GENDER]``) removes every feature derived from those
attributes before the search (:mod:`scoring.protected`); ``best.json`` records what was removed
and the evaluate stage refuses to refit under another exclusion.

Writes ``<out>/oof.parquet`` (SK_ID_CURR, TARGET, fold, raw and cross-fitted calibrated
out-of-fold probabilities of the best configuration: the threshold is chosen on them) and
``<out>/best.json`` (model, strategy, parameters), both deterministic for a given seed;
``metrics/cv.json`` and ``metrics/models.json`` also carry fit times. Every trial and comparison
run is logged to MLflow under one parent run.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import optuna
import pandas as pd
from mlflow.data.pandas_dataset import from_pandas

from scoring import tracking
from scoring.config import git_revision, load_params, section, setup_logging
from scoring.cost import CostWeights
from scoring.models import ModelSpec, ResampleSpec
from scoring.protected import Exclusion, attributes_from_params, exclusion_for_stage
from scoring.threshold import threshold_grid
from scoring.training import (
    KEY,
    LABEL,
    FeatureList,
    SearchConfig,
    TrainOutcome,
    TrainPlan,
    subset_rows,
    train_and_compare,
)

log = logging.getLogger("stages.train")


def plan_from_params(params: dict[str, Any]) -> TrainPlan:
    """The frozen plan from exactly the params this stage declares in dvc.yaml."""
    return TrainPlan(
        seed=int(params["seed"]),
        n_folds=int(section(params, "cv")["n_folds"]),
        weights=CostWeights.from_params(section(params, "cost")),
        model=ModelSpec.from_params(section(params, "model")),
        resample=ResampleSpec.from_params(section(params, "resample")),
        search=SearchConfig.from_params(section(params, "search")),
    )


def oof_frame(rows: pd.DataFrame, outcome: TrainOutcome) -> pd.DataFrame:
    """Out-of-fold predictions of the best configuration, one row per training client."""
    return pd.DataFrame(
        {
            KEY: rows[KEY].to_numpy(),
            LABEL: rows[LABEL].to_numpy().astype(np.int64),
            "fold": outcome.folds,
            "proba_raw": outcome.best.oof,
            "proba": outcome.oof_calibrated,
        }
    )


def best_record(
    plan: TrainPlan, outcome: TrainOutcome, excluded: Exclusion | None = None
) -> dict[str, Any]:
    """What the evaluate stage refits: no timings, so the file is identical run after run."""
    cv = {k: v for k, v in outcome.cv_summary.items() if k != "fit_seconds"}
    return {
        "model": plan.model.kind,
        "resample": plan.resample.strategy,
        "params": outcome.best_params,
        "best_iterations": [f.best_iteration for f in outcome.best.folds],
        "cv": cv,
        "excluded_attributes": (excluded or Exclusion()).to_json(),
    }


def train_with_tracking(
    rows: pd.DataFrame,
    feats: FeatureList,
    plan: TrainPlan,
    experiment: str,
    excluded: Exclusion | None = None,
) -> TrainOutcome:
    """Search and compare under one MLflow parent run (trials and comparisons nested in it)."""
    X, y = rows[list(feats.names)], rows[LABEL].to_numpy().astype(np.int64)
    experiment_id = tracking.start(experiment)
    digest = tracking.frame_digest(rows[[KEY, LABEL, *feats.names]])
    tags = {"data_digest": digest, "git_rev": git_revision(), "stage": "train"}
    grid = threshold_grid(plan.search.threshold_points)
    client = mlflow.MlflowClient()
    with mlflow.start_run(run_name=f"train {plan.model.kind}/{plan.resample.strategy}") as run:
        mlflow.set_tags(tags)
        mlflow.log_params(
            {
                "model": plan.model.kind,
                "resample": plan.resample.strategy,
                "seed": plan.seed,
                "n_folds": plan.n_folds,
                "cost_fn": plan.weights.fn,
                "cost_fp": plan.weights.fp,
                "coarse_trials": plan.search.coarse_trials,
                "refine_trials": plan.search.refine_trials,
                "exclude_attributes": ",".join((excluded or Exclusion()).attributes) or "none",
                **{f"model.{k}": v for k, v in plan.model.params.items()},
            }
        )
        # integers as floats: the dataset schema then admits the NaN real data will bring
        ints = [c for c in rows.columns if pd.api.types.is_integer_dtype(rows[c])]
        dataset = from_pandas(
            rows.astype(dict.fromkeys(ints, "float64")), targets=LABEL, name="train", digest=digest
        )
        mlflow.log_input(dataset, context="training")
        logger = tracking.MlflowTrialLogger(
            client, experiment_id, run.info.run_id, tags, plan.weights, grid
        )
        outcome = train_and_compare(X, y, feats.names, feats.categorical, plan, logger)
        mlflow.log_params({f"best.{k}": v for k, v in outcome.best_params.items()})
        summary = outcome.cv_summary
        mlflow.log_metrics({k: float(v) for k, v in summary.items() if isinstance(v, int | float)})
        for key, entry in outcome.comparison.items():
            name = key.replace("/", ".")
            mlflow.log_metrics({f"{name}.{m}": v for m, v in entry.items()})
        mlflow.log_dict(outcome.comparison, "models.json")
        chosen = outcome.comparison[f"{plan.model.kind}/{plan.resample.strategy}"]
        tracking.log_figures(
            client,
            run.info.run_id,
            y,
            outcome.oof_calibrated,
            float(chosen["threshold"]),
            plan.weights,
            grid,
            "out-of-fold",
        )
    return outcome


def _write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--features", required=True)
    ap.add_argument("--feature-list", required=True)
    ap.add_argument("--feature-spec", help="features.yaml: lineage for train.exclude_attributes")
    ap.add_argument("--split", required=True)
    ap.add_argument("--out", required=True, help="directory for oof.parquet and best.json")
    ap.add_argument("--cv-metrics", required=True)
    ap.add_argument("--models-metrics", required=True)
    args = ap.parse_args(argv)
    setup_logging()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # our per-fold lines say more

    params = load_params(args.params)
    plan = plan_from_params(params)
    tracking_params = section(params, "tracking")
    feats = FeatureList.from_json(json.loads(Path(args.feature_list).read_text("utf-8")))
    attributes = attributes_from_params(params)
    excluded = exclusion_for_stage(attributes, feats.names, args.feature_spec)
    feats = excluded.apply(feats)
    for attr, removed in excluded.features_by_attribute.items():
        log.info("excluded %s from training: %s", attr, ", ".join(removed) or "no feature")
    rows = subset_rows(pd.read_parquet(args.features), pd.read_parquet(args.split), "train")
    log.info(
        "train: %d clients x %d features (%d categorical), default rate %.4f; %s + %s",
        len(rows),
        len(feats.names),
        len(feats.categorical),
        rows[LABEL].mean(),
        plan.model.kind,
        plan.resample.strategy,
    )

    outcome = train_with_tracking(rows, feats, plan, str(tracking_params["experiment"]), excluded)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    oof_frame(rows, outcome).to_parquet(out / "oof.parquet", index=False)
    _write_json(out / "best.json", best_record(plan, outcome, excluded))
    _write_json(Path(args.cv_metrics), outcome.cv_summary)
    _write_json(Path(args.models_metrics), outcome.comparison)
    log.info("cv: %s", outcome.cv_summary)
    log.info("wrote %s, %s, %s", out, args.cv_metrics, args.models_metrics)


if __name__ == "__main__":
    main()
