"""Each aggregation, subset, window and pre-join, checked on tiny hand-made tables with values
computed by hand — through the engine and through the pandas reference."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

from benchmarks import pandas_reference
from scoring.features import FeatureBuilder, load_spec
from scoring.features.sample import random_applications
from scoring.schema import HISTORY_TABLES, table_schema

AGG_LABELS = {
    "min": "lowest",
    "max": "highest",
    "mean": "average",
    "sum": "total",
    "var": "variance",
    "count": "number",
    "nunique": "distinct",
    "share": "share",
}
SPEC: dict[str, Any] = {
    "version": 1,
    "label_template": "{column} ({agg}) — {table}{subset}",
    "agg_labels": AGG_LABELS,
    "application": {},
    "history": {
        "BB": {
            "table": "bureau_balance",
            "key": "SK_ID_BUREAU",
            "label": "monthly statuses",
            "aggregate": [{"columns": {"MONTHS_BALANCE": ["count"], "STATUS": ["share"]}}],
        },
        "BURO": {
            "table": "bureau",
            "key": "SK_ID_CURR",
            "label": "bureau credits",
            "joins": [{"block": "BB", "through": "SK_ID_BUREAU"}],
            "sentinels": {"DAYS_CREDIT_ENDDATE": 365243},
            "derived": {
                "DEBT_RATIO": {"expr": "AMT_CREDIT_SUM_DEBT / AMT_CREDIT_SUM", "label": "debt"},
                "OVERDUE": {"expr": "CREDIT_DAY_OVERDUE > 0", "label": "overdue"},
            },
            "subsets": {
                "ACTIVE": {"where": "CREDIT_ACTIVE == 'Active'", "label": "still active"},
                "LAST2": {"last": 2, "by": "DAYS_CREDIT", "label": "(2 most recent)"},
            },
            "aggregate": [
                {
                    "columns": {
                        "AMT_CREDIT_SUM": ["min", "max", "mean", "sum", "var", "count"],
                        "CREDIT_TYPE": ["share", "nunique"],
                        "DEBT_RATIO": ["mean", "max"],
                        "OVERDUE": ["sum", "mean"],
                        "DAYS_CREDIT_ENDDATE": ["max"],
                        "BB_ALL_MONTHS_BALANCE_COUNT": ["sum", "mean"],
                        "BB_ALL_STATUS_1_SHARE": ["max"],
                    }
                },
                {
                    "subsets": ["ACTIVE", "LAST2"],
                    "columns": {
                        "AMT_CREDIT_SUM": ["sum", "count", "mean"],
                        "SK_ID_BUREAU": ["count"],
                    },
                },
            ],
        },
    },
}
NAN = math.nan


def table(name: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A typed frame with every Kaggle column of ``name``; unspecified cells are missing."""
    schema = table_schema(name)
    data: dict[str, Any] = {}
    for col in schema.columns:
        values = [r.get(col.name) for r in rows]
        if col.dtype == "str":
            data[col.name] = pd.array(values, dtype="string")
        elif col.dtype == "int":
            data[col.name] = pd.array(values, dtype="Int64")
        else:
            data[col.name] = pd.array([np.nan if v is None else v for v in values], dtype="float64")
    return pd.DataFrame(data)


def credit(
    cur: int,
    bureau: int,
    amount: float | None,
    status: str,
    days: int,
    kind: str | None,
    debt: float | None = None,
    overdue: int = 0,
    end: float | None = None,
) -> dict[str, Any]:
    return {
        "SK_ID_CURR": cur,
        "SK_ID_BUREAU": bureau,
        "AMT_CREDIT_SUM": amount,
        "CREDIT_ACTIVE": status,
        "DAYS_CREDIT": days,
        "CREDIT_TYPE": kind,
        "AMT_CREDIT_SUM_DEBT": debt,
        "CREDIT_DAY_OVERDUE": overdue,
        "DAYS_CREDIT_ENDDATE": end,
        "CNT_CREDIT_PROLONG": 0,
        "DAYS_CREDIT_UPDATE": -1,
    }


