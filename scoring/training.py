"""Cross-validation, Optuna search on the business cost, and the model comparison.

The flow of the train stage (all seeded; the same seed gives the same numbers):

1. ``make_folds``: one stratified K-fold assignment, shared by every model, trial and strategy,
   so their out-of-fold (OOF) predictions are comparable client by client.
2. A *coarse* search (``search.coarse_trials``) for every compared model under the configured
   resampling strategy, then a *refined* search (``search.refine_trials`` more trials in the same
   TPE study, which learns from the coarse ones) for the configured model.
3. The comparison: every model with its best parameters under every resampling strategy, each
   scored on its own OOF probabilities at its own cost-optimal threshold.

The objective is the business cost per client at the best threshold of the OOF probabilities:
it depends only on how the model ranks clients, so calibration cannot change it. Each fold
reports its cost to a median pruner, which stops hopeless trials after a few folds.
MLflow is not imported here: a :class:`TrialLogger` callback receives every trial and CV run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import optuna
import pandas as pd
from imblearn.pipeline import Pipeline
from joblib import Parallel, delayed
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from scoring.calibration import check_method, cross_fit_calibrate
from scoring.cost import CostWeights
from scoring.evaluation import classification_metrics, safe_auc
from scoring.models import MODEL_KINDS, ModelSpec, ResampleSpec, build_pipeline
from scoring.threshold import best_threshold, threshold_grid

log = logging.getLogger(__name__)
Phase = Literal["coarse", "refine", "compare"]


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------
KEY, LABEL = "SK_ID_CURR", "TARGET"


@dataclass(frozen=True)
class FeatureList:
    """``feature_list.json``: model column order, which columns are categorical, their labels."""

    names: tuple[str, ...]
    categorical: tuple[str, ...]
    labels: dict[str, str]

    @classmethod
    def from_json(
        cls, payload: Mapping[str, Any], source: str = "feature_list.json"
    ) -> FeatureList:
        entries = payload.get("features")
        if not isinstance(entries, list) or not entries:
            raise ValueError(f"{source}: expected a non-empty 'features' list")
        names: list[str] = []
        categorical: list[str] = []
        labels: dict[str, str] = {}
        for i, entry in enumerate(entries):
            missing = [k for k in ("name", "kind", "label") if not entry.get(k)]
            if missing:
                raise ValueError(f"{source}: feature #{i} lacks {missing}")
            name, kind = str(entry["name"]), str(entry["kind"])
            if kind not in ("numeric", "categorical"):
                raise ValueError(f"{source}: feature {name!r} has kind {kind!r}")
            names.append(name)
            labels[name] = str(entry["label"])
            if kind == "categorical":
                categorical.append(name)
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"{source}: duplicated feature names {dupes[:10]}")
        return cls(tuple(names), tuple(categorical), labels)


def subset_rows(
    features: pd.DataFrame, split: pd.DataFrame, subset: Literal["train", "holdout"]
) -> pd.DataFrame:
    """The feature rows of one side of the split, sorted by client id (a stable row order).

    Fails when a client of that side has no feature row, or when the labels disagree (two
    stages built from different data).
    """
    ids = split.loc[split["subset"] == subset, [KEY, LABEL]]
    rows = features.merge(ids, on=KEY, how="inner", suffixes=("", "_split"), validate="1:1")
    if len(rows) != len(ids):
        missing = sorted(set(ids[KEY]) - set(rows[KEY]))
        raise ValueError(
            f"{len(missing)} {subset} clients have no feature row, e.g. {KEY}={missing[:3]}"
        )
    if LABEL in features.columns:
        bad = rows[LABEL].astype("int64") != rows[f"{LABEL}_split"].astype("int64")
        if bad.any():
            raise ValueError(
                f"TARGET differs between features and split for {int(bad.sum())} clients, "
                f"e.g. {KEY}={rows.loc[bad, KEY].head(3).tolist()}"
            )
        rows = rows.drop(columns=f"{LABEL}_split")
    return rows.sort_values(KEY, kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SearchConfig:
    """The ``search`` section: budgets, pruning, threshold grid and the comparison grid."""

    coarse_trials: int
    refine_trials: int
    tpe_startup_trials: int
    pruner_startup_trials: int
    pruner_warmup_folds: int
    threshold_points: int
    n_jobs: int  # folds fitted at once (threads)
    candidates: dict[str, ModelSpec]
    strategies: dict[str, ResampleSpec]

    def __post_init__(self) -> None:
        if self.coarse_trials < 1 or self.refine_trials < 0:
            raise ValueError("search.coarse_trials must be >= 1 and search.refine_trials >= 0")
        if not self.candidates:
            raise ValueError("search.candidates is empty: nothing to compare")
        for name, spec in self.candidates.items():
            if name != spec.kind:
                raise ValueError(f"search.candidates.{name} has kind {spec.kind!r}")
        for name, rs in self.strategies.items():
            if name != rs.strategy:
                raise ValueError(f"search.strategies.{name} has strategy {rs.strategy!r}")

    @classmethod
    def from_params(cls, section: Mapping[str, Any]) -> SearchConfig:
        need = ("coarse_trials", "refine_trials", "threshold_points", "candidates", "strategies")
        missing = [k for k in need if k not in section]
        if missing:
            raise KeyError(f"params.yaml section 'search' lacks {missing}")
        return cls(
            coarse_trials=int(section["coarse_trials"]),
            refine_trials=int(section["refine_trials"]),
            tpe_startup_trials=int(section.get("tpe_startup_trials", 5)),
            pruner_startup_trials=int(section.get("pruner_startup_trials", 3)),
            pruner_warmup_folds=int(section.get("pruner_warmup_folds", 1)),
            threshold_points=int(section["threshold_points"]),
            n_jobs=int(section.get("n_jobs", 1)),
            candidates={str(k): ModelSpec.from_params(v) for k, v in section["candidates"].items()},
            strategies={
                str(k): ResampleSpec.from_params(v) for k, v in section["strategies"].items()
            },
        )


# --------------------------------------------------------------------------------------------
# Cross-validation
# --------------------------------------------------------------------------------------------
def make_folds(y: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold number (0..k-1) of every row: stratified, shuffled with the seed."""
    y = np.asarray(y)
    if n_folds < 2:
        raise ValueError(f"cv.n_folds must be >= 2, got {n_folds}")
    minority = int(min(np.sum(y == 0), np.sum(y == 1)))
    if minority < n_folds:
        raise ValueError(f"only {minority} rows of the rarer class for {n_folds} folds")
    folds = np.empty(y.size, dtype=np.int64)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (_, valid) in enumerate(splitter.split(np.zeros(y.size), y)):
        folds[valid] = k
    return folds


