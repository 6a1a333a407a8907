"""End to end: `dvc exp run` with overrides on a copy of the repository, tiny synthetic sample.

The copy holds exactly the tracked files (``git ls-files``), as a fresh clone would, in a new
git repository; the run goes through every stage of dvc.yaml. Overrides exercise the sweep
mechanics reviewers use (`-S model.learning_rate=...`, `-S search=ci`) and keep it small.
MLflow logs to a SQLite file inside the copy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scoring.bundle import load_bundle
from scoring.evaluation import METRIC_KEYS

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
OVERRIDES = [
    "synth.n_clients=1000",
    "search=ci",
    "cv.n_folds=3",
    "model.learning_rate=0.1",
    "model.n_estimators=60",
]

pytestmark = pytest.mark.e2e


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> str:
    done = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-4000:]}\n"
            f"{done.stderr[-4000:]}"
        )
    return done.stdout


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh copy of the tracked files after one `dvc exp run` with overrides."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path_factory.mktemp("repo")
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    for rel in filter(None, tracked.split("\0")):
        src = ROOT / rel
        if src.is_file():  # a tracked file deleted in the working tree is skipped
            dst = repo / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_TRACKING_URI": f"sqlite:///{repo / 'mlflow.db'}",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DVC_NO_ANALYTICS": "1",
        "GIT_AUTHOR_NAME": "e2e",
        "GIT_AUTHOR_EMAIL": "e2e@example.com",
        "GIT_COMMITTER_NAME": "e2e",
        "GIT_COMMITTER_EMAIL": "e2e@example.com",
    }
    env.pop("DVC_ROOT", None)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", "copy"]):
        _run(cmd, repo, env)
    args = [str(VENV_BIN / "dvc"), "exp", "run"]
    for override in OVERRIDES:
        args += ["-S", override]
    _run(args, repo, env, timeout=900)
    return repo


def test_contract_metrics_are_written(experiment: Path) -> None:
    cv = json.loads((experiment / "metrics/cv.json").read_text())
    assert set(cv) == {
        "auc_mean",
        "auc_std",
        "business_cost_mean",
        "n_folds",
        "model",
        "resample",
        "fit_seconds",
    }
    assert cv["n_folds"] == 3 and cv["model"] == "lightgbm"  # the override reached the stage
    test = json.loads((experiment / "metrics/test.json").read_text())
    assert tuple(test) == METRIC_KEYS
    assert 0 < test["threshold"] < 1 and 0 <= test["approval_rate"] <= 1
    models = json.loads((experiment / "metrics/models.json").read_text())
    assert {k.split("/")[0] for k in models} == {"dummy", "logistic", "lightgbm"}
    assert {k.split("/")[1] for k in models} == {"none", "class_weight", "smote", "undersample"}
    for entry in models.values():
        assert set(entry) == {*METRIC_KEYS, "fit_seconds"}


def test_bundle_serves_the_configured_model(experiment: Path) -> None:
    bundle = load_bundle(experiment / "models/bundle")
    assert bundle.model_kind == "lightgbm"
    assert bundle.meta["params"]["learning_rate"] == 0.1  # -S model.learning_rate=0.1
    assert (experiment / "models/bundle/clients.parquet").is_file()
    assert (experiment / "models/bundle/features.yaml").is_file()
    assert "created_at" not in bundle.meta and bundle.meta["git_rev"] == ""  # deterministic


def test_dvc_sees_metrics_and_plots(experiment: Path) -> None:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    shown = json.loads(_run([str(VENV_BIN / "dvc"), "metrics", "show", "--json"], experiment, env))
    files = next(iter(shown.values()))["data"]
    assert {"metrics/cv.json", "metrics/test.json", "metrics/models.json"} <= set(files)
    shown_plots = _run([str(VENV_BIN / "dvc"), "plots", "show", "--json"], experiment, env)
    plots = json.loads(shown_plots)["data"]
    for name in ("roc.json", "pr.json", "calibration.json", "cost_threshold.json", "confusion.csv"):
        assert any(name in key for key in plots), name


def test_generated_docs_quote_the_new_metrics(experiment: Path) -> None:
    """The methodology note and model card are regenerated from this run's metrics."""
    test = json.loads((experiment / "metrics/test.json").read_text())
    threshold = f"{test['threshold']:.3f}"
    assert threshold in (experiment / "docs/methodology.md").read_text()
    assert threshold in (experiment / "docs/model_card.md").read_text()


def test_mlflow_holds_the_runs_and_the_champion(experiment: Path) -> None:
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{experiment / 'mlflow.db'}")
    exp = client.get_experiment_by_name("credit-scoring")
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], max_results=500)
    phases = {r.data.tags.get("phase") for r in runs}
    assert {"coarse", "refine", "compare"} <= phases
    assert any(r.data.tags.get("stage") == "evaluate" for r in runs)
    champion = client.get_model_version_by_alias("credit-scoring", "champion")
    assert (
        float(champion.tags["business_cost"])
        == json.loads((experiment / "metrics/test.json").read_text())["business_cost"]
    )
