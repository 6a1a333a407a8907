"""Model and resampling factories: one imblearn Pipeline per (model, resampling strategy).

Every pipeline has the same shape, so cross-validation treats them alike and nothing is fitted
outside the training rows of a fold:

    encode (categorical levels fitted on the fold) → resample (fold only) → [prep] → classifier

- ``encode`` is :func:`scoring.bundle.encode_frame`, the function the API uses, so training and
  serving can never disagree on categorical codes. Unseen levels become NaN.
- ``resample`` is an imbalanced-learn sampler. imblearn Pipelines apply samplers in ``fit`` only,
  never in ``predict``: validation rows are scored as they are, never resampled or synthesised.
- ``prep`` (logistic only) imputes medians, scales, and one-hot encodes the level codes; it is
  exported as numbers into :class:`scoring.bundle.LinearModel`.
- LightGBM handles NaN and categorical codes natively and early-stops on a slice of the rows it
  is given (part of the training fold, never the validation fold).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import lightgbm as lgb
import numpy as np
import pandas as pd
from imblearn import FunctionSampler
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import Pipeline
from imblearn.under_sampling import RandomUnderSampler
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.pipeline import Pipeline as SkPipeline
from sklearn.preprocessing import StandardScaler

from scoring.bundle import LinearModel, encode_frame, fit_categorical_levels
from scoring.calibration import CalibrationMethod, check_method

ModelKind = Literal["dummy", "logistic", "lightgbm"]
Strategy = Literal["none", "class_weight", "smote", "undersample"]
MODEL_KINDS: tuple[str, ...] = ("dummy", "logistic", "lightgbm")
STRATEGIES: tuple[str, ...] = ("none", "class_weight", "smote", "undersample")
#: Models that can be bundled and served; the dummy is only a reference point.
SERVABLE_KINDS: tuple[str, ...] = ("logistic", "lightgbm")

#: Keys of conf/model/lightgbm.yaml that drive the wrapper rather than LightGBM itself.
LGBM_CONTROL_KEYS = frozenset(
    {"n_estimators", "early_stopping_rounds", "early_stopping_fraction", "metric", "num_threads"}
)
#: LightGBM parameters a config may set or search (anything else is a typo and fails loudly).
LGBM_PARAM_KEYS = frozenset(
    {
        "learning_rate",
        "num_leaves",
        "max_depth",
        "min_child_samples",
        "min_sum_hessian_in_leaf",
        "feature_fraction",
        "bagging_fraction",
        "bagging_freq",
        "lambda_l1",
        "lambda_l2",
        "min_gain_to_split",
        "cat_smooth",
        "cat_l2",
        "max_cat_to_onehot",
        "min_data_per_group",
        "max_bin",
        "path_smooth",
    }
)
LOGISTIC_KEYS = frozenset({"C", "max_iter", "tol", "solver"})
_ALLOWED: dict[str, frozenset[str]] = {
    "dummy": frozenset(),
    "logistic": LOGISTIC_KEYS,
    "lightgbm": LGBM_CONTROL_KEYS | LGBM_PARAM_KEYS,
}


# --------------------------------------------------------------------------------------------
# Specs (params at the boundary become frozen dataclasses)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSpec:
    """One ``conf/model/<kind>.yaml``: fixed parameters and the Optuna search space.

    ``params`` holds every fixed value and the default of every searched one (the search enqueues
    the defaults as its first trial, so it never ends worse than the config's defaults).
    """

    kind: ModelKind
    params: dict[str, Any] = field(default_factory=dict)
    space: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_params(cls, section: Mapping[str, Any]) -> ModelSpec:
        if "kind" not in section:
            raise KeyError("model section lacks 'kind' (dummy | logistic | lightgbm)")
        kind = str(section["kind"])
        if kind not in MODEL_KINDS:
            raise ValueError(f"model.kind {kind!r} is not one of {MODEL_KINDS}")
        space = {str(k): dict(v) for k, v in (section.get("space") or {}).items()}
        params = {str(k): v for k, v in section.items() if k not in ("kind", "space")}
        unknown = sorted((set(params) | set(space)) - _ALLOWED[kind])
        if unknown:
            raise ValueError(
                f"model {kind!r}: unknown parameter(s) {unknown}; allowed: {sorted(_ALLOWED[kind])}"
            )
        return cls(kind=cast(ModelKind, kind), params=params, space=space)


@dataclass(frozen=True)
class ResampleSpec:
    """One ``conf/resample/<strategy>.yaml``.

    ``ratio`` is the minority/majority ratio after resampling (SMOTE, undersampling);
    ``calibration`` is how the distorted probabilities are mapped back (see scoring.calibration).
    """

    strategy: Strategy
    ratio: float = 1.0
    k_neighbors: int = 5
    calibration: CalibrationMethod = "none"

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"resample.strategy {self.strategy!r} is not one of {STRATEGIES}")
        if not 0 < self.ratio <= 1:
            raise ValueError(f"resample.ratio must be in (0, 1], got {self.ratio}")
        if self.k_neighbors < 1:
            raise ValueError(f"resample.k_neighbors must be >= 1, got {self.k_neighbors}")
        check_method(self.calibration)

    @classmethod
    def from_params(cls, section: Mapping[str, Any]) -> ResampleSpec:
        unknown = sorted(set(section) - {"strategy", "ratio", "k_neighbors", "calibration"})
        if unknown:
            raise ValueError(f"resample section: unknown key(s) {unknown}")
        return cls(
            strategy=cast(Strategy, str(section["strategy"])),
            ratio=float(section.get("ratio", 1.0)),
            k_neighbors=int(section.get("k_neighbors", 5)),
            calibration=check_method(str(section.get("calibration", "none"))),
        )


# --------------------------------------------------------------------------------------------
# Transformers
# --------------------------------------------------------------------------------------------
class CategoricalEncoder(TransformerMixin, BaseEstimator):
    """Frame → model matrix with :func:`scoring.bundle.encode_frame`; levels fitted in ``fit``."""

    def __init__(self, feature_names: Sequence[str] = (), categorical: Sequence[str] = ()) -> None:
        self.feature_names = feature_names
        self.categorical = categorical

    def fit(self, X: pd.DataFrame, y: Any = None) -> CategoricalEncoder:
        self.levels_ = fit_categorical_levels(X, list(self.categorical))
        self.n_features_in_ = len(self.feature_names)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        return encode_frame(X, list(self.feature_names), self.levels_)


class NoFeatures(TransformerMixin, BaseEstimator):
    """One constant column: what the dummy sees (it ignores features by definition).

    Resampling still runs on it, so the dummy's prior moves exactly as under real features,
    without encoding and synthesising ~1,000 columns the dummy would never look at.
    """

    def fit(self, X: pd.DataFrame, y: Any = None) -> NoFeatures:
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        return np.zeros((len(X), 1))


class OneHotCodes(TransformerMixin, BaseEstimator):
    """One-hot of integer level codes; NaN and unseen codes → all zeros.

    Written out rather than sklearn's OneHotEncoder because it must match
    :class:`scoring.bundle.LinearModel` exactly: one coefficient per level code, and a missing or
    unknown level contributes nothing.
    """

    def fit(self, X: np.ndarray, y: Any = None) -> OneHotCodes:
        X = np.asarray(X, dtype=np.float64)
        self.n_levels_ = [
            int(np.nanmax(X[:, j])) + 1 if np.isfinite(X[:, j]).any() else 0
            for j in range(X.shape[1])
        ]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        blocks = []
        for j, n in enumerate(self.n_levels_):
            block = np.zeros((X.shape[0], n), dtype=np.float64)
            col = X[:, j]
            ok = np.isfinite(col) & (col >= 0) & (col < n)
            block[np.flatnonzero(ok), col[ok].astype(np.int64)] = 1.0
            blocks.append(block)
        return np.hstack(blocks) if blocks else np.empty((X.shape[0], 0))


# --------------------------------------------------------------------------------------------
# Samplers
# --------------------------------------------------------------------------------------------
def missing_aware_smote(
    X: np.ndarray,
    y: np.ndarray,
    *,
    categorical_idx: Sequence[int],
    ratio: float,
    k_neighbors: int,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """SMOTE for mixed numeric/categorical data with missing values.

    Plain SMOTE cannot interpolate NaN, measures distances in raw units (credit amounts would
    drown every ratio) and would interpolate level codes into meaningless numbers. So:

    - neighbours and interpolation live in a design space: numeric columns median-filled and
      standardised; each categorical one-hot encoded (a missing level is a level of its own) and
      scaled by 1/sqrt(2), so that differing on a category counts like one standard deviation;
    - the original rows come back unchanged (NaN kept, so LightGBM still learns from missingness);
    - synthetic rows are mapped back: numeric un-standardised (and rounded where the column holds
      only integers), each categorical to the level with the largest interpolated one-hot weight,
      the "missing" level to NaN.

    This is SMOTE-NC's idea with a cheaper categorical rule (imblearn's SMOTENC spent 10 s per
    fold inverse-transforming a sparse one-hot of every row; this takes a fraction of a second).
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    n, k = X.shape
    cat = np.zeros(k, dtype=bool)
    cat[list(categorical_idx)] = True
    num_cols = np.flatnonzero(~cat)
    cat_cols = np.flatnonzero(cat)
    minority = int(min(np.sum(y == 0), np.sum(y == 1)))
    k_eff = min(k_neighbors, minority - 1)
    if k_eff < 1:
        raise ValueError(f"SMOTE needs at least 2 minority rows in a fold, got {minority}")

    blocks: list[np.ndarray] = []
    num = X[:, num_cols]
    medians = np.zeros(num_cols.size)
    finite_any = np.isfinite(num).any(axis=0)
    if finite_any.any():
        medians[finite_any] = np.nanmedian(num[:, finite_any], axis=0)
    filled = np.where(np.isfinite(num), num, medians)
    means = filled.mean(axis=0)
    scales = filled.std(axis=0)
    scales[scales == 0] = 1.0
    blocks.append((filled - means) / scales)
    widths: list[int] = []
    for j in cat_cols:
        col = X[:, j]
        missing_code = int(np.nanmax(col)) + 1 if np.isfinite(col).any() else 0
        codes = np.where(np.isfinite(col), col, missing_code).astype(np.int64)
        onehot = np.zeros((n, missing_code + 1))
        onehot[np.arange(n), codes] = 1.0 / np.sqrt(2.0)
        blocks.append(onehot)
        widths.append(missing_code + 1)
    design = np.hstack(blocks)

    sampler = SMOTE(sampling_strategy=ratio, k_neighbors=k_eff, random_state=seed)
    d_res, y_res = sampler.fit_resample(design, y)
    y_res = np.asarray(y_res)
    if d_res.shape[0] < n or not np.array_equal(y_res[:n], y):
        raise RuntimeError("SMOTE did not return the original rows first; cannot restore NaN")
    d_new = np.asarray(d_res[n:], dtype=np.float64)
    synth = np.empty((d_new.shape[0], k))
    num_new = d_new[:, : num_cols.size] * scales + means
    finite = np.isfinite(num)
    integral = finite.any(axis=0) & np.all((num == np.round(num)) | ~finite, axis=0)
    num_new[:, integral] = np.round(num_new[:, integral])
    synth[:, num_cols] = num_new
    start = num_cols.size
    for j, width in zip(cat_cols, widths, strict=True):
        code = np.argmax(d_new[:, start : start + width], axis=1).astype(np.float64)
        synth[:, j] = np.where(code == width - 1, np.nan, code)  # last level = "missing"
        start += width
    return np.vstack([X, synth]), np.concatenate([y, y_res[n:]])


