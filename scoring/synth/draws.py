"""Vectorised random building blocks shared by the table generators (no per-row Python loops)."""

from __future__ import annotations

import numpy as np
from scipy.special import expit, ndtr, ndtri  # scipy ships with lightgbm (a core dependency)


def standard(x: np.ndarray) -> np.ndarray:
    """Centre and scale to unit variance, so that it can serve as a copula factor."""
    sd = float(np.std(x))
    return (x - float(np.mean(x))) / (sd if sd > 0 else 1.0)


def normal_score(u: np.ndarray) -> np.ndarray:
    """Inverse normal CDF, clipped away from 0/1 so that it stays finite."""
    return np.asarray(ndtri(np.clip(u, 1e-9, 1 - 1e-9)))


def copula_u(rng: np.random.Generator, n: int, *loadings: tuple[np.ndarray, float]) -> np.ndarray:
    """Uniform whose normal score loads ``w`` on each unit-variance factor ``f``.

    u = Phi(sum w_k f_k + sqrt(1 - sum w_k^2) eps): feeding it to an inverse CDF keeps the real
    marginal while giving the column a rank correlation of about ``w`` with each factor.
    """
    z = np.zeros(n)
    total = 0.0
    for f, w in loadings:
        z += w * f
        total += w * w
    if total >= 1:
        raise ValueError(f"copula loadings must have sum of squares < 1, got {total:.3f}")
    z += np.sqrt(1 - total) * rng.standard_normal(n)
    return np.asarray(ndtr(z))


def logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def neg_binomial_counts(
    rng: np.random.Generator, mean: np.ndarray, dispersion: float
) -> np.ndarray:
    """Over-dispersed counts with the given per-row mean (gamma-Poisson mixture)."""
    lam = rng.gamma(dispersion, np.maximum(mean, 1e-9) / dispersion)
    return rng.poisson(lam)


def ragged_index(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For parents with ``counts`` children: parent index and 0-based position of each child."""
    counts = counts.astype(np.int64)
    parent = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    pos = np.arange(int(counts.sum())) - np.repeat(starts, counts)
    return parent, pos


def calibrate_intercept(score: np.ndarray, target_rate: float) -> float:
    """Intercept a such that mean(sigmoid(a + score)) == target_rate (bisection, 60 steps)."""
    lo, hi = -30.0, 30.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if float(np.mean(expit(mid + score))) < target_rate:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def logit_array(p: np.ndarray) -> np.ndarray:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return np.asarray(np.log(q / (1 - q)))
