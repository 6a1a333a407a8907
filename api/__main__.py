"""``python -m api``: serve the scoring API with uvicorn, one worker process per core.

Before any worker starts, the bundle is loaded and checked once here: a missing or corrupt
bundle stops the command with one clear line and exit status 2, not with a traceback from each
worker (and no restart loop). Then the environment the workers inherit is prepared:

- ``OMP_NUM_THREADS=1`` unless set: each worker is one process on one core; LightGBM's default
  (all cores per call) made a one-row predict 100× slower under load;
- ``PROMETHEUS_MULTIPROC_DIR`` (a fresh temporary directory, removed at exit) when there is more
  than one worker, so ``/metrics`` aggregates all of them.

Options: ``--host`` (``$HOST`` or 127.0.0.1; the container uses 0.0.0.0), ``--port`` (``$PORT``
or 8000), ``--workers`` (``$WEB_CONCURRENCY`` or the usable cores: affinity mask capped by the
cgroup CPU quota of a container), ``--log-level``,
``--text-logs``. Everything else comes from the environment (see :mod:`api.settings`).
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path


def cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """The container's CPU quota in cores (cgroup v2 ``cpu.max`` or v1 CFS), if any.

    A container limited to 1 CPU on a 32-core host still sees 32 cores in its affinity mask;
    32 workers, each holding the model and the known-client matrix, would not fit its memory.
    """
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota != "max":
            return int(quota) / int(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        q = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        p = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return q / p if q > 0 and p > 0 else None
    except (OSError, ValueError):
        return None


def usable_cores() -> int:
    """Cores this process may run on: the affinity mask, capped by a cgroup CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    if limit is not None:
        cores = min(cores, max(1, math.ceil(limit)))
    return cores


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m api", description=__doc__.split("\n")[0])
    ap.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    ap.add_argument(
        "--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", usable_cores()))
    )
    ap.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "info").lower())
    ap.add_argument("--text-logs", action="store_true", help="plain text logs instead of JSON")
    return ap.parse_args(argv)


def check_bundle() -> str | None:
    """Load everything a worker will load; the error message if that fails, else ``None``."""
    from api.app import build_service
    from api.observability import Metrics
    from api.service import NullEventSink
    from api.settings import Settings
    from scoring.bundle import BundleError, load_bundle

    try:
        settings = Settings.from_env()
        bundle = load_bundle(settings.bundle_dir)
        service = build_service(bundle, NullEventSink(), Metrics(), settings)
    except (BundleError, ValueError) as exc:
        return str(exc)
    print(
        f"bundle ok: model {bundle.model_version} ({bundle.model_kind}, "
        f"{len(bundle.feature_names)} features), {len(service.store)} known clients, "
        f"features via {service.features.name}, reason codes by {service.default_attribution}",
        file=sys.stderr,
    )
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.workers < 1:
        print("error: --workers must be >= 1", file=sys.stderr)
        return 2
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    prom_dir: str | None = None
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        prom_dir = tempfile.mkdtemp(prefix="api-prometheus-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = prom_dir
    try:
        problem = check_bundle()
        if problem is not None:
            print(f"error: cannot start the API: {problem}", file=sys.stderr)
            return 2
        import uvicorn

        from api.observability import logging_config

        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_config=logging_config(args.log_level.upper(), json_logs=not args.text_logs),
            access_log=False,  # the app writes its own access line (with the request id)
            timeout_graceful_shutdown=10,
        )
        return 0
    finally:
        if prom_dir is not None:
            shutil.rmtree(prom_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
