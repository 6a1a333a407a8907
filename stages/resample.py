"""Stage `resample`: the final-fit set, resampled once on the whole training side.

    python -m stages.resample --params params.yaml --features data/features/train.parquet \
        --feature-list data/features/feature_list.json --split data/split/split.parquet \
        --out data/resample --report metrics/resample.json

During cross-validation the strategy is applied inside the training folds by the imblearn
Pipeline; this stage applies the same sampler to the whole training side for the final fit and
writes it down, so the rows the served model learned from are an inspectable artifact:
``plan.parquet`` (SK_ID_CURR, TARGET, sample_weight of the real rows kept) and
``synthetic.parquet`` (SMOTE's synthetic rows, 0 rows for other strategies). The class balance
before and after goes to ``metrics/resample.json``. The holdout is never read.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pandas as pd

from scoring.config import load_params, section, setup_logging
from scoring.models import ResampleSpec, final_fit_set
from scoring.training import KEY, LABEL, FeatureList, subset_rows

log = logging.getLogger("stages.resample")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--features", required=True)
    ap.add_argument("--feature-list", required=True)
    ap.add_argument("--split", required=True)
    ap.add_argument("--out", required=True, help="directory for plan.parquet, synthetic.parquet")
    ap.add_argument("--report", required=True, help="class-balance metrics JSON")
    args = ap.parse_args(argv)
    setup_logging()
    params = load_params(args.params)
    seed = int(params["seed"])
    resample = ResampleSpec.from_params(section(params, "resample"))
    feats = FeatureList.from_json(json.loads(Path(args.feature_list).read_text("utf-8")))
    rows = subset_rows(pd.read_parquet(args.features), pd.read_parquet(args.split), "train")
    before = rows[LABEL].mean()
    result = final_fit_set(
        rows[[KEY, LABEL, *feats.names]], feats.names, feats.categorical, resample, seed
    )
    report = {
        "strategy": resample.strategy,
        "positive_rate_before": round(float(before), 6),
        **result.report(),
    }
    log.info(
        "%s: %d real rows kept of %d, %d synthetic; default rate %.4f -> %.4f (weighted %.4f)",
        resample.strategy,
        report["n_real"],
        len(rows),
        report["n_synthetic"],
        before,
        report["positive_rate"],
        report["weighted_positive_rate"],
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result.plan.to_parquet(out / "plan.parquet", index=False)
    result.synthetic.to_parquet(out / "synthetic.parquet", index=False)
    report_path = Path(args.report)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    log.info("wrote %s and %s", out, report_path)


if __name__ == "__main__":
    main()
