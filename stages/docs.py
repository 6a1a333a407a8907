"""DVC stage `docs`: regenerate docs/methodology.md from the run's metrics, params and bundle.

Also what `make docs` runs. Missing inputs (a stage not run yet) show as ``n/a`` in the note.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from scoring.config import load_params, setup_logging
from scoring.methodology import NoteInputs, render

log = logging.getLogger(__name__)


def _read(path: Path) -> Any:
    if not path.is_file():
        log.warning("%s not found: its figures show as n/a in the note", path)
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def build_inputs(params_path: Path, metrics: Path, bundle: Path, figures: Path) -> NoteInputs:
    """Collect the artefacts the note is rendered from."""
    figs = sorted(str(p) for p in figures.glob("*.png")) if figures.is_dir() else []
    return NoteInputs(
        params=load_params(params_path),
        bundle=_read(bundle / "bundle.json"),
        cv=_read(metrics / "cv.json"),
        test=_read(metrics / "test.json"),
        models=_read(metrics / "models.json"),
        resample=_read(metrics / "resample.json"),
        explain=_read(metrics / "explain.json"),
        fairness=_read(metrics / "fairness.json"),
        drift=_read(metrics / "drift.json"),
        figures=figs,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--metrics", type=Path, default=Path("metrics"))
    ap.add_argument("--bundle", type=Path, default=Path("models/bundle"))
    ap.add_argument("--figures", type=Path, default=Path("reports/figures"))
    ap.add_argument("--out", type=Path, default=Path("docs/methodology.md"))
    args = ap.parse_args()
    setup_logging()
    note = render(build_inputs(args.params, args.metrics, args.bundle, args.figures))
    args.out.write_text(note, encoding="utf-8")
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