def make_sampler(resample: ResampleSpec, categorical_idx: Sequence[int], seed: int) -> Any:
    """The imblearn sampler of a strategy, or ``"passthrough"`` when rows are not resampled."""
    if resample.strategy == "smote":
        return FunctionSampler(
            func=missing_aware_smote,
            validate=False,
            kw_args={
                "categorical_idx": tuple(categorical_idx),
                "ratio": resample.ratio,
                "k_neighbors": resample.k_neighbors,
                "seed": seed,
            },
        )
    if resample.strategy == "undersample":
        return RandomUnderSampler(sampling_strategy=resample.ratio, random_state=seed)
    return "passthrough"


# --------------------------------------------------------------------------------------------
# LightGBM with early stopping inside the training rows
# --------------------------------------------------------------------------------------------
def balanced_weights(y: np.ndarray) -> np.ndarray:
    """``n / (2 · n_class)`` per row: both classes weigh the same in total (sklearn's rule)."""
    y = np.asarray(y).astype(np.int64)
    counts = np.bincount(y, minlength=2).astype(np.float64)
    if (counts == 0).any():
        raise ValueError(f"class weighting needs both classes, got counts {counts.tolist()}")
    return (y.size / (2.0 * counts))[y]


class EarlyStoppedLGBM(ClassifierMixin, BaseEstimator):
    """A LightGBM binary classifier that early-stops on a stratified slice of its own fit rows.

    Why not the validation fold: stopping on the rows being scored would pick the number of
    trees that flatters those very rows. The slice is drawn from the (possibly resampled)
    training rows, so the fold's validation rows stay untouched until prediction.
    Deterministic: ``deterministic=True``, ``force_row_wise=True`` and the seed everywhere.
    """

    def __init__(
        self,
        params: Mapping[str, Any] | None = None,
        categorical_idx: Sequence[int] = (),
        n_estimators: int = 1000,
        early_stopping_rounds: int = 50,
        early_stopping_fraction: float = 0.1,
        metric: str = "auc",
        class_weight: str | None = None,
        num_threads: int = 1,
        seed: int = 0,
    ) -> None:
        self.params = params
        self.categorical_idx = categorical_idx
        self.n_estimators = n_estimators
        self.early_stopping_rounds = early_stopping_rounds
        self.early_stopping_fraction = early_stopping_fraction
        self.metric = metric
        self.class_weight = class_weight
        self.num_threads = num_threads
        self.seed = seed

    def lgb_params(self) -> dict[str, Any]:
        """The full LightGBM parameter dict (what the booster is trained with)."""
        return {
            "objective": "binary",
            "metric": self.metric,
            "verbosity": -1,
            "deterministic": True,
            "force_row_wise": True,
            "seed": self.seed,
            "num_threads": self.num_threads,
            **dict(self.params or {}),
        }

    def fit(
        self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> EarlyStoppedLGBM:
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y).astype(np.int64)
        w = np.ones(y.size) if sample_weight is None else np.asarray(sample_weight, np.float64)
        if self.class_weight == "balanced":
            w = w * balanced_weights(y)
        elif self.class_weight is not None:
            raise ValueError(f"class_weight must be None or 'balanced', got {self.class_weight!r}")
        cats = list(self.categorical_idx)
        stop = self.early_stopping_rounds > 0 and self.early_stopping_fraction > 0
        callbacks: list[Callable[..., Any]] = []
        if stop:
            splitter = StratifiedShuffleSplit(
                n_splits=1, test_size=self.early_stopping_fraction, random_state=self.seed
            )
            fit_idx, stop_idx = next(splitter.split(X, y))
            fit_idx, stop_idx = np.sort(fit_idx), np.sort(stop_idx)
            callbacks.append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
        else:
            fit_idx, stop_idx = np.arange(y.size), np.arange(0)
        train_set = lgb.Dataset(
            X[fit_idx], y[fit_idx], weight=w[fit_idx], categorical_feature=cats, free_raw_data=True
        )
        valid_sets = []
        if stop:
            valid_sets.append(train_set.create_valid(X[stop_idx], y[stop_idx], weight=w[stop_idx]))
        booster = lgb.train(
            self.lgb_params(),
            train_set,
            num_boost_round=self.n_estimators,
            valid_sets=valid_sets,
            callbacks=callbacks,
        )
        best = booster.best_iteration if stop and booster.best_iteration > 0 else None
        self.best_iteration_ = int(best or booster.current_iteration())
        # Keep only the trees that are used: the bundle then holds exactly the evaluated model.
        self.booster_ = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = np.asarray(self.booster_.predict(np.asarray(X, dtype=np.float64)), dtype=np.float64)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(np.int64)