# client 1: four credits (one amount missing, a tie in DAYS_CREDIT); client 2: one credit;
# client 3: no bureau rows at all.
BUREAU = table(
    "bureau",
    [
        credit(1, 11, 100.0, "Active", -10, "Car loan", debt=50.0, overdue=3, end=365243.0),
        credit(1, 12, 200.0, "Closed", -5, "Credit card", debt=0.0, end=-2.0),
        credit(1, 13, None, "Active", -10, None, debt=10.0),
        credit(1, 14, 400.0, "Closed", -30, "Car loan", debt=100.0, end=20.0),
        credit(2, 21, 50.0, "Closed", -100, "Mortgage", debt=None),
    ],
)
BUREAU_BALANCE = table(
    "bureau_balance",
    [
        {"SK_ID_BUREAU": 11, "MONTHS_BALANCE": 0, "STATUS": "0"},
        {"SK_ID_BUREAU": 11, "MONTHS_BALANCE": -1, "STATUS": "1"},
        {"SK_ID_BUREAU": 11, "MONTHS_BALANCE": -2, "STATUS": "C"},
        {"SK_ID_BUREAU": 12, "MONTHS_BALANCE": 0, "STATUS": "1"},
        {"SK_ID_BUREAU": 99, "MONTHS_BALANCE": 0, "STATUS": "1"},  # credit not in bureau
    ],
)
EXPECTED: dict[int, dict[str, float]] = {
    1: {
        "BURO_ALL_AMT_CREDIT_SUM_MIN": 100.0,
        "BURO_ALL_AMT_CREDIT_SUM_MAX": 400.0,
        "BURO_ALL_AMT_CREDIT_SUM_MEAN": 700.0 / 3,
        "BURO_ALL_AMT_CREDIT_SUM_SUM": 700.0,
        # sample variance (ddof=1) of 100, 200, 400
        "BURO_ALL_AMT_CREDIT_SUM_VAR": (
            (100 - 700 / 3) ** 2 + (200 - 700 / 3) ** 2 + (400 - 700 / 3) ** 2
        )
        / 2,
        "BURO_ALL_AMT_CREDIT_SUM_COUNT": 3.0,  # non-missing values
        "BURO_ALL_CREDIT_TYPE_CAR_LOAN_SHARE": 2 / 4,  # missing type counts in the denominator
        "BURO_ALL_CREDIT_TYPE_CREDIT_CARD_SHARE": 1 / 4,
        "BURO_ALL_CREDIT_TYPE_MORTGAGE_SHARE": 0.0,
        "BURO_ALL_CREDIT_TYPE_NUNIQUE": 2.0,  # missing is not a type
        "BURO_ALL_DEBT_RATIO_MEAN": (0.5 + 0.0 + 0.25) / 3,  # 10/None is missing
        "BURO_ALL_DEBT_RATIO_MAX": 0.5,
        "BURO_ALL_OVERDUE_SUM": 1.0,
        "BURO_ALL_OVERDUE_MEAN": 0.25,
        "BURO_ALL_DAYS_CREDIT_ENDDATE_MAX": 20.0,  # 365243 is a sentinel, not a date
        "BURO_ALL_BB_ALL_MONTHS_BALANCE_COUNT_SUM": 4.0,  # 3 + 1 + 0 + 0
        "BURO_ALL_BB_ALL_MONTHS_BALANCE_COUNT_MEAN": 1.0,
        "BURO_ALL_BB_ALL_STATUS_1_SHARE_MAX": 1.0,
        "BURO_ACTIVE_AMT_CREDIT_SUM_SUM": 100.0,
        "BURO_ACTIVE_AMT_CREDIT_SUM_COUNT": 1.0,
        "BURO_ACTIVE_AMT_CREDIT_SUM_MEAN": 100.0,
        # the 2 most recent: -5, then a tie at -10: both tied rows are kept
        "BURO_LAST2_AMT_CREDIT_SUM_SUM": 300.0,
        "BURO_LAST2_AMT_CREDIT_SUM_COUNT": 2.0,
        "BURO_LAST2_AMT_CREDIT_SUM_MEAN": 150.0,
        "BURO_LAST2_SK_ID_BUREAU_COUNT": 3.0,
    },
    2: {
        "BURO_ALL_AMT_CREDIT_SUM_MIN": 50.0,
        "BURO_ALL_AMT_CREDIT_SUM_MEAN": 50.0,
        "BURO_ALL_AMT_CREDIT_SUM_VAR": NAN,  # one value: no sample variance
        "BURO_ALL_CREDIT_TYPE_MORTGAGE_SHARE": 1.0,
        "BURO_ALL_DEBT_RATIO_MEAN": NAN,
        "BURO_ALL_BB_ALL_MONTHS_BALANCE_COUNT_SUM": 0.0,  # a credit without monthly rows
        "BURO_ALL_BB_ALL_STATUS_1_SHARE_MAX": NAN,
        "BURO_ACTIVE_AMT_CREDIT_SUM_SUM": 0.0,  # has credits, none active: sum 0, mean missing
        "BURO_ACTIVE_AMT_CREDIT_SUM_COUNT": 0.0,
        "BURO_ACTIVE_AMT_CREDIT_SUM_MEAN": NAN,
        "BURO_LAST2_AMT_CREDIT_SUM_SUM": 50.0,
    },
    3: {  # no history: sums and counts are 0, everything else is missing
        "BURO_ALL_AMT_CREDIT_SUM_SUM": 0.0,
        "BURO_ALL_AMT_CREDIT_SUM_COUNT": 0.0,
        "BURO_ALL_CREDIT_TYPE_NUNIQUE": 0.0,
        "BURO_ALL_OVERDUE_SUM": 0.0,
        "BURO_ALL_AMT_CREDIT_SUM_MIN": NAN,
        "BURO_ALL_AMT_CREDIT_SUM_MEAN": NAN,
        "BURO_ALL_AMT_CREDIT_SUM_VAR": NAN,
        "BURO_ALL_CREDIT_TYPE_CAR_LOAN_SHARE": NAN,
        "BURO_ALL_BB_ALL_MONTHS_BALANCE_COUNT_SUM": 0.0,
        "BURO_ACTIVE_AMT_CREDIT_SUM_MEAN": NAN,
        "BURO_LAST2_AMT_CREDIT_SUM_COUNT": 0.0,
    },
}


