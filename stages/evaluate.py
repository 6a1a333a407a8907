"""Stage `evaluate`: final fit, threshold and calibration from OOF, one holdout evaluation, bundle.

    python -m stages.evaluate --params params.yaml \
        --features data/features/train.parquet --test-features data/features/test.parquet \
        --feature-list data/features/feature_list.json --feature-spec data/features/features.yaml \
        --split data/split/split.parquet --resampled data/resample --train-dir models/train \
        --application-test data/interim/application_test.parquet \
        --bundle models/bundle --metrics metrics/test.json --plots metrics/plots

1. The calibration is fitted on the raw out-of-fold probabilities of the train stage, and the
   threshold minimises the business cost on the (cross-fitted) calibrated OOF probabilities:
   nothing here looks at the holdout to decide anything.
2. The configured model is refitted with its best parameters on the final-fit set written by the
   resample stage (the whole training side, resampled once like each CV training fold).
3. The holdout is scored once, through the written bundle (what the API will serve), and the
   contract metrics and plot data are written.
4. The bundle is logged to MLflow as a pyfunc, registered, and given ``champion`` only if it
   beats the current champion's business cost on the same holdout (else ``challenger``).

``train.exclude_attributes`` removes the same features as in the train stage (checked against
``best.json``); ``bundle.json`` records them under ``excluded_attributes``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from imblearn.pipeline import Pipeline
from mlflow.types import DataType

from scoring import tracking
from scoring.bundle import Bundle, Calibration, load_bundle, write_bundle
from scoring.calibration import fit_calibration
from scoring.config import git_revision, load_params, section, setup_logging
from scoring.cost import CostWeights, cost_at_threshold
from scoring.evaluation import (
    calibration_points,
    classification_metrics,
    confusion_rows,
    cost_curve_points,
    pr_points,
    roc_points,
    summary_line,
)
from scoring.models import (
    SERVABLE_KINDS,
    ModelSpec,
    ResampleSpec,
    build_pipeline,
    export_booster,
    export_linear,
    fitted_levels,
    top_features,
)
from scoring.protected import BUNDLE_KEY, Exclusion, attributes_from_params, exclusion_for_stage
from scoring.threshold import ThresholdChoice, best_threshold, cost_curve, threshold_grid
from scoring.training import KEY, LABEL, FeatureList, subset_rows

log = logging.getLogger("stages.evaluate")
#: Bundle and pipeline must agree on every holdout probability to this tolerance.
AGREEMENT_TOL = 1e-7


@dataclass(frozen=True)
class EvaluateParams:
    seed: int
    weights: CostWeights
    model: ModelSpec
    resample: ResampleSpec
    threshold_points: int
    experiment: str
    registered_model: str
    exclude_attributes: tuple[str, ...] = ()

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> EvaluateParams:
        model = ModelSpec.from_params(section(params, "model"))
        if model.kind not in SERVABLE_KINDS:
            raise ValueError(
                f"model={model.kind} is a reference for metrics/models.json only and cannot be "
                f"bundled or served; choose one of {SERVABLE_KINDS} (e.g. -S model=lightgbm)"
            )
        tracking_section = section(params, "tracking")
        return cls(
            seed=int(params["seed"]),
            weights=CostWeights.from_params(section(params, "cost")),
            model=model,
            resample=ResampleSpec.from_params(section(params, "resample")),
            threshold_points=int(section(params, "search")["threshold_points"]),
            experiment=str(tracking_section["experiment"]),
            registered_model=str(tracking_section["registered_model"]),
            exclude_attributes=attributes_from_params(params),
        )


def check_train_outputs(
    best: dict[str, Any], p: EvaluateParams, excluded: Exclusion | None = None
) -> None:
    """Refuse outputs of the train stage produced for another model, strategy or exclusion."""
    if best.get("model") != p.model.kind or best.get("resample") != p.resample.strategy:
        raise ValueError(
            f"models/train/best.json is for {best.get('model')}/{best.get('resample')} but params "
            f"ask for {p.model.kind}/{p.resample.strategy}: run the train stage first (dvc repro)"
        )
    wanted = (excluded or Exclusion()).to_json()
    if best.get(BUNDLE_KEY, {}) != wanted:
        raise ValueError(
            f"models/train/best.json excluded {best.get(BUNDLE_KEY, {})} but params exclude "
            f"{wanted}: run the train stage first (dvc repro)"
        )


def final_fit(
    train_rows: pd.DataFrame,
    plan: pd.DataFrame,
    synthetic: pd.DataFrame,
    feats: FeatureList,
    p: EvaluateParams,
    best_params: dict[str, Any],
) -> Pipeline:
    """Fit the configured model on the final-fit set (resampling already applied, weights kept)."""
    real = train_rows.merge(plan[[KEY, "sample_weight"]], on=KEY, how="inner", validate="1:1")
    if len(real) != len(plan):
        raise ValueError(f"{len(plan) - len(real)} final-fit clients have no feature row")
    names = list(feats.names)
    frame = pd.concat([real[names], synthetic[names]], ignore_index=True)
    y = np.concatenate([real[LABEL].to_numpy(), synthetic[LABEL].to_numpy()]).astype(np.int64)
    w = np.concatenate([real["sample_weight"].to_numpy(), synthetic["sample_weight"].to_numpy()])
    pipeline = build_pipeline(
        p.model.kind, best_params, ResampleSpec("none"), names, feats.categorical, p.seed
    )
    log.info("final fit: %s on %d rows (%d synthetic)", p.model.kind, len(frame), len(synthetic))
    pipeline.fit(frame, y, clf__sample_weight=w)
    return pipeline


def known_clients(
    application_test: pd.DataFrame, test_features: pd.DataFrame, feature_names: list[str]
) -> pd.DataFrame:
    """SK_ID_CURR + descriptive raw application columns + the model features (score-ready).

    A raw column that is also a model feature is kept once, as the feature (the value scored).
    """
    raw_cols = [c for c in application_test.columns if c != KEY and c not in feature_names]
    merged = application_test[[KEY, *raw_cols]].merge(
        test_features[[KEY, *feature_names]], on=KEY, how="left", validate="1:1"
    )
    lacking = merged[feature_names[0]].isna() & ~merged[KEY].isin(test_features[KEY])
    if lacking.any():
        raise ValueError(
            f"{int(lacking.sum())} application_test clients have no feature row, "
            f"e.g. {KEY}={merged.loc[lacking, KEY].head(3).tolist()}"
        )
    return merged.sort_values(KEY, kind="stable").reset_index(drop=True)


def write_plots(
    plots: Path,
    y_holdout: np.ndarray,
    p_holdout: np.ndarray,
    threshold: float,
    oof_y: np.ndarray,
    oof_p: np.ndarray,
    weights: CostWeights,
    grid: np.ndarray,
) -> None:
    """DVC plot data: holdout ROC/PR/reliability/confusion, and the OOF cost curve (the choice)."""
    plots.mkdir(parents=True, exist_ok=True)
    data = {
        "roc.json": roc_points(y_holdout, p_holdout),
        "pr.json": pr_points(y_holdout, p_holdout),
        "calibration.json": calibration_points(y_holdout, p_holdout),
        "cost_threshold.json": cost_curve_points(cost_curve(oof_y, oof_p, weights, grid)),
    }
    for name, records in data.items():
        (plots / name).write_text(json.dumps(records, indent=0) + "\n", encoding="utf-8")
    confusion_rows(y_holdout, p_holdout, threshold).to_csv(plots / "confusion.csv", index=False)


def make_rescorer(holdout: pd.DataFrame, y: np.ndarray, weights: CostWeights) -> tracking.Rescorer:
    """Scores a registered model on this holdout at its own threshold (champion comparison)."""

    def rescore(model_uri: str, threshold: float) -> float:
        model = mlflow.pyfunc.load_model(model_uri)
        schema = model.metadata.get_input_schema()
        if schema is None:
            raise ValueError(f"{model_uri} has no input signature")
        columns = schema.input_names()
        absent = [c for c in columns if c not in holdout.columns]
        if absent:
            raise KeyError(f"{model_uri} needs features absent from this holdout: {absent[:5]}")
        frame = holdout[columns].copy()
        for spec in schema.inputs:
            if spec.type == DataType.string:
                frame[spec.name] = frame[spec.name].astype("string")
            else:
                frame[spec.name] = pd.to_numeric(frame[spec.name]).astype("float64")
        proba = np.asarray(model.predict(frame), dtype=np.float64).ravel()
        return cost_at_threshold(y, proba, threshold, weights)

    return rescore


def choose_threshold(
    oof: pd.DataFrame, p: EvaluateParams, grid: np.ndarray
) -> tuple[Calibration, ThresholdChoice]:
    """Calibration fitted on raw OOF probabilities; threshold on cross-fitted calibrated ones."""
    y = oof[LABEL].to_numpy().astype(np.int64)
    calibration = fit_calibration(oof["proba_raw"].to_numpy(), y, p.resample.calibration)
    choice = best_threshold(y, oof["proba"].to_numpy(), p.weights, grid)
    log.info(
        "threshold %.3f from %d OOF probabilities (cost/client %.4f; calibration %s; for "
        "perfectly calibrated probabilities the optimum would be %.3f)",
        choice.threshold,
        choice.n,
        choice.cost_per_client,
        calibration.method,
        p.weights.bayes_threshold,
    )
    return calibration, choice


def build_bundle(
    bundle_dir: Path,
    pipeline: Pipeline,
    feats: FeatureList,
    p: EvaluateParams,
    calibration: Calibration,
    threshold: float,
    best: dict[str, Any],
    test_metrics: dict[str, float],
    digests: dict[str, str],
    excluded: Exclusion | None = None,
) -> Bundle:
    """Write the bundle of the fitted pipeline (nothing time- or commit-dependent inside)."""
    if bundle_dir.exists():
        shutil.rmtree(bundle_dir)  # no stale file from another model kind survives
    names = list(feats.names)
    is_lgbm = p.model.kind == "lightgbm"
    write_bundle(
        bundle_dir,
        feature_names=names,
        categorical_levels=fitted_levels(pipeline),
        threshold=threshold,
        calibration=calibration,
        labels=feats.labels,
        booster=export_booster(pipeline) if is_lgbm else None,
        linear=None if is_lgbm else export_linear(pipeline, names),
        cost={"fn": p.weights.fn, "fp": p.weights.fp},
        metrics={"cv": best["cv"], "test": test_metrics},
        params={"model": p.model.kind, "resample": p.resample.strategy, **best["params"]},
        data_digest=digests["data_digest"],
        top_features=top_features(pipeline, names),
        extra={
            "holdout_digest": digests["holdout_digest"],
            "resample": p.resample.strategy,
            BUNDLE_KEY: (excluded or Exclusion()).to_json(),
        },
    )
    return load_bundle(bundle_dir)


def register(
    bundle: Bundle,
    holdout: pd.DataFrame,
    p_holdout: np.ndarray,
    test_metrics: dict[str, float],
    best: dict[str, Any],
    p: EvaluateParams,
    digests: dict[str, str],
    grid: np.ndarray,
) -> tracking.Promotion:
    """One MLflow run: params, metrics, figures, the bundle as a registered pyfunc, its alias."""
    y = holdout[LABEL].to_numpy().astype(np.int64)
    threshold = bundle.threshold
    tracking.start(p.experiment)
    with mlflow.start_run(run_name=f"evaluate {p.model.kind}/{p.resample.strategy}") as run:
        tags = {**digests, "git_rev": git_revision(), "bundle_version": bundle.model_version}
        mlflow.set_tags({"stage": "evaluate", **tags})
        mlflow.log_params(
            {
                "model": p.model.kind,
                "resample": p.resample.strategy,
                "calibration": bundle.calibration.method,
                "threshold": threshold,
                "exclude_attributes": ",".join(best.get(BUNDLE_KEY, {})) or "none",
                **{f"best.{k}": v for k, v in best["params"].items()},
            }
        )
        mlflow.log_metrics({f"test_{k}": float(v) for k, v in test_metrics.items()})
        cv = {f"cv_{k}": float(v) for k, v in best["cv"].items() if isinstance(v, int | float)}
        mlflow.log_metrics(cv)
        client = mlflow.MlflowClient()
        tracking.log_figures(
            client, run.info.run_id, y, p_holdout, threshold, p.weights, grid, "holdout"
        )
        example = holdout[bundle.feature_names].head(5)
        _, version = tracking.log_bundle_model(bundle.root, example, p.registered_model)
        version_tags = {
            **tags,
            "business_cost": test_metrics["business_cost"],
            "cost_per_client": test_metrics["cost_per_client"],
            "auc": test_metrics["auc"],
            "threshold": threshold,
            "model_kind": p.model.kind,
            "resample": p.resample.strategy,
        }
        for key, value in version_tags.items():
            client.set_model_version_tag(p.registered_model, version, key, str(value))
        promotion = tracking.promote(
            client,
            p.registered_model,
            version,
            test_metrics["business_cost"],
            digests["holdout_digest"],
            make_rescorer(holdout, y, p.weights),
        )
        mlflow.set_tag("registry_alias", promotion.alias)
    log.info(
        "registered %s v%s as @%s: %s",
        p.registered_model,
        version,
        promotion.alias,
        promotion.reason,
    )
    return promotion


def _write_json(path: Path, payload: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--features", required=True)
    ap.add_argument("--test-features", required=True)
    ap.add_argument("--feature-list", required=True)
    ap.add_argument("--feature-spec", help="resolved feature spec copied into the bundle")
    ap.add_argument("--split", required=True)
    ap.add_argument("--resampled", required=True, help="resample stage output directory")
    ap.add_argument("--train-dir", required=True, help="train stage output directory")
    ap.add_argument("--application-test", required=True)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--metrics", required=True)
    ap.add_argument("--plots", required=True)
    args = ap.parse_args(argv)
    setup_logging()
    p = EvaluateParams.from_params(load_params(args.params))
    train_dir, resampled, bundle_dir = Path(args.train_dir), Path(args.resampled), Path(args.bundle)
    best = json.loads((train_dir / "best.json").read_text("utf-8"))
    feats = FeatureList.from_json(json.loads(Path(args.feature_list).read_text("utf-8")))
    excluded = exclusion_for_stage(p.exclude_attributes, feats.names, args.feature_spec)
    check_train_outputs(best, p, excluded)
    feats = excluded.apply(feats)
    names = list(feats.names)
    grid = threshold_grid(p.threshold_points)
    oof = pd.read_parquet(train_dir / "oof.parquet")
    calibration, choice = choose_threshold(oof, p, grid)

    features, split = pd.read_parquet(args.features), pd.read_parquet(args.split)
    train_rows = subset_rows(features, split, "train")
    holdout = subset_rows(features, split, "holdout")
    plan = pd.read_parquet(resampled / "plan.parquet")
    synthetic = pd.read_parquet(resampled / "synthetic.parquet")
    pipeline = final_fit(train_rows, plan, synthetic, feats, p, best["params"])
    y_holdout = holdout[LABEL].to_numpy().astype(np.int64)
    p_pipeline = calibration.apply(pipeline.predict_proba(holdout[names])[:, 1])
    test_metrics = classification_metrics(y_holdout, p_pipeline, choice.threshold, p.weights)
    log.info(summary_line("holdout", test_metrics))

    digests = {
        "data_digest": tracking.frame_digest(train_rows[[KEY, LABEL, *names]]),
        "holdout_digest": tracking.frame_digest(holdout[[KEY, LABEL]]),
    }
    bundle = build_bundle(
        bundle_dir,
        pipeline,
        feats,
        p,
        calibration,
        choice.threshold,
        best,
        test_metrics,
        digests,
        excluded,
    )
    p_holdout = bundle.predict_proba(bundle.encode(holdout))
    gap = float(np.max(np.abs(p_holdout - p_pipeline))) if len(holdout) else 0.0
    if gap > AGREEMENT_TOL:
        raise RuntimeError(f"bundle and fitted pipeline disagree on the holdout by {gap:.2e}")
    if args.feature_spec and Path(args.feature_spec).is_file():
        shutil.copyfile(args.feature_spec, bundle_dir / "features.yaml")
    clients = known_clients(
        pd.read_parquet(args.application_test), pd.read_parquet(args.test_features), names
    )
    clients.to_parquet(bundle_dir / "clients.parquet", index=False)
    log.info(
        "bundle %s (%s) in %s, %d known clients",
        bundle.model_version,
        bundle.model_kind,
        bundle_dir,
        len(clients),
    )
    _write_json(Path(args.metrics), test_metrics)
    write_plots(
        Path(args.plots),
        y_holdout,
        p_holdout,
        choice.threshold,
        oof[LABEL].to_numpy(),
        oof["proba"].to_numpy(),
        p.weights,
        grid,
    )
    register(bundle, holdout, p_holdout, test_metrics, best, p, digests, grid)


if __name__ == "__main__":
    main()
