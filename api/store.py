"""The known-client store: ``clients.parquet`` held in memory, indexed and pre-scored.

Why in memory and pre-scored: the bundle's clients (application_test, ~49 k rows) fit in a few
hundred MB, and every dashboard page asks for them. Reading a CSV or even a parquet row per
request costs milliseconds; a dict lookup into numpy arrays costs microseconds. Scores of all
known clients are computed once, vectorised, at start-up (one booster call), so a lookup, a
filtered list or a group's approval rate never calls the model.

What is held (per worker process):

- ``X``: the model matrix (float64, model column order) — what the booster saw, reused for
  explanations and population statistics;
- ``proba`` / ``refused``: calibrated probabilities and decisions;
- descriptive columns (contract type, gender, age, income, credit, ...) and the income/age
  bands of :mod:`api.bands`; comparable groups (same age band, income band, contract type)
  as arrays of row positions.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from api import bands
from scoring.bundle import Bundle, BundleError
from scoring.schema import DAYS_SENTINEL

log = logging.getLogger(__name__)

CLIENTS_FILE = "clients.parquet"
ID = "SK_ID_CURR"
#: Raw columns the store needs beyond the model features (lists, filters, groups).
REQUIRED_COLUMNS: tuple[str, ...] = (
    ID,
    "NAME_CONTRACT_TYPE",
    "CODE_GENDER",
    "DAYS_BIRTH",
    "AMT_INCOME_TOTAL",
    "AMT_CREDIT",
)
#: Response field → raw column, for the descriptive ``info`` of a client (absent → null).
INFO_TEXT: dict[str, str] = {
    "contract_type": "NAME_CONTRACT_TYPE",
    "gender": "CODE_GENDER",
    "income_type": "NAME_INCOME_TYPE",
    "education": "NAME_EDUCATION_TYPE",
    "family_status": "NAME_FAMILY_STATUS",
    "housing_type": "NAME_HOUSING_TYPE",
    "occupation": "OCCUPATION_TYPE",
    "organization": "ORGANIZATION_TYPE",
    "owns_car": "FLAG_OWN_CAR",
    "owns_realty": "FLAG_OWN_REALTY",
}
INFO_NUMBER: dict[str, str] = {
    "income": "AMT_INCOME_TOTAL",
    "credit": "AMT_CREDIT",
    "annuity": "AMT_ANNUITY",
    "goods_price": "AMT_GOODS_PRICE",
    "children": "CNT_CHILDREN",
}
QUANTILES: tuple[tuple[str, float], ...] = (
    ("p05", 0.05),
    ("p25", 0.25),
    ("p50", 0.50),
    ("p75", 0.75),
    ("p95", 0.95),
)

GroupKey = tuple[str | None, str | None, str | None]


def _text(values: pd.Series) -> np.ndarray:
    """Object array of ``str`` or ``None`` (pandas NA/NaN become ``None``)."""
    arr = values.astype("object").to_numpy()
    return np.array([None if v is None or v is pd.NA or v != v else str(v) for v in arr], object)


def _number(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        return np.full(len(frame), np.nan)
    return pd.to_numeric(frame[column], errors="coerce").astype("float64").to_numpy()


def _opt(v: float) -> float | None:
    return None if math.isnan(v) else float(v)


@dataclass
class FeatureStats:
    """Sorted non-missing values of one feature over a set of rows (percentiles by bisection)."""

    sorted_values: np.ndarray
    n_missing: int

    @classmethod
    def of(cls, column: np.ndarray) -> FeatureStats:
        ok = ~np.isnan(column)
        return cls(np.sort(column[ok]), int((~ok).sum()))

    @property
    def n(self) -> int:
        return int(self.sorted_values.size)

    def percentile(self, value: float) -> float | None:
        """Share (0-100) of the values strictly below ``value``, plus half of the ties."""
        if math.isnan(value) or self.n == 0:
            return None
        lo = np.searchsorted(self.sorted_values, value, side="left")
        hi = np.searchsorted(self.sorted_values, value, side="right")
        return float(100.0 * (lo + 0.5 * (hi - lo)) / self.n)

    def quantile(self, q: float) -> float | None:
        """numpy's default (linear) quantile, read off the sorted values in O(1)."""
        n = self.n
        if n == 0:
            return None
        pos = q * (n - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, n - 1)
        a = self.sorted_values
        return float(a[lo] + (a[hi] - a[lo]) * (pos - lo))