# --------------------------------------------------------------------------------------------
# Pipelines
# --------------------------------------------------------------------------------------------
def _classifier(
    kind: ModelKind,
    params: Mapping[str, Any],
    class_weight: str | None,
    categorical_idx: Sequence[int],
    seed: int,
) -> Any:
    if kind == "dummy":
        # "prior": every client gets the training default rate, i.e. no information at all.
        return DummyClassifier(strategy="prior")
    if kind == "logistic":
        return LogisticRegression(
            C=float(params.get("C", 1.0)),
            max_iter=int(params.get("max_iter", 1000)),
            tol=float(params.get("tol", 1e-4)),
            solver=str(params.get("solver", "lbfgs")),
            class_weight=class_weight,
            random_state=seed,
        )
    lgb_params = {k: v for k, v in params.items() if k in LGBM_PARAM_KEYS}
    return EarlyStoppedLGBM(
        params=lgb_params,
        categorical_idx=tuple(categorical_idx),
        n_estimators=int(params.get("n_estimators", 1000)),
        early_stopping_rounds=int(params.get("early_stopping_rounds", 50)),
        early_stopping_fraction=float(params.get("early_stopping_fraction", 0.1)),
        metric=str(params.get("metric", "auc")),
        class_weight=class_weight,
        num_threads=int(params.get("num_threads", 1)),
        seed=seed,
    )


