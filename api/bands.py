"""Income and age bands: the one definition the API, its filters and the dashboard share.

Why fixed bands and not quantiles of the known clients: a band is a filter value the dashboard
and a relationship officer type and remember ("income 150k-225k"); quantile edges would move
with every new bundle and make yesterday's link point at a different group.

Income bands use ``AMT_INCOME_TOTAL`` (annual income, currency units as in Kaggle). The edges
sit close to the Kaggle quartiles (112.5k, 147.15k, 202.5k on application_train), rounded to
amounts people quote. Age bands use ``DAYS_BIRTH`` (days before the application, negative):
``age_years = -DAYS_BIRTH / 365.25``. Each band is closed on the left, open on the right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class Band:
    """One band: an identifier used in URLs, a label for people, and its ``[low, high)`` range."""

    id: str
    label: str
    low: float
    high: float


INCOME_BANDS: tuple[Band, ...] = (
    Band("lt_100k", "under 100k", -math.inf, 100_000.0),
    Band("100k_150k", "100k to 150k", 100_000.0, 150_000.0),
    Band("150k_225k", "150k to 225k", 150_000.0, 225_000.0),
    Band("225k_300k", "225k to 300k", 225_000.0, 300_000.0),
    Band("ge_300k", "300k and more", 300_000.0, math.inf),
)

AGE_BANDS: tuple[Band, ...] = (
    Band("lt_30", "under 30", -math.inf, 30.0),
    Band("30_39", "30 to 39", 30.0, 40.0),
    Band("40_49", "40 to 49", 40.0, 50.0),
    Band("50_59", "50 to 59", 50.0, 60.0),
    Band("ge_60", "60 and over", 60.0, math.inf),
)

INCOME_BAND_IDS: tuple[str, ...] = tuple(b.id for b in INCOME_BANDS)
AGE_BAND_IDS: tuple[str, ...] = tuple(b.id for b in AGE_BANDS)


def age_years(days_birth: np.ndarray) -> np.ndarray:
    """Age in years from Kaggle's ``DAYS_BIRTH`` (negative days before the application)."""
    return -np.asarray(days_birth, dtype=np.float64) / DAYS_PER_YEAR


def _assign(values: np.ndarray, bands: tuple[Band, ...]) -> np.ndarray:
    """Band id per value (``None`` for a missing value), vectorised with ``searchsorted``."""
    v = np.asarray(values, dtype=np.float64)
    inner_edges = np.array([b.low for b in bands[1:]], dtype=np.float64)
    idx = np.searchsorted(inner_edges, v, side="right")
    ids = np.array([b.id for b in bands], dtype=object)
    out = ids[idx]
    out[np.isnan(v)] = None
    return out


def income_band(amt_income_total: np.ndarray) -> np.ndarray:
    """Income band id of each ``AMT_INCOME_TOTAL`` (object array, ``None`` when missing)."""
    return _assign(amt_income_total, INCOME_BANDS)


def age_band(days_birth: np.ndarray) -> np.ndarray:
    """Age band id of each ``DAYS_BIRTH`` (object array, ``None`` when missing)."""
    return _assign(age_years(days_birth), AGE_BANDS)


def band_label(band_id: str) -> str:
    """The human label of a band id (either family); the id itself when unknown."""
    for b in (*INCOME_BANDS, *AGE_BANDS):
        if b.id == band_id:
            return b.label
    return band_id
