"""DVC stage ``features``: every model feature for every application, from one spec.

    python -m stages.features --params params.yaml --interim data/interim --out data/features

Reads the ``features`` params section (the spec composed from conf/features/) and the typed
tables ``<interim>/<table>.parquet`` written by ``ingest`` (a missing history table means no
history for anyone). Writes to ``<out>/``:

- ``train.parquet``: ``SK_ID_CURR``, ``TARGET``, features (model column order);
- ``test.parquet``: ``SK_ID_CURR``, features (0 rows when application_test is empty);
- ``feature_list.json``: ``{"features": [{name, kind, source_table, label}, ...]}``;
- ``features.yaml``: the resolved spec + the encodings fitted on application_train, i.e. what
  the model bundle ships so that the API builds features with this same code.

Train and test applications go through the engine in one pass (history is aggregated once);
nothing is fitted on test rows and TARGET is only copied through.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import polars as pl

from scoring.config import load_params, section, setup_logging
from scoring.features import FeatureBuilder, FeatureSpec, SpecError, load_spec, scan_parquet_tables
from scoring.schema import APPLICATION_TEST, APPLICATION_TRAIN, HISTORY_TABLES

logger = logging.getLogger("stages.features")
TARGET = "TARGET"


@dataclass(frozen=True)
class FeaturesParams:
    """The one param section this stage declares in dvc.yaml: ``features`` (the spec)."""

    spec: FeatureSpec


@dataclass(frozen=True)
class FeaturesSummary:
    n_train: int
    n_test: int
    n_features: int
    seconds: float


def read_params(path: Path) -> FeaturesParams:
    """Validate the ``features`` section; a bad spec fails naming its location."""
    return FeaturesParams(spec=load_spec(section(load_params(path), "features")))


def run(params: FeaturesParams, interim: Path, out: Path) -> FeaturesSummary:
    """Build and write train/test features, the feature list and the resolved spec."""
    start = time.perf_counter()
    train = pd.read_parquet(interim / f"{APPLICATION_TRAIN}.parquet")
    test_path = interim / f"{APPLICATION_TEST}.parquet"
    test = (
        pd.read_parquet(test_path) if test_path.is_file() else train.iloc[:0].drop(columns=TARGET)
    )
    builder = FeatureBuilder(params.spec).fit(train)  # fitted on training rows only
    applications = pd.concat([train.drop(columns=TARGET), test], ignore_index=True)
    history = scan_parquet_tables(interim, set(HISTORY_TABLES))
    frame = builder.build(applications, history)
    n_train = len(train)
    target = pl.Series(TARGET, train[TARGET].to_numpy(), dtype=pl.Int64)
    train_out = frame.slice(0, n_train).insert_column(1, target)
    test_out = frame.slice(n_train)
    out.mkdir(parents=True, exist_ok=True)
    _write_parquet(train_out, out / "train.parquet")
    _write_parquet(test_out, out / "test.parquet")
    _write_text(out / "feature_list.json", json.dumps(builder.feature_list(), indent=1) + "\n")
    builder.save(out / "features.yaml")
    return FeaturesSummary(
        n_train=n_train,
        n_test=len(test_out),
        n_features=len(builder.feature_names),
        seconds=time.perf_counter() - start,
    )


def _write_parquet(frame: pl.DataFrame, path: Path) -> None:
    """Atomic write (temp + rename): an interrupted run never leaves a half file behind."""
    tmp = path.with_name(path.name + ".tmp")
    frame.write_parquet(tmp, compression="zstd")
    os.replace(tmp, path)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--interim", type=Path, required=True, help="dir of <table>.parquet")
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    args = parser.parse_args(argv)
    setup_logging()
    try:
        params = read_params(args.params)
    except SpecError as exc:
        logger.error("invalid feature spec: %s", exc)
        return 1
    summary = run(params, args.interim, args.out)
    logger.info(
        "features: %d train + %d test applications x %d features in %.1f s -> %s",
        summary.n_train,
        summary.n_test,
        summary.n_features,
        summary.seconds,
        args.out,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
