"""previous_application and the monthly tables of the approved loans.

* previous_application: ~95 % of clients have earlier Home Credit applications, ~4.9 each.
  Contract type, then status (Approved / Canceled / Refused / Unused offer; riskier clients are
  refused more often), then every other column from the calibrated profile of that
  (type, status) segment -- which keeps e.g. ``CODE_REJECT_REASON = XAP`` for approved ones and
  ``Cash ...`` product combinations for cash loans. Amounts and dates are coherent: credit =
  application x ratio, annuity x term ~ credit x interest factor, first due ~30 days after the
  decision, last due = first due + 30 x (term - 1), 365243 for "not (yet) happened".
* POS_CASH_balance: one row per month of each approved cash / consumer loan, from the decision
  month to completion (or to month -1), at most 96 months back; SK_DPD episodes for risky
  clients (and loans that go to default, with DPD growing to the end).
* installments_payments: one row per instalment due before the application (and a second row
  when it was paid in two parts), late or short payments for risky clients; plus version-0
  rows for the monthly payments of credit cards.
* credit_card_balance: one row per month of each approved revolving loan; utilisation,
  payments below the minimum and DPD rise with the client's risk.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from scoring.schema import DAYS_SENTINEL, table_schema
from scoring.synth.application import Clients
from scoring.synth.calibration import Calibration, Cat, Profiles, SegmentedDraws
from scoring.synth.draws import (
    copula_u,
    logit,
    logit_array,
    neg_binomial_counts,
    normal_score,
    ragged_index,
)

Column = np.ndarray | Cat
MONTH = 30.4375
SENT = float(DAYS_SENTINEL)

TYPES = ("Cash loans", "Consumer loans", "Revolving loans")
STATUSES = ("Approved", "Canceled", "Refused", "Unused offer")
#: previous_application columns drawn straight from the (type, status) segment profile.
SEGMENT_COLUMNS_CAT = (
    "WEEKDAY_APPR_PROCESS_START",
    "FLAG_LAST_APPL_PER_CONTRACT",
    "NAME_CASH_LOAN_PURPOSE",
    "NAME_PAYMENT_TYPE",
    "CODE_REJECT_REASON",
    "NAME_TYPE_SUITE",
    "NAME_CLIENT_TYPE",
    "NAME_GOODS_CATEGORY",
    "NAME_PORTFOLIO",
    "NAME_PRODUCT_TYPE",
    "CHANNEL_TYPE",
    "NAME_SELLER_INDUSTRY",
    "NAME_YIELD_GROUP",
    "PRODUCT_COMBINATION",
)
SEGMENT_COLUMNS_NUM = (
    "HOUR_APPR_PROCESS_START",
    "NFLAG_LAST_APPL_IN_DAY",
    "RATE_INTEREST_PRIMARY",
    "RATE_INTEREST_PRIVILEGED",
    "SELLERPLACE_AREA",
)


@dataclass(frozen=True)
class PreviousParams:
    p_any: float = 0.95  # clients with previous applications (Kaggle: 338 857 / 356 255)
    mean_extra: float = 3.9  # applications beyond the first (Kaggle: 4.93 per client with any)
    dispersion: float = 1.1
    applications_slope: float = 0.15  # riskier clients apply more often
    refused_slope: float = 0.45  # log-odds of "Refused" per sd of history propensity
    max_months: int = 96
    pos_coverage: float = 0.92  # instalment loans with POS_CASH_balance rows (Kaggle ~90 %)
    pos_late_base: float = 0.04  # loans with repayment trouble (POS DPD months)
    pos_late_slope: float = 0.7
    pos_default_share: float = 0.12  # of troubled loans: default, nothing repaid afterwards
    late_base: float = 0.06  # instalments paid after the due date
    late_slope: float = 0.55
    short_base: float = 0.04  # instalments paid less than due
    short_slope: float = 0.55
    split_share: float = 0.2  # instalments paid in two rows
    early_repayment_share: float = 0.3  # approved loans repaid before the planned end
    card_inactive_share: float = 0.2  # cards whose limit is 0 throughout (Kaggle: 20 % rows)
    card_util_slope: float = 0.4
    card_late_base: float = 0.02  # card months in DPD
    card_late_slope: float = 0.8


@dataclass(frozen=True)
class LoanPlan:
    """Life of each previous loan (arrays over previous_application rows), shared by
    previous_application's dates, POS_CASH_balance and installments_payments."""

    first_due: np.ndarray
    last_due: np.ndarray  # actual last due day (early repayment included)
    ended: np.ndarray  # repaid before the application
    late: np.ndarray  # had repayment trouble
    default: np.ndarray  # stopped paying on default_day
    default_day: np.ndarray


