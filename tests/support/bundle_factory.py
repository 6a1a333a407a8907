"""Small but real model bundles for the API, dashboard and benchmark tests.

Why real and not a stub: the API's promises (calibrated probability, cost-optimal threshold,
reason codes that sum with the bias to the raw score, categorical levels, the known-client
store, features computed by the training code) only mean something against a LightGBM booster
that was actually trained on features the project's own code built. A bundle built here goes
through :func:`scoring.bundle.write_bundle` and loads with :func:`scoring.bundle.load_bundle`,
exactly like the pipeline's.

Data (``source``):

- ``"synth"`` — the project's own chain: :func:`scoring.synth.generate` writes the 8 Kaggle
  tables, :func:`scoring.ingest.ingest` validates and types them, the feature builder aggregates
  the history tables (what CI runs, no external data needed);
- ``"real"`` — the real Kaggle application rows under ``../shared/data/homecredit``
  (``$HOMECREDIT_DIR`` overrides): ``application_train_sample.csv.gz`` trains,
  ``application_test.csv.gz`` provides the known clients (no history tables);
- ``"auto"`` (default): ``synth`` when the project's generator is importable, else ``real``.

Features (``features``): ``"builder"`` (default) — :class:`scoring.features.FeatureBuilder`
from ``conf/features/default.yaml``, fitted on the training rows; the bundle carries its
``features.yaml`` so the API computes a raw application's features with the same code;
``"raw"`` — the raw application columns are the features (no ``features.yaml``).

Next to the bundle files, ``test_inputs/`` keeps the raw inputs of the known clients
(``application_test.parquet`` and, for ``synth``, their history tables): what a client would
send to ``POST /v1/score`` to be scored exactly like the batch did (see
:func:`tests.support.payloads.client_request`). The API ignores that folder.

``build_test_bundle`` takes seconds; :func:`cached_test_bundle` builds once per process and is
what test fixtures should call.
"""

from __future__ import annotations

import atexit
import functools
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import lightgbm as lgb
import numpy as np
import pandas as pd

from scoring.bundle import Calibration, encode_frame, fit_categorical_levels, write_bundle
from scoring.schema import APPLICATION_TEST, table_schema

REPO_ROOT = Path(__file__).resolve().parents[2]
ID = "SK_ID_CURR"
TARGET = "TARGET"
#: Business costs of the project (conf/cost): a missed default costs 10 refused good clients.
COST_FN, COST_FP = 10.0, 1.0


class TestDataUnavailable(RuntimeError):
    """Neither the real rows nor the synthetic generator are available here."""

    __test__ = False  # not a pytest test class despite the name


def real_data_dir() -> Path:
    """Where the real Kaggle rows live (``$HOMECREDIT_DIR`` or ``../shared/data/homecredit``)."""
    env = os.environ.get("HOMECREDIT_DIR")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data" / "homecredit"


def real_data_available() -> bool:
    d = real_data_dir()
    return (d / "application_train_sample.csv.gz").is_file() and (
        d / "application_test.csv.gz"
    ).is_file()


@functools.cache
def _read_real(name: str, nrows: int | None = None) -> pd.DataFrame:
    """One real application file, typed like ingest does (``str`` columns as pandas strings)."""
    path = real_data_dir() / name
    if not path.is_file():
        raise TestDataUnavailable(f"real Kaggle rows not found: {path}")
    frame = pd.read_csv(path, nrows=nrows)
    for col in table_schema(APPLICATION_TEST).columns:
        if col.dtype == "str" and col.name in frame.columns:
            frame[col.name] = frame[col.name].astype("string")
    return frame


