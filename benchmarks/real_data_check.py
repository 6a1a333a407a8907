"""Real-data check: the project's modelling vs a naive LightGBM on the raw columns, same folds.

    .venv/bin/python benchmarks/real_data_check.py \
        --data ../shared/data/homecredit/application_train_sample.csv.gz --params params.yaml

On real Kaggle application rows (16,136 labelled clients, application table only, no history):

- **naive**: ``lightgbm.LGBMClassifier()`` with its defaults on the raw Kaggle columns (text
  columns as pandas categories), no feature engineering, no tuning;
- **project, defaults**: the project's features (``features`` spec of params.yaml, history
  tables absent = "no history") and the configured model pipeline with its conf defaults;
- **project, searched**: the same after the configured search budget (coarse + refined Optuna
  trials on the business cost).

All three use the same stratified folds (``cv.n_folds``, ``seed``) and the same rule for the
threshold (the business-cost optimum of their own out-of-fold probabilities, weights from
``cost``). The searched row chose its parameters on these folds, so it is slightly optimistic;
the defaults row is not. Prints a table; writes the figures as JSON when ``--out`` is given.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import optuna
import pandas as pd

from scoring.config import load_params, section, setup_logging
from scoring.cost import CostWeights
from scoring.evaluation import safe_auc
from scoring.features import FeatureBuilder
from scoring.ingest import ingest_table
from scoring.models import ModelSpec, ResampleSpec, build_pipeline
from scoring.threshold import best_threshold, threshold_grid
from scoring.training import (
    FeatureList,
    ModelSearch,
    SearchConfig,
    cross_validate,
    make_folds,
)

log = logging.getLogger("real_data_check")
KEY, LABEL = "SK_ID_CURR", "TARGET"
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/homecredit"


@dataclass(frozen=True)
class Row:
    name: str
    n_features: int
    auc_mean: float
    auc_std: float
    oof_auc: float
    cost_per_client: float
    threshold: float
    seconds: float
    fold_aucs: tuple[float, ...]


def summarise(
    name: str,
    n_features: int,
    y: np.ndarray,
    oof: np.ndarray,
    fold_aucs: list[float],
    weights: CostWeights,
    grid: np.ndarray,
    seconds: float,
) -> Row:
    """One table row: fold AUCs, and the OOF business cost at the OOF-optimal threshold."""
    choice = best_threshold(y, oof, weights, grid)
    return Row(
        name=name,
        n_features=n_features,
        auc_mean=float(np.mean(fold_aucs)),
        auc_std=float(np.std(fold_aucs)),
        oof_auc=safe_auc(y, oof),
        cost_per_client=choice.cost_per_client,
        threshold=choice.threshold,
        seconds=seconds,
        fold_aucs=tuple(fold_aucs),
    )


def naive_lightgbm(
    raw: pd.DataFrame, y: np.ndarray, folds: np.ndarray, seed: int
) -> tuple[np.ndarray, list[float]]:
    """LGBMClassifier defaults on the raw columns, text as categories (levels of all rows)."""
    X = raw.drop(columns=[KEY, LABEL]).copy()
    for col in X.columns:
        if not pd.api.types.is_numeric_dtype(X[col]):
            X[col] = X[col].astype("category")
    oof = np.full(y.size, np.nan)
    aucs = []
    for k in np.unique(folds):
        train, valid = folds != k, folds == k
        model = lgb.LGBMClassifier(random_state=seed, verbose=-1, n_jobs=1)
        model.fit(X[train], y[train])
        oof[valid] = np.asarray(model.predict_proba(X[valid]))[:, 1]
        aucs.append(safe_auc(y[valid], oof[valid]))
        log.info("naive fold %d: auc=%.4f", k + 1, aucs[-1])
    return oof, aucs


def project_features(
    raw: pd.DataFrame, features_section: dict[str, object]
) -> tuple[pd.DataFrame, FeatureList]:
    """The project's features for application rows alone (no history table)."""
    builder = FeatureBuilder.from_spec(features_section).fit(raw)
    frame = builder.build(raw.drop(columns=LABEL), {}).to_pandas()
    return frame, FeatureList.from_json(builder.feature_list())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA / "application_train_sample.csv.gz")
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--out", type=Path, help="write the table as JSON here")
    args = ap.parse_args(argv)
    setup_logging()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not args.data.is_file():
        raise SystemExit(f"real rows not found at {args.data} (outside this environment?)")
    params = load_params(args.params)
    seed = int(params["seed"])
    n_folds = int(section(params, "cv")["n_folds"])
    weights = CostWeights.from_params(section(params, "cost"))
    model = ModelSpec.from_params(section(params, "model"))
    resample = ResampleSpec.from_params(section(params, "resample"))
    search = SearchConfig.from_params(section(params, "search"))
    grid = threshold_grid(search.threshold_points)

    raw = ingest_table("application_train", args.data)
    y = raw[LABEL].to_numpy().astype(np.int64)
    folds = make_folds(y, n_folds, seed)
    log.info("%d real clients, default rate %.4f, %d folds", y.size, y.mean(), n_folds)
    rows: list[Row] = []

    start = time.perf_counter()
    oof, aucs = naive_lightgbm(raw, y, folds, seed)
    rows.append(
        summarise(
            "naive LightGBM, raw columns",
            raw.shape[1] - 2,
            y,
            oof,
            aucs,
            weights,
            grid,
            time.perf_counter() - start,
        )
    )

    frame, feats = project_features(raw, section(params, "features"))
    if not np.array_equal(frame[KEY].to_numpy(), raw[KEY].to_numpy()):
        raise RuntimeError("feature rows are not in application order")
    X = frame[list(feats.names)]

    start = time.perf_counter()
    result = cross_validate(
        lambda: build_pipeline(
            model.kind, model.params, resample, feats.names, feats.categorical, seed
        ),
        X,
        y,
        folds,
        weights,
        grid,
        n_jobs=search.n_jobs,
    )
    rows.append(
        summarise(
            f"project {model.kind}/{resample.strategy}, conf defaults",
            len(feats.names),
            y,
            result.oof,
            [f.auc for f in result.folds],
            weights,
            grid,
            time.perf_counter() - start,
        )
    )

    start = time.perf_counter()
    tuner = ModelSearch(
        model, resample, X, y, folds, feats.names, feats.categorical, weights, search, seed
    )
    tuner.run(search.coarse_trials, "coarse")
    tuner.run(search.refine_trials, "refine")
    assert tuner.best_result is not None
    best = tuner.best_result
    rows.append(
        summarise(
            f"project {model.kind}/{resample.strategy}, searched ({search.coarse_trials}+"
            f"{search.refine_trials} trials)",
            len(feats.names),
            y,
            best.oof,
            [f.auc for f in best.folds],
            weights,
            grid,
            time.perf_counter() - start,
        )
    )

    header = f"{'':58s} {'features':>8s} {'fold AUC':>15s} {'OOF AUC':>8s} {'cost/client':>11s}"
    print(
        f"\n{args.data.name}: {y.size} clients, {n_folds} stratified folds (seed {seed}), "
        f"cost = {weights.fn:g}·FN + {weights.fp:g}·FP\n{header}"
    )
    for r in rows:
        print(
            f"{r.name:58s} {r.n_features:8d} {r.auc_mean:.4f} ± {r.auc_std:.4f} "
            f"{r.oof_auc:8.4f} {r.cost_per_client:11.4f}  (t={r.threshold:.3f}, "
            f"{r.seconds:.0f} s)"
        )
    naive = np.array(rows[0].fold_aucs)
    for r in rows[1:]:
        diff = np.array(r.fold_aucs) - naive
        print(
            f"{r.name}: paired fold AUC gain over naive {diff.mean():+.4f} ± {diff.std():.4f}, "
            f"better on {int((diff > 0).sum())}/{diff.size} folds; cost/client "
            f"{r.cost_per_client - rows[0].cost_per_client:+.4f}"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")


if __name__ == "__main__":
    main()
