"""application_train / application_test: one row per client, plus each client's latent risk.

How a client is drawn (all vectorised; see docs/synthetic_data.md for the full story):

1. Latent factors, independent standard normals: ``status`` (socio-economic: education,
   occupation, income, car, city building), ``bureau`` (credit quality that external bureaus
   see -> EXT_SOURCE_*), ``behaviour`` (repayment behaviour that only the history tables show).
2. The employment group: ~18 % carry the ``DAYS_EMPLOYED = 365243`` sentinel (pensioners and
   unemployed; ORGANIZATION_TYPE = XNA, FLAG_EMP_PHONE = 0, no occupation). Columns that depend
   on it are drawn from the group's own calibrated profile (so pensioners are old).
3. Every other column follows its real marginal through a Gaussian copula on the factors, with
   explicit coherence rules (annuity = credit x rate, goods <= credit, family size = children +
   1 or 2, employment shorter than adult life, nested missingness of the building block...).
4. Demographic risk ``D`` = -0.55 x status + the real (smoothed, shrunk) log-odds effects of a
   few fields with a direct effect (age, employment length, dates, annuity rate, goods ratio,
   gender, income type, region rating...), weighted below 1 where they overlap. Log-odds of
   default = a + D + bureau part + behaviour part; TARGET ~ Bernoulli, ``a`` set so that 8.07 %
   of train clients default.
5. EXT_SOURCE_k is a noisy, monotone view of 0.4 D + the shared and its own bureau component
   (EXT_SOURCE_1 also of age); the history tables see mostly ``behaviour`` (see
   :meth:`Clients.history_risk`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from scoring.schema import DAYS_SENTINEL, table_schema
from scoring.synth.calibration import Calibration, Cat, Profile, Profiles
from scoring.synth.draws import calibrate_intercept, copula_u, normal_score, standard

Column = np.ndarray | Cat

#: Full Kaggle application_train default rate (8.07 % of 307 511 clients).
KAGGLE_TARGET_RATE = 0.0807
#: 4 CODE_GENDER = XNA rows among 307 511 Kaggle training clients.
KAGGLE_XNA_GENDER_RATE = 4 / 307_511
#: Building-information metrics and how strongly each loads on the common "building size"
#: factor (read off the real correlation matrix of the *_AVG columns).
BUILDING_METRICS: dict[str, float] = {
    "APARTMENTS": 0.95,
    "BASEMENTAREA": 0.7,
    "YEARS_BEGINEXPLUATATION": 0.15,
    "YEARS_BUILD": 0.4,
    "COMMONAREA": 0.6,
    "ELEVATORS": 0.88,
    "ENTRANCES": 0.6,
    "FLOORSMAX": 0.7,
    "FLOORSMIN": 0.55,
    "LANDAREA": 0.5,
    "LIVINGAPARTMENTS": 0.93,
    "LIVINGAREA": 0.95,
    "NONLIVINGAPARTMENTS": 0.2,
    "NONLIVINGAREA": 0.35,
}
BUILDING_TEXT = (
    "FONDKAPREMONT_MODE",
    "HOUSETYPE_MODE",
    "WALLSMATERIAL_MODE",
    "EMERGENCYSTATE_MODE",
)
AMT_REQ = tuple(f"AMT_REQ_CREDIT_BUREAU_{w}" for w in ("HOUR", "DAY", "WEEK", "MON", "QRT", "YEAR"))
#: Weights of the real log-odds effects of the fields with a direct effect on risk (< 1 where
#: fields overlap: DAYS_REGISTRATION, DAYS_ID_PUBLISH... partly re-measure age).
DIRECT_EFFECTS: dict[str, float] = {
    "NAME_CONTRACT_TYPE": 0.8,
    "CODE_GENDER": 0.8,
    "NAME_INCOME_TYPE": 0.6,
    "NAME_FAMILY_STATUS": 0.6,
    "REGION_RATING_CLIENT_W_CITY": 0.8,
    "REG_CITY_NOT_WORK_CITY": 0.6,
    "FLAG_DOCUMENT_3": 0.5,
    "FLAG_WORK_PHONE": 0.5,
    "DAYS_BIRTH": 0.8,
    "DAYS_EMPLOYED": 0.6,
    "DAYS_REGISTRATION": 0.4,
    "DAYS_ID_PUBLISH": 0.4,
    "DAYS_LAST_PHONE_CHANGE": 0.5,
    "ANNUITY_RATE": 0.6,
    "GOODS_RATIO": 0.7,
    "CNT_CHILDREN": 0.5,
}
REG_FLAGS = (
    "REG_REGION_NOT_LIVE_REGION",
    "REG_REGION_NOT_WORK_REGION",
    "LIVE_REGION_NOT_WORK_REGION",
    "REG_CITY_NOT_LIVE_CITY",
    "REG_CITY_NOT_WORK_CITY",
    "LIVE_CITY_NOT_WORK_CITY",
)


@dataclass(frozen=True)
class RiskParams:
    """Structural parameters of the latent risk (log-odds scale), tuned so that a LightGBM on
    application features reaches AUC ~0.74 and history aggregates add ~+0.03 (measured with
    ``python -m scoring.synth.check``).

    The part of risk that external bureaus see is a shared component plus one component per
    EXT_SOURCE: each score is informative on its own (real AUC 0.66-0.69) while the three stay
    only mildly correlated (real 0.1-0.2), so combining them pays, as on the real data.
    """

    target_rate: float = KAGGLE_TARGET_RATE
    status_effect: float = 0.55  # log-odds per sd of the socio-economic factor
    bureau_shared_sd: float = 0.15  # log-odds sd of the component all EXT_SOURCE_* see
    bureau_specific_sd: float = 0.8  # log-odds sd of each EXT_SOURCE_k's own component
    behaviour_sd: float = 1.0  # log-odds sd of the part only the history tables see
    # EXT_SOURCE_k = F_k^-1(Phi(-ext_risk_k * risk_k + ext_age_k * age + noise))
    ext_risk: tuple[float, float, float] = (0.55, 0.72, 0.78)
    ext_age: tuple[float, float, float] = (0.5, 0.0, 0.0)
    ext_demographic: float = 0.4  # share of the demographic risk the bureaus see
    ext_behaviour: float = 0.1  # bureaus see a little of the behaviour too
    ext_missing_risk: float = 0.25  # riskier clients have EXT_SOURCE_1/3 missing more often


@dataclass(frozen=True)
class TestShift:
    """How application_test differs from application_train (documented, mild, few columns)."""

    revolving_factor: float = 0.2  # share of revolving loans x 0.2 (9.5 % -> ~1.9 %)
    credit_factor: float = 1.15  # larger loans: AMT_CREDIT (and annuity, goods) x 1.15
    younger_power: float = 0.8  # age quantile u -> u**0.8: ~1.8 years younger on average
    ext3_missing_add: float = 0.10  # EXT_SOURCE_3 missing 20 % -> 30 %


@dataclass(frozen=True)
class Clients:
    """What the history generators need to know about every client (train and test)."""

    sk_id: np.ndarray  # int64, sorted
    is_test: np.ndarray  # bool
    days_birth: np.ndarray  # int64 (negative)
    income: np.ndarray
    app_risk: np.ndarray  # standardised D + bureau part (what EXT_SOURCE_* measure)
    behaviour: np.ndarray  # standard normal, seen only by the history tables
    target: np.ndarray  # int8, -1 for test clients

    def __len__(self) -> int:
        return len(self.sk_id)

    def history_risk(self) -> np.ndarray:
        """Unit-variance propensity to be late/overdue/refused in the history tables: mostly
        ``behaviour`` (new information) plus some of the application-visible risk."""
        return 0.4 * self.app_risk + np.sqrt(1 - 0.4**2) * self.behaviour


@dataclass(frozen=True)
class Applications:
    columns: dict[str, Column]  # all clients, application_train column names incl. TARGET
    clients: Clients


def risk_order(profile: Profile) -> tuple[str, ...]:
    """Levels from riskiest to safest by their (shrunk) real default rate.

    Drawing a level through a uniform that rises with the client's socio-economic factor in this
    order puts e.g. "Lower secondary" with low-status clients, as in the real data.
    """
    if profile.target_rate is None:
        return profile.levels
    pairs = sorted(zip(profile.target_rate, profile.levels, strict=True), reverse=True)
    return tuple(level for _, level in pairs)


class _Builder:
    """Holds the shared state while the application columns are drawn in dependency order."""

    def __init__(
        self, calib: Calibration, rng: np.random.Generator, is_test: np.ndarray, shift: TestShift
    ) -> None:
        self.calib = calib
        self.rng = rng
        self.n = len(is_test)
        self.is_test = is_test
        self.shift = shift
        self.schema = table_schema("application_train")
        self.prof: Profiles = calib.columns("application")
        groups = calib.segments("application", "groups")
        self.group_prof = {g: seg.columns for g, seg in groups.items()}
        self.sentinel = rng.random(self.n) < groups["sentinel"].share
        self.masks = {"employed": ~self.sentinel, "sentinel": self.sentinel}
        self.cols: dict[str, Column] = {}

    # -------------------------------------------------------------- group-aware drawing
    def _profile(self, group: str, col: str) -> Profile:
        gp = self.group_prof[group]
        return gp[col] if col in gp else self.prof[col]

    def num(
        self, col: str, u: np.ndarray | None = None, *, missing: float | None = None
    ) -> np.ndarray:
        """Draw ``col`` from each employment group's own profile (or the table-wide one)."""
        out = np.empty(self.n)
        for g, m in self.masks.items():
            out[m] = self._profile(g, col).num(
                self.rng, int(m.sum()), None if u is None else u[m], missing=missing
            )
        return out

    def cat(self, col: str, u: np.ndarray | None = None, *, order: bool = False) -> Cat:
        """Draw text column ``col`` per employment group; ``order`` lines its levels up from
        riskiest to safest along ``u``."""
        levels = self.schema.column(col).levels
        assert levels is not None
        codes = np.full(self.n, -1, dtype=np.int16)
        ordering = risk_order(self.prof[col]) if order else None
        for g, m in self.masks.items():
            p = self._profile(g, col)
            if p.kind == "empty":
                continue
            codes[m] = p.cat(
                self.rng,
                int(m.sum()),
                None if u is None else u[m],
                order=ordering,
                schema_levels=levels,
            ).codes
        return Cat(codes, levels)

    def u(self, *loadings: tuple[np.ndarray, float]) -> np.ndarray:
        return copula_u(self.rng, self.n, *loadings)

    # ------------------------------------------------------------------------ blocks
    def identity_and_work(self, status: np.ndarray) -> None:
        rng, c, t, n = self.rng, self.cols, self.is_test, self.n
        u_age = rng.random(n)
        u_age = np.where(t, u_age**self.shift.younger_power, u_age)  # test: younger
        days_birth = np.round(self.num("DAYS_BIRTH", u_age))
        c["DAYS_BIRTH"] = days_birth
        gender = self.cat("CODE_GENDER")
        train_idx = np.flatnonzero(~t)
        n_xna = max(1, round(len(train_idx) * KAGGLE_XNA_GENDER_RATE)) if len(train_idx) else 0
        xna = rng.choice(train_idx, size=n_xna, replace=False) if n_xna else train_idx[:0]
        codes = gender.codes.copy()
        codes[xna] = gender.levels.index("XNA")  # always plant a few: downstream must cope
        gender = Cat(codes, gender.levels)
        c["CODE_GENDER"] = gender
        male = standard(gender.is_("M").astype(float))
        c["NAME_INCOME_TYPE"] = self.cat("NAME_INCOME_TYPE", self.u((status, 0.3)), order=True)
        c["NAME_EDUCATION_TYPE"] = self.cat(
            "NAME_EDUCATION_TYPE", self.u((status, 0.6)), order=True
        )
        c["ORGANIZATION_TYPE"] = self.cat("ORGANIZATION_TYPE", self.u((status, 0.3)), order=True)
        c["OCCUPATION_TYPE"] = self.cat("OCCUPATION_TYPE", self.u((status, 0.5)), order=True)
        u_inc = self.u((status, 0.45), (male, 0.2))
        c["AMT_INCOME_TOTAL"] = self.num("AMT_INCOME_TOTAL", u_inc)
        self.z_income = standard(normal_score(u_inc))
        car = self.cat("FLAG_OWN_CAR", self.u((male, 0.4), (status, 0.3)), order=True)
        c["FLAG_OWN_CAR"] = car
        has_car = car.is_("Y")
        car_age = self.num("OWN_CAR_AGE", missing=0.0)
        c["OWN_CAR_AGE"] = np.where(has_car, car_age, np.nan)
        c["FLAG_OWN_REALTY"] = self.cat("FLAG_OWN_REALTY")
        family = self.cat("NAME_FAMILY_STATUS")
        c["NAME_FAMILY_STATUS"] = family
        couple = family.isin(["Married", "Civil marriage"])
        children = self.num("CNT_CHILDREN", self.u((standard(couple.astype(float)), 0.3)))
        c["CNT_CHILDREN"] = children
        c["CNT_FAM_MEMBERS"] = children + np.where(couple, 2.0, 1.0)
        c["NAME_TYPE_SUITE"] = self.cat("NAME_TYPE_SUITE")
        c["NAME_HOUSING_TYPE"] = self.cat("NAME_HOUSING_TYPE", self.u((status, 0.2)), order=True)

        older = standard(-days_birth)
        self.older = older
        adult_life = days_birth + 18 * 365  # cannot have worked before 18
        employed = self.num("DAYS_EMPLOYED", self.u((older, -0.35)))
        employed = np.where(
            self.sentinel, DAYS_SENTINEL, np.maximum(employed, adult_life + rng.integers(0, 365, n))
        )
        c["DAYS_EMPLOYED"] = np.round(employed)
        reg = self.num("DAYS_REGISTRATION", self.u((older, -0.4)))
        c["DAYS_REGISTRATION"] = np.maximum(reg, days_birth + rng.integers(0, 3650, n))
        id_pub = self.num("DAYS_ID_PUBLISH", self.u((older, -0.3)))
        c["DAYS_ID_PUBLISH"] = np.round(np.maximum(id_pub, days_birth + 14 * 365))
        c["FLAG_EMP_PHONE"] = (~self.sentinel).astype(float)
        for col in (
            "FLAG_MOBIL",
            "FLAG_CONT_MOBILE",
            "FLAG_WORK_PHONE",
            "FLAG_PHONE",
            "FLAG_EMAIL",
        ):
            c[col] = self.num(col)
        c["DAYS_LAST_PHONE_CHANGE"] = self.num("DAYS_LAST_PHONE_CHANGE", self.u((older, -0.3)))

    def loan(self) -> None:
        """Contract type and amounts: annuity = credit x rate, goods price <= credit mostly."""
        rng, c, t, n = self.rng, self.cols, self.is_test, self.n
        ct = self.prof["NAME_CONTRACT_TYPE"]
        p_rev = ct.share("Revolving loans")
        p_rev_row = np.where(t, p_rev * self.shift.revolving_factor, p_rev)
        revolving = rng.random(n) < p_rev_row
        levels = self.schema.column("NAME_CONTRACT_TYPE").levels
        assert levels is not None
        c["NAME_CONTRACT_TYPE"] = Cat(
            np.where(revolving, levels.index("Revolving loans"), levels.index("Cash loans")).astype(
                np.int16
            ),
            levels,
        )
        by = self.calib.section("application", "by_contract")
        grids = self.calib.grids
        cash = {k: Profile.from_json(k, v, grids) for k, v in by["Cash loans"].items()}
        rev = {k: Profile.from_json(k, v, grids) for k, v in by["Revolving loans"].items()}
        u_credit = self.u((self.z_income, 0.4))
        credit = np.where(
            revolving,
            rev["AMT_CREDIT"].num(rng, n, u_credit),
            cash["AMT_CREDIT"].num(rng, n, u_credit),
        )
        credit = np.where(t & ~revolving, credit * self.shift.credit_factor, credit)
        credit = self.prof["AMT_CREDIT"].round(rng, credit)
        # larger loans run longer, so their annuity is a smaller share of the credit
        u_rate = self.u((normal_score(u_credit), -0.55))
        rate = np.where(revolving, 0.05, cash["ANNUITY_RATE"].num(rng, n, u_rate, missing=0.0))
        # affordability: lenders rarely let the annuity exceed ~55 % of the income
        income = np.asarray(c["AMT_INCOME_TOTAL"])
        too_big = credit * rate > 0.55 * income
        capped = 0.55 * income / rate * rng.uniform(0.6, 1.0, n)
        credit = np.where(too_big, self.prof["AMT_CREDIT"].round(rng, capped), credit)
        annuity = np.round(credit * rate * 2) / 2  # Kaggle annuities are multiples of 0.5
        c["AMT_ANNUITY"] = np.where(
            rng.random(n) < self.prof["AMT_ANNUITY"].missing, np.nan, annuity
        )
        ratio = np.where(revolving, 1.0, cash["GOODS_RATIO"].num(rng, n, missing=0.0))
        goods = self.prof["AMT_GOODS_PRICE"].round(rng, credit * ratio)
        goods_missing = np.where(
            revolving, rev["AMT_GOODS_PRICE"].missing, cash["AMT_GOODS_PRICE"].missing
        )
        c["AMT_GOODS_PRICE"] = np.where(rng.random(n) < goods_missing, np.nan, goods)
        c["AMT_CREDIT"] = credit

    def region(self) -> None:
        c = self.cols
        u_reg = self.rng.random(self.n)
        c["REGION_POPULATION_RELATIVE"] = self.prof["REGION_POPULATION_RELATIVE"].num(
            self.rng, self.n, u_reg
        )
        z_rating = normal_score(self.u((normal_score(u_reg), -0.8)))
        c["REGION_RATING_CLIENT"] = self.prof["REGION_RATING_CLIENT"].num(
            self.rng, self.n, self.u((z_rating, 0.97))
        )
        c["REGION_RATING_CLIENT_W_CITY"] = self.prof["REGION_RATING_CLIENT_W_CITY"].num(
            self.rng, self.n, self.u((z_rating, 0.97))
        )
        mobility = self.rng.standard_normal(self.n)
        for col in REG_FLAGS:
            c[col] = self.num(col, self.u((mobility, 0.7)))
        c["WEEKDAY_APPR_PROCESS_START"] = self.cat("WEEKDAY_APPR_PROCESS_START")
        c["HOUR_APPR_PROCESS_START"] = self.num("HOUR_APPR_PROCESS_START")

    def building(self, status: np.ndarray) -> None:
        """The *_AVG/_MODE/_MEDI block: one presence uniform (nested missingness, city dwellers
        more often documented) and one size factor (the metrics correlate strongly)."""
        rng, c, n = self.rng, self.cols, self.n
        present_u = self.u((status, 0.3))
        size = rng.standard_normal(n)
        for metric, load in BUILDING_METRICS.items():
            z = load * size + np.sqrt(1 - load**2) * rng.standard_normal(n)
            for suffix in ("AVG", "MODE", "MEDI"):
                col = f"{metric}_{suffix}"
                u = self.u((z, 0.995))
                c[col] = self.prof[col].num(rng, n, u, missing_u=present_u)
        c["TOTALAREA_MODE"] = self.prof["TOTALAREA_MODE"].num(
            rng, n, self.u((size, 0.93)), missing_u=present_u
        )
        levels_of = self.schema.column
        for col in BUILDING_TEXT:
            p = self.prof[col]
            levels = levels_of(col).levels
            drawn = p.cat(rng, n, missing=0.0, schema_levels=levels)
            codes = np.where(present_u < p.missing, np.int16(-1), drawn.codes)
            c[col] = Cat(codes.astype(np.int16), drawn.levels)

    def bureau_enquiries_and_documents(self) -> None:
        rng, c, n = self.rng, self.cols, self.n
        missing_u = rng.random(n)  # the six AMT_REQ_* are missing together
        for col in AMT_REQ:
            c[col] = self.prof[col].num(rng, n, missing_u=missing_u)
        for k in range(2, 22):
            c[f"FLAG_DOCUMENT_{k}"] = self.num(f"FLAG_DOCUMENT_{k}")

    def social_circle(self, risk: np.ndarray) -> None:
        """OBS_60 ~ OBS_30; defaults among acquaintances (DEF_*) rise with the client's risk."""
        rng, c, n = self.rng, self.cols, self.n
        missing_u = rng.random(n)
        obs30 = self.prof["OBS_30_CNT_SOCIAL_CIRCLE"].num(rng, n, missing_u=missing_u)
        jitter = np.where(rng.random(n) < 0.03, rng.integers(-1, 2, n), 0)
        obs60 = np.where(np.isnan(obs30), np.nan, np.maximum(0, obs30 + jitter))
        p_def = expit(-2.3 + 0.35 * risk)
        def30 = rng.binomial(np.nan_to_num(obs30).astype(np.int64), p_def).astype(float)
        def60 = rng.binomial(def30.astype(np.int64), 0.7).astype(float)
        c["OBS_30_CNT_SOCIAL_CIRCLE"] = obs30
        c["OBS_60_CNT_SOCIAL_CIRCLE"] = obs60
        c["DEF_30_CNT_SOCIAL_CIRCLE"] = np.where(np.isnan(obs30), np.nan, def30)
        c["DEF_60_CNT_SOCIAL_CIRCLE"] = np.where(np.isnan(obs30), np.nan, def60)

    def ext_sources(
        self,
        seen: list[np.ndarray],
        app_risk: np.ndarray,
        behaviour: np.ndarray,
        params: RiskParams,
    ) -> None:
        """EXT_SOURCE_k: a noisy, decreasing function of the risk bureau k sees (``seen[k]``)."""
        rng, c, n = self.rng, self.cols, self.n
        for k in range(3):
            col = f"EXT_SOURCE_{k + 1}"
            latent = (
                -params.ext_risk[k] * standard(seen[k])
                - params.ext_behaviour * behaviour
                + params.ext_age[k] * self.older
            )
            resid = 1 - params.ext_risk[k] ** 2 - params.ext_age[k] ** 2
            latent = latent + np.sqrt(max(resid, 0.05)) * rng.standard_normal(n)
            u = np.asarray(expit(1.702 * standard(latent)))  # logistic ~ normal CDF
            value = self.num(col, u, missing=0.0)
            miss = np.zeros(n)
            for g, m in self.masks.items():
                miss[m] = self._profile(g, col).missing
            if k == 2:
                miss = np.where(self.is_test, miss + self.shift.ext3_missing_add, miss)
            u_miss = self.u((app_risk, -params.ext_missing_risk))
            c[col] = np.where(u_miss < miss, np.nan, value)


