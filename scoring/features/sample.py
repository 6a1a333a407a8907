"""Small random tables that follow the Kaggle schema, for feature tests and benchmark smoke runs.

Why not the synthetic generator (:mod:`scoring.synth`): feature tests need *adversarial* shape
rather than realism — clients with no history, credits without monthly rows, ties in dates,
missing values in every nullable column, every category level — in tables of a few hundred
rows that build in milliseconds. Keys are consistent (bureau_balance → bureau, POS/instalments/
cards → previous applications → client) and values keep the sign conventions the spec relies on
(``DAYS_*`` and ``MONTHS_BALANCE`` are ≤ 0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from scoring.schema import DAYS_SENTINEL, HISTORY_TABLES, ColumnSpec, table_schema


def random_applications(ids: np.ndarray, rng: np.random.Generator, *, train: bool) -> pd.DataFrame:
    """application_train/test rows for ``ids`` (TARGET random, unrelated to anything)."""
    table = "application_train" if train else "application_test"
    frame = _frame(table, len(ids), rng, {"SK_ID_CURR": ids})
    if train:
        frame["TARGET"] = rng.integers(0, 2, len(ids))
    days_employed = frame["DAYS_EMPLOYED"].to_numpy().copy()
    days_employed[rng.random(len(ids)) < 0.15] = DAYS_SENTINEL  # pensioners
    frame["DAYS_EMPLOYED"] = days_employed
    return frame


#: (share of parents with rows, mean rows for those parents) per child table, as in Kaggle:
#: with 80 % of 356 k clients having history these give ≈ the Kaggle row counts
#: (bureau 1.7 M, bureau_balance 27 M, previous 1.7 M, POS 10 M, instalments 13.6 M, cards 3.8 M).
KAGGLE_FANOUT: dict[str, tuple[float, float]] = {
    "bureau": (1.0, 6.0),
    "bureau_balance": (0.5, 32.0),
    "previous_application": (1.0, 5.9),
    "POS_CASH_balance": (0.55, 10.9),
    "installments_payments": (0.6, 13.6),
    "credit_card_balance": (0.06, 38.0),
}


def random_history(
    client_ids: np.ndarray,
    rng: np.random.Generator,
    *,
    mean_rows: float = 4.0,
    fanout: dict[str, tuple[float, float]] | None = None,
) -> dict[str, pd.DataFrame]:
    """All six history tables for a random 80 % of ``client_ids`` (the others get nothing).

    By default every parent row has Poisson(``mean_rows``) children (70 % of bureau credits have
    monthly rows); ``fanout`` overrides that per table (see :data:`KAGGLE_FANOUT`).
    """
    clients = client_ids[rng.random(len(client_ids)) < 0.8]
    default = {t: (1.0, mean_rows) for t in HISTORY_TABLES}
    default["bureau_balance"] = (0.7, 2 * mean_rows)
    spread = {**default, **(fanout or {})}

    def children(table: str, n_parents: int) -> np.ndarray:
        """Index of the parent of every child row."""
        share, mean = spread[table]
        counts = rng.poisson(mean, n_parents) * (rng.random(n_parents) < share)
        return np.repeat(np.arange(n_parents), counts)

    parent = children("bureau", len(clients))
    bureau_ids = np.arange(5_000_000, 5_000_000 + len(parent))
    bureau = _frame(
        "bureau", len(parent), rng, {"SK_ID_CURR": clients[parent], "SK_ID_BUREAU": bureau_ids}
    )
    parent = children("bureau_balance", len(bureau_ids))
    bureau_balance = _frame(
        "bureau_balance", len(parent), rng, {"SK_ID_BUREAU": bureau_ids[parent]}
    )
    parent = children("previous_application", len(clients))
    prev_cur = clients[parent]
    prev_ids = np.arange(1_000_000, 1_000_000 + len(prev_cur))
    previous = _frame(
        "previous_application", len(prev_cur), rng, {"SK_ID_CURR": prev_cur, "SK_ID_PREV": prev_ids}
    )
    for col in ("DAYS_FIRST_DRAWING", "DAYS_LAST_DUE", "DAYS_TERMINATION"):
        values = previous[col].to_numpy().copy()
        values[rng.random(len(values)) < 0.2] = DAYS_SENTINEL
        previous[col] = values
    out = {"bureau": bureau, "bureau_balance": bureau_balance, "previous_application": previous}
    for table in ("POS_CASH_balance", "installments_payments", "credit_card_balance"):
        parent = children(table, len(prev_ids))
        fixed = {"SK_ID_PREV": prev_ids[parent], "SK_ID_CURR": prev_cur[parent]}
        out[table] = _frame(table, len(parent), rng, fixed)
    inst = out["installments_payments"]
    paid_late = rng.normal(0, 8, len(inst)).round()
    inst["DAYS_ENTRY_PAYMENT"] = inst["DAYS_INSTALMENT"] + paid_late
    inst["AMT_PAYMENT"] = inst["AMT_INSTALMENT"] * rng.choice([1.0, 1.0, 1.0, 0.5, 0.0], len(inst))
    return {t: out[t] for t in HISTORY_TABLES}


def _frame(
    table: str, n: int, rng: np.random.Generator, fixed: dict[str, np.ndarray]
) -> pd.DataFrame:
    schema = table_schema(table)
    data: dict[str, object] = {}
    for col in schema.columns:
        if col.name in fixed:
            data[col.name] = np.asarray(fixed[col.name], dtype=np.int64)
        elif col.name == "TARGET":
            continue
        else:
            data[col.name] = _column(col, n, rng)
    return pd.DataFrame(data)[[c for c in schema.column_names if c in data]]


def _column(col: ColumnSpec, n: int, rng: np.random.Generator) -> object:
    name = col.name
    if col.dtype == "str":
        levels = np.array(col.levels or ("A", "B"), dtype=object)
        values = levels[rng.integers(0, len(levels), n)]
        values[rng.random(n) < 0.05] = None
        return pd.array(values, dtype="string")
    if name.startswith(("DAYS_", "MONTHS_")):
        scale = 96 if name.startswith("MONTHS_") else 3000
        values = -rng.integers(0, scale, n).astype(np.float64)
    elif name.startswith(("FLAG_", "NFLAG_", "REG_", "LIVE_")):
        values = rng.integers(0, 2, n).astype(np.float64)
    elif name.startswith(("CNT_", "SK_DPD", "NUM_", "HOUR_", "REGION_RATING", "SELLERPLACE")):
        values = rng.poisson(3, n).astype(np.float64)
    elif name.startswith("EXT_SOURCE") or "_AVG" in name or "_MODE" in name or "_MEDI" in name:
        values = rng.random(n)
    elif name.startswith("RATE_") or name.startswith("REGION_POPULATION"):
        values = rng.random(n) * 0.3
    else:
        values = np.round(rng.gamma(2.0, 20_000.0, n), 2)
        values[rng.random(n) < 0.05] = 0.0  # zero denominators for the ratio features
    if col.dtype == "int":
        return values.astype(np.int64)
    values[rng.random(n) < 0.08] = np.nan
    return values


def write_interim(
    directory: Path,
    *,
    n_train: int,
    n_test: int,
    seed: int = 0,
    fanout: dict[str, tuple[float, float]] | None = None,
) -> None:
    """``<directory>/<table>.parquet`` for all 8 tables, as the ingest stage would write them."""
    rng = np.random.default_rng(seed)
    train_ids = np.arange(100_001, 100_001 + n_train)
    test_ids = np.arange(200_001, 200_001 + n_test)
    frames = {
        "application_train": random_applications(train_ids, rng, train=True),
        "application_test": random_applications(test_ids, rng, train=False),
        **random_history(np.concatenate([train_ids, test_ids]), rng, fanout=fanout),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        frame.to_parquet(directory / f"{name}.parquet", index=False)
