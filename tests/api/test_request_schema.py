"""The generated request schema accepts every real Kaggle row and nothing outside the spec."""

from __future__ import annotations

import msgspec
import pandas as pd
import pytest

from api.schemas import REQUIRED_APPLICATION, column_bounds, request_types
from scoring.schema import HISTORY_TABLES, table_schema
from tests.support.bundle_factory import real_data_dir
from tests.support.payloads import application_json, history_json


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    d = real_data_dir()
    if not (d / "application_test.csv.gz").is_file():
        pytest.skip(f"real Kaggle rows not found under {d}")
    test = pd.read_csv(d / "application_test.csv.gz", nrows=4_000)
    train = pd.read_csv(d / "application_train_sample.csv.gz", nrows=4_000)
    return pd.concat([test, train.drop(columns="TARGET")], ignore_index=True)


def test_every_real_application_row_validates(real: pd.DataFrame) -> None:
    decoder = msgspec.json.Decoder(request_types().score_request)
    for row in real.to_dict(orient="records"):
        decoder.decode(msgspec.json.encode({"application": application_json(row)}))


@pytest.mark.parametrize("table", HISTORY_TABLES)
def test_every_real_history_row_validates(table: str) -> None:
    d = real_data_dir()
    if not (d / "head" / f"{table}.csv").is_file():
        pytest.skip(f"real Kaggle rows not found under {d}")
    frame = pd.concat(
        [
            pd.read_csv(d / "head" / f"{table}.csv"),
            pd.read_csv(d / "random_sample" / f"{table}.csv"),
        ]
    )
    decoder = msgspec.json.Decoder(request_types().history)
    decoder.decode(msgspec.json.encode({table: history_json(frame, table)}))


def test_required_columns_exist_in_kaggle() -> None:
    names = set(table_schema("application_test").column_names)
    assert set(REQUIRED_APPLICATION) <= names


@pytest.mark.parametrize(
    ("table", "column", "low", "high"),
    [
        ("application_test", "DAYS_EMPLOYED", -40_000, 365_243),
        ("application_test", "DAYS_BIRTH", -40_000, 0),
        ("application_test", "EXT_SOURCE_3", 0, 1),
        ("application_test", "AMT_CREDIT", 0, 1e10),
        ("bureau", "AMT_CREDIT_SUM_DEBT", -1e10, 1e10),
        ("bureau", "DAYS_CREDIT_ENDDATE", -40_000, 365_243),
        ("POS_CASH_balance", "MONTHS_BALANCE", -1_200, 0),
        ("application_test", "FLAG_DOCUMENT_3", 0, 1),
    ],
)
def test_bounds(table: str, column: str, low: float, high: float) -> None:
    assert column_bounds(table, column) == (low, high)


@pytest.mark.parametrize("value", [1e400, -1e400, 2**63])
def test_overflowing_numbers_are_rejected(value: float) -> None:
    body = (
        b'{"application": {"NAME_CONTRACT_TYPE": "Cash loans", "CODE_GENDER": "F", '
        b'"AMT_INCOME_TOTAL": 1, "DAYS_BIRTH": -9000, "AMT_CREDIT": '
        + repr(value).encode().replace(b"inf", b"1e400")
        + b"}}"
    )
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(body, type=request_types().score_request)
