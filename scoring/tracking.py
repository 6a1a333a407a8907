"""MLflow tracking: every trial and CV run, the final model, the registry and its aliases.

- The store is ``scoring.config.tracking_uri()`` (``$MLFLOW_TRACKING_URI``, else a SQLite file at
  the repository root, built from ``$DVC_ROOT`` inside queued experiments). Nothing is set at
  import time: stages call :func:`start` from ``main()``.
- The train stage opens one parent run; each Optuna trial and each comparison CV is a nested run
  (params, per-fold metrics as steps, fit time, ROC and cost-vs-threshold plots, data digest, git
  revision). Pruned trials are logged too, with status KILLED.
- The final model is the bundle itself wrapped as a pyfunc (calibrated probability of default),
  logged with a signature and an input example and registered as ``tracking.registered_model``.
- Aliases, not stages: ``champion`` moves to the new version only when it beats the current
  champion's business cost *on the same holdout*; otherwise the new version is ``challenger``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.pyfunc import PythonModel
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from scoring.bundle import Bundle, load_bundle
from scoring.config import tracking_uri
from scoring.cost import CostWeights
from scoring.evaluation import cost_curve_points, figures, roc_points
from scoring.threshold import cost_curve
from scoring.training import TrialRecord

log = logging.getLogger(__name__)
Alias = Literal["champion", "challenger"]
CHAMPION: Alias = "champion"
CHALLENGER: Alias = "challenger"


def start(experiment: str) -> str:
    """Point MLflow at the project's store, select the experiment, return its id."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    uri = tracking_uri()
    mlflow.set_tracking_uri(uri)
    exp = mlflow.set_experiment(experiment)
    log.info("MLflow: %s, experiment %r", uri, experiment)
    return str(exp.experiment_id)