def build_pipeline(
    kind: ModelKind,
    params: Mapping[str, Any],
    resample: ResampleSpec,
    feature_names: Sequence[str],
    categorical: Sequence[str],
    seed: int,
) -> Pipeline:
    """The unfitted imblearn Pipeline for a model kind, its parameters and a resampling strategy."""
    unknown_cat = [c for c in categorical if c not in feature_names]
    if unknown_cat:
        raise ValueError(f"categorical features not in the feature list: {unknown_cat[:10]}")
    names = list(feature_names)
    cat_set = set(categorical)
    cat_idx = [i for i, f in enumerate(names) if f in cat_set]
    num_idx = [i for i, f in enumerate(names) if f not in cat_set]
    class_weight = "balanced" if resample.strategy == "class_weight" else None
    if kind == "dummy":
        steps: list[tuple[str, Any]] = [
            ("encode", NoFeatures()),
            ("resample", make_sampler(resample, (), seed)),
            ("clf", _classifier(kind, params, class_weight, (), seed)),
        ]
        return Pipeline(steps)
    steps = [
        ("encode", CategoricalEncoder(tuple(names), tuple(c for c in names if c in cat_set))),
        ("resample", make_sampler(resample, cat_idx, seed)),
    ]
    if kind == "logistic":
        numeric = SkPipeline(
            [
                ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
                ("scale", StandardScaler()),
            ]
        )
        steps.append(
            (
                "prep",
                ColumnTransformer(
                    [("num", numeric, num_idx), ("cat", OneHotCodes(), cat_idx)],
                    remainder="drop",
                ),
            )
        )
    steps.append(("clf", _classifier(kind, params, class_weight, cat_idx, seed)))
    return Pipeline(steps)