@dataclass(frozen=True)
class FoldResult:
    """One fold: AUC and best cost on its validation rows, and how long the fit took."""

    fold: int
    auc: float
    cost_per_client: float
    fit_seconds: float
    best_iteration: int | None  # LightGBM trees kept by early stopping


@dataclass
class CVResult:
    """Out-of-fold raw probabilities and the per-fold results of one cross-validation."""

    oof: np.ndarray
    folds: list[FoldResult] = field(default_factory=list)

    @property
    def fit_seconds(self) -> float:
        return float(sum(f.fit_seconds for f in self.folds))

    @property
    def auc_mean(self) -> float:
        return float(np.mean([f.auc for f in self.folds]))

    @property
    def auc_std(self) -> float:
        return float(np.std([f.auc for f in self.folds]))


FoldCallback = Callable[[FoldResult], None]


def _fit_fold(
    make_pipeline: Callable[[], Pipeline],
    X: pd.DataFrame,
    y: np.ndarray,
    folds: np.ndarray,
    k: int,
    weights: CostWeights,
    grid: np.ndarray,
) -> tuple[FoldResult, np.ndarray]:
    """Fit on every fold but ``k``, score fold ``k`` as it is (no resampling at predict time)."""
    train = folds != k
    valid = ~train
    pipeline = make_pipeline()
    start = time.perf_counter()
    pipeline.fit(X.loc[train], y[train])
    fit_seconds = time.perf_counter() - start
    proba = np.asarray(pipeline.predict_proba(X.loc[valid])[:, 1], dtype=np.float64)
    clf = pipeline.named_steps["clf"]
    fold = FoldResult(
        fold=int(k),
        auc=safe_auc(y[valid], proba),
        cost_per_client=best_threshold(y[valid], proba, weights, grid).cost_per_client,
        fit_seconds=round(fit_seconds, 3),
        best_iteration=getattr(clf, "best_iteration_", None),
    )
    return fold, proba