def _levels(table: str, col: str) -> tuple[str, ...]:
    levels = table_schema(table).column(col).levels
    if levels is None:
        raise TypeError(f"{table}.{col} is not a text column in the Kaggle schema")
    return levels


def generate_previous(
    calib: Calibration,
    rng: np.random.Generator,
    clients: Clients,
    params: PreviousParams | None = None,
) -> Iterator[tuple[str, dict[str, Column]]]:
    """Yield (table, columns) for previous_application, POS_CASH_balance, credit_card_balance
    and installments_payments, in that order; each monthly table is built only when the caller
    has consumed (written) the previous one, which keeps the peak memory to one big table."""
    params = params or PreviousParams()
    prof = calib.columns("previous_application")
    risk_c = clients.history_risk()

    has_any = rng.random(len(clients)) < params.p_any
    extra = neg_binomial_counts(
        rng,
        params.mean_extra * np.exp(params.applications_slope * risk_c - 0.01),
        params.dispersion,
    )
    counts = np.where(has_any, 1 + extra, 0)
    owner, _ = ragged_index(counts)
    owner = owner[rng.permutation(len(owner))]  # Kaggle's file is in no particular order
    n = len(owner)
    r = risk_c[owner] + 0.3 * rng.standard_normal(n)  # application-level noise

    # ---- contract type, then status given type (refusals tilted by risk)
    ctype = prof["NAME_CONTRACT_TYPE"].cat(rng, n, schema_levels=(*TYPES, "XNA"), missing=0.0)
    type_idx = np.where(ctype.codes < 3, ctype.codes, 0).astype(np.int64)
    by_ts = calib.section("previous_application", "by_type_status")
    share = np.array(
        [[by_ts.get(f"{t}|{s}", {}).get("share", 0.0) for s in STATUSES] for t in TYPES]
    )
    share = share / share.sum(axis=1, keepdims=True)
    p_ref = share[type_idx, 2]
    p_ref_row = expit(logit_array(p_ref) + params.refused_slope * r)
    u = rng.random(n)
    other = share[type_idx][:, [0, 1, 3]] / (1 - p_ref)[:, None]
    cum = np.cumsum(other * (1 - p_ref_row)[:, None], axis=1)
    status_idx = np.where(
        u < p_ref_row,
        2,
        np.select([u - p_ref_row < cum[:, 0], u - p_ref_row < cum[:, 1]], [0, 1], default=3),
    )
    seg_code = type_idx * len(STATUSES) + status_idx
    seg_profiles: list[Profiles | None] = []
    by_type = {k: v.columns for k, v in calib.segments("previous_application", "by_type").items()}
    by_type_status = {
        k: v.columns for k, v in calib.segments("previous_application", "by_type_status").items()
    }
    for t in TYPES:
        for s in STATUSES:
            seg_profiles.append(by_type_status.get(f"{t}|{s}", by_type.get(t)))
    seg = SegmentedDraws(rng, seg_code, seg_profiles, prof)

    cols: dict[str, Column] = {}
    cols["SK_ID_PREV"] = 1_000_001 + rng.permutation(n).astype(np.int64)
    cols["SK_ID_CURR"] = clients.sk_id[owner]
    cols["NAME_CONTRACT_TYPE"] = ctype
    cols["NAME_CONTRACT_STATUS"] = Cat(
        np.array(
            [_levels("previous_application", "NAME_CONTRACT_STATUS").index(s) for s in STATUSES],
            dtype=np.int16,
        )[status_idx],
        _levels("previous_application", "NAME_CONTRACT_STATUS"),
    )
    for col in SEGMENT_COLUMNS_CAT:
        cols[col] = seg.cat(col, _levels("previous_application", col))
    for col in SEGMENT_COLUMNS_NUM:
        cols[col] = seg.num(col)

    # ---- amounts
    income_z = np.clip(np.log(clients.income[owner] / 150_000.0) / 0.5, -3, 3) / 3
    u_app = copula_u(rng, n, (income_z, 0.3))
    application = seg.num("AMT_APPLICATION", u_app, missing=0.0)
    ratio = seg.num("CREDIT_TO_APPLICATION", missing=0.0)
    credit = np.where(
        application > 0,
        prof["AMT_CREDIT"].round(rng, application * np.nan_to_num(ratio, nan=1.0)),
        # nothing applied for: no credit, except card limits (revolving, application 0)
        np.where(type_idx == 2, seg.num("AMT_CREDIT", missing=0.0), 0.0),
    )
    goods_missing = rng.random(n) < seg.missing_rate("AMT_GOODS_PRICE")
    goods = np.where(goods_missing | (application <= 0), np.nan, application)
    rate_down = np.clip(seg.num("RATE_DOWN_PAYMENT"), 0, 0.9)
    down = np.where(application > 0, np.round(rate_down * application * 2) / 2, 0.0)
    down = np.where(np.isnan(rate_down), np.nan, down)
    rate_down = np.where(  # the rate Kaggle reports is the one of the rounded amount
        np.isnan(down), np.nan, down / np.where(application > 0, application, 1.0)
    )
    term = seg.num("CNT_PAYMENT", normal_u(rng, u_app, 0.6))  # bigger loans, longer terms
    factor = np.maximum(np.nan_to_num(seg.num("ANNUITY_FACTOR", missing=0.0), nan=1.2), 1.0)
    computed_annuity = credit * factor / np.where(term > 0, term, 1.0)
    annuity = np.where(
        np.isnan(term),
        np.nan,
        np.where(term > 0, np.round(computed_annuity, 3), seg.num("AMT_ANNUITY", missing=0.0)),
    )
    cols["AMT_ANNUITY"] = annuity
    cols["AMT_APPLICATION"] = application
    cols["AMT_CREDIT"] = credit
    cols["AMT_DOWN_PAYMENT"] = down
    cols["AMT_GOODS_PRICE"] = goods
    cols["RATE_DOWN_PAYMENT"] = rate_down
    cols["CNT_PAYMENT"] = term

    # ---- dates
    adult = clients.days_birth[owner] + 18 * 365
    decision = np.round(seg.num("DAYS_DECISION", missing=0.0))
    decision = np.clip(decision, np.maximum(adult, -2922), -1)
    cols["DAYS_DECISION"] = decision
    approved = status_idx == 0
    revolving = type_idx == 2
    dated = approved & (rng.random(n) >= seg.missing_rate("DAYS_FIRST_DUE"))
    instalment_loan = dated & ~revolving & (np.nan_to_num(term) > 0)
    first_due = decision + np.clip(np.round(seg.num("FIRST_DUE_LAG", missing=0.0)), 1, 120)
    planned_last = first_due + 30 * (np.nan_to_num(term) - 1)
    early = (rng.random(n) < params.early_repayment_share) & (term > 2)
    shortened = np.round(rng.uniform(0.3, 0.95, n) * (planned_last - first_due))
    actual_last = np.where(early, first_due + shortened, planned_last)
    # repayment trouble: a late episode, or a default after which nothing is repaid
    late = instalment_loan & (
        rng.random(n) < expit(logit(params.pos_late_base) + params.pos_late_slope * r)
    )
    default_day = first_due + np.floor(rng.uniform(0.1, 0.9, n) * (planned_last - first_due))
    default = late & (rng.random(n) < params.pos_default_share * 2 * expit(r)) & (default_day < -90)
    ended = (actual_last <= -1) & ~default
    plan = LoanPlan(first_due, actual_last, ended, late, default, default_day)
    termination = actual_last + np.clip(
        np.round(np.nan_to_num(seg.num("TERMINATION_LAG", missing=0.0), nan=5.0)), 0, 30
    )
    drawing_sentinel = rng.random(n) < 0.5  # cards: first drawing known for about half
    first_drawing = np.where(
        drawing_sentinel, SENT, np.minimum(decision + np.round(rng.uniform(0, 40, n)), -1)
    )

    def dated_only(x: np.ndarray) -> np.ndarray:
        return np.where(dated, x, np.nan)

    card_due = first_drawing + np.round(rng.uniform(30, 60, n))
    cols["DAYS_FIRST_DRAWING"] = dated_only(np.where(revolving, first_drawing, SENT))
    cols["DAYS_FIRST_DUE"] = dated_only(
        np.where(
            instalment_loan, first_due, np.where(revolving & ~drawing_sentinel, card_due, SENT)
        )
    )
    cols["DAYS_LAST_DUE_1ST_VERSION"] = dated_only(np.where(instalment_loan, planned_last, SENT))
    cols["DAYS_LAST_DUE"] = dated_only(np.where(instalment_loan & ended, actual_last, SENT))
    cols["DAYS_TERMINATION"] = dated_only(np.where(instalment_loan & ended, termination, SENT))
    cols["NFLAG_INSURED_ON_APPROVAL"] = np.where(
        dated, np.nan_to_num(seg.num("NFLAG_INSURED_ON_APPROVAL", missing=0.0)), np.nan
    )

    yield "previous_application", cols
    loans = np.flatnonzero(instalment_loan)
    with_pos = loans[rng.random(len(loans)) < params.pos_coverage]
    yield "POS_CASH_balance", _pos_cash(rng, cols, with_pos, plan, params.max_months)
    cards = np.flatnonzero(approved & revolving)
    cc, card_payments = _credit_cards(rng, params, cols, cards, r, calib)
    yield "credit_card_balance", cc
    del cc
    yield (
        "installments_payments",
        _installments(rng, params, cols, loans, r, plan, card_payments, calib),
    )


