"""Signal check: how much a quick LightGBM learns from synthetic application vs history data.

``python -m scoring.synth.check --n-clients 60000 --seed 0`` generates a data set (or reads
``--data DIR``), builds application features (raw columns + the usual credit/income ratios) and
a few per-client history aggregates (bureau overdue, bureau_balance DPD months, refused
applications, late / short instalments, POS DPD, card utilisation), then reports the
cross-validated AUC of a LightGBM on application features only and on application + history.

This is the generator's own acceptance check (targets: app-only ~0.72-0.76, history adds
~+0.02-0.04, as on the real Kaggle data); the product's feature engine lives in
``scoring/features``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import polars as pl

from scoring.synth.core import generate


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """Rank-based ROC AUC (Mann-Whitney U), ties averaged."""
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1
    ranks[order] = np.repeat(avg, counts)
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def read(data: Path, table: str) -> pl.DataFrame:
    for ext in ("parquet", "csv", "csv.gz"):
        path = data / f"{table}.{ext}"
        if path.exists():
            if ext == "parquet":
                return pl.read_parquet(path)
            return pl.read_csv(path, infer_schema_length=None)
    raise FileNotFoundError(f"{data}: no {table}.csv / .csv.gz / .parquet")


def application_features(app: pl.DataFrame) -> pl.DataFrame:
    return app.with_columns(
        (pl.col("AMT_CREDIT") / pl.col("AMT_INCOME_TOTAL")).alias("CREDIT_INCOME"),
        (pl.col("AMT_ANNUITY") / pl.col("AMT_INCOME_TOTAL")).alias("ANNUITY_INCOME"),
        (pl.col("AMT_ANNUITY") / pl.col("AMT_CREDIT")).alias("ANNUITY_CREDIT"),
        (pl.col("AMT_GOODS_PRICE") / pl.col("AMT_CREDIT")).alias("GOODS_CREDIT"),
        pl.when(pl.col("DAYS_EMPLOYED") == 365243)
        .then(None)
        .otherwise(pl.col("DAYS_EMPLOYED"))
        .alias("DAYS_EMPLOYED"),
    )


def history_features(data: Path) -> pl.DataFrame:
    """A handful of per-client aggregates, enough to measure the history signal."""
    bureau = read(data, "bureau")
    bb = read(data, "bureau_balance").with_columns(
        pl.col("STATUS").is_in(["1", "2", "3", "4", "5"]).alias("BAD")
    )
    bb_agg = bb.group_by("SK_ID_BUREAU").agg(pl.col("BAD").mean().alias("BAD_SHARE"))
    b = (
        bureau.join(bb_agg, on="SK_ID_BUREAU", how="left")
        .group_by("SK_ID_CURR")
        .agg(
            pl.len().alias("B_COUNT"),
            (pl.col("CREDIT_ACTIVE") == "Active").sum().alias("B_ACTIVE"),
            pl.col("DAYS_CREDIT").mean().alias("B_DAYS_CREDIT_MEAN"),
            (pl.col("AMT_CREDIT_MAX_OVERDUE") > 0).mean().alias("B_EVER_OVERDUE"),
            pl.col("AMT_CREDIT_MAX_OVERDUE").max().alias("B_MAX_OVERDUE"),
            pl.col("CREDIT_DAY_OVERDUE").max().alias("B_DAY_OVERDUE_MAX"),
            pl.col("AMT_CREDIT_SUM_DEBT").sum().alias("B_DEBT"),
            pl.col("CREDIT_ACTIVE").is_in(["Sold", "Bad debt"]).sum().alias("B_BAD_DEBT"),
            (pl.col("CREDIT_TYPE") == "Microloan").sum().alias("B_MICRO"),
            pl.col("BAD_SHARE").mean().alias("BB_BAD_SHARE"),
            pl.col("BAD_SHARE").max().alias("BB_BAD_MAX"),
        )
    )
    prev = (
        read(data, "previous_application")
        .group_by("SK_ID_CURR")
        .agg(
            pl.len().alias("P_COUNT"),
            (pl.col("NAME_CONTRACT_STATUS") == "Refused").mean().alias("P_REFUSED_SHARE"),
            (pl.col("NAME_CONTRACT_STATUS") == "Refused").sum().alias("P_REFUSED"),
            pl.col("DAYS_DECISION").max().alias("P_LAST_DECISION"),
            pl.col("AMT_CREDIT").mean().alias("P_CREDIT_MEAN"),
        )
    )
    pos = (
        read(data, "POS_CASH_balance")
        .group_by("SK_ID_CURR")
        .agg(
            pl.col("SK_DPD").max().alias("POS_DPD_MAX"),
            (pl.col("SK_DPD") > 0).mean().alias("POS_DPD_SHARE"),
        )
    )
    ins = read(data, "installments_payments").with_columns(
        (pl.col("DAYS_ENTRY_PAYMENT") - pl.col("DAYS_INSTALMENT")).alias("DELAY"),
        (pl.col("AMT_PAYMENT") / pl.col("AMT_INSTALMENT")).alias("PAID"),
    )
    ins_agg = ins.group_by("SK_ID_CURR").agg(
        (pl.col("DELAY") > 0).mean().alias("I_LATE_SHARE"),
        pl.col("DELAY").mean().alias("I_DELAY_MEAN"),
        pl.col("DELAY").max().alias("I_DELAY_MAX"),
        (pl.col("PAID") < 0.99).mean().alias("I_SHORT_SHARE"),
        pl.len().alias("I_COUNT"),
    )
    cc = (
        read(data, "credit_card_balance")
        .with_columns((pl.col("AMT_BALANCE") / pl.col("AMT_CREDIT_LIMIT_ACTUAL")).alias("UTIL"))
        .group_by("SK_ID_CURR")
        .agg(
            pl.col("UTIL").mean().alias("CC_UTIL_MEAN"),
            pl.col("SK_DPD").max().alias("CC_DPD_MAX"),
            (pl.col("SK_DPD") > 0).mean().alias("CC_DPD_SHARE"),
        )
    )
    out = b
    for other in (prev, pos, ins_agg, cc):
        out = out.join(other, on="SK_ID_CURR", how="full", coalesce=True)
    return out


def _to_lgb(df: pl.DataFrame) -> tuple[np.ndarray, list[str], list[int]]:
    """Numeric matrix for LightGBM: text columns become integer codes (declared categorical)."""
    arrays: list[np.ndarray] = []
    names: list[str] = []
    cats: list[int] = []
    for s in df.iter_columns():
        if s.dtype == pl.String:
            codes = s.cast(pl.Categorical).to_physical().cast(pl.Float64).fill_null(np.nan)
            cats.append(len(names))
            arrays.append(codes.to_numpy())
        else:
            arrays.append(s.cast(pl.Float64).fill_null(np.nan).to_numpy())
        names.append(s.name)
    return np.column_stack(arrays), names, cats


def cv_auc(x: np.ndarray, y: np.ndarray, cats: list[int], seed: int, folds: int = 3) -> float:
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    for cls in (0, 1):
        idx = np.flatnonzero(y == cls)
        fold[idx] = rng.permutation(len(idx)) % folds
    params = {
        "objective": "binary",
        "learning_rate": 0.05,
        "num_leaves": 31,
        "min_child_samples": 100,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "verbose": -1,
        "num_threads": 2,
        "seed": seed,
    }
    oof = np.zeros(len(y))
    for k in range(folds):
        tr, va = fold != k, fold == k
        dtr = lgb.Dataset(x[tr], y[tr], categorical_feature=cats, free_raw_data=False)
        dva = lgb.Dataset(x[va], y[va], categorical_feature=cats, reference=dtr)
        model = lgb.train(
            params,
            dtr,
            num_boost_round=1000,
            valid_sets=[dva],
            callbacks=[lgb.early_stopping(50, verbose=False)],
        )
        oof[va] = model.predict(x[va], num_iteration=model.best_iteration)
    return auc(y, oof)


@dataclass(frozen=True)
class SignalReport:
    n_clients: int
    target_rate: float
    auc_application: float
    auc_with_history: float

    @property
    def history_gain(self) -> float:
        return self.auc_with_history - self.auc_application


def measure(data: Path, seed: int = 0) -> SignalReport:
    app = application_features(read(data, "application_train"))
    full = app.join(history_features(data), on="SK_ID_CURR", how="left")
    y = app["TARGET"].to_numpy().astype(np.int64)
    drop = ["SK_ID_CURR", "TARGET"]
    x_app, _, cats_app = _to_lgb(app.drop(drop))
    x_full, _, cats_full = _to_lgb(full.drop(drop))
    return SignalReport(
        n_clients=app.height,
        target_rate=float(y.mean()),
        auc_application=cv_auc(x_app, y, cats_app, seed),
        auc_with_history=cv_auc(x_full, y, cats_full, seed),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scoring.synth.check", description=__doc__)
    parser.add_argument("--n-clients", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=None, help="read this folder instead")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp)
            generate(args.n_clients, args.seed, data, "parquet")
        report = measure(data, args.seed)
    print(f"clients={report.n_clients} target_rate={report.target_rate:.4f}")
    print(f"AUC application only : {report.auc_application:.4f}")
    print(f"AUC with history     : {report.auc_with_history:.4f}")
    print(f"history gain         : {report.history_gain:+.4f}")
    print(f"({time.perf_counter() - start:.0f} s, 3-fold CV LightGBM)")


if __name__ == "__main__":
    main()