# --------------------------------------------------------------------------------------------
# Export of a fitted pipeline into the bundle's plain-number forms
# --------------------------------------------------------------------------------------------
def fitted_levels(pipeline: Pipeline) -> dict[str, list[str]]:
    """The categorical levels the pipeline's encoder learned (they go into the bundle)."""
    return dict(pipeline.named_steps["encode"].levels_)


def export_booster(pipeline: Pipeline) -> lgb.Booster:
    """The fitted LightGBM booster (only the trees kept by early stopping)."""
    clf = pipeline.named_steps["clf"]
    if not isinstance(clf, EarlyStoppedLGBM):
        raise TypeError(f"expected a LightGBM pipeline, got a {type(clf).__name__} classifier")
    return clf.booster_


def export_linear(pipeline: Pipeline, feature_names: Sequence[str]) -> LinearModel:
    """The fitted logistic pipeline as a :class:`LinearModel` (imputer, scaler, coefficients)."""
    clf = pipeline.named_steps["clf"]
    if not isinstance(clf, LogisticRegression):
        raise TypeError(f"expected a logistic pipeline, got a {type(clf).__name__} classifier")
    prep: ColumnTransformer = pipeline.named_steps["prep"]
    levels = fitted_levels(pipeline)
    names = list(feature_names)
    num_pipe = prep.named_transformers_["num"]
    num_idx = list(prep.transformers_[0][2])
    cat_idx = list(prep.transformers_[1][2])
    coef = np.asarray(clf.coef_[0], dtype=np.float64)
    medians = num_pipe.named_steps["impute"].statistics_
    means = num_pipe.named_steps["scale"].mean_
    scales = num_pipe.named_steps["scale"].scale_
    numeric = {
        names[i]: {
            "median": float(medians[j]),
            "mean": float(means[j]),
            "scale": float(scales[j]),
            "coef": float(coef[j]),
        }
        for j, i in enumerate(num_idx)
    }
    pos = len(num_idx)
    cat_coef: dict[str, list[float]] = {}
    for j, i in enumerate(cat_idx):
        n = prep.named_transformers_["cat"].n_levels_[j]
        name = names[i]
        values = [float(c) for c in coef[pos : pos + n]]
        cat_coef[name] = values + [0.0] * (len(levels[name]) - n)  # levels unseen after resampling
        pos += n
    if pos != coef.size:
        raise RuntimeError(f"exported {pos} coefficients but the model has {coef.size}")
    return LinearModel(intercept=float(clf.intercept_[0]), numeric=numeric, cat_coef=cat_coef)