@dataclass
class ClientStore:
    """Known clients, indexed by ``SK_ID_CURR``. Build with :meth:`load` or :meth:`empty`."""

    bundle: Bundle
    ids: np.ndarray
    X: np.ndarray
    proba: np.ndarray
    refused: np.ndarray
    text: dict[str, np.ndarray]
    numbers: dict[str, np.ndarray]
    age_years: np.ndarray
    years_employed: np.ndarray
    age_band: np.ndarray
    income_band: np.ndarray
    index: dict[int, int] = field(default_factory=dict)
    groups: dict[GroupKey, np.ndarray] = field(default_factory=dict)
    _categorical: list[tuple[int, str]] = field(default_factory=list)
    _medians: dict[int, float | str | None] = field(default_factory=dict)
    _stats: dict[int, FeatureStats] = field(default_factory=dict)

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def load(cls, bundle: Bundle, path: Path | None = None) -> ClientStore:
        """Read ``clients.parquet`` next to the bundle; :class:`BundleError` if unusable.

        A bundle without the file serves no known clients (logged): scoring raw applications
        does not need it.
        """
        path = path or Path(bundle.root) / CLIENTS_FILE
        if not path.is_file():
            log.warning("%s not found: no known clients will be served", path)
            return cls.empty(bundle)
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise BundleError(f"{path}: not a readable parquet file ({exc})") from exc
        need = [c for c in (*REQUIRED_COLUMNS, *bundle.feature_names) if c not in frame.columns]
        if need:
            raise BundleError(f"{path}: missing {len(need)} columns, e.g. {need[:5]}")
        if frame[ID].isna().any() or frame[ID].duplicated().any():
            dup = frame.loc[frame[ID].duplicated(), ID].head(3).tolist()
            raise BundleError(f"{path}: {ID} must be unique and non-null (duplicates: {dup})")
        return cls.from_frame(bundle, frame)

    @classmethod
    def from_frame(cls, bundle: Bundle, frame: pd.DataFrame) -> ClientStore:
        frame = frame.sort_values(ID, kind="stable").reset_index(drop=True)
        X = bundle.encode(frame)
        proba = bundle.predict_proba(X) if len(frame) else np.empty(0)
        days_birth = _number(frame, "DAYS_BIRTH")
        days_employed = _number(frame, "DAYS_EMPLOYED")
        employed = np.where(days_employed == DAYS_SENTINEL, np.nan, days_employed)
        income = _number(frame, "AMT_INCOME_TOTAL")
        text = {
            k: _text(frame[c]) if c in frame.columns else np.full(len(frame), None, object)
            for k, c in INFO_TEXT.items()
        }
        store = cls(
            bundle=bundle,
            ids=frame[ID].to_numpy(dtype=np.int64),
            X=X,
            proba=np.asarray(proba, dtype=np.float64),
            refused=np.asarray(proba, dtype=np.float64) >= bundle.threshold,
            text=text,
            numbers={k: _number(frame, c) for k, c in INFO_NUMBER.items()},
            age_years=bands.age_years(days_birth),
            years_employed=-employed / bands.DAYS_PER_YEAR,
            age_band=bands.age_band(days_birth),
            income_band=bands.income_band(income),
        )
        store.index = {int(i): pos for pos, i in enumerate(store.ids)}
        store._categorical = [
            (j, n) for j, n in enumerate(bundle.feature_names) if n in bundle.categorical_levels
        ]
        keys: dict[GroupKey, list[int]] = {}
        for pos in range(len(store.ids)):
            keys.setdefault(store.group_key(pos), []).append(pos)
        store.groups = {k: np.asarray(v, dtype=np.int64) for k, v in keys.items()}
        return store

    @classmethod
    def empty(cls, bundle: Bundle) -> ClientStore:
        columns: dict[str, Any] = {c: pd.Series(dtype="float64") for c in REQUIRED_COLUMNS}
        columns.update({f: pd.Series(dtype="float64") for f in bundle.feature_names})
        return cls.from_frame(bundle, pd.DataFrame(columns))

    # -- lookups --------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.ids.size)

    def position(self, sk_id_curr: int) -> int | None:
        return self.index.get(sk_id_curr)

    def group_key(self, pos: int) -> GroupKey:
        """The comparable group of a client: (age band, income band, contract type)."""
        return (
            self.age_band[pos],
            self.income_band[pos],
            self.text["contract_type"][pos],
        )

    def group_rows(self, pos: int) -> np.ndarray:
        """Rows of the client's comparable group, the client excluded."""
        rows = self.groups.get(self.group_key(pos), np.empty(0, dtype=np.int64))
        return rows[rows != pos]

    def feature_record(
        self, pos: int, names: Sequence[str] | None = None
    ) -> dict[str, float | str | None]:
        """A client's model inputs (all, or ``names``) as the event store wants them: levels
        as text, missing as ``None``."""
        all_names = self.bundle.feature_names
        values: list[float | str | None] = [None if v != v else v for v in self.X[pos].tolist()]
        decode = self.bundle.decode_value
        for j, name in self._categorical:
            values[j] = decode(name, float(self.X[pos, j]))
        record = dict(zip(all_names, values, strict=True))
        return record if names is None else {n: record[n] for n in names}

    def filter(
        self,
        *,
        contract_type: str | None = None,
        income_band: str | None = None,
        age_band: str | None = None,
        decision: str | None = None,
        gender: str | None = None,
    ) -> np.ndarray:
        """Row positions matching every given criterion, in ``SK_ID_CURR`` order."""
        mask = np.ones(len(self), dtype=bool)
        if contract_type is not None:
            mask &= self.text["contract_type"] == contract_type
        if gender is not None:
            mask &= self.text["gender"] == gender
        if income_band is not None:
            mask &= self.income_band == income_band
        if age_band is not None:
            mask &= self.age_band == age_band
        if decision is not None:
            mask &= self.refused if decision == "refused" else ~self.refused
        return np.flatnonzero(mask)

    # -- statistics -----------------------------------------------------------------------------
    def stats(self, j: int) -> FeatureStats:
        """Sorted values of feature ``j`` over every known client (cached per feature)."""
        hit = self._stats.get(j)
        if hit is None:
            hit = self._stats[j] = FeatureStats.of(self.X[:, j])
        return hit

    def quantiles(self, st: FeatureStats) -> dict[str, float]:
        """p05, p25, p50, p75, p95 of a set of values (empty when it has none)."""
        out: dict[str, float] = {}
        for name, q in QUANTILES:
            v = st.quantile(q)
            if v is not None:
                out[name] = v
        return out

    def histogram(
        self, j: int, bins: int, rows: Sequence[int] | np.ndarray | None = None
    ) -> tuple[list[float], list[int]]:
        """(edges, counts) of feature ``j`` (missing values left out).

        Categorical features get one bin per level, centred on the level codes.
        """
        name = self.bundle.feature_names[j]
        col = self.X[:, j] if rows is None else self.X[np.asarray(rows, dtype=np.int64), j]
        col = col[~np.isnan(col)]
        if name in self.bundle.categorical_levels:
            k = len(self.bundle.categorical_levels[name])
            counts = np.bincount(col.astype(np.int64), minlength=k)[:k]
            edges = np.arange(k + 1, dtype=np.float64) - 0.5
            return edges.tolist(), counts.tolist()
        if col.size == 0:
            return [0.0, 1.0], [0]
        lo, hi = float(col.min()), float(col.max())
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        counts, edges = np.histogram(col, bins=bins, range=(lo, hi))
        return edges.tolist(), counts.tolist()

    def median_value(self, j: int) -> float | str | None:
        """Population median of a numeric feature, most frequent level of a categorical one."""
        if j in self._medians:
            return self._medians[j]
        name = self.bundle.feature_names[j]
        st = self.stats(j)
        value: float | str | None = None
        if st.n and name in self.bundle.categorical_levels:
            codes = st.sorted_values.astype(np.int64)
            value = self.bundle.decode_value(name, float(np.bincount(codes).argmax()))
        elif st.n:
            value = st.quantile(0.5)
        self._medians[j] = value
        return value
