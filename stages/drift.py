"""Stage ``drift``: application_train (reference) vs application_test (current), Evidently + PSI.

    python -m stages.drift --params params.yaml --train data/features/train.parquet \
        --test data/features/test.parquet --interim data/interim --bundle models/bundle \
        [--top-features models/top_features.json] --html reports/drift.html \
        --metrics metrics/drift.json --columns reports/drift_columns.json \
        --reference-out data/drift

Columns: the ``drift.top_n`` most important model features plus the key raw application columns
``drift.raw_columns`` (read from the feature files, else from ``data/interim``). Evidently's
default per-column tests give the HTML and the contract keys of ``metrics/drift.json``; PSI with
reference-decile buckets is computed on every row for those columns and for the model score
(the bundle's calibrated probability on both sets). ``--reference-out`` receives what the
production monitor compares live traffic with: a seeded reference sample with its scores
(``reference.parquet``) and the frozen PSI buckets + reference approval rate (``profile.json``).
When application_test has no rows, the report says so and the reference is still written.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from scoring.bundle import Bundle, load_bundle
from scoring.config import load_params, section, setup_logging
from scoring.drift import (
    SCORE_COLUMN,
    PsiBins,
    drift_metrics,
    run_data_drift,
    sample_frame,
)

log = logging.getLogger("stages.drift")
ID = "SK_ID_CURR"
SKIPPED_NOTE = "skipped: no application_test"


@dataclass(frozen=True)
class DriftParams:
    """The ``drift`` section of params.yaml and the ``seed``: exactly what dvc.yaml declares."""

    seed: int
    top_n: int
    raw_columns: tuple[str, ...]
    sample_rows: int
    drift_share: float
    psi_bins: int
    psi_eps: float
    reference_rows: int

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> DriftParams:
        d = section(params, "drift")
        out = cls(
            seed=int(params["seed"]),
            top_n=int(d["top_n"]),
            raw_columns=tuple(str(c) for c in d["raw_columns"]),
            sample_rows=int(d["sample_rows"]),
            drift_share=float(d["drift_share"]),
            psi_bins=int(d["psi_bins"]),
            psi_eps=float(d["psi_eps"]),
            reference_rows=int(d["reference_rows"]),
        )
        if out.top_n < 0 or out.sample_rows < 1000 or not 0 < out.drift_share <= 1:
            raise ValueError(
                "drift: top_n must be >= 0, sample_rows >= 1000 (below it Evidently switches to "
                f"p-value tests), 0 < drift_share <= 1; got {out}"
            )
        return out


def rank_features(bundle: Bundle, explained: Sequence[str] = ()) -> list[str]:
    """Model features, most important first.

    Order of evidence: the explain stage's SHAP ranking (``explained``), the bundle's
    ``top_features``, then LightGBM gain importance (or |coefficient| of a linear bundle) for the
    rest, then the bundle's feature order. Each source only extends the previous one.
    """
    names = bundle.feature_names
    ranked: list[str] = [f for f in explained if f in names]
    ranked += [str(f) for f in bundle.meta.get("top_features", []) if f in names]
    if bundle.booster is not None:
        gain = np.asarray(bundle.booster.feature_importance(importance_type="gain"), dtype=float)
        ranked += [names[j] for j in np.argsort(-gain, kind="stable") if gain[j] > 0]
    elif bundle.linear is not None:
        weight = {f: abs(s["coef"]) for f, s in bundle.linear.numeric.items()}
        weight |= {f: max(map(abs, c), default=0.0) for f, c in bundle.linear.cat_coef.items()}
        ranked += sorted((f for f in names if weight.get(f, 0) > 0), key=lambda f: -weight[f])
    ranked += names
    return list(dict.fromkeys(ranked))


def select_columns(
    ranked: Sequence[str], raw: Sequence[str], top_n: int, available: set[str]
) -> list[str]:
    """Top-N ranked features then the key raw columns, deduplicated, kept if ``available``."""
    chosen = [*list(ranked)[:top_n], *raw]
    return [c for c in dict.fromkeys(chosen) if c in available]


def parquet_columns(path: Path) -> list[str]:
    return [] if not path.is_file() else list(pq.read_schema(path).names)


def read_columns(features: Path, interim: Path, columns: Sequence[str]) -> pd.DataFrame:
    """``SK_ID_CURR`` + ``columns`` in the feature file's row order; raw columns that the feature
    file lacks are joined from the interim application table on ``SK_ID_CURR``."""
    in_features = set(parquet_columns(features))
    frame = pd.read_parquet(features, columns=[ID, *[c for c in columns if c in in_features]])
    rest = [c for c in columns if c not in in_features]
    if rest:
        present = [c for c in rest if c in set(parquet_columns(interim))]
        raw = pd.read_parquet(interim, columns=[ID, *present])
        frame = frame.merge(raw.drop_duplicates(ID), on=ID, how="left", validate="one_to_one")
    return frame


def score_file(bundle: Bundle, path: Path, batch_rows: int = 50_000) -> np.ndarray:
    """The bundle's calibrated probability for every row, read in batches to bound memory."""
    pf = pq.ParquetFile(path)
    missing = [f for f in bundle.feature_names if f not in pf.schema_arrow.names]
    if missing:
        raise KeyError(f"{path}: model features missing: {missing[:10]}")
    parts = [
        bundle.predict_proba(bundle.encode(batch.to_pandas()))
        for batch in pf.iter_batches(batch_size=batch_rows, columns=bundle.feature_names)
    ]
    return np.concatenate(parts) if parts else np.empty(0)