def normal_u(rng: np.random.Generator, u: np.ndarray, rho: float) -> np.ndarray:
    """A uniform with rank correlation ~rho to the uniform ``u``."""
    return copula_u(rng, len(u), (normal_score(u), rho))


def _pos_cash(
    rng: np.random.Generator,
    prev: dict[str, Column],
    loans: np.ndarray,
    plan: LoanPlan,
    max_months: int,
) -> dict[str, Column]:
    """Monthly POS / cash loan snapshots, from the first due month to completion or month -1.

    Late loans have an episode of a few months with SK_DPD > 0; defaulted loans stay open
    after their planned end, with SK_DPD growing by ~30 a month until the application.
    """
    start = np.maximum(np.floor(plan.first_due[loans] / MONTH), -max_months).astype(np.int64)
    ended = plan.ended[loans]
    end = np.where(ended, np.floor(plan.last_due[loans] / MONTH) + 1, -1)
    end = np.minimum(np.maximum(end, start), -1).astype(np.int64)
    counts = np.maximum(end - start + 1, 0)  # first due still in the future: no rows yet
    parent, pos = ragged_index(counts)
    loan = loans[parent]
    n = len(parent)
    month = start[parent] + pos
    term = np.asarray(prev["CNT_PAYMENT"])[loan]
    due_month = np.floor(plan.first_due[loan] / MONTH)
    future = np.clip(term - (month - due_month + 1), 0, term)
    first_row = pos == 0
    last_row = pos == counts[parent] - 1
    blank = first_row & (rng.random(n) < 0.03)
    levels = _levels("POS_CASH_balance", "NAME_CONTRACT_STATUS")
    status = np.full(n, levels.index("Active"), dtype=np.int16)
    status[first_row & (rng.random(n) < 0.1)] = levels.index("Signed")
    status[last_row & plan.ended[loan]] = levels.index("Completed")

    late, default = plan.late[loans], plan.default[loans]
    ep_start = np.floor(rng.random(len(loans)) * counts).astype(np.int64)
    ep_len = 1 + rng.geometric(0.5, len(loans))
    in_episode = (
        late[parent]
        & ~default[parent]
        & (pos >= ep_start[parent])
        & (pos < ep_start[parent] + ep_len[parent])
    )
    episode_dpd = (pos - ep_start[parent] + 1) * rng.uniform(3, 30, n)
    default_month = np.floor(plan.default_day[loan] / MONTH)
    since_default = month - default_month
    in_default = default[parent] & (since_default >= 0)
    dpd = np.round(
        np.where(in_default, since_default * 30 + 15, np.where(in_episode, episode_dpd, 0))
    )
    dpd = dpd.astype(np.int64)
    # SK_DPD_DEF ignores small debts: it shows only part of the episodes, never write-offs
    counted = (rng.random(len(loans)) < 0.3)[parent] & in_episode
    status[in_default & last_row] = levels.index("Demand")
    return {
        "SK_ID_PREV": np.asarray(prev["SK_ID_PREV"])[loan],
        "SK_ID_CURR": np.asarray(prev["SK_ID_CURR"])[loan],
        "MONTHS_BALANCE": month,
        "CNT_INSTALMENT": np.where(blank, np.nan, term),
        "CNT_INSTALMENT_FUTURE": np.where(blank, np.nan, future),
        "NAME_CONTRACT_STATUS": Cat(status, levels),
        "SK_DPD": dpd,
        "SK_DPD_DEF": np.where(counted, dpd, 0),
    }