def demographic_risk(
    calib: Calibration,
    cols: dict[str, Column],
    sentinel: np.ndarray,
    status: np.ndarray,
    params: RiskParams,
) -> np.ndarray:
    """Log-odds contribution of the application fields.

    -status_effect * status carries what education, occupation, organisation, income, car and
    housing say (they are drawn along ``status``, riskiest levels at low status); the fields of
    :data:`DIRECT_EFFECTS` add their real, smoothed log-odds effect times a weight below 1,
    because their marginal effects overlap (age, employment length and registration dates all
    partly measure age).
    """
    spec = calib.section("application", "risk_effects")
    score = -params.status_effect * status
    for col, s in spec["categorical"].items():
        weight = DIRECT_EFFECTS[col]
        effect = dict(zip(s["levels"], s["logodds"], strict=True))
        x = cols[col]
        if isinstance(x, Cat):
            table = np.array([effect.get(lv, 0.0) for lv in x.levels] + [effect.get("NA", 0.0)])
            score = score + weight * table[np.where(x.codes < 0, len(x.levels), x.codes)]
        else:
            vals, inv = np.unique(x, return_inverse=True)
            table = np.array([effect.get(str(int(v)), 0.0) for v in vals])
            score = score + weight * table[inv]
    derived = {
        "ANNUITY_RATE": np.asarray(cols["AMT_ANNUITY"]) / np.asarray(cols["AMT_CREDIT"]),
        "GOODS_RATIO": np.asarray(cols["AMT_GOODS_PRICE"]) / np.asarray(cols["AMT_CREDIT"]),
    }
    groups = {"employed": ~sentinel, "sentinel": sentinel}
    for col, per_group in spec["binned"].items():
        weight = DIRECT_EFFECTS[col]
        v = derived[col] if col in derived else np.asarray(cols[col], dtype=float)
        v = np.where(v == DAYS_SENTINEL, np.nan, v)
        for group, bins in per_group.items():
            m = groups[group]
            per_bin = np.asarray(bins["logodds"])
            idx = np.searchsorted(np.asarray(bins["edges"]), np.nan_to_num(v[m]), side="right")
            score[m] += weight * np.where(np.isnan(v[m]), bins["na"], per_bin[idx])
    return score


