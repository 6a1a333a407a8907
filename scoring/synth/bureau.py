"""bureau (credits at other institutions) and bureau_balance (their monthly statuses).

Per client: ~86 % have bureau credits, ~5.6 each on average (over-dispersed, more for older
clients). Each credit is Active or Closed (Sold / Bad debt rarely, for risky clients); its
columns follow the calibrated per-status profiles, with coherent dates (DAYS_CREDIT <=
DAYS_ENDDATE_FACT <= DAYS_CREDIT_UPDATE <= 0, nothing before the client turned 18).

Risk shows through: the client's history propensity raises the chance that a credit was ever
overdue (AMT_CREDIT_MAX_OVERDUE > 0), is overdue now (CREDIT_DAY_OVERDUE, AMT_CREDIT_SUM_OVERDUE
for active credits), is a Microloan, went to Bad debt / Sold, and the share of months in DPD
buckets 1-5 in bureau_balance.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from scoring.schema import table_schema
from scoring.synth.application import Clients
from scoring.synth.calibration import Calibration, Cat, SegmentedDraws
from scoring.synth.draws import copula_u, logit, neg_binomial_counts, ragged_index

Column = np.ndarray | Cat


@dataclass(frozen=True)
class BureauParams:
    p_any: float = 0.86  # clients with at least one bureau credit (Kaggle: 305 811 / 356 255)
    mean_extra: float = 4.35  # credits beyond the first, for clients that have any (~5.6)
    dispersion: float = 1.3
    p_balance: float = 0.40  # credits with monthly bureau_balance rows (Kaggle: 27.3 M rows)
    max_months: int = 96
    # risk effects (per sd of the client's history propensity)
    overdue_base: float = 0.09  # share of credits ever overdue (AMT_CREDIT_MAX_OVERDUE > 0)
    overdue_slope: float = 0.7
    current_overdue_share: float = 0.06  # of ever-overdue active credits, overdue today
    active_slope: float = 0.25
    microloan_slope: float = 0.6
    bad_debt_slope: float = 1.0
    dpd_month_rate: float = 0.25  # share of open months in DPD for an ever-overdue credit
    dpd_escalate: float = 0.12  # chance that a DPD month is worse than bucket 1


MONTH = 30.4375  # days
STATUS_LEVELS = ("Active", "Closed", "Sold", "Bad debt")
SEGMENTS = ("Active", "Closed", "Other")  # calibration segments (Sold + Bad debt = "Other")


def generate_bureau(
    calib: Calibration,
    rng: np.random.Generator,
    clients: Clients,
    params: BureauParams | None = None,
) -> Iterator[tuple[str, dict[str, Column]]]:
    """Yield ("bureau", columns) then ("bureau_balance", columns), keyed by Kaggle column name
    (bureau_balance is built once the caller has written bureau)."""
    params = params or BureauParams()
    schema = table_schema("bureau")
    prof = calib.columns("bureau")
    segs = {k: v.columns for k, v in calib.segments("bureau", "by_active").items()}
    n_clients = len(clients)
    risk = clients.history_risk()
    older = (-clients.days_birth - 15_000) / 4_300.0  # age in sd units (Kaggle ~16 000 +- 4 400 d)

    has_any = rng.random(n_clients) < params.p_any
    extra = neg_binomial_counts(
        rng, params.mean_extra * np.exp(0.25 * older - 0.03), params.dispersion
    )
    counts = np.where(has_any, 1 + extra, 0)
    order = rng.permutation(n_clients)  # Kaggle's bureau file is grouped by client, not sorted
    parent_sorted, _ = ragged_index(counts[order])
    owner = order[parent_sorted]
    n = len(owner)
    r = risk[owner]

    # ---- status: Active / Closed / Sold / Bad debt
    shares = {k: calib.segments("bureau", "by_active")[k].share for k in segs}
    p_active = expit(logit(shares["Active"]) + params.active_slope * r)
    p_bad = expit(logit(0.002) + params.bad_debt_slope * r)
    u = rng.random(n)
    status = np.where(u < p_bad, 3, np.where(u < p_bad + p_active * (1 - p_bad), 0, 1))
    # Kaggle: 6 527 "Sold" for 21 "Bad debt"
    status = np.where((status == 3) & (rng.random(n) < 0.99), 2, status)
    seg_of_status = np.array([0, 1, 2, 2])  # Sold and Bad debt share the "Other" profile
    seg_code = seg_of_status[status]
    cols: dict[str, Column] = {}
    cols["SK_ID_CURR"] = clients.sk_id[owner]
    bureau_id = 5_000_000 + np.arange(n, dtype=np.int64)
    cols["SK_ID_BUREAU"] = bureau_id
    cols["CREDIT_ACTIVE"] = Cat(status.astype(np.int16), STATUS_LEVELS)

    seg = SegmentedDraws(rng, seg_code, [segs.get(name) for name in SEGMENTS], prof)

    def seg_num(col: str, u: np.ndarray | None = None, missing: float | None = None) -> np.ndarray:
        return seg.num(col, u, missing=missing)

    def seg_cat(col: str) -> Cat:
        levels = schema.column(col).levels
        assert levels is not None
        return seg.cat(col, levels)

    seg_missing = seg.missing_rate

    cols["CREDIT_CURRENCY"] = seg_cat("CREDIT_CURRENCY")
    ctype = seg_cat("CREDIT_TYPE")
    micro = rng.random(n) < expit(logit(0.006) + params.microloan_slope * r)
    ctype = Cat(
        np.where(micro, ctype.levels.index("Microloan"), ctype.codes).astype(np.int16), ctype.levels
    )
    cols["CREDIT_TYPE"] = ctype

    # ---- dates (days before the application; nothing before the client's 18th birthday)
    adult = clients.days_birth[owner] + 18 * 365
    recent = copula_u(rng, n, (r, 0.15))  # risky clients took credits more recently
    days_credit = np.maximum(np.round(seg_num("DAYS_CREDIT", recent)), np.maximum(adult, -2922))
    days_credit = np.minimum(days_credit, -1)
    term = seg_num("TERM")
    enddate = days_credit + np.abs(np.nan_to_num(term, nan=365.0))
    cols["DAYS_CREDIT_ENDDATE"] = np.where(np.isnan(term), np.nan, np.round(enddate))
    closed = status != 0
    fact_term = np.abs(seg_num("FACT_TERM", missing=0.0))
    room = -1 - days_credit  # a closed credit ended before today
    fact_term = np.where(fact_term > room, np.floor(room * rng.uniform(0.2, 1.0, n)), fact_term)
    fact = days_credit + fact_term
    fact_missing = rng.random(n) < np.where(status == 1, 0.0, 0.75)
    days_fact = np.where(closed & ~fact_missing, fact, np.nan)
    cols["DAYS_ENDDATE_FACT"] = days_fact
    last_event = np.where(closed & ~fact_missing, fact, days_credit)
    lag = np.abs(seg_num("UPDATE_LAG", missing=0.0))
    active_update = -np.abs(seg_num("DAYS_CREDIT_UPDATE"))
    update = np.where(closed, last_event + lag, np.maximum(active_update, days_credit))
    cols["DAYS_CREDIT_UPDATE"] = np.clip(np.round(update), days_credit, 0)
    cols["DAYS_CREDIT"] = days_credit

    # ---- amounts
    scale_by_type = calib.section("bureau", "credit_sum_scale_by_type")
    scale = np.array(
        [
            scale_by_type.get(lv, 1.0) if lv not in ("Consumer credit", "Credit card") else 1.0
            for lv in ctype.levels
        ]
    )[ctype.codes]
    income_z = np.log(clients.income[owner] / 150_000.0) / 0.5
    u_sum = copula_u(rng, n, (np.clip(income_z, -3, 3) / 3, 0.3))
    credit_sum = prof["AMT_CREDIT_SUM"].round(rng, seg_num("AMT_CREDIT_SUM", u_sum) * scale)
    credit_sum = np.where(micro, np.minimum(credit_sum, 90_000.0), credit_sum)
    cols["AMT_CREDIT_SUM"] = credit_sum
    debt_ratio = np.clip(seg_num("DEBT_RATIO", missing=0.0), 0, 1.2)
    debt = np.where(
        status == 0,
        np.round(credit_sum * debt_ratio, 3),
        seg_num("AMT_CREDIT_SUM_DEBT", missing=0.0),
    )
    debt_missing = rng.random(n) < seg_missing("AMT_CREDIT_SUM_DEBT")
    cols["AMT_CREDIT_SUM_LIMIT"] = seg_num("AMT_CREDIT_SUM_LIMIT")
    cols["CNT_CREDIT_PROLONG"] = np.round(seg_num("CNT_CREDIT_PROLONG"))
    cols["AMT_ANNUITY"] = seg_num("AMT_ANNUITY")

    # ---- delinquency: driven by the client's history propensity (plus a credit-level draw)
    ever_late = rng.random(n) < expit(logit(params.overdue_base) + params.overdue_slope * r)
    ever_late |= status >= 2
    max_overdue = np.round(credit_sum * rng.beta(0.6, 8, n), 3)
    max_overdue_missing = rng.random(n) < seg_missing("AMT_CREDIT_MAX_OVERDUE")
    cols["AMT_CREDIT_MAX_OVERDUE"] = np.where(
        max_overdue_missing, np.nan, np.where(ever_late, max_overdue, 0.0)
    )
    p_now = params.current_overdue_share * 2 * expit(r)
    now_late = (status == 0) & ever_late & (rng.random(n) < p_now)
    day_overdue = np.where(now_late, 1 + np.round(rng.exponential(60, n)), 0)
    cols["CREDIT_DAY_OVERDUE"] = np.minimum(day_overdue, 2792)
    overdue_amt = np.where(now_late, np.round(np.nan_to_num(debt) * rng.beta(0.5, 12, n), 3), 0.0)
    cols["AMT_CREDIT_SUM_OVERDUE"] = overdue_amt
    cols["AMT_CREDIT_SUM_DEBT"] = np.where(debt_missing & ~now_late, np.nan, debt)

    yield "bureau", cols
    del cols
    yield (
        "bureau_balance",
        _bureau_balance(rng, params, bureau_id, days_credit, days_fact, closed, ever_late, r),
    )


def _bureau_balance(
    rng: np.random.Generator,
    params: BureauParams,
    bureau_id: np.ndarray,
    days_credit: np.ndarray,
    days_fact: np.ndarray,
    closed: np.ndarray,
    ever_late: np.ndarray,
    risk: np.ndarray,
) -> dict[str, Column]:
    """Monthly statuses from the credit's opening month to month 0 (the application month):
    'C' after the credit closed, 'X' when unknown, '0' on time, '1'-'5' for DPD buckets."""
    levels = table_schema("bureau_balance").column("STATUS").levels
    assert levels is not None
    code = {lv: levels.index(lv) for lv in levels}
    has = rng.random(len(bureau_id)) < params.p_balance
    first_month = np.maximum(np.floor(days_credit / MONTH), -params.max_months).astype(np.int64)
    counts = np.where(has, 1 - first_month, 0)
    parent, month = ragged_index(counts)
    np.negative(month, out=month)  # 0, -1, -2, ... (Kaggle lists the most recent month first)
    # ~27 M rows at Kaggle scale: one int16 status array, filled in place, few temporaries
    status = np.full(len(parent), code["0"], dtype=np.int16)
    close_month = np.floor(np.nan_to_num(days_fact, nan=1.0) / MONTH)
    status[closed[parent] & (month > close_month[parent])] = code["C"]
    open_late = np.flatnonzero(ever_late[parent] & (status == code["0"]))
    row_risk = expit(risk[parent[open_late]])
    bad = rng.random(len(open_late)) < params.dpd_month_rate * 2 * row_risk
    bucket = 1 + rng.binomial(4, params.dpd_escalate * row_risk[bad] + 0.02)
    status[open_late[bad]] = np.array([code[str(b)] for b in range(6)], dtype=np.int16)[bucket]
    unknown_share = rng.beta(0.4, 1.1, len(bureau_id)).astype(np.float32)  # some mostly 'X'
    status[rng.random(len(parent), dtype=np.float32) < unknown_share[parent]] = code["X"]
    return {
        "SK_ID_BUREAU": bureau_id[parent],
        "MONTHS_BALANCE": month,
        "STATUS": Cat(status, levels),
    }