@pytest.fixture(scope="module")
def builder() -> FeatureBuilder:
    return FeatureBuilder(load_spec(SPEC)).fit(applications())


def applications() -> pd.DataFrame:
    return random_applications(np.array([1, 2, 3]), np.random.default_rng(0), train=False)


def tables() -> dict[str, pd.DataFrame]:
    out = {t: table(t, []) for t in HISTORY_TABLES}
    out["bureau"] = BUREAU
    out["bureau_balance"] = BUREAU_BALANCE
    return out


@pytest.fixture(scope="module")
def engine_frame(builder: FeatureBuilder) -> pd.DataFrame:
    history = {t: pl.from_pandas(f) for t, f in tables().items()}
    return builder.build(applications(), history).to_pandas().set_index("SK_ID_CURR")


@pytest.fixture(scope="module")
def reference_frame(builder: FeatureBuilder) -> pd.DataFrame:
    assert builder.frequencies is not None
    out = pandas_reference.build(builder.spec, builder.frequencies, applications(), tables())
    return out.set_index("SK_ID_CURR")


@pytest.mark.parametrize("client", sorted(EXPECTED))
@pytest.mark.parametrize("implementation", ["engine", "pandas reference"])
def test_hand_computed_values(
    client: int,
    implementation: str,
    engine_frame: pd.DataFrame,
    reference_frame: pd.DataFrame,
) -> None:
    frame = engine_frame if implementation == "engine" else reference_frame
    for name, want in EXPECTED[client].items():
        got = frame.loc[client, name]
        if math.isnan(want):
            assert pd.isna(got), (name, got)
        else:
            assert got == pytest.approx(want, rel=1e-12), name


def test_output_rows_follow_the_applications_and_history_only_clients_are_dropped(
    builder: FeatureBuilder,
) -> None:
    apps = applications().iloc[[2, 0]]  # clients 3, 1 in that order; client 2 not asked for
    history = {t: pl.from_pandas(f) for t, f in tables().items()}
    out = builder.build(apps, history)
    assert out.get_column("SK_ID_CURR").to_list() == [3, 1]
    assert out.columns == ["SK_ID_CURR", *builder.feature_names]


def test_missing_or_empty_history_tables_mean_no_history(builder: FeatureBuilder) -> None:
    empty = builder.build(applications(), {})  # every table absent
    zero_rows = builder.build(
        applications(), {t: pl.from_pandas(table(t, [])) for t in HISTORY_TABLES}
    )
    assert empty.equals(zero_rows)
    for f in builder.spec.client_blocks[0].features:
        values = empty.get_column(f.name).to_list()
        assert values == [f.empty_value] * 3, f.name


def test_a_history_table_missing_a_column_is_named(builder: FeatureBuilder) -> None:
    broken = BUREAU.drop(columns=["AMT_CREDIT_SUM"])
    with pytest.raises(ValueError, match=r"bureau lacks column\(s\) \['AMT_CREDIT_SUM'\]"):
        builder.build(applications(), {"bureau": pl.from_pandas(broken)})


def test_history_is_read_lazily_from_parquet(builder: FeatureBuilder, tmp_path: Any) -> None:
    from scoring.features import scan_parquet_tables

    for name, frame in tables().items():
        frame.to_parquet(tmp_path / f"{name}.parquet", index=False)
    lazy = scan_parquet_tables(tmp_path, set(HISTORY_TABLES))
    assert all(type(f).__name__ == "LazyFrame" for f in lazy.values())
    out = builder.build(applications(), lazy).to_pandas().set_index("SK_ID_CURR")
    assert out.loc[1, "BURO_ALL_AMT_CREDIT_SUM_SUM"] == 700.0


def test_blocks_are_batched_biggest_first_within_the_row_budget() -> None:
    from scoring.features.engine import batches_by_rows

    sizes = {"BURO": 29, "INSTAL": 13, "POS": 10, "PREV": 2, "CC": 2}
    batches = batches_by_rows(sizes, limit=16)
    assert batches[0] == ["BURO"]  # over the budget on its own: runs alone, first
    assert sorted(b for batch in batches for b in batch) == sorted(sizes)
    assert all(sum(sizes[b] for b in batch) <= 16 for batch in batches if len(batch) > 1)
    assert batches_by_rows(sizes, limit=1) == [["BURO"], ["INSTAL"], ["POS"], ["PREV"], ["CC"]]
