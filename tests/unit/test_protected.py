"""Excluding protected attributes from training (``train.exclude_attributes``).

The switch must drop exactly the features computed from the attribute (raw column, frequency
encoding, derived and cross features, transitively) and nothing else; do nothing by default;
refuse a misspelt attribute; and the bundle and the model card must say what was excluded.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from scoring import tracking
from scoring.bundle import load_bundle
from scoring.features import load_spec
from scoring.features.spec import FeatureSpec
from scoring.model_card import CardInputs, render_model_card
from scoring.protected import (
    attribute_lineage,
    attributes_from_params,
    check_attributes,
    exclusion,
    exclusion_for_stage,
)
from scoring.training import FeatureList
from tests.unit.test_features_spec import DEFAULT, SMALL

GENDER_LINEAGE = ["CODE_GENDER", "IS_MALE", "CODE_GENDER_FREQ", "DEBT_X_MALE"]


def _spec_dict() -> dict[str, Any]:
    """A small spec where CODE_GENDER and DAYS_BIRTH reach features in every possible way."""
    spec = copy.deepcopy(SMALL)
    spec["application"] = {
        "frequency": {"columns": ["CODE_GENDER", "NAME_FAMILY_STATUS", "OCCUPATION_TYPE"]},
        "derived": {
            "IS_MALE": {"expr": "CODE_GENDER == 'M'", "label": "Male"},
            "AGE_YEARS": {"expr": "-DAYS_BIRTH / 365.25", "label": "Age (years)"},
            # reads a derived feature, not DAYS_BIRTH itself: lineage must be transitive
            "CREDIT_PER_AGE": {"expr": "AMT_CREDIT / AGE_YEARS", "label": "Credit per year"},
            # the name contains the attribute, the value does not come from it
            "NOT_CODE_GENDER_RATIO": {"expr": "AMT_CREDIT / AMT_ANNUITY", "label": "Term"},
        },
    }
    spec["cross"] = {
        "DEBT_X_MALE": {"expr": "BURO_ALL_AMT_CREDIT_SUM_SUM * IS_MALE", "label": "Debt x male"},
        "DEBT_INCOME": {
            "expr": "BURO_ALL_AMT_CREDIT_SUM_SUM / AMT_INCOME_TOTAL",
            "label": "Debt / income",
        },
    }
    return spec


@pytest.fixture(scope="module")
def spec() -> FeatureSpec:
    return load_spec(_spec_dict())


def _feature_list(spec: FeatureSpec) -> FeatureList:
    return FeatureList.from_json(
        {"features": [f.as_json() for f in spec.features]}, source="spec features"
    )


def test_lineage_follows_expressions_not_names(spec: FeatureSpec) -> None:
    assert attribute_lineage(spec, "CODE_GENDER") == GENDER_LINEAGE
    assert attribute_lineage(spec, "DAYS_BIRTH") == ["DAYS_BIRTH", "AGE_YEARS", "CREDIT_PER_AGE"]
    assert attribute_lineage(spec, "NAME_FAMILY_STATUS") == [
        "NAME_FAMILY_STATUS",
        "NAME_FAMILY_STATUS_FREQ",
    ]


def test_switch_drops_exactly_the_lineage_and_keeps_order(spec: FeatureSpec) -> None:
    feats = _feature_list(spec)
    excl = exclusion(["CODE_GENDER"], feats.names, spec)
    kept = excl.apply(feats)
    assert set(feats.names) - set(kept.names) == set(GENDER_LINEAGE)
    assert list(kept.names) == [n for n in feats.names if n not in GENDER_LINEAGE]
    assert "NOT_CODE_GENDER_RATIO" in kept.names and "DEBT_INCOME" in kept.names
    assert "CODE_GENDER" not in kept.categorical
    assert set(kept.categorical) == set(feats.categorical) - {"CODE_GENDER"}
    assert set(kept.labels) == set(kept.names)
    assert excl.to_json() == {"CODE_GENDER": GENDER_LINEAGE}


def test_several_attributes_and_features_absent_from_the_model(spec: FeatureSpec) -> None:
    # a model trained on a subset: only its own features are reported as removed
    names = ["AMT_CREDIT", "CODE_GENDER", "AGE_YEARS", "CREDIT_PER_AGE", "NAME_FAMILY_STATUS"]
    excl = exclusion(["CODE_GENDER", "DAYS_BIRTH", "NAME_FAMILY_STATUS"], names, spec)
    assert excl.to_json() == {
        "CODE_GENDER": ["CODE_GENDER"],
        "DAYS_BIRTH": ["AGE_YEARS", "CREDIT_PER_AGE"],
        "NAME_FAMILY_STATUS": ["NAME_FAMILY_STATUS"],
    }


def test_default_excludes_nothing(spec: FeatureSpec) -> None:
    feats = _feature_list(spec)
    assert attributes_from_params({"train": {"exclude_attributes": []}}) == ()
    assert attributes_from_params({"seed": 1}) == ()  # params without the section
    excl = exclusion_for_stage((), feats.names, None)  # no spec needed, none read
    assert excl.to_json() == {} and excl.apply(feats) is feats


def test_default_conf_excludes_nothing() -> None:
    conf = yaml.safe_load((DEFAULT.parents[1] / "train" / "default.yaml").read_text())
    assert conf == {"exclude_attributes": []}
    params = yaml.safe_load((DEFAULT.parents[2] / "params.yaml").read_text())
    assert params["train"] == {"exclude_attributes": []}


def test_default_spec_lineage() -> None:
    spec = load_spec(DEFAULT)
    age = attribute_lineage(spec, "DAYS_BIRTH")
    assert age[0] == "DAYS_BIRTH"
    assert {"AGE_YEARS", "EMPLOYED_AGE_RATIO", "CAR_AGE_RATIO", "CREDIT_AGE_RATIO"} <= set(age)
    # "AGE" in a name is no link: the car's age and years employed do not come from DAYS_BIRTH
    assert {"OWN_CAR_AGE", "EMPLOYED_YEARS"} <= set(spec.feature_names) - set(age)
    family = attribute_lineage(spec, "NAME_FAMILY_STATUS")
    assert family == ["NAME_FAMILY_STATUS", "NAME_FAMILY_STATUS_FREQ"]
    decoy = "PREV_ALL_NAME_TYPE_SUITE_FAMILY_SHARE"  # "accompanied by: family", not the status
    assert decoy in spec.feature_names and decoy not in family


@pytest.mark.parametrize(
    "bad, message",
    [
        (["CODE_GENDR"], "did you mean CODE_GENDER"),
        (["code_gender"], "did you mean CODE_GENDER"),
        (["AGE_BAND"], "not a column of application_train"),
        (["SK_ID_CURR"], "client key"),
    ],
)
def test_unknown_attribute_is_a_clear_error(
    spec: FeatureSpec, bad: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match=message) as err:
        exclusion(bad, spec.feature_names, spec)
    assert "train.exclude_attributes" in str(err.value)


def test_params_must_be_a_list() -> None:
    with pytest.raises(TypeError, match="list of column names"):
        attributes_from_params({"train": {"exclude_attributes": "CODE_GENDER"}})
    assert check_attributes(["CODE_GENDER", "CODE_GENDER"]) == ("CODE_GENDER",)


def test_exclusion_needs_the_spec_and_a_matching_feature_list(spec: FeatureSpec) -> None:
    with pytest.raises(ValueError, match="--feature-spec"):
        exclusion_for_stage(["CODE_GENDER"], spec.feature_names, None)
    with pytest.raises(ValueError, match="not in the feature spec"):
        exclusion(["CODE_GENDER"], [*spec.feature_names, "MYSTERY"], spec)


def _card(bundle_extra: dict[str, Any]) -> str:
    bundle = {"model_version": "v", "model_kind": "lightgbm", "feature_names": ["A"]}
    fairness = {"n": 10, "CODE_GENDER": {"groups": {}, "disparate_impact": 0.9}}
    return render_model_card(
        CardInputs(
            bundle={**bundle, **bundle_extra},
            fairness=fairness,
            context={"protected_used": {"CODE_GENDER": []}},
        )
    )


def test_model_card_states_the_exclusion() -> None:
    card = _card({"excluded_attributes": {"CODE_GENDER": ["CODE_GENDER", "CODE_GENDER_FREQ"]}})
    assert (
        "**Protected attributes excluded from training:** `CODE_GENDER` (removed: `CODE_GENDER`,"
        " `CODE_GENDER_FREQ`)" in card
    )
    assert "Excluded from training by `train.exclude_attributes`" in card
    assert "- `CODE_GENDER`: **not used by the model**" in card
    default = _card({"excluded_attributes": {}})
    assert "excluded from training:** none (`train.exclude_attributes` is empty)" in default
    assert "Excluded from training by" not in default
    assert "not recorded in the bundle" in _card({})


# --------------------------------------------------------------------------------------------
# The stages: train and evaluate honour the switch, the bundle records it
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowClient]:
    db = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{db}")
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        tracking.start("tests")
        yield MlflowClient()


MODEL_FEATURES = [
    "CODE_GENDER",
    "NAME_FAMILY_STATUS",
    "AMT_INCOME_TOTAL",
    "AMT_CREDIT",
    "DAYS_BIRTH",
    "EXT_SOURCE_2",
    "IS_MALE",
    "AGE_YEARS",
    "CODE_GENDER_FREQ",
    "NOT_CODE_GENDER_RATIO",
]


def _rows(n: int, seed: int, first_id: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    gender = rng.choice(["F", "M"], n, p=[0.65, 0.35])
    days = -rng.integers(20 * 365, 65 * 365, n)
    ext = rng.uniform(0, 1, n)
    credit = rng.lognormal(13, 0.4, n)
    return pd.DataFrame(
        {
            "SK_ID_CURR": np.arange(first_id, first_id + n),
            "TARGET": (rng.uniform(0, 1, n) < 0.05 + 0.25 * (ext < 0.3)).astype(np.int64),
            "CODE_GENDER": gender,
            "NAME_FAMILY_STATUS": rng.choice(["Married", "Single / not married"], n),
            "AMT_INCOME_TOTAL": rng.lognormal(12, 0.5, n),
            "AMT_CREDIT": credit,
            "DAYS_BIRTH": days,
            "EXT_SOURCE_2": ext,
            "IS_MALE": (gender == "M").astype(float),
            "AGE_YEARS": -days / 365.25,
            "CODE_GENDER_FREQ": np.where(gender == "F", 0.65, 0.35),
            "NOT_CODE_GENDER_RATIO": credit / rng.uniform(1e4, 5e4, n),
        }
    )


def _params(exclude: list[str]) -> dict[str, Any]:
    lgbm = {
        "kind": "lightgbm",
        "learning_rate": 0.1,
        "n_estimators": 20,
        "early_stopping_rounds": 5,
        "num_leaves": 5,
        "space": {"num_leaves": {"type": "int", "low": 3, "high": 9}},
    }
    rs = {"strategy": "none", "calibration": "none"}
    return {
        "seed": 3,
        "train": {"exclude_attributes": exclude},
        "split": {"test_size": 0.25},
        "cv": {"n_folds": 3},
        "cost": {"fn": 10.0, "fp": 1.0},
        "model": lgbm,
        "resample": rs,
        "search": {
            "coarse_trials": 1,
            "refine_trials": 0,
            "threshold_points": 101,
            "n_jobs": 1,
            "candidates": {"lightgbm": lgbm},
            "strategies": {"none": rs},
        },
        "tracking": {"experiment": "protected", "registered_model": "cs-protected"},
    }


def test_stages_train_without_the_attribute_and_record_it(
    store: MlflowClient, tmp_path: Path
) -> None:
    from stages import evaluate, resample, split, train

    d = tmp_path
    spec = load_spec(_spec_dict())
    by_name = {f.name: f for f in spec.features}
    df = _rows(400, seed=1, first_id=100_000)
    (d / "features").mkdir()
    df[["SK_ID_CURR", "TARGET", *MODEL_FEATURES]].to_parquet(d / "features/train.parquet")
    test_rows = _rows(30, seed=2, first_id=900_000)
    test_rows[["SK_ID_CURR", *MODEL_FEATURES]].to_parquet(d / "features/test.parquet")
    test_rows[["SK_ID_CURR", "CODE_GENDER", "DAYS_BIRTH"]].to_parquet(d / "app_test.parquet")
    df[["SK_ID_CURR", "TARGET"]].to_parquet(d / "app_train.parquet")
    (d / "features/features.yaml").write_text(yaml.safe_dump({"spec": _spec_dict()}))
    (d / "features/feature_list.json").write_text(
        json.dumps({"features": [by_name[f].as_json() for f in MODEL_FEATURES]})
    )
    (d / "params.yaml").write_text(yaml.safe_dump(_params([])))

    def cli(**opts: Path | str) -> list[str]:
        return [a for k, v in opts.items() for a in (f"--{k.replace('_', '-')}", str(v))]

    common = {
        "params": d / "params.yaml",
        "features": d / "features/train.parquet",
        "feature_list": d / "features/feature_list.json",
    }
    split.main(cli(params=d / "params.yaml", train=d / "app_train.parquet", out=d / "split.pq"))
    resample.main(
        cli(**common, split=d / "split.pq", out=d / "resample", report=d / "resample.json")
    )

    def run(exclude: list[str], bundle: str, *, train_first: bool = True) -> None:
        (d / "params.yaml").write_text(yaml.safe_dump(_params(exclude)))
        spec_path = d / "features/features.yaml"
        if train_first:
            train.main(
                cli(**common, feature_spec=spec_path, split=d / "split.pq", out=d / "train")
                + cli(cv_metrics=d / "cv.json", models_metrics=d / "models.json")
            )
        evaluate.main(
            cli(**common, feature_spec=spec_path, test_features=d / "features/test.parquet")
            + cli(split=d / "split.pq", resampled=d / "resample", train_dir=d / "train")
            + cli(application_test=d / "app_test.parquet", bundle=d / bundle)
            + cli(metrics=d / "test.json", plots=d / "plots")
        )

    run(["CODE_GENDER"], "blind")
    blind = load_bundle(d / "blind")
    removed = ["CODE_GENDER", "IS_MALE", "CODE_GENDER_FREQ"]
    assert blind.feature_names == [f for f in MODEL_FEATURES if f not in removed]
    assert "CODE_GENDER" not in blind.categorical_levels
    assert blind.meta["excluded_attributes"] == {"CODE_GENDER": removed}
    best = json.loads((d / "train/best.json").read_text())
    assert best["excluded_attributes"] == {"CODE_GENDER": removed}
    # the served clients keep the raw attribute (API filters, fairness), not as a model input
    clients = pd.read_parquet(d / "blind/clients.parquet")
    assert "CODE_GENDER" in clients.columns
    # a raw application with the attribute still scores, and its gender cannot move the score
    rows = test_rows.head(5)
    flipped = rows.assign(CODE_GENDER=rows["CODE_GENDER"].map({"F": "M", "M": "F"}))
    np.testing.assert_array_equal(
        blind.predict_proba(blind.encode(rows)), blind.predict_proba(blind.encode(flipped))
    )

    # evaluate refuses to refit train-stage outputs made under another exclusion
    with pytest.raises(ValueError, match="run the train stage first"):
        run([], "stale", train_first=False)

    run([], "full")
    full = load_bundle(d / "full")
    assert full.feature_names == MODEL_FEATURES and full.meta["excluded_attributes"] == {}


# --------------------------------------------------------------------------------------------
# The comparison table (benchmarks/protected_attributes.py) shows the runs' own figures
# --------------------------------------------------------------------------------------------
def _run_figures(cost: float, di: float, excluded: dict[str, list[str]]) -> dict[str, Any]:
    group = {"n": 100, "approval_rate": 0.5, "tpr": 0.6, "fpr": 0.2, "default_rate": 0.1}
    return {
        "git_rev": "abc1234",
        "model_version": "v1",
        "n_features": 10 - sum(len(f) for f in excluded.values()),
        "excluded_attributes": excluded,
        "test": {
            "business_cost": cost,
            "cost_per_client": cost / 4000,
            "auc": 0.78,
            "threshold": 0.09,
            "approval_rate": 0.73,
        },
        "cv": {"auc_mean": 0.787, "auc_std": 0.01, "business_cost_mean": 1535.0},
        "explain": {"share_refused_with_protected_reason": 0.002},
        "fairness": {
            "min_group_size": 50,
            "CODE_GENDER": {
                "disparate_impact": di,
                "tpr_gap": 0.1,
                "fpr_gap": 0.05,
                "groups": {"F": group, "M": {**group, "approval_rate": 0.4}, "XNA": {"n": 1}},
            },
        },
    }


def test_comparison_table_is_written_between_the_markers(tmp_path: Path) -> None:
    from benchmarks.protected_attributes import BEGIN, END, render, write_block

    runs = {
        "baseline": _run_figures(1992.0, 0.8637, {}),
        "CODE_GENDER": _run_figures(2010.0, 0.9012, {"CODE_GENDER": ["CODE_GENDER"]}),
    }
    table = render(runs)
    assert "| holdout business cost (10·FN + FP) | 1992 | 2010 |" in table
    assert "| disparate impact | 0.864 | 0.901 |" in table
    assert "| excluded attributes (features removed) | none | CODE_GENDER (1) |" in table
    assert "| M (n=100): approval rate | 40.0 % | 40.0 % |" in table
    assert "XNA" not in table  # below min_group_size: not read
    assert "At the baseline's approval rate" not in table  # no matched figures given
    for run, cost in zip(runs.values(), (1992.0, 1981.0), strict=True):
        run["matched"] = {"business_cost": cost, "fairness": {**run["fairness"], "n": 4000}}
        run["matched"]["fairness"]["approval_rate"] = 0.727
    matched = render(runs)
    assert "At the baseline's approval rate (72.7 %" in matched
    assert "| holdout business cost | 1992 | 1981 |" in matched
    assert "| CODE_GENDER: disparate impact | 0.864 | 0.901 |" in matched
    doc = tmp_path / "doc.md"
    doc.write_text(f"intro\n\n{BEGIN}\nold numbers\n{END}\n\noutro\n")
    write_block(doc, table)
    text = doc.read_text()
    assert "old numbers" not in text and "| 1992 | 2010 |" in text
    assert text.startswith("intro\n") and text.endswith("\noutro\n")
    write_block(doc, render({"baseline": runs["baseline"]}))  # idempotent: one block stays
    assert doc.read_text().count(BEGIN) == 1 and "2010" not in doc.read_text()
