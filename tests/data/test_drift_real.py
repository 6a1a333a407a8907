"""Real-data drift: the real application_train sample vs the complete real application_test.

These are the facts docs/drift.md states (full per-column table: ``python -m scoring.drift
compare`` on the same two files). Reads ``../shared/data/homecredit`` and skips with a reason
where it is absent.
"""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import yaml

from scoring.drift import PsiBins, compare_tables, psi

REPO = Path(__file__).resolve().parents[2]
REAL = REPO.parent / "shared" / "data" / "homecredit"
TRAIN, TEST = REAL / "application_train_sample.csv.gz", REAL / "application_test.csv.gz"
pytestmark = pytest.mark.skipif(
    not (TRAIN.is_file() and TEST.is_file()),
    reason=f"real Home Credit rows not found at {REAL} (only present in the team environment)",
)

#: Columns Evidently flags on the real data (docs/drift.md); the first six by a wide margin.
CLEAR_DRIFT = {
    "AMT_REQ_CREDIT_BUREAU_QRT",
    "AMT_REQ_CREDIT_BUREAU_MON",
    "AMT_GOODS_PRICE",
    "AMT_CREDIT",
    "NAME_CONTRACT_TYPE",
    "FLAG_EMAIL",
}
NEAR_THRESHOLD = {"AMT_ANNUITY", "AMT_REQ_CREDIT_BUREAU_WEEK", "DAYS_LAST_PHONE_CHANGE"}
BORDERLINE = {"AMT_INCOME_TOTAL"}  # normed Wasserstein 0.11 for a 0.1 threshold
STRONGEST_PREDICTORS = ["EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3", "DAYS_BIRTH"]


@pytest.fixture(scope="module")
def real() -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.read_csv(TRAIN), pd.read_csv(TEST)


def test_psi_singles_out_the_credit_bureau_enquiry_counts(
    real: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, cur = real
    values = {c: psi(ref[c], cur[c]) for c in cur.columns if c != "SK_ID_CURR"}
    alert = {c for c, v in values.items() if v >= 0.25}
    warn = {c for c, v in values.items() if 0.10 <= v < 0.25}
    assert alert == {"AMT_REQ_CREDIT_BUREAU_MON", "AMT_REQ_CREDIT_BUREAU_QRT"}
    assert warn == {"NAME_CONTRACT_TYPE", "FLAG_EMAIL"}
    assert all(values[c] < 0.10 for c in STRONGEST_PREDICTORS)
    # revolving loans: ~10 % of training applications, ~1 % of application_test
    revolving = [(t["NAME_CONTRACT_TYPE"] == "Revolving loans").mean() for t in real]
    assert revolving[0] > 0.08 and revolving[1] < 0.02


def test_evidently_flags_amounts_and_contract_type_not_the_key_predictors(
    real: tuple[pd.DataFrame, pd.DataFrame],
) -> None:
    ref, cur = real
    conf = yaml.safe_load((REPO / "conf/drift/default.yaml").read_text(encoding="utf-8"))
    columns = [
        *conf["raw_columns"],
        "AMT_REQ_CREDIT_BUREAU_MON",
        "AMT_REQ_CREDIT_BUREAU_QRT",
        "FLAG_EMAIL",
    ]
    _, result, table = compare_tables(ref, cur, columns, sample_rows=5_000, seed=0)
    drifted = set(table.loc[table["drifted"], "column"])
    assert drifted >= CLEAR_DRIFT & set(columns)
    assert drifted <= CLEAR_DRIFT | NEAR_THRESHOLD | BORDERLINE
    assert not drifted & set(STRONGEST_PREDICTORS)
    assert not result.dataset_drift  # far below half of the columns
    # Evidently drops missing values: EXT_SOURCE_1's missing share falls 56 % → 42 % unseen
    ext1 = table.set_index("column").loc["EXT_SOURCE_1"]
    assert not ext1["drifted"] and ext1["missing_reference"] - ext1["missing_current"] > 0.1


def test_the_drift_barely_moves_a_model_score(real: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    """What it means for the model: a LightGBM fitted on the real training rows scores
    application_test with almost the same distribution as its own holdout (score PSI << 0.1),
    because its strongest inputs (external scores, age) do not drift."""
    ref, cur = real
    cols = [c for c in cur.columns if c != "SK_ID_CURR"]
    levels = {c: sorted(ref[c].dropna().unique()) for c in cols if ref[c].dtype == object}

    def matrix(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[cols].copy()
        for c, lv in levels.items():
            out[c] = out[c].map({v: float(i) for i, v in enumerate(lv)}).astype(float)
        return out

    idx = np.random.default_rng(0).permutation(len(ref))
    fit, hold = idx[:12_000], idx[12_000:]
    X, y = matrix(ref), ref["TARGET"].to_numpy()
    booster = lgb.train(
        {
            "objective": "binary",
            "verbose": -1,
            "num_leaves": 15,
            "learning_rate": 0.1,
            "min_data_in_leaf": 100,
            "seed": 0,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": 1,  # the box is shared: one thread is faster than fighting for two
        },
        lgb.Dataset(X.iloc[fit], y[fit]),
        num_boost_round=100,
    )
    p_hold, p_test = booster.predict(X.iloc[hold]), booster.predict(matrix(cur))
    score_psi = PsiBins.fit(p_hold).psi(p_test)
    assert score_psi < 0.05
    top = pd.Series(booster.feature_importance("gain"), index=cols).nlargest(5).index
    assert {"EXT_SOURCE_2", "EXT_SOURCE_3"} <= set(top)
    assert not set(top) & {"AMT_REQ_CREDIT_BUREAU_MON", "AMT_REQ_CREDIT_BUREAU_QRT"}