@dataclass(frozen=True)
class CardPayments:
    """Monthly card payments, turned into version-0 rows of installments_payments."""

    prev_row: np.ndarray
    month: np.ndarray
    min_payment: np.ndarray
    payment: np.ndarray
    late: np.ndarray


def _credit_cards(
    rng: np.random.Generator,
    params: PreviousParams,
    prev: dict[str, Column],
    cards: np.ndarray,
    risk: np.ndarray,
    calib: Calibration,
) -> tuple[dict[str, Column], CardPayments]:
    decision = np.asarray(prev["DAYS_DECISION"])[cards]
    start = np.maximum(np.floor(decision / MONTH), -params.max_months).astype(np.int64)
    closed = rng.random(len(cards)) < 0.1
    end = np.where(closed, np.floor(rng.uniform(start, 0)), -1).astype(np.int64)
    end = np.clip(end, start, -1)
    counts = end - start + 1
    parent, pos = ragged_index(counts)
    card = cards[parent]
    n = len(parent)
    r = risk[cards]

    limit_prof = calib.profile("credit_card_balance", "positive_limit")
    limit = np.asarray(prev["AMT_CREDIT"])[cards]
    limit = np.where(limit > 0, limit, limit_prof.num(rng, len(cards)))
    limit = np.where(rng.random(len(cards)) < params.card_inactive_share, 0.0, limit)
    util_prof = calib.profile("credit_card_balance", "utilisation")
    card_util = util_prof.num(
        rng, len(cards), copula_u(rng, len(cards), (r, params.card_util_slope))
    )
    util = np.clip(card_util[parent] * np.exp(rng.normal(0, 0.15, n)), 0, 1.1)
    util = np.where(card_util[parent] > 0.01, util, 0.0)
    lim = limit[parent]
    balance = np.round(util * lim, 3)
    drew = (balance > 0) & (rng.random(n) < 0.35)
    drawing = np.where(drew, np.round(lim * rng.uniform(0.02, 0.25, n) / 450) * 450, 0.0)
    atm = drew & (rng.random(n) < 0.55)
    n_draw = np.where(drew, 1 + rng.poisson(0.8, n), 0)
    no_detail = (n_draw == 0) & (rng.random(n) < 0.27)
    min_payment = np.round(balance * 0.05, 3)
    p_late = expit(logit(params.card_late_base) + params.card_late_slope * r)[parent]
    late = (balance > 0) & (rng.random(n) < p_late)
    pay_factor = np.where(late, rng.uniform(0, 0.9, n), np.exp(rng.normal(0.3, 0.5, n)))
    payment = np.round(np.where(balance > 0, np.maximum(min_payment, 1.0) * pay_factor, 0.0), 3)
    small = (balance == 0) & (rng.random(n) < 0.5)
    payment = np.where(small, np.round(rng.exponential(300, n), 3), payment)
    no_payment = (payment == 0) & (rng.random(n) < 0.6)
    first_months = pos < 1 + rng.poisson(0.3, n)
    no_min = first_months & (rng.random(n) < 0.5)
    paid = (payment > 0).astype(float)
    cum_paid = np.cumsum(paid)
    start_idx = np.cumsum(counts) - counts
    mature = cum_paid - np.repeat(cum_paid[start_idx] - paid[start_idx], counts)
    dpd = np.where(late, np.round(rng.exponential(20, n)), 0).astype(np.int64)
    levels = _levels("credit_card_balance", "NAME_CONTRACT_STATUS")
    status = np.full(n, levels.index("Active"), dtype=np.int16)
    status[(pos == counts[parent] - 1) & closed[parent]] = levels.index("Completed")

    def detail(x: np.ndarray) -> np.ndarray:
        return np.where(no_detail, np.nan, x)

    cols: dict[str, Column] = {
        "SK_ID_PREV": np.asarray(prev["SK_ID_PREV"])[card],
        "SK_ID_CURR": np.asarray(prev["SK_ID_CURR"])[card],
        "MONTHS_BALANCE": start[parent] + pos,
        "AMT_BALANCE": balance,
        "AMT_CREDIT_LIMIT_ACTUAL": lim.astype(np.int64),
        "AMT_DRAWINGS_ATM_CURRENT": detail(np.where(atm, drawing, 0.0)),
        "AMT_DRAWINGS_CURRENT": drawing,
        "AMT_DRAWINGS_OTHER_CURRENT": detail(np.zeros(n)),
        "AMT_DRAWINGS_POS_CURRENT": detail(np.where(atm, 0.0, drawing)),
        "AMT_INST_MIN_REGULARITY": np.where(no_min, np.nan, min_payment),
        "AMT_PAYMENT_CURRENT": np.where(no_payment, np.nan, payment),
        "AMT_PAYMENT_TOTAL_CURRENT": payment,
        "AMT_RECEIVABLE_PRINCIPAL": np.round(balance * rng.uniform(0.93, 0.99, n), 3),
        "AMT_RECIVABLE": balance,
        "AMT_TOTAL_RECEIVABLE": balance,
        "CNT_DRAWINGS_ATM_CURRENT": detail(np.where(atm, n_draw, 0).astype(float)),
        "CNT_DRAWINGS_CURRENT": n_draw.astype(np.int64),
        "CNT_DRAWINGS_OTHER_CURRENT": detail(np.zeros(n)),
        "CNT_DRAWINGS_POS_CURRENT": detail(np.where(atm, 0, n_draw).astype(float)),
        "CNT_INSTALMENT_MATURE_CUM": np.where(no_min, np.nan, mature),
        "NAME_CONTRACT_STATUS": Cat(status, levels),
        "SK_DPD": dpd,
        "SK_DPD_DEF": np.where(rng.random(n) < 0.3, dpd, 0),
    }
    has_pay = payment > 0
    payments = CardPayments(
        prev_row=card[has_pay],
        month=(start[parent] + pos)[has_pay],
        min_payment=min_payment[has_pay],
        payment=payment[has_pay],
        late=late[has_pay],
    )
    return cols, payments


