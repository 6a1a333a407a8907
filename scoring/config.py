"""Small shared helpers for stage entry points: params loading, logging, paths, MLflow URI.

Nothing here runs at import time (no mkdir, no tracking-URI setting): stages call these from
their ``main()``.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    """params.yaml as a dict (composed from conf/ by Hydra; a stage reads only what it declares)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"params file not found: {p} (run `make params`)")
    data = yaml.safe_load(p.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a mapping at the top level")
    return data


def section(params: Mapping[str, Any], key: str) -> dict[str, Any]:
    """One params section, with an error naming the missing key."""
    if key not in params:
        raise KeyError(f"params.yaml has no section {key!r}; add conf/{key}/ and run `make params`")
    value = params[key]
    if not isinstance(value, dict):
        raise TypeError(f"params.yaml section {key!r} must be a mapping")
    return value


def setup_logging(level: int = logging.INFO) -> None:
    """Configure logging once, from a stage's main()."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def project_root() -> Path:
    """The repository root; inside `dvc exp run --queue` the original repo (``$DVC_ROOT``)."""
    return Path(os.environ.get("DVC_ROOT") or REPO_ROOT)


def tracking_uri() -> str:
    """MLflow tracking URI: ``$MLFLOW_TRACKING_URI``, else a SQLite file at the repo root.

    Built from ``$DVC_ROOT`` when set so that queued experiments (which run in a temporary copy)
    log to the same store instead of one that vanishes with the copy.
    """
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project_root() / 'mlflow.db'}"


def git_revision() -> str:
    """Current git commit (``unknown`` outside a checkout), recorded with every run and bundle."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()