def holdout_metrics(bundle: Bundle) -> dict[str, float]:
    """The bundle's holdout AUC / cost per client / approval rate: the monitor's yardsticks."""
    test = (bundle.meta.get("metrics") or {}).get("test") or {}
    keys = ("auc", "cost_per_client", "approval_rate")
    return {k: float(test[k]) for k in keys if isinstance(test.get(k), int | float)}


@dataclass
class DriftOutputs:
    metrics: dict[str, Any]
    columns: dict[str, Any]
    profile: dict[str, Any]
    reference_sample: pd.DataFrame
    snapshot: Any  # evidently Snapshot, or None when there is no current data


def compute(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    columns: Sequence[str],
    ref_scores: np.ndarray,
    cur_scores: np.ndarray,
    bundle: Bundle,
    p: DriftParams,
) -> DriftOutputs:
    """The pure core: PSI on every row, Evidently on a sample, the monitor's reference."""
    ref = reference.assign(**{SCORE_COLUMN: ref_scores})
    bins = {c: PsiBins.fit(ref[c], bins=p.psi_bins, eps=p.psi_eps) for c in columns}
    score_bins = PsiBins.fit(ref_scores, bins=p.psi_bins, eps=p.psi_eps, kind="numeric")
    profile: dict[str, Any] = {
        "model_version": bundle.model_version,
        "threshold": bundle.threshold,
        "columns": list(columns),
        "psi_bins": {c: b.to_dict() for c, b in bins.items()},
        "score_bins": score_bins.to_dict(),
        "approval_rate_reference": float(np.mean(ref_scores < bundle.threshold)),
        "n_reference": len(ref),
        "reference_metrics": holdout_metrics(bundle),
    }
    sample = sample_frame(ref[[*columns, SCORE_COLUMN]], p.reference_rows, p.seed)
    sample = sample.reset_index(drop=True)
    if len(current) == 0:
        metrics = {
            "share_drifted_columns": 0.0,
            "n_drifted_columns": 0,
            "n_columns": 0,
            "dataset_drift": False,
            "top_drifted": [],
            "note": SKIPPED_NOTE,
            "n_reference": len(ref),
            "n_current": 0,
        }
        return DriftOutputs(metrics, {}, profile, sample, None)
    cur = current.assign(**{SCORE_COLUMN: cur_scores})
    feature_psi = {c: bins[c].psi(cur[c]) for c in columns}
    score_psi = score_bins.psi(cur_scores)
    snapshot, result = run_data_drift(
        ref,
        cur,
        columns,
        drift_share=p.drift_share,
        sample_rows=p.sample_rows,
        seed=p.seed,
        score_column=SCORE_COLUMN,
    )
    approval_current = float(np.mean(cur_scores < bundle.threshold))
    metrics = drift_metrics(
        result,
        feature_psi=feature_psi,
        score_psi=score_psi,
        extra={
            "approval_rate_reference": round(profile["approval_rate_reference"], 6),
            "approval_rate_current": round(approval_current, 6),
            "skipped_columns": sorted(result.skipped),
        },
    )
    detail = {
        c.column: {
            "kind": c.kind,
            "method": c.method,
            "threshold": c.threshold,
            "score": c.score,
            "drifted": c.drifted,
            "psi": feature_psi[c.column],
            "missing_reference": float(ref[c.column].isna().mean()),
            "missing_current": float(cur[c.column].isna().mean()),
        }
        for c in result.columns
    }
    detail |= {c: {"skipped": why, "psi": feature_psi[c]} for c, why in result.skipped.items()}
    return DriftOutputs(metrics, detail, profile, sample, snapshot)