def top_features(pipeline: Pipeline, feature_names: Sequence[str], k: int = 20) -> list[str]:
    """The ``k`` most important features: LightGBM total gain, or the logistic coefficient span.

    For the linear model a numeric feature's weight is its standardised |coef|; a categorical's is
    the spread of its level coefficients (what switching level can do to the log-odds).
    """
    clf = pipeline.named_steps["clf"]
    names = list(feature_names)
    if isinstance(clf, EarlyStoppedLGBM):
        gain = np.asarray(clf.booster_.feature_importance(importance_type="gain"), np.float64)
    elif isinstance(clf, LogisticRegression):
        linear = export_linear(pipeline, names)
        gain = np.array(
            [
                abs(linear.numeric[f]["coef"])
                if f in linear.numeric
                else (np.ptp(linear.cat_coef[f]) if linear.cat_coef.get(f) else 0.0)
                for f in names
            ]
        )
    else:
        return []
    order = np.argsort(-gain, kind="stable")
    return [names[i] for i in order[:k] if gain[i] > 0 and math.isfinite(gain[i])]


# --------------------------------------------------------------------------------------------
# The final-fit set (what the resample stage writes)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FinalFitSet:
    """The rows the final model is fitted on, resampled once on the whole training side.

    ``plan``: SK_ID_CURR, TARGET, sample_weight of the real rows kept (all of them except under
    undersampling; balanced weights under class weighting). ``synthetic``: TARGET,
    sample_weight and the features of SMOTE's synthetic rows (0 rows otherwise), with
    categorical levels written back as strings so the frame looks like a feature frame.
    """

    plan: pd.DataFrame
    synthetic: pd.DataFrame

    def report(self) -> dict[str, Any]:
        """Class balance before and after (metrics/resample.json)."""
        y_real = self.plan["TARGET"].to_numpy()
        y_all = np.concatenate([y_real, self.synthetic["TARGET"].to_numpy()])
        w_all = np.concatenate(
            [self.plan["sample_weight"].to_numpy(), self.synthetic["sample_weight"].to_numpy()]
        )
        weighted_rate = float(np.sum(w_all * (y_all == 1)) / np.sum(w_all)) if w_all.size else 0.0
        return {
            "n_rows": int(y_all.size),
            "n_real": int(y_real.size),
            "n_synthetic": len(self.synthetic),
            "n_positive": int(np.sum(y_all == 1)),
            "n_negative": int(np.sum(y_all == 0)),
            "positive_rate": round(float(np.mean(y_all == 1)), 6) if y_all.size else 0.0,
            "weighted_positive_rate": round(weighted_rate, 6),
        }