def cross_validate(
    make_pipeline: Callable[[], Pipeline],
    X: pd.DataFrame,
    y: np.ndarray,
    folds: np.ndarray,
    weights: CostWeights,
    grid: np.ndarray,
    on_fold: FoldCallback | None = None,
    n_jobs: int = 1,
) -> CVResult:
    """Fit a fresh pipeline per fold on the other folds; predict the held-out fold as it is.

    Resamplers live inside the pipeline, so they only ever see training rows; ``predict_proba``
    never resamples. ``on_fold`` is called after each fold, in fold order (the search uses it to
    prune). ``n_jobs`` folds run at once in threads (LightGBM and BLAS release the GIL; native
    thread pools are capped at 1 meanwhile so 2 cores are not oversubscribed); each fold's result
    does not depend on which thread ran it, so the output is the same for any ``n_jobs``.
    """
    y = np.asarray(y)
    if len(X) != y.size or folds.size != y.size:
        raise ValueError(f"X has {len(X)} rows, y {y.size}, folds {folds.size}")
    if n_jobs < 1:
        raise ValueError(f"n_jobs must be >= 1, got {n_jobs}")
    oof = np.full(y.size, np.nan)
    result = CVResult(oof=oof)
    fold_ids = [int(k) for k in np.unique(folds)]
    for i in range(0, len(fold_ids), n_jobs):
        batch = fold_ids[i : i + n_jobs]
        if len(batch) == 1:
            done = [_fit_fold(make_pipeline, X, y, folds, batch[0], weights, grid)]
        else:
            with threadpool_limits(limits=1):
                done = Parallel(n_jobs=len(batch), backend="threading")(
                    delayed(_fit_fold)(make_pipeline, X, y, folds, k, weights, grid) for k in batch
                )
        for fold, proba in done:
            oof[folds == fold.fold] = proba
            result.folds.append(fold)
            if on_fold is not None:
                on_fold(fold)
    return result


def oof_metrics(
    y: np.ndarray,
    oof: np.ndarray,
    folds: np.ndarray,
    calibration: str,
    weights: CostWeights,
    grid: np.ndarray,
) -> tuple[dict[str, float], np.ndarray]:
    """Contract metrics of OOF predictions at their own cost-optimal threshold.

    The probabilities are first calibrated by cross-fitting (each fold mapped by a calibrator
    fitted on the other folds), so the Brier score and threshold are those of the served,
    calibrated probability and not flattered by an in-sample fit.
    """
    calibrated = cross_fit_calibrate(oof, y, folds, check_method(calibration))
    choice = best_threshold(y, calibrated, weights, grid)
    return classification_metrics(y, calibrated, choice.threshold, weights), calibrated


# --------------------------------------------------------------------------------------------
# Search
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrialRecord:
    """What a logger receives for every trial and every comparison CV run."""

    model: str
    resample: str
    phase: Phase
    number: int
    params: dict[str, Any]
    state: Literal["complete", "pruned"]
    value: float | None  # OOF business cost per client at the best threshold
    auc: float | None  # OOF AUC
    folds: tuple[FoldResult, ...]
    y: np.ndarray | None = None  # labels and OOF probabilities, for plots (complete runs)
    oof: np.ndarray | None = None


