"""Build ``scoring/resources/synth_calibration.json`` from the real Home Credit rows.

Run by a maintainer when the calibration should change::

    .venv/bin/python tools/build_synth_calibration.py ../shared/data/homecredit

The synthetic generator (``scoring/synth``) never reads real rows: it reads only the JSON this
script writes, which holds *derived statistics* -- level frequencies, missing rates, quantiles on a
fixed probability grid, rounding habits, a few within-row ratios, each text level's default rate
and the smoothed log-odds effect on TARGET of a few application fields (the generator's
structural "demographic risk"). No row of the real data is copied.

Why these statistics: they are what a downstream pipeline notices (levels, NaN rates, ranges,
sentinels, atoms such as ``135000.0``), while the joint structure that matters for modelling
(risk, key integrity, coherent dates and amounts) is written explicitly in the generator.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Probability grids of the stored quantile vectors: "fine" for the 17 k application rows (dense
#: enough to keep atoms such as 135000.0 of >= 1 % mass), "coarse" for the 1 000-row history
#: samples, where finer quantiles would only record noise.
GRIDS: dict[str, list[float]] = {
    "fine": [0.0, 0.001, 0.005, *[i / 100 for i in range(1, 100)], 0.995, 0.999, 1.0],
    "coarse": [0.0, 0.01, 0.025, *[i / 20 for i in range(1, 20)], 0.975, 0.99, 1.0],
}
#: Numeric columns with at most this many distinct values are stored as value frequencies.
MAX_DISCRETE = 100
#: Rounding quanta tried, largest first (Kaggle amounts are often multiples of 4 500 or 2 250).
QUANTA = [45000.0, 22500.0, 4500.0, 2250.0, 450.0, 225.0, 45.0, 22.5, 4.5, 1.0, 0.5]
SENTINEL = 365243

# Application columns profiled separately for the two employment groups, because the
# DAYS_EMPLOYED = 365243 sentinel (pensioners, unemployed) changes them completely.
GROUP_COLUMNS = [
    "CODE_GENDER",
    "FLAG_OWN_CAR",
    "FLAG_OWN_REALTY",
    "CNT_CHILDREN",
    "AMT_INCOME_TOTAL",
    "NAME_TYPE_SUITE",
    "NAME_INCOME_TYPE",
    "NAME_EDUCATION_TYPE",
    "NAME_FAMILY_STATUS",
    "NAME_HOUSING_TYPE",
    "DAYS_BIRTH",
    "DAYS_EMPLOYED",
    "DAYS_REGISTRATION",
    "DAYS_ID_PUBLISH",
    "OWN_CAR_AGE",
    "FLAG_WORK_PHONE",
    "FLAG_PHONE",
    "FLAG_EMAIL",
    "OCCUPATION_TYPE",
    "REG_REGION_NOT_LIVE_REGION",
    "REG_REGION_NOT_WORK_REGION",
    "LIVE_REGION_NOT_WORK_REGION",
    "REG_CITY_NOT_LIVE_CITY",
    "REG_CITY_NOT_WORK_CITY",
    "LIVE_CITY_NOT_WORK_CITY",
    "ORGANIZATION_TYPE",
    "EXT_SOURCE_1",
    "EXT_SOURCE_2",
    "EXT_SOURCE_3",
    "DAYS_LAST_PHONE_CHANGE",
    "FLAG_DOCUMENT_3",
    "FLAG_DOCUMENT_6",
    "FLAG_DOCUMENT_8",
]

# Fields with a *direct* effect on the synthetic default risk (the generator adds the real
# log-odds effect of each, weighted); the other fields (education, occupation, income...) act
# through the client's socio-economic factor instead. See scoring/synth/application.py.
RISK_CATEGORICAL = [
    "NAME_CONTRACT_TYPE",
    "CODE_GENDER",
    "NAME_INCOME_TYPE",
    "NAME_FAMILY_STATUS",
    "REGION_RATING_CLIENT_W_CITY",
    "REG_CITY_NOT_WORK_CITY",
    "FLAG_DOCUMENT_3",
    "FLAG_WORK_PHONE",
]
RISK_BINNED = [
    "DAYS_BIRTH",
    "DAYS_EMPLOYED",
    "DAYS_REGISTRATION",
    "DAYS_ID_PUBLISH",
    "DAYS_LAST_PHONE_CHANGE",
    "ANNUITY_RATE",
    "GOODS_RATIO",
    "CNT_CHILDREN",
]
RISK_BINS = 8


def _round(x: float, sig: int = 7) -> float:
    """Round to ``sig`` significant digits: keeps the JSON small, loses nothing that matters."""
    if x == 0 or not math.isfinite(x):
        return float(x)
    return float(f"{x:.{sig}g}")


def _decimals(v: np.ndarray) -> int | None:
    """Fewest decimals (0-6) that write >= 99 % of the values exactly; None = full precision."""
    for d in range(7):
        scaled = v * 10**d
        if (
            np.mean(np.abs(scaled - np.round(scaled)) < 1e-6 * np.maximum(1, np.abs(scaled)))
            >= 0.99
        ):
            return d
    return None


def _quantum(v: np.ndarray) -> tuple[float, float] | None:
    """Largest 'round number' step that at least half the values are multiples of."""
    nz = v[v != 0]
    if nz.size == 0:
        return None
    for q in QUANTA:
        share = float(np.mean(np.abs(nz / q - np.round(nz / q)) < 1e-9))
        if share >= 0.5:
            return q, share
    return None


def profile(s: pd.Series, grid: str = "coarse") -> dict[str, Any]:
    """Marginal profile of one column: missing rate plus levels, value frequencies or quantiles."""
    miss = float(s.isna().mean())
    v = s.dropna()
    out: dict[str, Any] = {"missing": _round(miss, 5)}
    if v.empty:
        out["kind"] = "empty"
        return out
    if v.dtype == object:
        freq = v.value_counts(normalize=True)
        out.update(kind="cat", levels=list(freq.index), p=[_round(p, 6) for p in freq.values])
        return out
    arr = v.to_numpy(dtype=float)
    sentinel = arr == SENTINEL
    if sentinel.any():
        out["sentinel"] = _round(float(sentinel.mean()), 5)
        arr = arr[~sentinel]
        if arr.size == 0:
            out["kind"] = "empty"
            return out
    uniq = np.unique(arr)
    if uniq.size <= MAX_DISCRETE:
        vals, counts = np.unique(arr, return_counts=True)
        out.update(
            kind="discrete",
            values=[_round(x, 10) for x in vals],
            p=[_round(c / arr.size, 6) for c in counts],
        )
        return out
    out.update(
        kind="cont",
        grid=grid,
        q=[_round(x) for x in np.quantile(arr, GRIDS[grid])],
        decimals=_decimals(arr),
    )
    quantum = _quantum(arr)
    if quantum is not None:
        out["quantum"] = [quantum[0], _round(quantum[1], 4)]
    return out


def profiles(
    df: pd.DataFrame, columns: list[str] | None = None, grid: str = "coarse"
) -> dict[str, Any]:
    cols = columns if columns is not None else list(df.columns)
    out = {c: profile(df[c], grid) for c in cols}
    if "TARGET" in df.columns:
        # Default rate per level: the generator lines levels up along the client's socio-economic
        # factor in this order, so that e.g. "Lower secondary" goes with riskier clients.
        for c in cols:
            if out[c]["kind"] == "cat":
                # shrunk towards the overall rate: rare levels do not get 0 % or 50 %
                g = df.groupby(df[c])["TARGET"].agg(["sum", "count"])
                rate = (g["sum"] + 50 * df["TARGET"].mean()) / (g["count"] + 50)
                out[c]["target_rate"] = [_round(float(rate[lv]), 4) for lv in out[c]["levels"]]
    return out


def segments(df: pd.DataFrame, key: pd.Series, min_rows: int = 10) -> dict[str, Any]:
    """Per-segment share and column profiles; segments with < min_rows rows are dropped."""
    out: dict[str, Any] = {}
    for name, part in df.groupby(key, sort=True):
        if len(part) < min_rows:
            continue
        out[str(name)] = {
            "share": _round(len(part) / len(df), 6),
            "n": len(part),
            "columns": profiles(part),
        }
    return out


def read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, keep_default_na=False, na_values=[""], low_memory=False)


# --------------------------------------------------------------------------------- application
def _with_ratios(app: pd.DataFrame) -> pd.DataFrame:
    out = app.copy()
    out["ANNUITY_RATE"] = out["AMT_ANNUITY"] / out["AMT_CREDIT"]
    out["GOODS_RATIO"] = out["AMT_GOODS_PRICE"] / out["AMT_CREDIT"]
    return out


def _logodds(rate: pd.Series, base: float) -> list[float]:
    r = rate.clip(1e-4, 1 - 1e-4)
    return [_round(float(x), 4) for x in np.log(r / (1 - r)) - math.log(base / (1 - base))]


def _shrunk_rate(y: pd.Series, key: pd.Series, base: float, k: float = 50.0) -> pd.Series:
    g = y.groupby(key).agg(["sum", "count"])
    return (g["sum"] + k * base) / (g["count"] + k)


def risk_effects(app: pd.DataFrame) -> dict[str, Any]:
    """Real log-odds effect of each direct risk field, per level or per quantile bin.

    Effects are marginal (not adjusted for other fields) and shrunk towards 0 for small groups.
    Numeric fields are binned within each employment group, because age or employment length
    mean different things for pensioners (the DAYS_EMPLOYED = 365243 sentinel group).
    """
    y = app["TARGET"]
    base = float(y.mean())
    sentinel = app["DAYS_EMPLOYED"] == SENTINEL
    out: dict[str, Any] = {"base_rate": _round(base, 5), "categorical": {}, "binned": {}}
    for col in RISK_CATEGORICAL:
        x = app[col].astype(object).where(app[col].notna(), "NA").astype(str)
        rate = _shrunk_rate(y, x, base)
        out["categorical"][col] = {"levels": list(rate.index), "logodds": _logodds(rate, base)}
    for col in RISK_BINNED:
        per_group = {}
        for group, mask in (("employed", ~sentinel), ("sentinel", sentinel)):
            x = app.loc[mask, col].replace(SENTINEL, np.nan)
            if x.notna().sum() < 200:
                continue
            yg = y[mask]
            gbase = float(yg.mean())
            edges = np.unique(np.quantile(x.dropna(), np.linspace(0, 1, RISK_BINS + 1)[1:-1]))
            idx = pd.Series(np.searchsorted(edges, x, side="right"), index=x.index)
            rate = _shrunk_rate(yg[x.notna()], idx[x.notna()], gbase)
            na = float(x.isna().mean())
            lo = np.asarray(_logodds(rate.reindex(range(len(edges) + 1), fill_value=gbase), gbase))
            if lo.size >= 3:  # smooth along the bins: keeps the trend, drops bin-level noise
                padded = np.concatenate([lo[:1], lo, lo[-1:]])
                lo = 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]
            per_group[group] = {
                "edges": [_round(e) for e in edges],
                "logodds": [_round(float(v), 4) for v in lo],
                "na": _logodds(
                    pd.Series([_shrunk_rate(yg, x.isna(), gbase).get(True, gbase)]), gbase
                )[0]
                if na > 0
                else 0.0,
            }
        out["binned"][col] = per_group
    return out


def build_application(src: Path) -> dict[str, Any]:
    frames = [
        read(src / "application_train_sample.csv.gz"),
        read(src / "random_sample" / "application_train.csv"),
    ]
    app = pd.concat(frames, ignore_index=True).drop_duplicates("SK_ID_CURR")
    app = _with_ratios(app)
    sentinel = app["DAYS_EMPLOYED"] == SENTINEL
    columns = [c for c in app.columns if c not in ("SK_ID_CURR", "TARGET")]
    groups = {
        name: {
            "share": _round(float(mask.mean()), 6),
            "columns": profiles(app[mask], GROUP_COLUMNS, "fine"),
        }
        for name, mask in (("employed", ~sentinel), ("sentinel", sentinel))
    }
    contract = {}
    for name, part in app.groupby("NAME_CONTRACT_TYPE"):
        contract[str(name)] = profiles(
            part, ["AMT_CREDIT", "AMT_GOODS_PRICE", "ANNUITY_RATE", "GOODS_RATIO"], "fine"
        )
    return {
        "n_rows": len(app),
        "target_rate": _round(float(app["TARGET"].mean()), 5),
        "columns": profiles(app, columns, "fine"),
        "groups": groups,
        "by_contract": contract,
        "risk_effects": risk_effects(app),
    }


# ------------------------------------------------------------------------------------ history
def build_bureau(src: Path) -> dict[str, Any]:
    b = read(src / "random_sample" / "bureau.csv")
    b["TERM"] = b["DAYS_CREDIT_ENDDATE"] - b["DAYS_CREDIT"]
    b["FACT_TERM"] = b["DAYS_ENDDATE_FACT"] - b["DAYS_CREDIT"]
    b["UPDATE_LAG"] = b["DAYS_CREDIT_UPDATE"] - b["DAYS_ENDDATE_FACT"].fillna(b["DAYS_CREDIT"])
    b["DEBT_RATIO"] = (b["AMT_CREDIT_SUM_DEBT"] / b["AMT_CREDIT_SUM"]).where(
        b["AMT_CREDIT_SUM"] > 0
    )
    key = b["CREDIT_ACTIVE"].where(b["CREDIT_ACTIVE"].isin(["Active", "Closed"]), "Other")
    by_type = (
        b[b["AMT_CREDIT_SUM"] > 0].groupby("CREDIT_TYPE")["AMT_CREDIT_SUM"].median()
        / b.loc[b["AMT_CREDIT_SUM"] > 0, "AMT_CREDIT_SUM"].median()
    )
    counts = b["CREDIT_TYPE"].value_counts()
    return {
        "columns": profiles(b.drop(columns=["SK_ID_CURR", "SK_ID_BUREAU"])),
        "by_active": segments(b.drop(columns=["SK_ID_CURR", "SK_ID_BUREAU"]), key),
        "credit_sum_scale_by_type": {
            k: _round(float(v), 4) for k, v in by_type.items() if counts.get(k, 0) >= 5
        },
    }


def build_previous(src: Path) -> dict[str, Any]:
    p = read(src / "random_sample" / "previous_application.csv")
    p["CREDIT_TO_APPLICATION"] = (p["AMT_CREDIT"] / p["AMT_APPLICATION"]).where(
        p["AMT_APPLICATION"] > 0
    )
    p["ANNUITY_FACTOR"] = (p["AMT_ANNUITY"] * p["CNT_PAYMENT"] / p["AMT_CREDIT"]).where(
        (p["AMT_CREDIT"] > 0) & (p["CNT_PAYMENT"] > 0)
    )
    p["FIRST_DUE_LAG"] = (p["DAYS_FIRST_DUE"] - p["DAYS_DECISION"]).where(
        p["DAYS_FIRST_DUE"] != SENTINEL
    )
    p["TERMINATION_LAG"] = (p["DAYS_TERMINATION"] - p["DAYS_LAST_DUE"]).where(
        (p["DAYS_TERMINATION"] != SENTINEL) & (p["DAYS_LAST_DUE"] != SENTINEL)
    )
    p["EARLY_REPAYMENT"] = (p["DAYS_LAST_DUE_1ST_VERSION"] - p["DAYS_LAST_DUE"]).where(
        (p["DAYS_LAST_DUE"] != SENTINEL) & (p["DAYS_LAST_DUE_1ST_VERSION"] != SENTINEL)
    )
    data = p.drop(columns=["SK_ID_PREV", "SK_ID_CURR"])
    key = p["NAME_CONTRACT_TYPE"] + "|" + p["NAME_CONTRACT_STATUS"]
    return {
        "columns": profiles(data),
        "by_type": segments(data, p["NAME_CONTRACT_TYPE"]),
        "by_type_status": segments(data, key),
    }


def build_installments(src: Path) -> dict[str, Any]:
    """Payment delays (days after the due date) and the paid share of short payments."""
    ins = read(src / "random_sample" / "installments_payments.csv")
    delay = ins["DAYS_ENTRY_PAYMENT"] - ins["DAYS_INSTALMENT"]
    ratio = (ins["AMT_PAYMENT"] / ins["AMT_INSTALMENT"]).where(ins["AMT_INSTALMENT"] > 0)
    return {
        "late_delay": profile(delay[delay > 0]),
        "early_delay": profile(delay[delay <= 0]),
        "pay_ratio_when_short": profile(ratio[ratio < 0.999]),
    }


def build_credit_card(src: Path) -> dict[str, Any]:
    """Card limits and monthly utilisation (balance / limit)."""
    cc = read(src / "random_sample" / "credit_card_balance.csv")
    pos_limit = cc[cc["AMT_CREDIT_LIMIT_ACTUAL"] > 0]
    util = pos_limit["AMT_BALANCE"] / pos_limit["AMT_CREDIT_LIMIT_ACTUAL"]
    return {
        "utilisation": profile(util),
        "positive_limit": profile(pos_limit["AMT_CREDIT_LIMIT_ACTUAL"]),
    }


def build(src: Path) -> dict[str, Any]:
    return {
        "about": (
            "Derived statistics of the real Home Credit rows (frequencies, missing rates, "
            "quantiles on `grids`, rounding habits, per-level default rates, smoothed log-odds "
            "effects). Built by tools/build_synth_calibration.py; read by scoring/synth. "
            "Contains no real row."
        ),
        "grids": GRIDS,
        "application": build_application(src),
        "bureau": build_bureau(src),
        "previous_application": build_previous(src),
        "installments_payments": build_installments(src),
        "credit_card_balance": build_credit_card(src),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", type=Path, nargs="?", default=Path("../shared/data/homecredit"))
    default_dst = Path(__file__).resolve().parents[1] / "scoring/resources/synth_calibration.json"
    parser.add_argument("--out", type=Path, default=default_dst)
    args = parser.parse_args()
    if not (args.src / "application_train_sample.csv.gz").exists():
        raise SystemExit(f"{args.src}: no application_train_sample.csv.gz (real rows folder?)")
    calib = build(args.src)
    args.out.write_text(json.dumps(calib, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