SKIPPED_HTML = """<!doctype html><html lang="en"><meta charset="utf-8"><title>Data drift</title>
<body><h1>Data drift report</h1><p>Skipped: there is no application_test data (0 rows), so
there is nothing to compare with the training data. The monitor's reference
(<code>{ref}</code>) was written from {n} training rows.</p></body></html>
"""


def _write_json(path: Path, payload: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--train", type=Path, required=True, help="reference feature parquet")
    ap.add_argument("--test", type=Path, required=True, help="current feature parquet")
    ap.add_argument("--interim", type=Path, required=True, help="typed application tables dir")
    ap.add_argument("--bundle", type=Path, required=True)
    ap.add_argument("--top-features", type=Path, default=None, help="explain stage's ranking")
    ap.add_argument("--html", type=Path, required=True)
    ap.add_argument("--metrics", type=Path, required=True)
    ap.add_argument("--columns", type=Path, required=True, help="per-column verdicts (JSON)")
    ap.add_argument("--reference-out", type=Path, required=True, help="monitor reference dir")
    args = ap.parse_args(argv)
    setup_logging()
    t0 = time.perf_counter()
    p = DriftParams.from_params(load_params(args.params))
    bundle = load_bundle(args.bundle)
    explained: list[str] = []
    if args.top_features is not None and args.top_features.is_file():
        explained = json.loads(args.top_features.read_text(encoding="utf-8"))["features"]
    train_raw = args.interim / "application_train.parquet"
    test_raw = args.interim / "application_test.parquet"
    available = set(parquet_columns(args.train)) | set(parquet_columns(train_raw))
    columns = select_columns(rank_features(bundle, explained), p.raw_columns, p.top_n, available)
    reference = read_columns(args.train, train_raw, columns)
    has_current = args.test.is_file() and pq.ParquetFile(args.test).metadata.num_rows > 0
    if has_current:
        current = read_columns(args.test, test_raw, columns)
        cur_scores = score_file(bundle, args.test)
    else:
        log.warning("%s has no rows: drift on application_test skipped", args.test)
        current, cur_scores = reference.iloc[0:0], np.empty(0)
    ref_scores = score_file(bundle, args.train)
    log.info(
        "drift on %d columns: %d reference rows vs %d current rows (read + scored in %.1f s)",
        len(columns),
        len(reference),
        len(current),
        time.perf_counter() - t0,
    )
    t1 = time.perf_counter()
    out = compute(reference, current, columns, ref_scores, cur_scores, bundle, p)
    log.info("PSI + Evidently in %.1f s", time.perf_counter() - t1)
    args.reference_out.mkdir(parents=True, exist_ok=True)
    out.reference_sample.to_parquet(args.reference_out / "reference.parquet", index=False)
    _write_json(args.reference_out / "profile.json", out.profile)
    args.html.parent.mkdir(parents=True, exist_ok=True)
    if out.snapshot is None:
        args.html.write_text(
            SKIPPED_HTML.format(ref=args.reference_out, n=len(reference)), encoding="utf-8"
        )
    else:
        out.snapshot.save_html(str(args.html))
    _write_json(args.columns, out.columns)
    _write_json(args.metrics, out.metrics)
    m = out.metrics
    log.info(
        "drift: %d/%d columns drifted (dataset drift: %s), score PSI %s, top %s — %.1f s",
        m["n_drifted_columns"],
        m["n_columns"],
        m["dataset_drift"],
        m.get("score_psi", "n/a"),
        m["top_drifted"][:5],
        time.perf_counter() - t0,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
