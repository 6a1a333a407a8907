"""Stage `split`: a seeded, stratified holdout of application_train, by client.

The holdout is put aside before anything is fitted (features are per client, encoders, resamplers,
the threshold and the calibration are fitted on the train side only) and evaluated once, at the
end. Splitting the unique SK_ID_CURR values (not rows) guarantees that no client is on both sides.
It reads only the ids and labels, so a change of features never moves the holdout, and models
trained on different feature sets are compared on the same clients.

    python -m stages.split --params params.yaml \
        --train data/interim/application_train.parquet --out data/split/split.parquet
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from scoring.config import load_params, section, setup_logging

log = logging.getLogger("stages.split")
KEY, LABEL = "SK_ID_CURR", "TARGET"


@dataclass(frozen=True)
class SplitParams:
    seed: int
    test_size: float

    def __post_init__(self) -> None:
        if not 0 < self.test_size < 1:
            raise ValueError(f"split.test_size must be in (0, 1), got {self.test_size}")


def split_clients(labels: pd.DataFrame, params: SplitParams) -> pd.DataFrame:
    """``SK_ID_CURR, TARGET, subset`` with ``subset`` in {train, holdout}, one row per client.

    A client with several rows (not the case in Kaggle's file) gets the worst label, max(TARGET).
    """
    missing = [c for c in (KEY, LABEL) if c not in labels.columns]
    if missing:
        raise KeyError(f"application_train lacks column(s) {missing}")
    bad = labels[LABEL].isna() | ~labels[LABEL].isin([0, 1])
    if bad.any():
        rows = labels.index[bad][:5].tolist()
        raise ValueError(f"TARGET must be 0 or 1; {int(bad.sum())} bad value(s), e.g. rows {rows}")
    if labels[KEY].isna().any():
        raise ValueError(f"{KEY} has {int(labels[KEY].isna().sum())} missing value(s)")
    clients = labels.groupby(KEY, sort=True)[LABEL].max().astype(np.int64).reset_index()
    if clients[LABEL].nunique() < 2:
        raise ValueError("TARGET has a single class: cannot stratify the holdout")
    train_ids, holdout_ids = train_test_split(
        clients[KEY].to_numpy(),
        test_size=params.test_size,
        stratify=clients[LABEL].to_numpy(),
        random_state=params.seed,
    )
    subset = np.where(clients[KEY].isin(set(holdout_ids.tolist())), "holdout", "train")
    out = clients.assign(subset=subset)
    assert len(train_ids) + len(holdout_ids) == len(out)
    return out


def balance(split: pd.DataFrame) -> pd.DataFrame:
    """Clients and default rate per side (logged, so a bad stratification shows at once)."""
    return (
        split.groupby("subset")[LABEL]
        .agg(["size", "mean"])
        .set_axis(["clients", "default_rate"], axis=1)
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--train", required=True, help="application_train parquet (ingest output)")
    ap.add_argument("--out", required=True, help="split parquet to write")
    args = ap.parse_args(argv)
    setup_logging()
    raw = load_params(args.params)
    params = SplitParams(seed=int(raw["seed"]), test_size=float(section(raw, "split")["test_size"]))
    labels = pd.read_parquet(args.train, columns=[KEY, LABEL])
    split = split_clients(labels, params)
    for subset, row in balance(split).iterrows():
        log.info("%s: %d clients, default rate %.4f", subset, row["clients"], row["default_rate"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    split.to_parquet(out, index=False)
    log.info("wrote %s", out)


if __name__ == "__main__":
    main()
