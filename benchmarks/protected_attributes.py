"""What excluding protected attributes from training does to cost and fairness, side by side.

    # run the pipeline up to `explain` once per variant, each in a throw-away clone of HEAD
    # (the workspace, its dvc.lock and metrics/ are never touched; the DVC cache is shared, so
    # the features are computed at most once), save the figures, write the docs table
    .venv/bin/python benchmarks/protected_attributes.py run \\
        --variant CODE_GENDER --variant CODE_GENDER,DAYS_BIRTH,NAME_FAMILY_STATUS \\
        --save docs/protected_attributes.json --write docs/explainability.md

    # the table again from saved figures, or from runs made another way (a checkout holding
    # metrics/*.json and models/bundle/bundle.json, e.g. a `dvc exp run --temp` you applied)
    .venv/bin/python benchmarks/protected_attributes.py table --load docs/protected_attributes.json
    .venv/bin/python benchmarks/protected_attributes.py table baseline=/tmp/a gender=/tmp/b

A variant is ``train.exclude_attributes`` (comma-separated); the baseline excludes nothing.
Each run decides at its own cost-optimal threshold, so its approval rate moves too; to tell the
model's change from the threshold's, every run is also scored at the *baseline's approval
rate* (the same number of holdout clients refused, the riskiest by the run's own model).
Each clone composes params.yaml from conf/ with that override (what ``dvc exp run -S`` does)
and runs ``dvc repro explain`` under ``nice -n 19``. ``--write`` replaces the block between
``<!-- protected-attributes:begin -->`` and ``<!-- protected-attributes:end -->`` in a Markdown
file, so the figures in the docs are always the measured ones.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- protected-attributes:begin -->", "<!-- protected-attributes:end -->"
FAIRNESS_ATTRIBUTES = ("CODE_GENDER", "AGE_BAND", "NAME_FAMILY_STATUS")
GROUP_METRICS = (
    ("approval_rate", "approval rate"),
    ("tpr", "TPR"),
    ("fpr", "FPR"),
    ("default_rate", "default rate"),
)


# --------------------------------------------------------------------------------------------
# Running the variants
# --------------------------------------------------------------------------------------------
def variant_name(attributes: Sequence[str]) -> str:
    return "+".join(attributes) if attributes else "baseline"


def run_variant(
    attributes: Sequence[str], workdir: Path, rev: str, python: Path, keep: bool
) -> Path:
    """Clone ``rev``, compose params with the exclusion, ``dvc repro explain``; the clone path."""
    clone = workdir / variant_name(attributes)
    if clone.exists() and keep and (clone / "metrics/fairness.json").is_file():
        print(f"[{clone.name}] kept from an earlier run", flush=True)
        return clone
    if clone.exists():
        subprocess.run(["rm", "-rf", str(clone)], check=True)
    clone.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", rev], check=True)
    (clone / ".dvc/config.local").write_text(f"[cache]\n    dir = {ROOT / '.dvc/cache'}\n")
    env = {
        **os.environ,
        "PATH": f"{python.parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    override = f"train.exclude_attributes=[{','.join(attributes)}]"
    log = clone / "protected_attributes_run.log"
    start = time.monotonic()
    with log.open("w") as out:
        for cmd in (
            [str(python), "tools/compose_params.py", override],
            ["nice", "-n", "19", str(python.parent / "dvc"), "repro", "explain"],
        ):
            print(f"[{clone.name}] {' '.join(cmd)}", flush=True)
            done = subprocess.run(cmd, cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT)
            if done.returncode:
                raise SystemExit(f"[{clone.name}] failed ({done.returncode}): see {log}")
    print(f"[{clone.name}] done in {time.monotonic() - start:.0f} s", flush=True)
    return clone


# --------------------------------------------------------------------------------------------
# Collecting and printing
# --------------------------------------------------------------------------------------------
def _json(path: Path) -> Any:
    if not path.is_file():
        raise SystemExit(f"{path} not found: is this a checkout where the pipeline ran?")
    return json.loads(path.read_text(encoding="utf-8"))


def collect(checkout: Path) -> dict[str, Any]:
    """The figures of one run, from the files the pipeline wrote."""
    bundle = _json(checkout / "models/bundle/bundle.json")
    rev = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "git_rev": rev or "unknown",
        "model_version": bundle.get("model_version"),
        "n_features": len(bundle.get("feature_names", [])),
        "excluded_attributes": bundle.get("excluded_attributes", {}),
        "test": _json(checkout / "metrics/test.json"),
        "cv": _json(checkout / "metrics/cv.json"),
        "explain": _json(checkout / "metrics/explain.json"),
        "fairness": _json(checkout / "metrics/fairness.json"),
    }


def matched(checkout: Path, n_refused: int) -> dict[str, Any]:
    """Cost and fairness of a run's bundle when it refuses exactly ``n_refused`` holdout clients.

    Same holdout, same attribute groups as the explain stage (its own functions and params),
    only the decision rule differs: the ``n_refused`` highest probabilities are refused.
    """
    import numpy as np
    import pandas as pd
    import yaml

    from scoring.bundle import load_bundle
    from scoring.explain import holdout_rows
    from scoring.fairness import fairness_report
    from stages.explain import ExplainParams, group_attributes

    params = ExplainParams.from_params(yaml.safe_load((checkout / "params.yaml").read_text()))
    bundle = load_bundle(checkout / "models/bundle")
    split = pd.read_parquet(checkout / "data/split/split.parquet")
    holdout = holdout_rows(pd.read_parquet(checkout / "data/features/train.parquet"), split)
    proba = bundle.predict_proba(bundle.encode(holdout))
    refused = np.zeros(len(proba), dtype=bool)
    refused[np.argsort(-proba, kind="stable")[:n_refused]] = True
    y = holdout["TARGET"].to_numpy().astype(np.int64)
    application = pd.read_parquet(checkout / "data/interim/application_train.parquet")
    attrs = group_attributes(
        application, holdout["SK_ID_CURR"], params.attributes, params.age_edges
    )
    cost = bundle.meta.get("cost", {})
    fn, fp = int(np.sum((y == 1) & ~refused)), int(np.sum((y == 0) & refused))
    return {
        "n_refused": int(n_refused),
        "business_cost": float(cost.get("fn", 10.0)) * fn + float(cost.get("fp", 1.0)) * fp,
        "fairness": fairness_report(
            y,
            refused,
            attrs,
            min_group_size=params.min_group_size,
            di_threshold=params.di_threshold,
        ),
    }


def add_matched(runs: Mapping[str, dict[str, Any]], checkouts: Mapping[str, Path]) -> None:
    """Every run scored at the first run's (the baseline's) number of refusals."""
    first = next(iter(runs.values()))
    n_refused = round((1 - float(first["test"]["approval_rate"])) * int(first["fairness"]["n"]))
    for name, checkout in checkouts.items():
        runs[name]["matched"] = matched(checkout, n_refused)


def _num(v: Any, digits: int = 3) -> str:
    return f"{float(v):.{digits}f}" if isinstance(v, (int, float)) else "n/a"


def _pct(v: Any) -> str:
    return f"{100 * float(v):.1f} %" if isinstance(v, (int, float)) else "n/a"


def _row(label: str, cells: Sequence[str]) -> str:
    return "| " + " | ".join([label, *cells]) + " |"


def render(runs: Mapping[str, Mapping[str, Any]]) -> str:
    """Markdown tables: model and cost, then fairness per attribute, one column per run."""
    names = list(runs)
    head = [_row("", [f"**{n}**" for n in names]), "|---" * (len(names) + 1) + "|"]
    rs = [runs[n] for n in names]

    def excluded(r: Mapping[str, Any]) -> str:
        ex = r.get("excluded_attributes") or {}
        return ", ".join(f"{a} ({len(fs)})" for a, fs in ex.items()) or "none"

    lines = ["**Model and cost (holdout; CV on the training side)**", "", *head]
    lines += [
        _row("excluded attributes (features removed)", [excluded(r) for r in rs]),
        _row("model features", [str(r["n_features"]) for r in rs]),
        _row(
            "holdout business cost (10·FN + FP)", [_num(r["test"]["business_cost"], 0) for r in rs]
        ),
        _row("holdout cost per client", [_num(r["test"]["cost_per_client"]) for r in rs]),
        _row("holdout ROC AUC", [_num(r["test"]["auc"]) for r in rs]),
        _row("threshold (chosen on OOF)", [_num(r["test"]["threshold"]) for r in rs]),
        _row("holdout approval rate", [_pct(r["test"]["approval_rate"]) for r in rs]),
        _row(
            "CV ROC AUC (mean ± sd)",
            [f"{_num(r['cv']['auc_mean'])} ± {_num(r['cv']['auc_std'])}" for r in rs],
        ),
        _row(
            "CV business cost per fold (mean)", [_num(r["cv"]["business_cost_mean"], 1) for r in rs]
        ),
        _row(
            "refusals citing a protected attribute",
            [_pct(r["explain"].get("share_refused_with_protected_reason")) for r in rs],
        ),
        _row("bundle version", [f"`{r['model_version']}`" for r in rs]),
    ]
    for attr in FAIRNESS_ATTRIBUTES:
        if not all(attr in r["fairness"] for r in rs):
            continue
        fa = [r["fairness"][attr] for r in rs]
        lines += ["", f"**Fairness by {attr}** (holdout, at each run's threshold)", "", *head]
        lines += [
            _row("disparate impact", [_num(f.get("disparate_impact")) for f in fa]),
            _row("TPR gap", [_num(f.get("tpr_gap")) for f in fa]),
            _row("FPR gap", [_num(f.get("fpr_gap")) for f in fa]),
        ]
        groups = list(fa[0].get("groups", {}))
        for g in groups:
            n = fa[0]["groups"][g].get("n")
            if not isinstance(n, int) or n < int(rs[0]["fairness"].get("min_group_size", 0)):
                continue  # too small to read (left out of the ratios too)
            for key, label in GROUP_METRICS:
                lines.append(
                    _row(
                        f"{g} (n={n}): {label}",
                        [_pct(f.get("groups", {}).get(g, {}).get(key)) for f in fa],
                    )
                )
    if all("matched" in r for r in rs):
        ms = [r["matched"] for r in rs]
        approval = _pct(ms[0]["fairness"]["approval_rate"])
        lines += [
            "",
            f"**At the baseline's approval rate ({approval}: the same number of holdout clients"
            " refused, the riskiest by each run's model)**",
            "",
            *head,
            _row("holdout business cost", [_num(m["business_cost"], 0) for m in ms]),
        ]
        for attr in FAIRNESS_ATTRIBUTES:
            if not all(attr in m["fairness"] for m in ms):
                continue
            fa = [m["fairness"][attr] for m in ms]
            lines += [
                _row(f"{attr}: disparate impact", [_num(f.get("disparate_impact")) for f in fa]),
                _row(f"{attr}: TPR gap", [_num(f.get("tpr_gap")) for f in fa]),
                _row(f"{attr}: FPR gap", [_num(f.get("fpr_gap")) for f in fa]),
            ]
        gender = [m["fairness"].get("CODE_GENDER", {}).get("groups", {}) for m in ms]
        for g in ("F", "M"):
            for key, label in GROUP_METRICS[:3]:
                lines.append(
                    _row(f"CODE_GENDER {g}: {label}", [_pct(x.get(g, {}).get(key)) for x in gender])
                )
    revs = ", ".join(f"{n}: `{runs[n]['git_rev']}`" for n in names)
    lines += ["", f"Code revision of each run: {revs}."]
    return "\n".join(lines) + "\n"


def write_block(path: Path, table: str) -> None:
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"{path}: no {BEGIN} ... {END} block to replace")
    block = f"{BEGIN}\n<!-- generated by benchmarks/protected_attributes.py: do not edit -->\n\n"
    path.write_text(pattern.sub(lambda _: block + table + "\n" + END, text), encoding="utf-8")
    print(f"wrote the table into {path}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the baseline and each variant, then print the table")
    run.add_argument("--variant", action="append", default=[], help="e.g. CODE_GENDER,DAYS_BIRTH")
    run.add_argument("--workdir", type=Path, default=Path("/tmp/protected-attributes"))
    run.add_argument("--rev", default="HEAD", help="commit to run (default: HEAD)")
    run.add_argument("--keep", action="store_true", help="reuse finished runs in --workdir")
    table = sub.add_parser("table", help="print the table from runs already made")
    table.add_argument("runs", nargs="*", help="NAME=CHECKOUT_DIR, baseline first")
    table.add_argument("--load", type=Path, help="figures saved by --save")
    for p in (run, table):
        p.add_argument("--save", type=Path, help="save the collected figures (JSON)")
        p.add_argument("--write", type=Path, help="Markdown file whose block gets the table")
    args = ap.parse_args(argv)

    runs: dict[str, dict[str, Any]] = {}
    if args.command == "run":
        rev = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", args.rev], capture_output=True, text=True
        ).stdout.strip()
        if not rev:
            raise SystemExit(f"unknown revision {args.rev!r}")
        variants = [[], *([a.strip() for a in v.split(",") if a.strip()] for v in args.variant)]
        python = Path(sys.executable)
        checkouts: dict[str, Path] = {}
        for attrs in variants:
            clone = run_variant(attrs, args.workdir, rev, python, args.keep)
            checkouts[variant_name(attrs)] = clone
            runs[variant_name(attrs)] = collect(clone)
        add_matched(runs, checkouts)
    else:
        if args.load:
            runs.update(json.loads(args.load.read_text(encoding="utf-8"))["runs"])
        dirs: dict[str, Path] = {}
        for spec in args.runs:
            name, _, where = spec.partition("=")
            if not where:
                raise SystemExit(f"{spec!r}: expected NAME=CHECKOUT_DIR")
            dirs[name] = Path(where)
            runs[name] = collect(Path(where))
        if dirs and not args.load:
            add_matched(runs, dirs)
    if not runs:
        raise SystemExit("no run to show: give NAME=DIR or --load")
    if args.save:
        payload = {"generated_by": "benchmarks/protected_attributes.py", "runs": runs}
        args.save.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
        print(f"saved {args.save}")
    out = render(runs)
    print(out)
    if args.write:
        write_block(args.write, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
