"""Marginal profiles of the real Kaggle columns, and how to draw from them.

``scoring/resources/synth_calibration.json`` (built by ``tools/build_synth_calibration.py``)
stores, per column, a missing rate and either level frequencies (``cat``), value frequencies
(``discrete``: numeric with <= 100 distinct values) or quantiles on a fixed probability grid
(``cont``) plus the rounding habits of the column (decimals, and the share of values that are
multiples of a round number such as 22 500). Drawing goes through a uniform ``u`` so that callers
can correlate columns (a Gaussian copula): the marginal stays the real one whatever ``u``'s
dependence on the client's latent factors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from scoring.schema import DAYS_SENTINEL

FloatArray = np.ndarray


@dataclass(frozen=True)
class Cat:
    """A text column as integer codes into ``levels`` (-1 = missing): compact and fast to write."""

    codes: np.ndarray
    levels: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.codes)

    def values(self) -> np.ndarray:
        """Object array of the text values (None = missing); for tests and small tables."""
        lv = np.array([*self.levels, None], dtype=object)
        return lv[np.where(self.codes < 0, len(self.levels), self.codes)]

    def is_(self, level: str) -> np.ndarray:
        if level not in self.levels:
            return np.zeros(len(self.codes), dtype=bool)
        return self.codes == self.levels.index(level)

    def isin(self, levels: tuple[str, ...] | list[str]) -> np.ndarray:
        return np.isin(self.codes, [self.levels.index(x) for x in levels if x in self.levels])

    def take(self, idx: np.ndarray) -> Cat:
        return Cat(self.codes[idx], self.levels)


@dataclass(frozen=True)
class Profile:
    """Marginal distribution of one column, as calibrated on real rows."""

    name: str
    kind: str  # "cat" | "discrete" | "cont" | "empty"
    missing: float
    levels: tuple[str, ...] = ()
    values: FloatArray | None = None
    p: FloatArray | None = None
    q: FloatArray | None = None
    grid: FloatArray | None = None
    decimals: int | None = None
    quantum: tuple[float, float] | None = None
    sentinel: float = 0.0
    target_rate: tuple[float, ...] | None = None  # real default rate per level (application)

    @classmethod
    def from_json(cls, name: str, raw: dict[str, Any], grids: dict[str, list[float]]) -> Profile:
        kind = raw["kind"]
        common: dict[str, Any] = {
            "name": name,
            "kind": kind,
            "missing": float(raw["missing"]),
            "sentinel": float(raw.get("sentinel", 0.0)),
        }
        if kind == "cat":
            p = np.asarray(raw["p"], dtype=float)
            rates = raw.get("target_rate")
            return cls(
                levels=tuple(raw["levels"]),
                p=p / p.sum(),
                target_rate=tuple(rates) if rates is not None else None,
                **common,
            )
        if kind == "discrete":
            p = np.asarray(raw["p"], dtype=float)
            return cls(values=np.asarray(raw["values"], dtype=float), p=p / p.sum(), **common)
        if kind == "cont":
            q = raw.get("quantum")
            return cls(
                q=np.asarray(raw["q"], dtype=float),
                grid=np.asarray(grids[raw["grid"]], dtype=float),
                decimals=raw["decimals"],
                quantum=(float(q[0]), float(q[1])) if q else None,
                **common,
            )
        return cls(**common)

    # ------------------------------------------------------------------ drawing
    def level_probs(
        self, order: tuple[str, ...] | None = None
    ) -> tuple[tuple[str, ...], FloatArray]:
        """Levels (optionally re-ordered, e.g. riskiest first) and their probabilities."""
        if self.kind != "cat" or self.p is None:
            raise TypeError(f"{self.name}: not a categorical profile")
        if order is None:
            return self.levels, self.p
        freq = dict(zip(self.levels, self.p, strict=True))
        levels = tuple(x for x in order if x in freq) + tuple(
            x for x in self.levels if x not in order
        )
        return levels, np.array([freq[x] for x in levels])

    def cat(
        self,
        rng: np.random.Generator,
        n: int,
        u: FloatArray | None = None,
        *,
        order: tuple[str, ...] | None = None,
        missing: float | None = None,
        schema_levels: tuple[str, ...] | None = None,
    ) -> Cat:
        """Draw a text column. ``order`` sorts levels along ``u`` (low u -> first levels)."""
        levels, p = self.level_probs(order)
        u = rng.random(n) if u is None else u
        idx = np.minimum(np.searchsorted(np.cumsum(p), u, side="right"), len(p) - 1)
        out_levels = schema_levels if schema_levels is not None else levels
        unknown = [x for x in levels if x not in out_levels]
        if unknown:
            raise ValueError(f"{self.name}: calibrated levels {unknown} are not Kaggle levels")
        remap = np.array([out_levels.index(x) for x in levels], dtype=np.int16)
        codes = remap[idx]
        miss = self.missing if missing is None else missing
        if miss > 0:
            codes = np.where(rng.random(n) < miss, np.int16(-1), codes)
        return Cat(codes.astype(np.int16), out_levels)

    def num(
        self,
        rng: np.random.Generator,
        n: int,
        u: FloatArray | None = None,
        *,
        missing: float | None = None,
        missing_u: FloatArray | None = None,
        sentinel: float | None = None,
    ) -> FloatArray:
        """Draw a numeric column through its inverse CDF, with the column's rounding habits.

        ``missing_u`` lets several columns share one uniform, so that their missingness is
        nested (the real building-information block is missing as a whole).
        """
        u = rng.random(n) if u is None else u
        if self.kind == "discrete":
            assert self.values is not None and self.p is not None
            idx = np.minimum(np.searchsorted(np.cumsum(self.p), u, side="right"), len(self.p) - 1)
            x = self.values[idx]
        elif self.kind == "cont":
            assert self.q is not None and self.grid is not None
            x = np.interp(u, self.grid, self.q)
            x = self.round(rng, x)
        elif self.kind == "empty":
            x = np.full(n, np.nan)
        else:
            raise TypeError(f"{self.name}: categorical profile drawn as a number")
        sent = self.sentinel if sentinel is None else sentinel
        if sent > 0:
            x = np.where(rng.random(n) < sent, float(DAYS_SENTINEL), x)
        miss = self.missing if missing is None else missing
        if miss > 0:
            mu = rng.random(n) if missing_u is None else missing_u
            x = np.where(mu < miss, np.nan, x)
        return x

    def round(self, rng: np.random.Generator, x: FloatArray) -> FloatArray:
        """Round like the real column: a share on its 'round number' grid, the rest to decimals."""
        if self.quantum is not None:
            step, share = self.quantum
            on_grid = rng.random(len(x)) < share
            x = np.where(on_grid, np.round(x / step) * step, x)
        if self.decimals is not None:
            x = np.round(x, self.decimals)
        if self.q is not None:
            x = np.clip(x, self.q[0], self.q[-1])
        return x

    def share(self, level: str) -> float:
        """Probability of one level among non-missing values (0 when never seen)."""
        if self.kind == "cat" and self.p is not None:
            return float(dict(zip(self.levels, self.p, strict=True)).get(level, 0.0))
        if self.kind == "discrete" and self.values is not None and self.p is not None:
            return float(self.p[self.values == float(level)].sum())
        raise TypeError(f"{self.name}: no level share for kind {self.kind}")


class Profiles:
    """Profiles of one table (or segment), looked up by column name with a clear error."""

    def __init__(self, where: str, raw: dict[str, Any], grids: dict[str, list[float]]) -> None:
        self.where = where
        self._raw = raw
        self._grids = grids
        self._cache: dict[str, Profile] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._raw

    def __getitem__(self, name: str) -> Profile:
        if name not in self._cache:
            if name not in self._raw:
                raise KeyError(f"synth calibration has no profile for {self.where}.{name}")
            self._cache[name] = Profile.from_json(name, self._raw[name], self._grids)
        return self._cache[name]


@dataclass(frozen=True)
class Segment:
    share: float
    columns: Profiles


@dataclass(frozen=True)
class Calibration:
    raw: dict[str, Any]

    @property
    def grids(self) -> dict[str, list[float]]:
        return dict(self.raw["grids"])

    def columns(self, table: str) -> Profiles:
        return Profiles(table, self.raw[table]["columns"], self.grids)

    def segments(self, table: str, key: str) -> dict[str, Segment]:
        return {
            name: Segment(
                float(seg["share"]), Profiles(f"{table}[{name}]", seg["columns"], self.grids)
            )
            for name, seg in self.raw[table][key].items()
        }

    def profile(self, table: str, key: str) -> Profile:
        """A standalone profile stored at ``raw[table][key]`` (e.g. a derived ratio)."""
        return Profile.from_json(f"{table}.{key}", self.raw[table][key], self.grids)

    def section(self, table: str, key: str) -> Any:
        return self.raw[table][key]


@cache
def load_calibration() -> Calibration:
    """The committed calibration (derived statistics only; see tools/build_synth_calibration.py)."""
    text = (
        resources.files("scoring").joinpath("resources/synth_calibration.json").read_text("utf-8")
    )
    return Calibration(json.loads(text))


class SegmentedDraws:
    """Draw columns row-wise from the profile of each row's segment (e.g. the credit's status).

    ``profiles[k]`` serves rows with ``codes == k``; a column missing from a segment's profiles
    falls back to the table-wide profile.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        codes: np.ndarray,
        profiles: list[Profiles | None],
        fallback: Profiles,
    ) -> None:
        self.rng = rng
        self.codes = codes
        self.profiles = profiles
        self.fallback = fallback
        self.masks = [codes == k for k in range(len(profiles))]

    def profile(self, k: int, col: str) -> Profile:
        p = self.profiles[k]
        return p[col] if p is not None and col in p else self.fallback[col]

    def num(
        self, col: str, u: np.ndarray | None = None, *, missing: float | None = None
    ) -> np.ndarray:
        out = np.full(len(self.codes), np.nan)
        for k, m in enumerate(self.masks):
            if m.any():
                out[m] = self.profile(k, col).num(
                    self.rng, int(m.sum()), None if u is None else u[m], missing=missing
                )
        return out

    def cat(self, col: str, levels: tuple[str, ...], *, missing: float | None = None) -> Cat:
        codes = np.full(len(self.codes), -1, dtype=np.int16)
        for k, m in enumerate(self.masks):
            p = self.profile(k, col)
            if m.any() and p.kind != "empty":
                codes[m] = p.cat(
                    self.rng, int(m.sum()), schema_levels=levels, missing=missing
                ).codes
        return Cat(codes, levels)

    def missing_rate(self, col: str) -> np.ndarray:
        rates = np.array([self.profile(k, col).missing for k in range(len(self.profiles))])
        return rates[self.codes]