class TrialLogger(Protocol):
    """Receives every trial and comparison run (MLflow in the stage, a list in tests)."""

    def __call__(self, record: TrialRecord, /) -> None: ...


def suggest(trial: optuna.Trial, space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Draw one value per searched parameter from a ``space`` spec (int, float, categorical)."""
    out: dict[str, Any] = {}
    for name, spec in space.items():
        kind = spec.get("type")
        if kind == "int":
            out[name] = trial.suggest_int(
                name=name, low=int(spec["low"]), high=int(spec["high"]), log=bool(spec.get("log"))
            )
        elif kind == "float":
            out[name] = trial.suggest_float(
                name=name,
                low=float(spec["low"]),
                high=float(spec["high"]),
                log=bool(spec.get("log")),
            )
        elif kind == "categorical":
            out[name] = trial.suggest_categorical(name=name, choices=list(spec["choices"]))
        else:
            raise ValueError(f"search space {name!r}: type must be int, float or categorical")
    return out


@dataclass
class ModelSearch:
    """One Optuna study (TPE + median pruning) for one model under one resampling strategy."""

    spec: ModelSpec
    resample: ResampleSpec
    X: pd.DataFrame
    y: np.ndarray
    folds: np.ndarray
    feature_names: Sequence[str]
    categorical: Sequence[str]
    weights: CostWeights
    config: SearchConfig
    seed: int
    logger: TrialLogger | None = None
    best_result: CVResult | None = None
    best_value: float | None = None
    best_params: dict[str, Any] = field(default_factory=dict)
    _phase: Phase = "coarse"

    def __post_init__(self) -> None:
        self.grid = threshold_grid(self.config.threshold_points)
        self.study = optuna.create_study(
            direction="minimize",
            sampler=optuna.samplers.TPESampler(
                seed=self.seed, n_startup_trials=self.config.tpe_startup_trials
            ),
            pruner=optuna.pruners.MedianPruner(
                n_startup_trials=self.config.pruner_startup_trials,
                n_warmup_steps=self.config.pruner_warmup_folds,
            ),
            study_name=f"{self.spec.kind}/{self.resample.strategy}",
        )
        if self.spec.space:  # trial 0 = the config's defaults: never worse than them
            defaults = {k: self.spec.params[k] for k in self.spec.space if k in self.spec.params}
            self.study.enqueue_trial(defaults)

    @property
    def name(self) -> str:
        return f"{self.spec.kind}/{self.resample.strategy}"

    def params_of(self, trial: optuna.Trial) -> dict[str, Any]:
        return {**self.spec.params, **suggest(trial, self.spec.space)}

    def _objective(self, trial: optuna.Trial) -> float:
        params = self.params_of(trial)
        done: list[FoldResult] = []

        def on_fold(fold: FoldResult) -> None:
            done.append(fold)
            log.info(
                "%s %s trial %d fold %d/%d: auc=%.4f cost/client=%.4f (%.1f s)",
                self.name,
                self._phase,
                trial.number,
                fold.fold + 1,
                len(np.unique(self.folds)),
                fold.auc,
                fold.cost_per_client,
                fold.fit_seconds,
            )
            trial.report(float(np.mean([f.cost_per_client for f in done])), step=fold.fold)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after fold {fold.fold + 1}")

        def factory() -> Pipeline:
            return build_pipeline(
                self.spec.kind,
                params,
                self.resample,
                self.feature_names,
                self.categorical,
                self.seed,
            )

        try:
            result = cross_validate(
                factory,
                self.X,
                self.y,
                self.folds,
                self.weights,
                self.grid,
                on_fold,
                self.config.n_jobs,
            )
        except optuna.TrialPruned:
            self._log(trial.number, params, "pruned", None, None, tuple(done))
            raise
        choice = best_threshold(self.y, result.oof, self.weights, self.grid)
        auc = safe_auc(self.y, result.oof)
        trial.set_user_attr("auc", auc)
        trial.set_user_attr("fit_seconds", result.fit_seconds)
        self._log(
            trial.number,
            params,
            "complete",
            choice.cost_per_client,
            auc,
            tuple(result.folds),
            result.oof,
        )
        if self.best_value is None or choice.cost_per_client < self.best_value:
            self.best_result, self.best_params = result, params
            self.best_value = choice.cost_per_client
        return choice.cost_per_client

    def _log(
        self,
        number: int,
        params: dict[str, Any],
        state: Literal["complete", "pruned"],
        value: float | None,
        auc: float | None,
        folds: tuple[FoldResult, ...],
        oof: np.ndarray | None = None,
    ) -> None:
        if self.logger is None:
            return
        self.logger(
            TrialRecord(
                model=self.spec.kind,
                resample=self.resample.strategy,
                phase=self._phase,
                number=number,
                params=params,
                state=state,
                value=value,
                auc=auc,
                folds=folds,
                y=self.y if oof is not None else None,
                oof=oof,
            )
        )

    def run(self, n_trials: int, phase: Phase) -> None:
        """Run ``n_trials`` more trials (a model without a search space needs only one, ever)."""
        if not self.spec.space:
            n_trials = 0 if self.study.trials else 1
        self._phase = phase
        if n_trials:
            log.info("%s: %s search, %d trial(s)", self.name, phase, n_trials)
            self.study.optimize(self._objective, n_trials=n_trials)
        if self.best_result is None:
            raise RuntimeError(f"{self.name}: every trial was pruned or failed")
        log.info(
            "%s: best cost/client so far %.4f with %s",
            self.name,
            self.best_value,
            {k: self.best_params[k] for k in self.spec.space},
        )


# --------------------------------------------------------------------------------------------
# The whole train stage core
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainPlan:
    """Everything the train stage decides from params.yaml."""

    seed: int
    n_folds: int
    weights: CostWeights
    model: ModelSpec  # the configured model: refined, and what the bundle will serve
    resample: ResampleSpec  # the configured strategy: used by the search and the final fit
    search: SearchConfig


@dataclass
class TrainOutcome:
    """Results of :func:`train_and_compare`."""

    folds: np.ndarray
    best_params: dict[str, Any]
    best: CVResult
    oof_calibrated: np.ndarray
    cv_summary: dict[str, Any]
    comparison: dict[str, dict[str, float]]


def compared_specs(plan: TrainPlan) -> dict[str, ModelSpec]:
    """The models to compare: the candidates, with the configured model's (overridden) section."""
    specs = {k: v for k, v in plan.search.candidates.items()}
    specs[plan.model.kind] = plan.model
    return {k: specs[k] for k in MODEL_KINDS if k in specs}


def compared_strategies(plan: TrainPlan) -> dict[str, ResampleSpec]:
    """The resampling strategies to compare, the configured one taking its (overridden) section."""
    strategies = dict(plan.search.strategies)
    strategies[plan.resample.strategy] = plan.resample
    return strategies


def _compare_run(
    spec: ModelSpec,
    params: dict[str, Any],
    strategy: ResampleSpec,
    X: pd.DataFrame,
    y: np.ndarray,
    folds: np.ndarray,
    feature_names: Sequence[str],
    categorical: Sequence[str],
    plan: TrainPlan,
    grid: np.ndarray,
    logger: TrialLogger | None,
) -> CVResult:
    """One comparison CV: a model's best parameters under another resampling strategy."""

    def factory() -> Pipeline:
        return build_pipeline(spec.kind, params, strategy, feature_names, categorical, plan.seed)

    def on_fold(fold: FoldResult) -> None:
        log.info(
            "compare %s/%s fold %d: auc=%.4f cost/client=%.4f (%.1f s)",
            spec.kind,
            strategy.strategy,
            fold.fold + 1,
            fold.auc,
            fold.cost_per_client,
            fold.fit_seconds,
        )

    result = cross_validate(factory, X, y, folds, plan.weights, grid, on_fold, plan.search.n_jobs)
    if logger is not None:
        logger(
            TrialRecord(
                model=spec.kind,
                resample=strategy.strategy,
                phase="compare",
                number=0,
                params=params,
                state="complete",
                value=best_threshold(y, result.oof, plan.weights, grid).cost_per_client,
                auc=safe_auc(y, result.oof),
                folds=tuple(result.folds),
                y=y,
                oof=result.oof,
            )
        )
    return result


def train_and_compare(
    X: pd.DataFrame,
    y: np.ndarray,
    feature_names: Sequence[str],
    categorical: Sequence[str],
    plan: TrainPlan,
    logger: TrialLogger | None = None,
) -> TrainOutcome:
    """Coarse search for every model, refined search for the configured one, then comparison."""
    y = np.asarray(y).astype(np.int64)
    folds = make_folds(y, plan.n_folds, plan.seed)
    grid = threshold_grid(plan.search.threshold_points)
    specs = compared_specs(plan)
    searches: dict[str, ModelSearch] = {}
    for kind, spec in specs.items():
        searches[kind] = ModelSearch(
            spec,
            plan.resample,
            X,
            y,
            folds,
            feature_names,
            categorical,
            plan.weights,
            plan.search,
            plan.seed,
            logger,
        )
        searches[kind].run(plan.search.coarse_trials, "coarse")
    chosen = searches[plan.model.kind]
    chosen.run(plan.search.refine_trials, "refine")
    assert chosen.best_result is not None

    comparison: dict[str, dict[str, float]] = {}
    for kind, spec in specs.items():
        for name, strategy in compared_strategies(plan).items():
            key = f"{kind}/{name}"
            result: CVResult | None
            if strategy == plan.resample:  # already cross-validated by the search
                result = searches[kind].best_result
                assert result is not None
            else:
                log.info("compare %s: cross-validating with the best %s parameters", key, kind)
                result = _compare_run(
                    spec,
                    searches[kind].best_params,
                    strategy,
                    X,
                    y,
                    folds,
                    feature_names,
                    categorical,
                    plan,
                    grid,
                    logger,
                )
            metrics, _ = oof_metrics(y, result.oof, folds, strategy.calibration, plan.weights, grid)
            comparison[key] = {**metrics, "fit_seconds": round(result.fit_seconds, 3)}
            log.info(
                "compare %s: auc=%.4f cost/client=%.4f",
                key,
                metrics["auc"],
                metrics["cost_per_client"],
            )

    best = chosen.best_result
    _, calibrated = oof_metrics(y, best.oof, folds, plan.resample.calibration, plan.weights, grid)
    threshold = best_threshold(y, calibrated, plan.weights, grid).threshold
    fold_costs = [
        float(
            plan.weights.fn * np.sum((y == 1) & (calibrated < threshold) & (folds == k))
            + plan.weights.fp * np.sum((y == 0) & (calibrated >= threshold) & (folds == k))
        )
        for k in range(plan.n_folds)
    ]
    cv_summary = {
        "auc_mean": round(best.auc_mean, 6),
        "auc_std": round(best.auc_std, 6),
        "business_cost_mean": round(float(np.mean(fold_costs)), 6),
        "n_folds": plan.n_folds,
        "model": plan.model.kind,
        "resample": plan.resample.strategy,
        "fit_seconds": round(best.fit_seconds, 3),
    }
    return TrainOutcome(
        folds=folds,
        best_params=chosen.best_params,
        best=best,
        oof_calibrated=calibrated,
        cv_summary=cv_summary,
        comparison=comparison,
    )