def load_application_frames(n_clients: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Real (labelled training rows, application_test rows to draw clients from).

    Small client sets read only the first rows of application_test (1 s saved per build).
    """
    nrows = None if n_clients > 2_000 else 5_000
    return _read_real("application_train_sample.csv.gz"), _read_real(
        "application_test.csv.gz", nrows
    )


Source = Literal["auto", "synth", "real"]
TEST_INPUTS = "test_inputs"


def synth_available() -> bool:
    try:
        from scoring import ingest, synth
    except ImportError:  # pragma: no cover - depends on the checkout
        return False
    return callable(getattr(synth, "generate", None)) and callable(getattr(ingest, "ingest", None))


def resolve_source(source: Source) -> Literal["synth", "real"]:
    if source == "auto":
        if synth_available():
            return "synth"
        if real_data_available():
            return "real"
        raise TestDataUnavailable(
            f"neither scoring.synth nor the real Kaggle rows ({real_data_dir()}) are available"
        )
    if source == "real" and not real_data_available():
        raise TestDataUnavailable(f"real Kaggle rows not found under {real_data_dir()}")
    return source


def load_synthetic(
    n_train: int, n_clients: int, seed: int, work: Path
) -> tuple[pd.DataFrame, pd.DataFrame, Path]:
    """(application_train, application_test, interim dir of typed tables) from the project's
    generator and ingest, exactly as the pipeline's first two stages produce them."""
    from scoring import synth
    from scoring.ingest import ingest, write_parquet

    synth.generate(
        n_clients=n_train, seed=seed, out_dir=work / "raw", fmt="parquet", n_test=n_clients
    )
    frames = ingest(work / "raw")
    write_parquet(frames, work / "interim")
    return frames["application_train"], frames["application_test"], work / "interim"


def feature_columns() -> list[str]:
    """Model features of the test bundle: every application column but the id (Kaggle order)."""
    return [c.name for c in table_schema(APPLICATION_TEST).columns if c.name != ID]


def categorical_columns() -> list[str]:
    return [c.name for c in table_schema(APPLICATION_TEST).columns if c.dtype == "str"]


def feature_labels(features: Sequence[str]) -> dict[str, str]:
    """A short human label per feature, from the Kaggle data dictionary.

    The dictionary's description is cut at its first sentence break and to 60 characters, so a
    reason code reads "Normalized score from external data source", not a paragraph.
    """
    schema = table_schema(APPLICATION_TEST)
    out: dict[str, str] = {}
    for name in features:
        text = schema.column(name).description.strip()
        for sep in (". ", "; ", " (", ","):
            text = text.split(sep)[0]
        text = text.strip().rstrip(".")
        if len(text) > 60:
            text = text[:57].rstrip() + "..."
        out[name] = text or name
    return out


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC AUC by ranks (ties averaged); no scikit-learn needed in the serving tests."""
    ranks = pd.Series(p).rank(method="average").to_numpy()
    n_pos = float(y.sum())
    n_neg = float(len(y) - n_pos)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def fit_platt(raw: np.ndarray, y: np.ndarray, iterations: int = 50) -> Calibration:
    """Platt scaling ``sigmoid(a * logit + b)`` fitted on held-out rows.

    Damped Newton: a step that does not lower the log-loss is halved, so an over-confident
    booster (large raw scores) cannot make the fit diverge.
    """

    def loss(a: float, b: float) -> float:
        z = a * raw + b
        return float(np.sum(np.logaddexp(0.0, z) - y * z))

    a, b = 1.0, 0.0
    current = loss(a, b)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(a * raw + b, -35, 35)))
        w = p * (1 - p) + 1e-12
        g = np.array([np.sum((p - y) * raw), np.sum(p - y)])
        h = np.array([[np.sum(w * raw * raw), np.sum(w * raw)], [np.sum(w * raw), np.sum(w)]])
        step = np.linalg.solve(h + 1e-9 * np.eye(2), g)
        t = 1.0
        while t > 1e-6:
            na, nb = a - t * float(step[0]), b - t * float(step[1])
            new = loss(na, nb)
            if new <= current:
                break
            t /= 2
        else:
            break
        converged = current - new < 1e-10
        a, b, current = na, nb, new
        if converged:
            break
    return Calibration("platt", a=a, b=b)


def cost_optimal_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The probability cut minimising ``10·FN + 1·FP`` (refuse when ``p >= threshold``)."""
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    # refusing the top-k: FP = refused goods, FN = accepted bads
    fp = np.concatenate([[0.0], np.cumsum(1 - ys)])
    fn = ys.sum() - np.concatenate([[0.0], np.cumsum(ys)])
    cost = COST_FN * fn + COST_FP * fp
    k = int(np.argmin(cost))
    if k == 0:
        return 1.0
    return float(ps[k - 1])


FeatureMode = Literal["builder", "raw"]


def _features(
    mode: FeatureMode,
    train: pd.DataFrame,
    clients: pd.DataFrame,
    out: Path,
    interim: Path | None,
) -> tuple[pd.DataFrame, pd.DataFrame, list[str], list[str], dict[str, str]]:
    """(train features, client features, names, categorical names, labels) for ``mode``."""
    if mode == "raw":
        names = feature_columns()
        return train, clients, names, categorical_columns(), feature_labels(names)
    from scoring.features import FeatureBuilder, scan_parquet_tables
    from scoring.schema import HISTORY_TABLES

    builder = FeatureBuilder.from_spec(REPO_ROOT / "conf" / "features" / "default.yaml")
    builder = builder.fit(train)
    builder.save(out / "features.yaml")
    history: dict[str, object] = {}
    if interim is not None:
        history = dict(scan_parquet_tables(interim, set(HISTORY_TABLES)))
    f_train = builder.build(train, history).to_pandas()
    f_clients = builder.build(clients, history).to_pandas()
    listing = builder.feature_list()["features"]
    names = [f["name"] for f in listing]
    cats = [f["name"] for f in listing if f["kind"] == "categorical"]
    return f_train, f_clients, names, cats, {f["name"]: f["label"] for f in listing}


def _save_test_inputs(out: Path, clients: pd.DataFrame, interim: Path | None) -> None:
    """The raw inputs of the known clients (application row + history records)."""
    from scoring.schema import HISTORY_TABLES

    folder = out / TEST_INPUTS
    folder.mkdir(parents=True, exist_ok=True)
    clients.to_parquet(folder / "application_test.parquet", index=False)
    if interim is None:
        return
    ids = set(clients[ID].astype("int64"))
    bureau_ids: set[int] = set()
    for table in HISTORY_TABLES:
        path = interim / f"{table}.parquet"
        if not path.is_file():
            continue
        frame = pd.read_parquet(path)
        if ID in frame.columns:
            frame = frame[frame[ID].isin(ids)]
            if table == "bureau":
                bureau_ids = set(frame["SK_ID_BUREAU"].astype("int64"))
        else:  # bureau_balance hangs off the bureau rows
            frame = frame[frame["SK_ID_BUREAU"].isin(bureau_ids)]
        frame.to_parquet(folder / f"{table}.parquet", index=False)


def build_test_bundle(
    out_dir: str | Path,
    n_clients: int = 300,
    seed: int = 0,
    *,
    features: FeatureMode = "builder",
    source: Source = "auto",
    n_train: int | None = 6000,
    num_trees: int = 40,
    num_leaves: int = 15,
) -> Path:
    """Train a small LightGBM and write a complete bundle into ``out_dir``; return it.

    ``n_clients`` known clients go to ``clients.parquet`` (raw application columns, then the
    model features) and their raw inputs to ``test_inputs/``; ``n_train`` labelled rows
    (``None`` = all the real sample's 16 k; ``synth`` generates exactly ``n_train``, default
    6,000) train the booster, a quarter of them held out to fit Platt calibration and the
    cost-optimal threshold. ``num_trees``/``num_leaves`` size the model (benchmarks use a
    production-sized one). :class:`TestDataUnavailable` when the source cannot be used.
    """
    rng = np.random.default_rng(seed)
    origin = resolve_source(source)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    interim: Path | None = None
    with tempfile.TemporaryDirectory(prefix="test-bundle-data-") as tmp:
        if origin == "synth":
            train, clients, interim = load_synthetic(n_train or 6000, n_clients, seed, Path(tmp))
        else:
            train, test = load_application_frames(n_clients)
            if n_train is not None and n_train < len(train):
                train = train.iloc[np.sort(rng.choice(len(train), n_train, replace=False))]
            n_clients = min(n_clients, len(test))
            clients = test.iloc[np.sort(rng.choice(len(test), n_clients, replace=False))]
        train = train.reset_index(drop=True)
        clients = clients.sort_values(ID).reset_index(drop=True)
        f_train, f_clients, names, cats, labels = _features(features, train, clients, out, interim)
        _save_test_inputs(out, clients, interim)

    levels = fit_categorical_levels(f_train, cats)
    X = encode_frame(f_train, names, levels)
    y = train[TARGET].to_numpy(dtype=np.float64)
    holdout = rng.uniform(size=len(train)) < 0.25
    params = {
        "objective": "binary",
        "learning_rate": 0.08,
        "num_leaves": num_leaves,
        "min_data_in_leaf": 20,
        "feature_fraction": 0.8,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "verbose": -1,
        "deterministic": True,
        "force_row_wise": True,
        "seed": seed,
        "num_threads": 2,
    }
    cat_idx = [names.index(c) for c in cats]
    booster = lgb.train(
        params,
        lgb.Dataset(X[~holdout], y[~holdout], categorical_feature=cat_idx, free_raw_data=False),
        num_boost_round=num_trees,
    )
    raw_hold = booster.predict(X[holdout], raw_score=True)
    calibration = fit_platt(np.asarray(raw_hold), y[holdout])
    p_hold = calibration.apply(1.0 / (1.0 + np.exp(-np.asarray(raw_hold))))
    threshold = cost_optimal_threshold(y[holdout], p_hold)
    refused = p_hold >= threshold
    fn = float(np.sum(~refused & (y[holdout] == 1)))
    fp = float(np.sum(refused & (y[holdout] == 0)))
    auc = _auc(y[holdout], p_hold)
    gain = booster.feature_importance(importance_type="gain")
    top = [names[j] for j in np.argsort(-gain, kind="stable")[:10] if gain[j] > 0]
    business_cost = COST_FN * fn + COST_FP * fp
    write_bundle(
        out,
        feature_names=names,
        categorical_levels=levels,
        threshold=threshold,
        calibration=calibration,
        labels=labels,
        booster=booster,
        cost={"fn": COST_FN, "fp": COST_FP},
        metrics={
            "cv": {"auc_mean": auc, "auc_std": 0.0, "n_folds": 1, "model": "lightgbm"},
            "test": {
                "auc": auc,
                "business_cost": business_cost,
                "cost_per_client": business_cost / max(1, int(holdout.sum())),
                "threshold": threshold,
                "approval_rate": float(1.0 - refused.mean()),
            },
        },
        params={k: v for k, v in params.items() if not isinstance(v, float) or math.isfinite(v)},
        data_digest=f"test-bundle-{origin}-{features}-seed{seed}-n{len(train)}",
        git_rev="test",
        top_features=top,
        extra={"source": f"tests/support/bundle_factory.py ({origin} data, {features} features)"},
    )
    # raw application columns, then the model features (a feature overrides a raw namesake)
    raw_cols = [c for c in clients.columns if c not in set(names)]
    feats = f_clients[names].set_axis(clients.index)
    pd.concat([clients[raw_cols], feats], axis=1).to_parquet(out / "clients.parquet", index=False)
    return out


@functools.cache
def cached_test_bundle(
    n_clients: int = 300, seed: int = 0, features: FeatureMode = "builder", source: Source = "auto"
) -> Path:
    """Build once per process into a temporary directory (removed at exit) and reuse it.

    Callers must not modify the returned directory: copy it first (``shutil.copytree``).
    """
    tmp = Path(tempfile.mkdtemp(prefix="test-bundle-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    return build_test_bundle(
        tmp / "bundle", n_clients=n_clients, seed=seed, features=features, source=source
    )
