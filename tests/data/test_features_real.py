"""Real Kaggle rows (../shared/data/homecredit/head and random_sample) go through the feature
stage, and the API path reproduces the batch features of real clients with real histories.

The rows are read from the shared folder, never copied into the repository; without it the
tests skip, saying why.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest
import yaml

from scoring.features import FeatureBuilder
from scoring.ingest import ingest_table, write_table_parquet
from scoring.schema import ALL_TABLES, HISTORY_TABLES
from stages.features import main

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT.parent / "shared" / "data" / "homecredit"
DEFAULT = ROOT / "conf" / "features" / "default.yaml"

pytestmark = pytest.mark.skipif(
    not (REAL / "head").is_dir(),
    reason=f"real Home Credit samples not found at {REAL} (they are never committed)",
)


def ingest_sample(name: str, out: Path) -> dict[str, pd.DataFrame]:
    """The sample folder through the real ingest code: exactly the dtypes the stage will see."""
    frames = {}
    for table in ALL_TABLES:
        path = REAL / name / f"{table}.csv"
        frames[table] = ingest_table(table, path if path.is_file() else None)
        write_table_parquet(frames[table], out / f"{table}.parquet")
    return frames


@pytest.mark.parametrize("sample", ["head", "random_sample"])
def test_real_samples_run_through_the_stage(sample: str, tmp_path: Path) -> None:
    frames = ingest_sample(sample, tmp_path / "interim")
    params = tmp_path / "params.yaml"
    spec = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    params.write_text(yaml.safe_dump({"features": spec}, sort_keys=False), "utf-8")
    out = tmp_path / "out"
    code = main(
        ["--params", str(params), "--interim", str(tmp_path / "interim"), "--out", str(out)]
    )
    assert code == 0
    train = pd.read_parquet(out / "train.parquet")
    test = pd.read_parquet(out / "test.parquet")
    assert len(train) == len(frames["application_train"])
    assert len(test) == len(frames["application_test"])
    assert train["TARGET"].tolist() == frames["application_train"]["TARGET"].tolist()
    # real values come through: the ratio is the raw division, the sentinel is gone
    app = frames["application_train"]
    assert train["CREDIT_INCOME_RATIO"].to_numpy() == pytest.approx(
        (app["AMT_CREDIT"] / app["AMT_INCOME_TOTAL"]).to_numpy()
    )
    assert not (train["DAYS_EMPLOYED"] == 365243).any()
    numeric = train.drop(columns=["SK_ID_CURR", "TARGET"]).select_dtypes("number")
    assert numeric.abs().max().max() < float("inf")  # no inf from a zero denominator


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {k: (None if pd.isna(v) else (v.item() if hasattr(v, "item") else v)) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]


def test_api_path_equals_batch_for_real_clients_with_real_history(tmp_path: Path) -> None:
    """Clients who appear in the real history rows, scored one by one, match the batch."""
    frames = ingest_sample("head", tmp_path)
    history = {t: frames[t] for t in HISTORY_TABLES}
    clients = sorted(
        set(history["bureau"]["SK_ID_CURR"])
        | set(history["previous_application"]["SK_ID_CURR"])
        | set(history["installments_payments"]["SK_ID_CURR"])
        | set(history["credit_card_balance"]["SK_ID_CURR"])
        | set(history["POS_CASH_balance"]["SK_ID_CURR"])
    )[:60]
    train = frames["application_train"]
    apps = train.drop(columns="TARGET").iloc[[i % len(train) for i in range(len(clients))]].copy()
    apps["SK_ID_CURR"] = clients  # real application rows, re-keyed onto real history clients
    builder = FeatureBuilder.from_spec(DEFAULT).fit(train)
    batch = builder.build(
        apps.reset_index(drop=True), {t: pl.from_pandas(f) for t, f in history.items()}
    )
    compared = 0
    for i, app in enumerate(records(apps)):
        sk = app["SK_ID_CURR"]
        own = {t: f[f["SK_ID_CURR"] == sk] for t, f in history.items() if t != "bureau_balance"}
        bb = history["bureau_balance"]
        own["bureau_balance"] = bb[bb["SK_ID_BUREAU"].isin(own["bureau"]["SK_ID_BUREAU"])]
        one = builder.for_application(app, {t: records(f) for t, f in own.items()})
        row = batch.row(i, named=True)
        for name, value in one.items():
            want = row[name]
            if value is None:
                assert want is None or (isinstance(want, float) and math.isnan(want)), name
            else:
                assert value == want, (sk, name, value, want)
            compared += 1
    assert compared == len(clients) * len(builder.feature_names)