def _installments(
    rng: np.random.Generator,
    params: PreviousParams,
    prev: dict[str, Column],
    loans: np.ndarray,
    risk: np.ndarray,
    plan: LoanPlan,
    card: CardPayments,
    calib: Calibration,
) -> dict[str, Column]:
    """Instalments due before the application (+ split payments), then card payments.

    A defaulted loan has no instalment rows after its default day (nothing was paid). The
    largest table after bureau_balance (~14 M rows at Kaggle scale): temporaries are dropped
    as soon as they are used.
    """
    early_prof = calib.profile("installments_payments", "early_delay")
    late_prof = calib.profile("installments_payments", "late_delay")
    short_prof = calib.profile("installments_payments", "pay_ratio_when_short")
    term = np.asarray(prev["CNT_PAYMENT"])[loans]
    fd = plan.first_due[loans]
    horizon = np.minimum(np.where(plan.ended[loans], plan.last_due[loans], 0.0), -1.0)
    horizon = np.where(plan.default[loans], plan.default_day[loans], horizon)
    counts = np.clip(np.floor((horizon - fd) / 30) + 1, 0, term).astype(np.int64)
    parent, pos = ragged_index(counts)
    m = len(parent)

    # ---- one row per instalment
    annuity = np.nan_to_num(np.asarray(prev["AMT_ANNUITY"])[loans])
    due = fd[parent] + 30.0 * pos
    last = pos == counts[parent] - 1
    repaid_early = last & (plan.ended[loans] & (counts < term))[parent]
    remaining = annuity[parent] * (term - counts + 1)[parent] * rng.uniform(0.8, 0.95, m)
    amount = np.round(np.where(repaid_early, remaining, annuity[parent]), 3)
    del last, repaid_early, remaining
    restructured = (rng.random(len(loans)) < 0.05)[parent] & (pos >= (counts // 2)[parent])
    version = np.where(restructured, 2.0, 1.0)
    del restructured
    r = (risk[loans] + 0.5 * rng.standard_normal(len(loans)))[parent]
    late = rng.random(m) < expit(logit(params.late_base) + params.late_slope * r)
    delay = np.empty(m)
    delay[late] = late_prof.num(rng, int(late.sum()), missing=0.0)
    delay[~late] = early_prof.num(rng, int((~late).sum()), missing=0.0)
    short = rng.random(m) < expit(logit(params.short_base) + params.short_slope * r)
    del r, late
    paid_ratio = np.ones(m)
    paid_ratio[short] = short_prof.num(rng, int(short.sum()), missing=0.0)

    # ---- a share of instalments are paid in two rows: part now, the rest some days later
    split = (rng.random(m) < params.split_share) & ~short
    first_part = np.round(rng.uniform(0.2, 0.8, m), 2)
    row_of, k = ragged_index(np.where(split, 2, 1))
    second = k == 1
    del k
    share = np.where(
        split[row_of],
        np.where(second, 1 - first_part[row_of], first_part[row_of]),
        paid_ratio[row_of],
    )
    del split, first_part, paid_ratio, short
    extra_days = np.where(second, np.round(rng.uniform(1, 20, len(row_of))), 0.0)
    entry = due[row_of] + delay[row_of] + extra_days
    del second, extra_days, delay
    unpaid = entry > -1  # not paid yet at application time
    n_loan_rows = len(row_of)

    # ---- version-0 rows: monthly credit-card payments, appended after the loan rows
    c = len(card.prev_row)
    total = n_loan_rows + c
    out_prev = np.empty(total, dtype=np.int64)
    out_curr = np.empty(total, dtype=np.int64)
    loan_row = loans[parent[row_of]]
    out_prev[:n_loan_rows] = np.asarray(prev["SK_ID_PREV"])[loan_row]
    out_curr[:n_loan_rows] = np.asarray(prev["SK_ID_CURR"])[loan_row]
    out_prev[n_loan_rows:] = np.asarray(prev["SK_ID_PREV"])[card.prev_row]
    out_curr[n_loan_rows:] = np.asarray(prev["SK_ID_CURR"])[card.prev_row]
    del loan_row
    card_due = np.round(card.month * MONTH + rng.uniform(-10, 10, c))
    card_delay = np.empty(c)
    card_delay[card.late] = late_prof.num(rng, int(card.late.sum()), missing=0.0)
    card_delay[~card.late] = early_prof.num(rng, int((~card.late).sum()), missing=0.0)
    card_number = card.month - np.floor(np.asarray(prev["DAYS_DECISION"])[card.prev_row] / MONTH)
    return {
        "SK_ID_PREV": out_prev,
        "SK_ID_CURR": out_curr,
        "NUM_INSTALMENT_VERSION": np.concatenate([version[row_of], np.zeros(c)]),
        "NUM_INSTALMENT_NUMBER": np.concatenate(
            [(pos + 1)[row_of], np.maximum(card_number, 1).astype(np.int64)]
        ),
        "DAYS_INSTALMENT": np.concatenate([due[row_of], card_due]),
        "DAYS_ENTRY_PAYMENT": np.concatenate(
            [np.where(unpaid, np.nan, entry), np.minimum(card_due + card_delay, -1)]
        ),
        "AMT_INSTALMENT": np.concatenate([amount[row_of], card.min_payment]),
        "AMT_PAYMENT": np.concatenate(
            [np.where(unpaid, np.nan, np.round(amount[row_of] * share, 3)), card.payment]
        ),
    }