def generate_applications(
    calib: Calibration,
    rng: np.random.Generator,
    n_train: int,
    n_test: int,
    params: RiskParams | None = None,
    shift: TestShift | None = None,
) -> Applications:
    """Draw ``n_train + n_test`` clients; ids 100001.. are shuffled between train and test."""
    params = params or RiskParams()
    shift = shift or TestShift()
    n = n_train + n_test
    is_test = np.zeros(n, dtype=bool)
    is_test[rng.choice(n, size=n_test, replace=False)] = True
    b = _Builder(calib, rng, is_test, shift)
    status = rng.standard_normal(n)
    bureau_shared = rng.standard_normal(n)
    bureau_specific = rng.standard_normal((3, n))
    behaviour = rng.standard_normal(n)

    b.identity_and_work(status)
    b.loan()
    b.region()
    b.building(status)
    b.bureau_enquiries_and_documents()
    # acquaintances' defaults track the client's own credit quality, not TARGET itself
    b.social_circle(standard(bureau_shared - 0.3 * status))
    demo = demographic_risk(calib, b.cols, b.sentinel, status, params)
    shared = params.bureau_shared_sd * bureau_shared
    seen = [
        params.ext_demographic * demo + shared + params.bureau_specific_sd * bureau_specific[k]
        for k in range(3)
    ]
    visible = demo + shared + params.bureau_specific_sd * bureau_specific.sum(axis=0)
    app_risk = standard(visible)
    b.ext_sources(seen, app_risk, behaviour, params)

    logit = visible + params.behaviour_sd * behaviour
    train = ~is_test
    alpha = calibrate_intercept(logit[train], params.target_rate)
    target = (rng.random(n) < expit(alpha + logit)).astype(np.int8)
    target[is_test] = -1
    cols = b.cols
    sk_id = 100_001 + np.arange(n, dtype=np.int64)
    cols["SK_ID_CURR"] = sk_id
    cols["TARGET"] = target
    clients = Clients(
        sk_id=sk_id,
        is_test=is_test,
        days_birth=np.asarray(cols["DAYS_BIRTH"]).astype(np.int64),
        income=np.asarray(cols["AMT_INCOME_TOTAL"]),
        app_risk=app_risk,
        behaviour=behaviour,
        target=target,
    )
    return Applications(columns=cols, clients=clients)
