"""Data contracts of the synthetic Home Credit generator (scoring/synth, stages/generate).

What a user of the embedded default data relies on: the 8 files look exactly like Kaggle's
(names, columns, order, text format, levels), keys join, the same seed gives the same bytes, the
Kaggle quirks are there (DAYS_EMPLOYED = 365243, XNA), defaults are ~8 % and visible in both the
application and the history tables, and application_test is mildly shifted.

One 2 000-client CSV set is generated per module; checks that need more clients for a stable
number use the (fast) application generator alone, or one 8 000-client parquet set. Comparisons
with the real Kaggle heads skip with a reason when ../shared/data/homecredit is absent.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
import yaml

from scoring.schema import ALL_TABLES, DAYS_SENTINEL, table_schema
from scoring.synth import default_n_test, generate
from scoring.synth.__main__ import main as cli_main
from scoring.synth.application import Applications, generate_applications
from scoring.synth.calibration import Cat, load_calibration
from scoring.synth.writer import to_frame, write_table
from stages import generate as stage

REAL = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "homecredit"
needs_real = pytest.mark.skipif(
    not (REAL / "head").is_dir(),
    reason=f"real Home Credit rows not found at {REAL} (outside the team box)",
)
N, SEED = 2_000, 7
FLOAT_TEXT = re.compile(r"^-?\d+\.\d+$|^-?\d(\.\d+)?e-\d\d$")  # 1.0, -1180.0, 7.3e-05
INT_TEXT = re.compile(r"^-?\d+$")


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth_csv")
    generate(N, SEED, out)
    return out


@pytest.fixture(scope="module")
def tables(raw: Path) -> dict[str, pd.DataFrame]:
    """Every file parsed the way a user would (pandas, empty field = missing)."""
    return {t: pd.read_csv(raw / f"{t}.csv", float_precision="round_trip") for t in ALL_TABLES}


@pytest.fixture(scope="module")
def big_apps() -> Applications:
    """20 000 train + Kaggle-ratio test clients, application table only (~1 s)."""
    return generate_applications(load_calibration(), np.random.default_rng(11), 20_000, 3_170)


def frame(apps: Applications) -> pd.DataFrame:
    return pd.DataFrame(
        {k: (v.values() if isinstance(v, Cat) else v) for k, v in apps.columns.items()}
    ).assign(is_test=apps.clients.is_test)


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


# ------------------------------------------------------------------------------ files & schema
def test_writes_the_eight_kaggle_files_with_kaggle_row_counts(raw: Path) -> None:
    assert sorted(p.name for p in raw.iterdir()) == sorted(f"{t}.csv" for t in ALL_TABLES)
    n_train = sum(1 for _ in (raw / "application_train.csv").open()) - 1
    n_test = sum(1 for _ in (raw / "application_test.csv").open()) - 1
    assert (n_train, n_test) == (N, default_n_test(N)) == (N, round(N * 48744 / 307511))


@needs_real
@pytest.mark.parametrize("table", ALL_TABLES)
def test_header_and_dtypes_match_the_real_kaggle_head(
    raw: Path, tables: dict[str, pd.DataFrame], table: str
) -> None:
    header = (raw / f"{table}.csv").read_text().splitlines()[0]
    assert header == (REAL / "head" / f"{table}.csv").read_text().splitlines()[0]
    real = pd.read_csv(REAL / "head" / f"{table}.csv")
    syn = tables[table]
    for col in real.columns:
        r, s = real[col], syn[col]
        if s.isna().all() or r.isna().all():
            continue  # an all-empty column parses as float whatever its family
        assert r.dtype.kind == s.dtype.kind, f"{table}.{col}: {s.dtype} vs real {r.dtype}"


@pytest.mark.parametrize("table", ALL_TABLES)
def test_text_format_is_kaggles(raw: Path, table: str) -> None:
    """ints without a decimal point, floats like 1.0 / -1180.0 / 7.3e-05, empty = missing."""
    text = pl.read_csv(raw / f"{table}.csv", infer_schema=False)
    for spec in table_schema(table).columns:
        values = text[spec.name].drop_nulls()
        if spec.dtype == "int":
            bad = values.filter(~values.str.contains(INT_TEXT.pattern))
        elif spec.dtype == "float":
            bad = values.filter(~values.str.contains(FLOAT_TEXT.pattern))
        else:
            bad = values.filter(values.str.strip_chars() == "")
        assert bad.is_empty(), f"{table}.{spec.name}: badly written values {bad.head(3).to_list()}"


def test_pandas_round_trip_is_byte_identical(raw: Path) -> None:
    """Kaggle wrote its CSVs with pandas: re-writing our parsed file with pandas changes nothing."""
    for table in ("application_train", "previous_application", "installments_payments"):
        path = raw / f"{table}.csv"
        dtypes = {
            c.name: (str if c.dtype == "str" else float)
            for c in table_schema(table).columns
            if c.dtype != "int"
        }
        df = pd.read_csv(
            path, dtype=dtypes, keep_default_na=False, na_values=[""], float_precision="round_trip"
        )
        assert df.to_csv(index=False, lineterminator="\n") == path.read_text(), table


def test_tiny_floats_are_written_like_python(tmp_path: Path) -> None:
    cols: dict[str, np.ndarray | Cat] = {
        c.name: np.zeros(2, dtype=np.int64) for c in table_schema("bureau_balance").columns
    }
    cols["STATUS"] = Cat(np.array([0, -1], dtype=np.int16), ("C",))
    cols.pop("MONTHS_BALANCE")
    cols["MONTHS_BALANCE"] = np.array([0, -1])
    frame_ = to_frame("bureau_balance", cols)
    assert frame_["STATUS"].to_list() == ["C", None]
    inst = {c.name: np.array([1.0, 2.0]) for c in table_schema("installments_payments").columns}
    inst["AMT_PAYMENT"] = np.array([7.364388802457114e-05, np.nan])
    for key in ("SK_ID_PREV", "SK_ID_CURR", "NUM_INSTALMENT_NUMBER"):
        inst[key] = np.array([1, 2])
    path = write_table(to_frame("installments_payments", inst), tmp_path / "i.csv", "csv")
    assert path.read_text().splitlines()[1:] == [
        "1,1,1.0,1,1.0,1.0,1.0,7.364388802457114e-05",
        "2,2,2.0,2,2.0,2.0,2.0,",
    ]


def test_every_text_value_is_an_allowed_kaggle_level(tables: dict[str, pd.DataFrame]) -> None:
    for table, df in tables.items():
        for spec in table_schema(table).columns:
            if spec.dtype != "str":
                continue
            seen = set(df[spec.name].dropna().unique())
            assert seen <= set(spec.levels or ()), (
                f"{table}.{spec.name}: {seen - set(spec.levels or ())}"
            )


def test_schema_mismatch_fails_loudly() -> None:
    cols: dict[str, np.ndarray | Cat] = {
        c.name: np.zeros(1) for c in table_schema("bureau_balance").columns
    }
    with pytest.raises(ValueError, match="missing=\\['STATUS'\\]"):
        to_frame("bureau_balance", {k: v for k, v in cols.items() if k != "STATUS"})
    cols["STATUS"] = Cat(np.array([0], dtype=np.int16), ("Z",))
    with pytest.raises(ValueError, match=r"bureau_balance.STATUS: levels \['Z'\]"):
        to_frame("bureau_balance", cols)


# ------------------------------------------------------------------------------ reproducibility
def test_same_seed_gives_byte_identical_files_and_another_seed_does_not(
    raw: Path, tmp_path: Path
) -> None:
    generate(N, SEED, tmp_path / "again")
    assert digest(tmp_path / "again") == digest(raw)
    generate(N, SEED + 1, tmp_path / "other")
    other = digest(tmp_path / "other")
    assert all(other[name] != h for name, h in digest(raw).items())


@pytest.mark.parametrize("fmt", ["csv.gz", "parquet"])
def test_other_formats_hold_the_same_data(tmp_path: Path, fmt: str) -> None:
    generate(300, 3, tmp_path / "csv")
    paths = generate(300, 3, tmp_path / fmt, fmt)  # type: ignore[arg-type]
    generate(300, 3, tmp_path / f"{fmt}-again", fmt)  # type: ignore[arg-type]
    assert digest(tmp_path / fmt) == digest(tmp_path / f"{fmt}-again")
    for table, path in paths.items():
        assert path.name == f"{table}.{fmt}"
        ours = pl.read_parquet(path) if fmt == "parquet" else pl.read_csv(path)
        ref = pl.read_csv(tmp_path / "csv" / f"{table}.csv")
        assert ours.columns == ref.columns
        assert ours.height == ref.height
        assert ours.select(pl.all().null_count()).row(0) == ref.select(pl.all().null_count()).row(
            0
        ), table


# ------------------------------------------------------------------------------ keys
def test_keys_are_unique_and_history_joins(tables: dict[str, pd.DataFrame]) -> None:
    train, test = tables["application_train"], tables["application_test"]
    clients = set(train.SK_ID_CURR) | set(test.SK_ID_CURR)
    assert train.SK_ID_CURR.is_unique and test.SK_ID_CURR.is_unique
    assert len(clients) == len(train) + len(test)  # train and test clients are distinct
    bureau, bb = tables["bureau"], tables["bureau_balance"]
    prev = tables["previous_application"]
    assert bureau.SK_ID_BUREAU.is_unique and prev.SK_ID_PREV.is_unique
    assert not bb.duplicated(["SK_ID_BUREAU", "MONTHS_BALANCE"]).any()
    assert set(bureau.SK_ID_CURR) <= clients and set(prev.SK_ID_CURR) <= clients
    assert set(bb.SK_ID_BUREAU) <= set(bureau.SK_ID_BUREAU)
    pairs = set(zip(prev.SK_ID_PREV, prev.SK_ID_CURR, strict=True))
    for table in ("POS_CASH_balance", "installments_payments", "credit_card_balance"):
        df = tables[table]
        assert set(zip(df.SK_ID_PREV, df.SK_ID_CURR, strict=True)) <= pairs, table
    for df in (bureau, prev):  # history exists for both train and test clients
        assert set(df.SK_ID_CURR) & set(train.SK_ID_CURR)
        assert set(df.SK_ID_CURR) & set(test.SK_ID_CURR)


def test_some_clients_have_no_history_and_volumes_are_kaggle_like(
    tables: dict[str, pd.DataFrame],
) -> None:
    ids = pd.concat([tables["application_train"].SK_ID_CURR, tables["application_test"].SK_ID_CURR])
    bureau, prev = tables["bureau"], tables["previous_application"]
    with_bureau = ids.isin(bureau.SK_ID_CURR).mean()
    with_prev = ids.isin(prev.SK_ID_CURR).mean()
    assert 0.80 < with_bureau < 0.92  # Kaggle 86 %
    assert 0.91 < with_prev < 0.98  # Kaggle 95 %
    assert 4.6 < bureau.groupby("SK_ID_CURR").size().mean() < 6.6  # Kaggle 5.6
    assert 4.0 < prev.groupby("SK_ID_CURR").size().mean() < 5.8  # Kaggle 4.9
    months = len(tables["bureau_balance"]) / len(bureau)
    assert 10 < months < 22  # Kaggle 27.3 M / 1.72 M = 15.9
    assert len(tables["POS_CASH_balance"]) > 5 * len(prev)  # several months per loan
    cc_clients = tables["credit_card_balance"].SK_ID_CURR.nunique() / len(ids)
    assert 0.1 < cc_clients < 0.4  # Kaggle 29 %


# ------------------------------------------------------------------------------ Kaggle quirks
def test_sentinel_marks_pensioners_and_xna_is_present(tables: dict[str, pd.DataFrame]) -> None:
    app = tables["application_train"]
    sentinel = app.DAYS_EMPLOYED == DAYS_SENTINEL
    assert 0.13 < sentinel.mean() < 0.23  # Kaggle ~18 %
    assert (app.ORGANIZATION_TYPE == "XNA").eq(sentinel).all()
    assert (app.FLAG_EMP_PHONE == 0).eq(sentinel).all()
    assert app.OCCUPATION_TYPE[sentinel].isna().all()
    assert app.NAME_INCOME_TYPE[sentinel].isin(["Pensioner", "Unemployed"]).all()
    assert (app.CODE_GENDER == "XNA").sum() >= 1
    assert (app.DAYS_BIRTH[sentinel].mean() / -365.25) > 55  # pensioners are old
    prev = tables["previous_application"]
    assert (prev.DAYS_FIRST_DRAWING == DAYS_SENTINEL).any()


def test_correlated_fields_are_coherent(tables: dict[str, pd.DataFrame]) -> None:
    app = tables["application_train"]
    assert (app.CNT_FAM_MEMBERS >= app.CNT_CHILDREN + 1).all()
    assert (app.AMT_GOODS_PRICE <= app.AMT_CREDIT * 1.001).mean() > 0.9
    cash = app[app.NAME_CONTRACT_TYPE == "Cash loans"]
    rate = cash.AMT_ANNUITY / cash.AMT_CREDIT  # annuity ~ credit / term
    assert rate.between(0.015, 0.13).mean() > 0.98
    revolving = app[app.NAME_CONTRACT_TYPE == "Revolving loans"]
    assert np.allclose(revolving.AMT_ANNUITY, 0.05 * revolving.AMT_CREDIT, atol=0.5)
    for col in ("DAYS_BIRTH", "DAYS_REGISTRATION", "DAYS_ID_PUBLISH", "DAYS_LAST_PHONE_CHANGE"):
        assert (app[col] <= 0).all(), col
    worked = app.DAYS_EMPLOYED != DAYS_SENTINEL
    assert (app.DAYS_EMPLOYED[worked] <= 0).all()
    assert (app.DAYS_EMPLOYED[worked] >= app.DAYS_BIRTH[worked] + 18 * 365).all()
    assert app.OWN_CAR_AGE.notna().eq(app.FLAG_OWN_CAR == "Y").all()
    bureau = tables["bureau"]
    closed = bureau.DAYS_ENDDATE_FACT.notna()
    assert (bureau.DAYS_ENDDATE_FACT[closed] >= bureau.DAYS_CREDIT[closed]).all()
    assert (bureau.DAYS_ENDDATE_FACT[closed] < 0).all() and (bureau.DAYS_CREDIT < 0).all()
    prev = tables["previous_application"]
    due = prev.DAYS_FIRST_DUE.notna() & (prev.DAYS_FIRST_DUE != DAYS_SENTINEL)
    assert (prev.DAYS_FIRST_DUE[due] > prev.DAYS_DECISION[due]).all()
    refused = prev.NAME_CONTRACT_STATUS == "Refused"
    assert (prev.CODE_REJECT_REASON[refused] != "XAP").all()
    assert prev.DAYS_FIRST_DUE[refused].isna().all()
    inst = tables["installments_payments"]
    assert (inst.DAYS_INSTALMENT < 0).all()
    pos = tables["POS_CASH_balance"]
    assert pos.MONTHS_BALANCE.between(-96, -1).all()
    known = pos.CNT_INSTALMENT.notna()
    assert (pos.CNT_INSTALMENT_FUTURE[known] <= pos.CNT_INSTALMENT[known]).all()


# ------------------------------------------------------------------------------ risk & shift
def test_target_rate_is_kaggle_like(big_apps: Applications) -> None:
    target = big_apps.clients.target[~big_apps.clients.is_test]
    assert 0.06 < target.mean() < 0.10  # Kaggle 8.07 %
    assert (big_apps.clients.target[big_apps.clients.is_test] == -1).all()


def test_application_fields_carry_the_risk_in_realistic_directions(big_apps: Applications) -> None:
    app = frame(big_apps)
    train = app[~app.is_test]
    rate = train.groupby(train.EXT_SOURCE_3.rank(pct=True) // 0.2).TARGET.mean()
    assert rate.iloc[0] > 2.5 * rate.iloc[-1]  # lowest EXT_SOURCE_3 fifth defaults far more
    young = train.DAYS_BIRTH > -30 * 365
    assert train.TARGET[young].mean() > train.TARGET[~young].mean()
    edu = train.groupby("NAME_EDUCATION_TYPE").TARGET.mean()
    assert edu["Secondary / secondary special"] > edu["Higher education"]
    region = train.groupby("REGION_RATING_CLIENT_W_CITY").TARGET.mean()
    assert region[3] > region[1]


def test_test_clients_are_mildly_shifted(big_apps: Applications) -> None:
    app = frame(big_apps)
    train, test = app[~app.is_test], app[app.is_test]
    assert 1.05 < test.AMT_CREDIT.mean() / train.AMT_CREDIT.mean() < 1.3
    assert test.DAYS_BIRTH.mean() - train.DAYS_BIRTH.mean() > 365  # > 1 year younger
    revolving = {
        k: (d.NAME_CONTRACT_TYPE == "Revolving loans").mean()
        for k, d in (("train", train), ("test", test))
    }
    assert revolving["test"] < 0.5 * revolving["train"]
    assert test.EXT_SOURCE_3.isna().mean() > train.EXT_SOURCE_3.isna().mean() + 0.05
    # ...but the rest is drawn the same way
    assert abs(test.EXT_SOURCE_2.mean() - train.EXT_SOURCE_2.mean()) < 0.03


@pytest.fixture(scope="module")
def history_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth_parquet")
    generate(8_000, 5, out, "parquet")
    return out


def test_history_tables_show_the_risk(history_set: Path) -> None:
    """Clients with past repayment trouble default more, beyond what the application shows."""
    app = pl.read_parquet(history_set / "application_train.parquet").select("SK_ID_CURR", "TARGET")
    inst = pl.read_parquet(history_set / "installments_payments.parquet")
    late = inst.group_by("SK_ID_CURR").agg(
        ((pl.col("DAYS_ENTRY_PAYMENT") - pl.col("DAYS_INSTALMENT")) > 0).mean().alias("late")
    )
    refused = (
        pl.read_parquet(history_set / "previous_application.parquet")
        .group_by("SK_ID_CURR")
        .agg((pl.col("NAME_CONTRACT_STATUS") == "Refused").mean().alias("refused"))
    )
    bb = pl.read_parquet(history_set / "bureau_balance.parquet").join(
        pl.read_parquet(history_set / "bureau.parquet").select("SK_ID_BUREAU", "SK_ID_CURR"),
        on="SK_ID_BUREAU",
    )
    dpd = bb.group_by("SK_ID_CURR").agg(
        pl.col("STATUS").is_in(["1", "2", "3", "4", "5"]).any().alias("dpd")
    )
    joined = app.join(late, on="SK_ID_CURR", how="left").join(refused, on="SK_ID_CURR", how="left")
    df = joined.join(dpd, on="SK_ID_CURR", how="left").to_pandas()
    for col in ("late", "refused"):
        top = df[col] > df[col].quantile(0.8)
        assert df.TARGET[top].mean() > 1.4 * df.TARGET[~top & df[col].notna()].mean(), col
    with_dpd = df.dpd.eq(True)  # clients without bureau_balance rows: no DPD seen
    assert df.TARGET[with_dpd].mean() > 1.4 * df.TARGET[~with_dpd].mean()


# ------------------------------------------------------------------------------ entry points
def test_cli_writes_the_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cli_main(["--n-clients", "50", "--seed", "1", "--out", str(tmp_path), "--n-test", "5"])
    assert "credit_card_balance" in capsys.readouterr().out
    test_rows = pd.read_csv(tmp_path / "application_test.csv")
    assert len(test_rows) == 5 and "TARGET" not in test_rows.columns


def test_stage_reads_params_and_generates(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        yaml.safe_dump({"seed": 3, "synth": {"n_clients": 40, "n_test": None, "format": "parquet"}})
    )
    with caplog.at_level(logging.INFO):
        stage.main(["--params", str(params), "--out", str(tmp_path / "raw")])
    assert len(list((tmp_path / "raw").glob("*.parquet"))) == 8
    assert pl.read_parquet(tmp_path / "raw" / "application_test.parquet").height == 6


@pytest.mark.parametrize(
    ("synth", "message"),
    [
        ({"n_clients": 0, "n_test": None, "format": "csv"}, "synth.n_clients must be >= 1"),
        ({"n_clients": 10, "n_test": -1, "format": "csv"}, "synth.n_test must be null or >= 0"),
        ({"n_clients": 10, "n_test": None, "format": "xlsx"}, "synth.format must be one of"),
        ({"n_clients": "10", "n_test": None, "format": "csv"}, "n_clients must be an integer"),
        ({"n_clients": 10, "format": "csv"}, "synth section lacks \\['n_test'\\]"),
    ],
)
def test_stage_rejects_bad_params_naming_the_field(synth: dict, message: str) -> None:
    with pytest.raises((ValueError, TypeError, KeyError), match=message):
        stage.GenerateParams.from_params({"seed": 1, "synth": synth})


def test_generate_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_clients must be a positive integer"):
        generate(0, 1, tmp_path)
    with pytest.raises(ValueError, match="format must be one of"):
        generate(10, 1, tmp_path, "xlsx")  # type: ignore[arg-type]
