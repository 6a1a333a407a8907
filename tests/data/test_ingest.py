"""Data-contract tests of the ingest stage: real Kaggle rows pass, each corruption fails loudly.

Corruptions are applied to a tiny, valid raw set built in-test from the schema spec (so they run
everywhere); acceptance on real rows reads ``../shared/data/homecredit`` and skips with a reason
when that folder is absent. Every failure test checks what a user needs to fix the file: the
file name, the column and, where there is one, the row number and the offending value.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import logging
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scoring.ingest import IngestError, ingest, ingest_table, summarize, write_parquet
from scoring.schema import ALL_TABLES, HISTORY_TABLES, table_schema
from stages import ingest as stage

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "homecredit"
needs_real = pytest.mark.skipif(
    not REAL.is_dir(), reason=f"real Home Credit rows not found at {REAL} (outside the team box)"
)

EXPECTED_DTYPE = {"int": "int64", "float": "float64", "str": "string"}


# --------------------------------------------------------------------------- tiny valid raw set


def valid_rows(table: str, n: int = 4) -> list[dict[str, str]]:
    """``n`` rows of Kaggle-formatted text that satisfy the spec (unique keys, allowed levels)."""
    schema = table_schema(table)
    rows = []
    for i in range(n):
        row = {}
        for col in schema.columns:
            if col.name == "TARGET":
                row[col.name] = str(i % 2)
            elif col.name == "MONTHS_BALANCE" and table == "bureau_balance":
                row[col.name] = str(-(i % 2))  # (SK_ID_BUREAU, MONTHS_BALANCE) stays unique
            elif col.name == "SK_ID_BUREAU" and table == "bureau_balance":
                row[col.name] = str(5_000_000 + i // 2)
            elif col.dtype == "int":
                row[col.name] = str(100_000 + i)
            elif col.dtype == "float":
                row[col.name] = f"{i}.5"
            else:
                assert col.levels, col.name
                row[col.name] = col.levels[i % len(col.levels)]
        rows.append(row)
    return rows


def write_csv(path: Path, rows: list[dict[str, str]], header: list[str] | None = None) -> Path:
    header = header if header is not None else list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([[row.get(c, "") for c in header] for row in rows])
    return path


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    """A valid raw directory with all 8 tables, 4 rows each."""
    raw_dir = tmp_path / "raw"
    raw_dir.mkdir()
    for table in ALL_TABLES:
        write_csv(raw_dir / f"{table}.csv", valid_rows(table))
    return raw_dir


def failure(raw_dir: Path) -> str:
    with pytest.raises(IngestError) as info:
        ingest(raw_dir)
    return str(info.value)


def snapshot(directory: Path) -> dict[str, tuple[str, int]]:
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(directory.iterdir())
    }


def assert_typed(frame: pd.DataFrame, table: str) -> None:
    schema = table_schema(table)
    assert list(frame.columns) == schema.column_names
    for col in schema.columns:
        assert frame[col.name].dtype == EXPECTED_DTYPE[col.dtype], (table, col.name)


# --------------------------------------------------------------------------- valid inputs


def test_valid_set_is_read_typed_and_raw_dir_untouched(raw: Path) -> None:
    before = snapshot(raw)
    frames = ingest(raw)
    assert snapshot(raw) == before
    assert set(frames) == set(ALL_TABLES)
    for table, frame in frames.items():
        assert len(frame) == 4
        assert_typed(frame, table)
    app = frames["application_train"]
    assert app["SK_ID_CURR"].tolist() == [100_000, 100_001, 100_002, 100_003]
    assert app["AMT_CREDIT"].tolist() == [0.5, 1.5, 2.5, 3.5]
    assert summarize("application_train", app).target_rate == 0.5


def test_missing_history_table_is_empty_and_typed(
    raw: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (raw / "bureau_balance.csv").unlink()
    with caplog.at_level(logging.WARNING, logger="scoring.ingest"):
        frames = ingest(raw)
    bb = frames["bureau_balance"]
    assert bb.empty
    assert_typed(bb, "bureau_balance")
    assert "bureau_balance not found" in caplog.text


def test_missing_application_test_is_empty_with_notice(
    raw: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (raw / "application_test.csv").unlink()
    with caplog.at_level(logging.WARNING, logger="scoring.ingest"):
        frames = ingest(raw)
    assert frames["application_test"].empty
    assert_typed(frames["application_test"], "application_test")
    assert "application_test not found" in caplog.text and "skipped" in caplog.text


def test_missing_application_train_fails(raw: Path) -> None:
    (raw / "application_train.csv").unlink()
    message = failure(raw)
    assert "application_train is required" in message and str(raw) in message


def test_two_files_for_one_table_fail_naming_both(raw: Path) -> None:
    shutil.copyfile(raw / "bureau.csv", raw / "bureau.csv.gz")
    message = failure(raw)
    assert "bureau.csv and bureau.csv.gz" in message


def test_csv_gz_and_parquet_inputs_are_read(raw: Path) -> None:
    app = raw / "application_train.csv"
    with gzip.open(raw / "application_train.csv.gz", "wb") as fh:
        fh.write(app.read_bytes())
    app.unlink()
    # parquet as another tool would write it: ints as float64 (with a null), text as category
    bureau = pd.read_csv(raw / "bureau.csv")
    bureau["CREDIT_DAY_OVERDUE"] = bureau["CREDIT_DAY_OVERDUE"].astype("float64")
    bureau.loc[1, "CREDIT_DAY_OVERDUE"] = np.nan
    bureau["CREDIT_TYPE"] = bureau["CREDIT_TYPE"].astype("category")
    bureau.to_parquet(raw / "bureau.parquet")
    (raw / "bureau.csv").unlink()
    frames = ingest(raw)
    assert_typed(frames["application_train"], "application_train")
    assert len(frames["application_train"]) == 4
    got = frames["bureau"]
    assert got["CREDIT_DAY_OVERDUE"].dtype == "Int64"  # nullable only because of the null
    assert got["CREDIT_DAY_OVERDUE"].isna().tolist() == [False, True, False, False]
    assert got["CREDIT_TYPE"].dtype == "string"
    assert got["CREDIT_TYPE"].tolist() == bureau["CREDIT_TYPE"].astype(str).tolist()


def test_nullable_ints_extra_columns_and_float_written_ints(
    raw: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rows = valid_rows("application_train")
    rows[2]["CNT_CHILDREN"] = ""  # a null in an int column → nullable Int64
    for row in rows:
        row["DAYS_BIRTH"] = row["DAYS_BIRTH"] + ".0"  # what pandas writes after a float trip
        row["MY_NOTE"] = "x"
    write_csv(raw / "application_train.csv", rows)
    with caplog.at_level(logging.WARNING, logger="scoring.ingest"):
        app = ingest_table("application_train", raw / "application_train.csv")
    assert app["CNT_CHILDREN"].dtype == "Int64"
    assert app["CNT_CHILDREN"].isna().sum() == 1
    assert app["DAYS_BIRTH"].dtype == "int64"
    assert app["DAYS_BIRTH"].tolist() == [100_000, 100_001, 100_002, 100_003]
    assert "MY_NOTE" not in app.columns
    assert "MY_NOTE" in caplog.text


def test_header_only_history_table_is_empty(raw: Path) -> None:
    write_csv(raw / "bureau.csv", [], header=table_schema("bureau").column_names)
    bureau = ingest(raw)["bureau"]
    assert bureau.empty
    assert_typed(bureau, "bureau")


def test_write_parquet_round_trips_all_tables(raw: Path, tmp_path: Path) -> None:
    (raw / "credit_card_balance.csv").unlink()
    frames = ingest(raw)
    paths = write_parquet(frames, tmp_path / "interim")
    assert sorted(p.name for p in (tmp_path / "interim").iterdir()) == sorted(
        f"{t}.parquet" for t in ALL_TABLES
    )
    for table, path in paths.items():
        back = pd.read_parquet(path)
        assert_typed(back, table)
        storages = {str(c): getattr(d, "storage", None) for c, d in back.dtypes.items()}
        storages = {c: s for c, s in storages.items() if back[c].dtype == "string"}
        assert set(storages.values()) <= {"pyarrow"}, (table, storages)  # no object per cell
        pd.testing.assert_frame_equal(back, frames[table], check_dtype=False)


# --------------------------------------------------------------------------- corruptions


def corrupt(raw: Path, table: str, row: int, column: str, value: str) -> Path:
    """Set ``column`` of data row ``row`` (1-based, as in the file) to ``value``."""
    rows = valid_rows(table)
    rows[row - 1][column] = value
    return write_csv(raw / f"{table}.csv", rows)


@pytest.mark.parametrize(
    ("table", "row", "column", "value", "expected"),
    [
        ("application_train", 3, "AMT_CREDIT", "abc", "not a number"),
        ("application_train", 2, "DAYS_BIRTH", "12 years", "not an integer"),
        ("application_train", 4, "DAYS_BIRTH", "1.5", "not an integer"),
        ("bureau", 2, "CREDIT_ACTIVE", "Frozen", "unknown level"),
        ("application_test", 3, "CODE_GENDER", "Z", "unknown level"),
        ("application_train", 2, "TARGET", "2", "TARGET must be 0 or 1"),
        ("application_train", 3, "TARGET", "", "TARGET must be 0 or 1"),
        ("previous_application", 2, "SK_ID_CURR", "", "missing value in a key column"),
    ],
)
def test_bad_value_names_file_column_row_and_value(
    raw: Path, table: str, row: int, column: str, value: str, expected: str
) -> None:
    path = corrupt(raw, table, row, column, value)
    message = failure(raw)
    assert str(path) in message
    assert f"column {column!r}" in message
    assert expected in message
    shown = "<missing>" if value == "" else value
    assert re.search(rf"row {row}\b[^;]*: '?{re.escape(shown)}'?[;)]", message), message


def test_duplicate_key_names_the_key_and_both_rows(raw: Path) -> None:
    path = corrupt(raw, "application_train", 4, "SK_ID_CURR", "100001")
    message = failure(raw)
    assert str(path) in message and "'SK_ID_CURR'" in message and "duplicate key" in message
    assert "row 2: 100001" in message and "row 4: 100001" in message


def test_duplicate_composite_key_in_bureau_balance(raw: Path) -> None:
    path = corrupt(raw, "bureau_balance", 2, "MONTHS_BALANCE", "0")  # = row 1's key
    message = failure(raw)
    assert str(path) in message and "SK_ID_BUREAU + MONTHS_BALANCE" in message
    assert "row 1: '5000000/0'" in message and "row 2: '5000000/0'" in message


@pytest.mark.parametrize("duplicated", [True, False])
def test_keys_too_far_apart_to_fold_are_still_checked(raw: Path, duplicated: bool) -> None:
    rows = valid_rows("bureau_balance")
    rows[0]["SK_ID_BUREAU"] = rows[3]["SK_ID_BUREAU"] = str(2**62)
    rows[3]["MONTHS_BALANCE"] = "0" if duplicated else "-1"
    write_csv(raw / "bureau_balance.csv", rows)
    if duplicated:
        message = failure(raw)
        assert "duplicate key" in message and "row 1" in message and "row 4" in message
    else:
        assert ingest(raw)["bureau_balance"]["SK_ID_BUREAU"].max() == 2**62


def test_missing_column_is_named(raw: Path) -> None:
    rows = valid_rows("bureau")
    header = [c for c in rows[0] if c != "AMT_CREDIT_SUM"]
    path = write_csv(raw / "bureau.csv", rows, header=header)
    message = failure(raw)
    assert str(path) in message and "missing required column" in message
    assert "AMT_CREDIT_SUM" in message


def test_non_utf8_value_names_file_column_and_row(raw: Path) -> None:
    path = raw / "application_train.csv"
    rows = valid_rows("application_train")
    rows[1]["NAME_TYPE_SUITE"] = "Famille élargie"
    write_csv(path, rows)
    path.write_bytes(path.read_bytes().decode("utf-8").encode("cp1252"))
    message = failure(raw)
    assert str(path) in message and "'NAME_TYPE_SUITE'" in message
    assert "not valid UTF-8" in message and "row 2" in message
    assert "\\xe9" in message  # the offending byte is shown


def test_non_utf8_header_names_the_file(raw: Path) -> None:
    path = raw / "bureau.csv"
    path.write_bytes(b"SK_ID_CURR,D\xe9biteur\n1,2\n")
    message = failure(raw)
    assert str(path) in message and "header is not valid UTF-8" in message


@pytest.mark.parametrize("table", ["application_train", "bureau", "application_test"])
def test_zero_byte_file_fails(raw: Path, table: str) -> None:
    path = raw / f"{table}.csv"
    path.write_bytes(b"")
    message = failure(raw)
    assert str(path) in message and "empty (0 bytes)" in message


def test_header_only_application_train_fails(raw: Path) -> None:
    path = write_csv(
        raw / "application_train.csv", [], table_schema("application_train").column_names
    )
    message = failure(raw)
    assert str(path) in message and "no data rows" in message


def test_malformed_row_names_file_and_row(raw: Path) -> None:
    path = raw / "installments_payments.csv"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 2)[0]  # data row 3 loses two fields
    path.write_text("\n".join(lines) + "\n")
    message = failure(raw)
    assert str(path) in message and "malformed CSV row" in message
    assert "row 3: 6 fields instead of 8" in message


def test_error_lists_at_most_five_rows_and_the_total(raw: Path) -> None:
    rows = valid_rows("bureau_balance", n=40)
    for row in rows[5:25]:
        row["STATUS"] = "?"
    path = write_csv(raw / "bureau_balance.csv", rows)
    with pytest.raises(IngestError) as info:
        ingest(raw)
    err = info.value
    assert err.path == path and err.column == "STATUS" and err.n_bad == 20
    assert len(err.examples) == 5 and err.examples[0].startswith("row 6 ")


# --------------------------------------------------------------------------- the stage


def test_stage_writes_parquet_and_fails_with_status_1(
    raw: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(f"data:\n  raw_dir: {raw}\n")
    out = tmp_path / "interim"
    with caplog.at_level(logging.INFO):
        assert stage.main(["--params", str(params), "--out", str(out)]) == 0
    assert len(list(out.glob("*.parquet"))) == 8
    assert "application_train: 4 rows x 122 columns" in caplog.text
    assert "TARGET=1 for 50.00%" in caplog.text
    corrupt(raw, "bureau", 2, "CREDIT_TYPE", "Spaceship loan")
    caplog.clear()
    assert stage.main(["--params", str(params), "--out", str(tmp_path / "o2")]) == 1
    assert "bureau.csv: column 'CREDIT_TYPE'" in caplog.text


# --------------------------------------------------------------------------- real Kaggle rows


def copy_as(pairs: dict[str, Path], raw_dir: Path) -> Path:
    raw_dir.mkdir()
    for name, src in pairs.items():
        shutil.copyfile(src, raw_dir / name)
    return raw_dir


def assert_same_values(got: pd.Series, want: pd.Series, where: str) -> None:
    """Numbers compared exactly (NaN = NaN), text compared with missing as None."""
    if pd.api.types.is_numeric_dtype(got):
        np.testing.assert_array_equal(
            got.astype("float64").to_numpy(), want.astype("float64").to_numpy(), err_msg=where
        )
    else:
        as_list = [None if pd.isna(v) else v for v in got.astype(object)]
        assert as_list == [None if pd.isna(v) else v for v in want.astype(object)], where


@needs_real
def test_real_head_rows_pass_with_values_intact(tmp_path: Path) -> None:
    raw_dir = copy_as({f"{t}.csv": REAL / "head" / f"{t}.csv" for t in ALL_TABLES}, tmp_path / "r")
    before = snapshot(raw_dir)
    frames = ingest(raw_dir)
    assert snapshot(raw_dir) == before
    for table, frame in frames.items():
        assert_typed(frame, table)
        expected = pd.read_csv(
            raw_dir / f"{table}.csv",
            keep_default_na=False,
            na_values=[""],
            float_precision="round_trip",
        )
        assert len(frame) == len(expected) == 199
        for col in frame.columns:
            assert_same_values(frame[col], expected[col], f"{table}.{col}")


@needs_real
def test_real_random_samples_pass(tmp_path: Path) -> None:
    files = {f"{t}.csv": REAL / "random_sample" / f"{t}.csv" for t in HISTORY_TABLES}
    files["application_train.csv"] = REAL / "random_sample" / "application_train.csv"
    frames = ingest(copy_as(files, tmp_path / "r"))
    for table in [*HISTORY_TABLES, "application_train"]:
        assert len(frames[table]) == 1000
        assert_typed(frames[table], table)
    assert frames["application_test"].empty


@needs_real
def test_real_gz_application_files_pass(tmp_path: Path) -> None:
    raw_dir = copy_as(
        {
            "application_train.csv.gz": REAL / "application_train_sample.csv.gz",
            "application_test.csv.gz": REAL / "application_test.csv.gz",
        },
        tmp_path / "r",
    )
    frames = ingest(raw_dir)
    train, test = frames["application_train"], frames["application_test"]
    assert (len(train), len(test)) == (16_136, 48_744)
    assert_typed(train, "application_train")
    assert_typed(test, "application_test")
    assert summarize("application_train", train).target_rate == pytest.approx(0.081, abs=0.001)
    # the pensioner sentinel is an ordinary int here: ingest validates, it does not clean
    assert (train["DAYS_EMPLOYED"] == 365243).any()
