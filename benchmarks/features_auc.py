"""Does the history pay? Cross-validated AUC with all features vs application-only features.

    .venv/bin/python -m scoring.synth --n-clients 30000 --seed 42 --out /tmp/s/raw --format parquet
    .venv/bin/python -c "from pathlib import Path; from stages.ingest import run, IngestParams; \\
        run(IngestParams(Path('/tmp/s/raw')), Path('/tmp/s/interim'))"
    .venv/bin/python -m stages.features --params params.yaml --interim /tmp/s/interim --out /tmp/s/f
    .venv/bin/python benchmarks/features_auc.py --features /tmp/s/f

Reads the features stage output (``train.parquet`` + ``feature_list.json``). "Application-only"
= the features whose ``source_table`` is application_train (raw columns, domain ratios,
frequency encodings); "all" adds the six history tables and the cross features. Same LightGBM
settings, same stratified folds for both sets; categorical levels are learnt on each training
fold only. Prints per-fold and mean AUC for both sets and their paired difference.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

PARAMS = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_child_samples": 50,
    "feature_fraction": 0.5,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbose": -1,
    "num_threads": 1,  # 2 OpenMP threads spin-wait and crawl on a shared, busy 2-core box
    "deterministic": True,
    "force_row_wise": True,
}


def fold_auc(
    frame: pd.DataFrame,
    y: np.ndarray,
    columns: list[str],
    categorical: list[str],
    train_idx: np.ndarray,
    valid_idx: np.ndarray,
    seed: int,
    rounds: int,
) -> float:
    """Fit on one training fold, AUC on its validation fold (levels from the training fold)."""
    x_train = frame.iloc[train_idx][columns].copy()
    x_valid = frame.iloc[valid_idx][columns].copy()
    for col in categorical:
        levels = sorted(x_train[col].dropna().unique())
        x_train[col] = pd.Categorical(x_train[col], categories=levels)
        x_valid[col] = pd.Categorical(x_valid[col], categories=levels)
    data = lgb.Dataset(x_train, y[train_idx], categorical_feature=categorical)
    booster = lgb.train({**PARAMS, "seed": seed}, data, num_boost_round=rounds)
    return float(roc_auc_score(y[valid_idx], booster.predict(x_valid)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--features", type=Path, required=True, help="features stage output dir")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rounds", type=int, default=400)
    args = parser.parse_args(argv)
    train = pd.read_parquet(args.features / "train.parquet")
    features = json.loads((args.features / "feature_list.json").read_text())["features"]
    y = train["TARGET"].to_numpy()
    sets = {
        "application-only": [f for f in features if f["source_table"] == "application_train"],
        "all tables": features,
    }
    folds = list(StratifiedKFold(args.folds, shuffle=True, random_state=args.seed).split(train, y))
    print(f"{len(train)} training applications, default rate {y.mean():.3f}, {args.folds} folds")
    scores: dict[str, list[float]] = {}
    for name, chosen in sets.items():
        columns = [f["name"] for f in chosen]
        categorical = [f["name"] for f in chosen if f["kind"] == "categorical"]
        scores[name] = [
            fold_auc(train, y, columns, categorical, tr, va, args.seed, args.rounds)
            for tr, va in folds
        ]
        s = np.array(scores[name])
        print(
            f"{name:>17}: {len(columns):4d} features, CV AUC {s.mean():.4f} ± {s.std():.4f} "
            f"(folds {', '.join(f'{v:.4f}' for v in s)})",
            flush=True,
        )
    gain = np.array(scores["all tables"]) - np.array(scores["application-only"])
    per_fold = ", ".join(f"{g:+.4f}" for g in gain)
    print(
        f"all tables - application-only: {gain.mean():+.4f} AUC "
        f"(per fold {per_fold}; better in {(gain > 0).sum()}/{len(gain)} folds)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