def final_fit_set(
    rows: pd.DataFrame,
    feature_names: Sequence[str],
    categorical: Sequence[str],
    resample: ResampleSpec,
    seed: int,
) -> FinalFitSet:
    """Resample the whole training side once, with the sampler used inside the CV folds."""
    ids = rows["SK_ID_CURR"].to_numpy()
    y = rows["TARGET"].to_numpy().astype(np.int64)
    names = list(feature_names)
    empty = pd.DataFrame(
        {"TARGET": pd.Series(dtype="int64"), "sample_weight": pd.Series(dtype="float64")}
    )
    synthetic = pd.concat([empty, rows.iloc[:0][names].reset_index(drop=True)], axis=1)
    weights = np.ones(y.size)
    keep = np.arange(y.size)
    if resample.strategy == "class_weight":
        weights = balanced_weights(y)
    elif resample.strategy == "undersample":
        sampler = RandomUnderSampler(sampling_strategy=resample.ratio, random_state=seed)
        sampler.fit_resample(np.zeros((y.size, 1)), y)
        keep = np.sort(np.asarray(sampler.sample_indices_))
    elif resample.strategy == "smote":
        encoder = CategoricalEncoder(tuple(names), tuple(c for c in names if c in set(categorical)))
        X = encoder.fit_transform(rows[names])
        cat_idx = [i for i, f in enumerate(names) if f in set(categorical)]
        X_res, y_res = missing_aware_smote(
            X,
            y,
            categorical_idx=cat_idx,
            ratio=resample.ratio,
            k_neighbors=resample.k_neighbors,
            seed=seed,
        )
        synth = pd.DataFrame(X_res[y.size :], columns=names)
        for name in encoder.levels_:
            levels = np.asarray(encoder.levels_[name], dtype=object)
            codes = synth[name].to_numpy()
            text = np.full(codes.size, None, dtype=object)
            ok = np.isfinite(codes)
            text[ok] = levels[codes[ok].astype(np.int64)]
            synth[name] = pd.Series(text, dtype="string")
        synthetic = pd.concat(
            [
                pd.DataFrame({"TARGET": y_res[y.size :].astype(np.int64), "sample_weight": 1.0}),
                synth,
            ],
            axis=1,
        )
    plan = pd.DataFrame(
        {"SK_ID_CURR": ids[keep], "TARGET": y[keep], "sample_weight": weights[keep]}
    )
    return FinalFitSet(plan=plan, synthetic=synthetic)