def frame_digest(frame: pd.DataFrame) -> str:
    """A content digest of a frame (values and column names, not the file bytes).

    Two parquet writers produce different bytes for the same data; this digest only changes
    when the data does, so "same holdout" and "same training data" are judged on content.
    """
    h = hashlib.sha256()
    h.update("\x1f".join(map(str, frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def _param_value(v: Any) -> str:
    return str(v)[:6000]  # MLflow's limit for a param value


def _run_tags(base: Mapping[str, str], **extra: str) -> list[RunTag]:
    return [RunTag(k, str(v)) for k, v in {**base, **extra}.items()]


@dataclass
class MlflowTrialLogger:
    """A :class:`scoring.training.TrialLogger` writing nested runs under a parent run."""

    client: MlflowClient
    experiment_id: str
    parent_run_id: str
    tags: Mapping[str, str]  # data_digest, git_rev, ... (on every run)
    weights: CostWeights
    grid: np.ndarray

    def __call__(self, record: TrialRecord) -> None:
        name = f"{record.model}/{record.resample} {record.phase} #{record.number}"
        run = self.client.create_run(
            self.experiment_id,
            run_name=name,
            tags={
                MLFLOW_PARENT_RUN_ID: self.parent_run_id,
                **self.tags,
                "model": record.model,
                "resample": record.resample,
                "phase": record.phase,
                "state": record.state,
            },
        )
        run_id = run.info.run_id
        ts = int(time.time() * 1000)  # steps carry the fold number
        metrics: list[Metric] = []
        for f in record.folds:
            metrics += [
                Metric("fold_auc", f.auc, ts, f.fold),
                Metric("fold_cost_per_client", f.cost_per_client, ts, f.fold),
                Metric("fold_fit_seconds", f.fit_seconds, ts, f.fold),
            ]
            if f.best_iteration is not None:
                metrics.append(Metric("fold_best_iteration", float(f.best_iteration), ts, f.fold))
        metrics.append(Metric("fit_seconds", sum(f.fit_seconds for f in record.folds), ts, 0))
        metrics.append(Metric("folds_done", float(len(record.folds)), ts, 0))
        if record.value is not None:
            metrics.append(Metric("oof_cost_per_client", record.value, ts, 0))
        if record.auc is not None and math.isfinite(record.auc):
            metrics.append(Metric("oof_auc", record.auc, ts, 0))
        params = [Param(k, _param_value(v)) for k, v in sorted(record.params.items())]
        params += [Param("model", record.model), Param("resample", record.resample)]
        self.client.log_batch(run_id, metrics=metrics, params=params)
        if record.oof is not None and record.y is not None:
            curve = cost_curve(record.y, record.oof, self.weights, self.grid)
            self.client.log_dict(
                run_id, {"roc": roc_points(record.y, record.oof)}, "plots/roc.json"
            )
            self.client.log_dict(run_id, {"cost": cost_curve_points(curve)}, "plots/cost.json")
            if record.phase == "compare":  # one figure set per compared (model, strategy)
                threshold = float(curve.thresholds[int(np.argmin(curve.cost))])
                for fname, fig in figures(record.y, record.oof, threshold, curve, name).items():
                    self.client.log_figure(run_id, fig, f"plots/{fname}")
        status = "FINISHED" if record.state == "complete" else "KILLED"
        self.client.set_terminated(run_id, status=status)


def log_figures(
    client: MlflowClient,
    run_id: str,
    y: np.ndarray,
    proba: np.ndarray,
    threshold: float,
    weights: CostWeights,
    grid: np.ndarray,
    title: str,
    prefix: str = "plots",
) -> None:
    """ROC, PR, reliability, cost-vs-threshold and confusion figures as PNG artifacts."""
    curve = cost_curve(y, proba, weights, grid)
    for name, fig in figures(y, proba, threshold, curve, title).items():
        client.log_figure(run_id, fig, f"{prefix}/{name}")


# --------------------------------------------------------------------------------------------
# The final model as a pyfunc wrapping the bundle
# --------------------------------------------------------------------------------------------
class BundlePyfunc(PythonModel):
    """The served model: raw feature frame → calibrated probability of default.

    It wraps the very bundle the API loads (no pickle of a sklearn pipeline), so what MLflow
    serves and what the API serves cannot differ. Loading needs this project's package.
    """

    def load_context(self, context: Any) -> None:
        self.bundle: Bundle = load_bundle(context.artifacts["bundle"])

    def predict(self, context: Any, model_input: pd.DataFrame, params: Any = None) -> np.ndarray:
        return self.bundle.predict_proba(self.bundle.encode(model_input))


def model_input_frame(frame: pd.DataFrame, bundle: Bundle) -> pd.DataFrame:
    """The pyfunc input: features in bundle order, numbers as float64, levels as strings.

    Casting integers to float makes the signature accept missing values (an int64 column in the
    signature would reject a NaN at serving time).
    """
    out = frame[bundle.feature_names].copy()
    for name in bundle.feature_names:
        if name in bundle.categorical_levels:
            out[name] = out[name].astype("string")
        else:
            out[name] = pd.to_numeric(out[name], errors="coerce").astype("float64")
    return out


def pip_requirements() -> list[str]:
    """Pinned requirements of the pyfunc (given explicitly: inference costs 4-7 s)."""
    from importlib.metadata import version

    return [
        f"mlflow=={version('mlflow')}",
        f"lightgbm=={version('lightgbm')}",
        f"numpy=={version('numpy')}",
        f"pandas=={version('pandas')}",
        f"pyyaml=={version('pyyaml')}",
    ]


def log_bundle_model(
    bundle_dir: Path, example: pd.DataFrame, registered_model: str
) -> tuple[str, str]:
    """Log the bundle as a pyfunc in the active run and register it; (model_uri, version)."""
    bundle = load_bundle(bundle_dir)
    example = model_input_frame(example, bundle)
    signature = infer_signature(example, bundle.predict_proba(bundle.encode(example)))
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=BundlePyfunc(),
        artifacts={"bundle": str(bundle_dir)},
        signature=signature,
        input_example=example,
        pip_requirements=pip_requirements(),
        registered_model_name=registered_model,
    )
    version = info.registered_model_version
    if version is None:
        raise RuntimeError(f"MLflow did not register {registered_model!r}")
    return info.model_uri, str(version)


# --------------------------------------------------------------------------------------------
# Registry: champion / challenger
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Promotion:
    alias: Alias
    reason: str
    champion_version: str | None
    champion_cost: float | None


def decide_alias(new_cost: float, champion_cost: float | None) -> tuple[Alias, str]:
    """``champion`` only for a strictly lower cost than the champion's (or no champion yet)."""
    if champion_cost is None:
        return CHAMPION, "no champion yet"
    if new_cost < champion_cost:
        return CHAMPION, f"cost {new_cost:g} < champion's {champion_cost:g} on the same holdout"
    return CHALLENGER, f"cost {new_cost:g} >= champion's {champion_cost:g} on the same holdout"


#: Rescores a registered model on the current holdout: (model_uri, its threshold) → cost.
Rescorer = Callable[[str, float], float]


def promote(
    client: MlflowClient,
    name: str,
    version: str,
    cost: float,
    holdout_digest: str,
    rescore: Rescorer | None = None,
) -> Promotion:
    """Set ``champion`` or ``challenger`` on a new model version.

    The champion's cost is taken from its version tags when it was evaluated on the same holdout
    (same ``holdout_digest``); otherwise it is re-scored on this holdout with ``rescore``. If that
    is impossible (e.g. it needs features that no longer exist), the costs are not comparable
    and the new version only becomes ``challenger``: the champion never moves on faith.
    """
    try:
        champ = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise
        champ = None
    champ_cost: float | None = None
    if champ is not None:
        if champ.tags.get("holdout_digest") == holdout_digest and "business_cost" in champ.tags:
            champ_cost = float(champ.tags["business_cost"])
        elif rescore is not None and "threshold" in champ.tags:
            uri = f"models:/{name}/{champ.version}"
            try:
                champ_cost = rescore(uri, float(champ.tags["threshold"]))
            except (MlflowException, KeyError, ValueError, TypeError) as exc:
                log.warning("champion v%s cannot be scored on this holdout: %s", champ.version, exc)
        if champ_cost is None:
            reason = f"champion v{champ.version} was not evaluated on this holdout: not comparable"
            client.set_registered_model_alias(name, CHALLENGER, version)
            return Promotion(CHALLENGER, reason, str(champ.version), None)
    alias, reason = decide_alias(cost, champ_cost)
    client.set_registered_model_alias(name, alias, version)
    return Promotion(alias, reason, None if champ is None else str(champ.version), champ_cost)
