"""How faithful are the API's fast reason codes? Path attribution vs exact TreeSHAP.

    .venv/bin/python benchmarks/attribution_agreement.py [--bundle DIR] [--rows 3000]

On the refused known clients of a bundle (the only ones that get reason codes by default),
computes both attributions and reports:

- **top-1**: same first reason code;
- **top-1 in top-4**: the path method's first reason is among TreeSHAP's 4 reasons;
- **overlap**: mean share of the 4 reasons both methods name (|A ∩ B| / max(|A|, |B|));
- **same set**: the same 4 features, in any order;
- **sign**: share of the path method's reasons whose TreeSHAP contribution is also positive
  (a reason we give never *lowers* the risk under Shapley values either);
- time per row of each method (single-threaded).

Results go to stdout and ``benchmarks/out/attribution_agreement.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bundle", default=None, help="default: models/bundle, else the bench bundle")
    ap.add_argument("--rows", type=int, default=3000, help="known clients examined")
    args = ap.parse_args(argv)
    import pandas as pd

    from api.attribution import PathAttribution
    from scoring.bundle import load_bundle

    candidates = [args.bundle] if args.bundle else []
    candidates += [
        str(ROOT / "models" / "bundle"),
        str(ROOT / "benchmarks" / "out" / "bench-bundle"),
    ]
    bundle_dir = next((Path(c) for c in candidates if (Path(c) / "bundle.json").is_file()), None)
    if bundle_dir is None:
        print("error: no bundle found (run benchmarks/api_bench.py once, or make pipeline)")
        return 2
    b = load_bundle(bundle_dir)
    if b.booster is None:
        print("linear bundle: contributions are exact, nothing to compare")
        return 0
    b.predict_params = {"num_threads": 1}
    clients = pd.read_parquet(bundle_dir / "clients.parquet").head(args.rows)
    X = b.encode(clients)
    refused = X[b.predict_proba(X) >= b.threshold]
    path = PathAttribution.from_booster(b.booster)

    t0 = time.perf_counter()
    fast = np.vstack(
        [
            path.from_leaves(b.booster.predict(x[None], pred_leaf=True, num_threads=1))
            for x in refused
        ]
    )
    t_fast = (time.perf_counter() - t0) / len(refused)
    t0 = time.perf_counter()
    exact = np.vstack([b.contributions(x[None]) for x in refused])
    t_exact = (time.perf_counter() - t0) / len(refused)

    top1 = top1_in4 = same = 0
    overlaps: list[float] = []
    signs: list[bool] = []
    for x, f, e in zip(refused, fast, exact, strict=True):
        mine = [r.feature for r in b.reason_codes(x, f)]
        theirs = [r.feature for r in b.reason_codes(x, e)]
        top1 += bool(mine and theirs) and mine[0] == theirs[0]
        top1_in4 += bool(mine) and mine[0] in theirs
        same += set(mine) == set(theirs)
        overlaps.append(len(set(mine) & set(theirs)) / max(1, len(mine), len(theirs)))
        index = {n: j for j, n in enumerate(b.feature_names)}
        signs += [bool(e[index[m]] > 0) for m in mine]
    n = len(refused)
    result = {
        "bundle": str(bundle_dir),
        "model_version": b.model_version,
        "n_features": len(b.feature_names),
        "n_trees": b.booster.num_trees(),
        "refusals": n,
        "top1": top1 / n,
        "top1_in_treeshap_top4": top1_in4 / n,
        "mean_overlap_top4": float(np.mean(overlaps)),
        "same_set_top4": same / n,
        "sign_agreement": float(np.mean(signs)),
        "ms_per_row_path": t_fast * 1e3,
        "ms_per_row_treeshap": t_exact * 1e3,
    }
    for k, v in result.items():
        print(f"{k:24s} {v:.4f}" if isinstance(v, float) else f"{k:24s} {v}")
    out = ROOT / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "attribution_agreement.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # run as a script: make `api` and `scoring` importable
    sys.exit(main())
