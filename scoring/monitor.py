"""The production monitor: a window of prediction events against the training reference.

    python -m scoring.monitor --params params.yaml --reference data/drift \
        --html reports/monitor.html --json reports/monitor.json \
        [--last 24h | --since ... --until ... | --all]

What it checks (thresholds in ``conf/monitor``; each check is ``ok``, ``warn``, ``alert`` or
``skipped`` with the reason):

- ``score_psi``: PSI of the served probabilities against the reference scores, with the buckets
  frozen by the drift stage (warn ≥ 0.10, alert ≥ 0.25). The earliest sign that the model now
  decides on a different population.
- ``drift_share``: Evidently's per-column tests on the features the API logged vs the reference
  sample; the share of drifted columns.
- ``approval_shift``: approval rate of the window minus the model's approval rate on the
  reference: the business sees this one first.
- ``error_rate`` (5xx) and ``invalid_rate`` (4xx: a client sends bad data), ``latency_p95_ms``.
- ``auc`` and ``cost_ratio`` (business cost ``fn·FN + fp·FP`` per client over the holdout's)
  once ground-truth labels exist (``python -m scoring.events labels``).
- ``reference_model``: warns when the window was scored by a model other than the one the
  reference was built for (then the score comparisons are apples and oranges).

Small windows are not judged: below ``min_events`` scored events the score PSI and approval
checks are skipped, below ``min_events_drift`` the per-column drift check is (measured: with 200
events from the *reference* distribution, a third of the columns pass Evidently's 0.1 Wasserstein
threshold by chance; with 1,000, none), below ``min_labels`` labels AUC and cost are.

Alerts go through pluggable notifiers: ``log`` (one line per warn/alert), ``webhook`` (POST of
the JSON summary to the one configured URL) and ``exit`` (non-zero exit status, for cron/CI).
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import math
import os
import re
import sys
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from scoring.drift import SCORE_COLUMN, PsiBins, run_data_drift
from scoring.events import EventStore, labelled_events

log = logging.getLogger("scoring.monitor")

Level = Literal["ok", "warn", "alert", "skipped"]
SEVERITY: dict[str, int] = {"skipped": 0, "ok": 0, "warn": 1, "alert": 2}
EXIT_ALERT = 3  # distinct from 1 (crash) and 2 (usage error)
ENV_WEBHOOK = "MONITOR_WEBHOOK_URL"
CHECKS: tuple[str, ...] = (
    "score_psi",
    "drift_share",
    "approval_shift",
    "error_rate",
    "invalid_rate",
    "latency_p95_ms",
    "auc",
    "cost_ratio",
)
LOWER_IS_WORSE = frozenset({"auc"})


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Threshold:
    warn: float
    alert: float


@dataclass(frozen=True)
class MonitorConfig:
    """``monitor`` section of params.yaml (composed from conf/monitor) + the ``cost`` weights."""

    thresholds: dict[str, Threshold]
    window: str | None = "24h"
    min_events: int = 500
    min_events_drift: int = 1000
    min_labels: int = 100
    sample_rows: int = 10_000
    drift_share: float = 0.5
    notifiers: tuple[str, ...] = ("log", "exit")
    webhook_url: str | None = None
    fail_on: Literal["alert", "warn", "never"] = "alert"
    cost_fn: float = 10.0
    cost_fp: float = 1.0
    seed: int = 0

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> MonitorConfig:
        m = params.get("monitor")
        if not isinstance(m, Mapping):
            raise KeyError("params.yaml has no 'monitor' section (conf/monitor; run `make params`)")
        raw = m.get("thresholds") or {}
        missing = [c for c in CHECKS if c not in raw]
        if missing:
            raise KeyError(f"monitor.thresholds lacks {missing}")
        thresholds = {k: Threshold(float(v["warn"]), float(v["alert"])) for k, v in raw.items()}
        for name, t in thresholds.items():
            worse_ok = t.alert <= t.warn if name in LOWER_IS_WORSE else t.alert >= t.warn
            if not worse_ok:
                raise ValueError(f"monitor.thresholds.{name}: alert {t.alert} is milder than warn")
        fail_on = str(m.get("fail_on", "alert"))
        if fail_on not in ("alert", "warn", "never"):
            raise ValueError(f"monitor.fail_on must be alert, warn or never, got {fail_on!r}")
        cost = params.get("cost") or {}
        return cls(
            thresholds=thresholds,
            window=None if m.get("window") in (None, "", "all") else str(m["window"]),
            min_events=int(m.get("min_events", 500)),
            min_events_drift=int(m.get("min_events_drift", 1000)),
            min_labels=int(m.get("min_labels", 100)),
            sample_rows=int(m.get("sample_rows", 10_000)),
            drift_share=float(m.get("drift_share", 0.5)),
            notifiers=tuple(str(n) for n in m.get("notifiers", ("log", "exit"))),
            webhook_url=m.get("webhook_url") or None,
            fail_on=fail_on,  # type: ignore[arg-type]
            cost_fn=float(cost.get("fn", 10.0)),
            cost_fp=float(cost.get("fp", 1.0)),
            seed=int(params.get("seed", 0)),
        )


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``30m``, ``6h``, ``7d``, ``2w`` → timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"window {text!r}: expected a number and a unit s/m/h/d/w, e.g. 24h")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


# --------------------------------------------------------------------------------------------
# Reference
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reference:
    """What the drift stage froze for monitoring (``data/drift/``)."""

    sample: pd.DataFrame  # reference rows: monitored columns + ``score``
    columns: tuple[str, ...]
    psi_bins: dict[str, PsiBins]
    score_bins: PsiBins
    approval_rate: float
    threshold: float
    model_version: str
    metrics: dict[str, float] = field(default_factory=dict)  # holdout auc, cost_per_client...

    @classmethod
    def load(cls, directory: str | Path) -> Reference:
        d = Path(directory)
        profile_path, sample_path = d / "profile.json", d / "reference.parquet"
        for p in (profile_path, sample_path):
            if not p.is_file():
                raise FileNotFoundError(
                    f"monitor reference {p} not found: the drift stage writes it (make pipeline)"
                )
        profile = json.loads(profile_path.read_text(encoding="utf-8"))
        return cls(
            sample=pd.read_parquet(sample_path),
            columns=tuple(profile["columns"]),
            psi_bins={c: PsiBins.from_dict(b) for c, b in profile["psi_bins"].items()},
            score_bins=PsiBins.from_dict(profile["score_bins"]),
            approval_rate=float(profile["approval_rate_reference"]),
            threshold=float(profile["threshold"]),
            model_version=str(profile["model_version"]),
            metrics={k: float(v) for k, v in (profile.get("reference_metrics") or {}).items()},
        )


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    name: str
    level: Level
    value: float | None = None
    warn: float | None = None
    alert: float | None = None
    message: str = ""


def grade(name: str, value: float | None, t: Threshold, message: str = "") -> Check:
    """Level of ``value`` against ``t``: higher is worse except for AUC. None/NaN → skipped."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return Check(name, "skipped", None, t.warn, t.alert, message or "no value")
    if name in LOWER_IS_WORSE:
        level: Level = "alert" if value <= t.alert else "warn" if value <= t.warn else "ok"
    else:
        level = "alert" if value >= t.alert else "warn" if value >= t.warn else "ok"
    return Check(name, level, float(value), t.warn, t.alert, message)


def skipped(name: str, t: Threshold, why: str) -> Check:
    return Check(name, "skipped", None, t.warn, t.alert, why)


def auc_score(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties counted as half."""
    y = np.asarray(labels, dtype=np.int64)
    n_pos, n_neg = int(y.sum()), int((1 - y).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = pd.Series(np.asarray(scores, dtype=np.float64)).rank(method="average").to_numpy()
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def business_cost(labels: np.ndarray, refused: np.ndarray, fn: float, fp: float) -> float:
    """``fn`` per defaulter approved + ``fp`` per good client refused (positive = default)."""
    y = np.asarray(labels, dtype=bool)
    r = np.asarray(refused, dtype=bool)
    return float(fn * np.sum(y & ~r) + fp * np.sum(~y & r))


def features_frame(
    events: pd.DataFrame, columns: Sequence[str], like: pd.DataFrame
) -> pd.DataFrame:
    """The logged feature values of ``columns`` (dtype family of the reference ``like``)."""
    records = [f if isinstance(f, Mapping) else {} for f in events["features"]]
    frame = pd.DataFrame.from_records(records, columns=list(columns))
    for c in columns:
        if c in like.columns and pd.api.types.is_numeric_dtype(like[c]):
            frame[c] = pd.to_numeric(frame[c], errors="coerce")
        else:
            frame[c] = frame[c].astype("object")
    return frame


@dataclass
class MonitorReport:
    status: Level
    window: dict[str, Any]
    checks: list[Check]
    metrics: dict[str, Any]
    feature_psi: dict[str, float]
    drift_columns: dict[str, dict[str, Any]]
    snapshot: Any = None  # Evidently snapshot of the window (HTML), None when skipped

    @property
    def problems(self) -> list[Check]:
        return [c for c in self.checks if c.level in ("warn", "alert")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "window": self.window,
            "checks": [asdict(c) for c in self.checks],
            "metrics": self.metrics,
            "feature_psi": self.feature_psi,
            "drift_columns": self.drift_columns,
        }


def _rate(mask: pd.Series | np.ndarray) -> float:
    arr = np.asarray(mask, dtype=bool)
    return float(arr.mean()) if arr.size else math.nan


def evaluate(
    events: pd.DataFrame,
    labels: pd.DataFrame,
    ref: Reference,
    cfg: MonitorConfig,
    *,
    window: Mapping[str, Any] | None = None,
    run_evidently: bool = True,
) -> MonitorReport:
    """All checks over one window of events (the pure core of the monitor)."""
    t = cfg.thresholds
    checks: list[Check] = []
    metrics: dict[str, Any] = {}
    n = len(events)
    status = events["status_code"].astype(int) if n else pd.Series(dtype=int)
    scored = events[(status < 400) & events["probability"].notna()] if n else events
    n_scored = len(scored)
    metrics |= {"n_events": n, "n_scored": n_scored}

    # -- service health: any window size ---------------------------------------------------------
    if n:
        metrics["error_rate"] = _rate(status >= 500)
        metrics["invalid_rate"] = _rate((status >= 400) & (status < 500))
        ok_latency = events.loc[status < 400, "latency_ms"].astype(float)
        metrics["latency_p95_ms"] = (
            float(np.percentile(ok_latency, 95)) if len(ok_latency) else math.nan
        )
        checks += [
            grade("error_rate", metrics["error_rate"], t["error_rate"], "share of 5xx answers"),
            grade("invalid_rate", metrics["invalid_rate"], t["invalid_rate"], "share of 4xx"),
            grade("latency_p95_ms", metrics["latency_p95_ms"], t["latency_p95_ms"]),
        ]
    else:
        checks += [skipped(c, t[c], "no events") for c in CHECKS[3:6]]

    # -- model version -----------------------------------------------------------------------
    versions = scored["model_version"].value_counts().to_dict() if n_scored else {}
    metrics["model_versions"] = {str(k): int(v) for k, v in versions.items()}
    foreign = {str(v) for v in versions if str(v) != ref.model_version}
    if foreign:
        checks.append(
            Check(
                "reference_model",
                "warn",
                message=f"events scored by {sorted(foreign)}, reference built for "
                f"{ref.model_version}: rebuild the reference (make pipeline)",
            )
        )

    # -- distributions: need enough scored events ------------------------------------------------
    feature_psi: dict[str, float] = {}
    drift_columns: dict[str, dict[str, Any]] = {}
    snapshot = None
    if n_scored < cfg.min_events:
        why = f"{n_scored} scored events < min_events {cfg.min_events}"
        checks += [skipped(c, t[c], why) for c in ("score_psi", "drift_share", "approval_shift")]
    else:
        probs = scored["probability"].astype(float).to_numpy()
        metrics["score_psi"] = ref.score_bins.psi(probs)
        checks.append(grade("score_psi", metrics["score_psi"], t["score_psi"]))
        approved = (scored["decision"] == "approved").to_numpy()
        metrics["approval_rate"] = _rate(approved)
        metrics["approval_rate_reference"] = ref.approval_rate
        metrics["approval_shift"] = metrics["approval_rate"] - ref.approval_rate
        checks.append(
            grade(
                "approval_shift",
                abs(metrics["approval_shift"]),
                t["approval_shift"],
                f"approval {metrics['approval_rate']:.1%} vs {ref.approval_rate:.1%} reference",
            )
        )
        logged = {k for f in scored["features"] if isinstance(f, Mapping) for k in f}
        columns = [c for c in ref.columns if c in logged]
        window_features = features_frame(scored, columns, ref.sample)
        feature_psi = {c: ref.psi_bins[c].psi(window_features[c]) for c in columns}
        if not columns:
            checks.append(skipped("drift_share", t["drift_share"], "no monitored feature logged"))
        elif n_scored < cfg.min_events_drift:
            why = f"{n_scored} scored events < min_events_drift {cfg.min_events_drift}"
            checks.append(skipped("drift_share", t["drift_share"], why))
        elif run_evidently:
            current = window_features.assign(**{SCORE_COLUMN: probs})
            snapshot, result = run_data_drift(
                ref.sample,
                current,
                columns,
                drift_share=cfg.drift_share,
                sample_rows=cfg.sample_rows,
                seed=cfg.seed,
                score_column=SCORE_COLUMN,
            )
            metrics |= {
                "n_columns": result.n_columns,
                "n_drifted_columns": result.n_drifted,
                "share_drifted_columns": result.share_drifted,
                "dataset_drift": result.dataset_drift,
                "top_drifted": result.top_drifted(10),
            }
            drift_columns = {
                c.column: {
                    "method": c.method,
                    "score": c.score,
                    "threshold": c.threshold,
                    "drifted": c.drifted,
                    "psi": feature_psi[c.column],
                }
                for c in result.columns
            }
            checks.append(
                grade(
                    "drift_share",
                    result.share_drifted,
                    t["drift_share"],
                    f"{result.n_drifted}/{result.n_columns} columns drifted; top: "
                    + ", ".join(result.top_drifted(5)),
                )
            )
        else:
            checks.append(skipped("drift_share", t["drift_share"], "Evidently disabled"))

    # -- performance: needs labels ---------------------------------------------------------------
    joined = labelled_events(scored, labels) if n_scored else scored.iloc[0:0]
    metrics["n_labelled"] = len(joined)
    if len(joined) < cfg.min_labels or joined["label"].nunique() < 2:
        why = f"{len(joined)} labelled events (need {cfg.min_labels}, both classes)"
        checks += [skipped("auc", t["auc"], why), skipped("cost_ratio", t["cost_ratio"], why)]
    else:
        y = joined["label"].to_numpy()
        metrics["auc"] = auc_score(y, joined["probability"].astype(float).to_numpy())
        refused = (joined["decision"] == "refused").to_numpy()
        cost = business_cost(y, refused, cfg.cost_fn, cfg.cost_fp)
        metrics["business_cost"] = cost
        metrics["cost_per_client"] = cost / len(joined)
        checks.append(grade("auc", metrics["auc"], t["auc"]))
        ref_cost = ref.metrics.get("cost_per_client")
        if ref_cost:
            ratio = metrics["cost_per_client"] / ref_cost
            msg = f"{metrics['cost_per_client']:.3f} per client vs {ref_cost:.3f} on the holdout"
            checks.append(grade("cost_ratio", ratio, t["cost_ratio"], msg))
        else:
            checks.append(skipped("cost_ratio", t["cost_ratio"], "no holdout cost in reference"))

    worst = max((SEVERITY[c.level] for c in checks), default=0)
    overall: Level = "alert" if worst == 2 else "warn" if worst == 1 else "ok"
    return MonitorReport(
        status=overall,
        window=dict(window or {}) | {"n_events": n, "n_scored": n_scored},
        checks=checks,
        metrics={k: _plain(v) for k, v in metrics.items()},
        feature_psi={k: float(v) for k, v in sorted(feature_psi.items(), key=lambda kv: -kv[1])},
        drift_columns=drift_columns,
        snapshot=snapshot,
    )


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


# --------------------------------------------------------------------------------------------
# Notifiers
# --------------------------------------------------------------------------------------------
class Notifier(Protocol):
    """Receives every report; decides itself whether there is anything to say."""

    def notify(self, report: MonitorReport) -> None: ...


@dataclass
class LogNotifier:
    """One log line per warning/alert, greppable: ``MONITOR ALERT score_psi=0.31 ...``."""

    logger: logging.Logger = log

    def notify(self, report: MonitorReport) -> None:
        for c in report.problems:
            line = (
                f"MONITOR {c.level.upper()} {c.name}={c.value:.4g}"
                if c.value is not None
                else (f"MONITOR {c.level.upper()} {c.name}")
            )
            bound = c.alert if c.level == "alert" else c.warn
            if bound is not None:
                line += f" (threshold {bound:g})"
            if c.message:
                line += f" — {c.message}"
            (self.logger.error if c.level == "alert" else self.logger.warning)(line)
        if not report.problems:
            self.logger.info("MONITOR OK: no warning or alert (%s)", report.window)


@dataclass
class WebhookNotifier:
    """POST the JSON summary to the one configured URL when there is a warning or an alert."""

    url: str
    timeout: float = 10.0
    min_level: Level = "warn"

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL must be http(s), got {self.url!r}")

    def notify(self, report: MonitorReport) -> None:
        if SEVERITY[report.status] < SEVERITY[self.min_level]:
            return
        body = {
            "status": report.status,
            "window": report.window,
            "problems": [asdict(c) for c in report.problems],
            "metrics": report.metrics,
        }
        req = urllib.request.Request(
            self.url,
            data=json.dumps(body, default=str).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            if resp.status >= 300:
                raise RuntimeError(f"webhook {self.url} answered {resp.status}")


@dataclass
class ExitCodeNotifier:
    """Remembers the exit status: :data:`EXIT_ALERT` when the worst level reaches ``fail_on``."""

    fail_on: Literal["alert", "warn", "never"] = "alert"
    exit_code: int = 0

    def notify(self, report: MonitorReport) -> None:
        if self.fail_on != "never" and SEVERITY[report.status] >= SEVERITY[self.fail_on]:
            self.exit_code = EXIT_ALERT


def build_notifiers(cfg: MonitorConfig) -> list[Notifier]:
    out: list[Notifier] = []
    for name in cfg.notifiers:
        if name == "log":
            out.append(LogNotifier())
        elif name == "webhook":
            url = cfg.webhook_url or os.environ.get(ENV_WEBHOOK)
            if not url:
                raise ValueError(f"notifier 'webhook' needs monitor.webhook_url or ${ENV_WEBHOOK}")
            out.append(WebhookNotifier(url))
        elif name == "exit":
            out.append(ExitCodeNotifier(cfg.fail_on))
        else:
            raise ValueError(f"unknown notifier {name!r} (log, webhook, exit)")
    return out


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------
_COLOURS = {"ok": "#1b7a3a", "warn": "#8a5a00", "alert": "#b00020", "skipped": "#555"}


def render_html(report: MonitorReport, drift_html: str | None = None) -> str:
    """A small self-contained page: the verdicts first, then metrics and the top PSI features."""

    def fmt(v: Any) -> str:
        if v is None:
            return "—"
        if isinstance(v, float):
            return f"{v:.4g}"
        return html.escape(str(v))

    rows = "".join(
        f"<tr><td>{html.escape(c.name)}</td>"
        f'<td style="color:{_COLOURS[c.level]};font-weight:bold">{c.level.upper()}</td>'
        f"<td>{fmt(c.value)}</td><td>{fmt(c.warn)}</td><td>{fmt(c.alert)}</td>"
        f"<td>{html.escape(c.message)}</td></tr>"
        for c in report.checks
    )
    metric_rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{fmt(v)}</td></tr>" for k, v in report.metrics.items()
    )
    psi_rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v:.4f}</td></tr>"
        for k, v in list(report.feature_psi.items())[:20]
    )
    link = (
        f'<p>Per-column distributions: <a href="{html.escape(drift_html)}">'
        "Evidently report</a>.</p>"
        if drift_html
        else ""
    )
    window = html.escape(json.dumps(report.window, default=str))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Scoring monitor — {report.status}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}}
table{{border-collapse:collapse;margin-bottom:1.5rem}}
td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}}th{{background:#f2f2f2}}
</style></head><body>
<h1>Scoring monitor:
<span style="color:{_COLOURS[report.status]}">{report.status.upper()}</span></h1>
<p>Window: <code>{window}</code></p>{link}
<h2>Checks</h2><table><tr><th>check</th><th>level</th><th>value</th><th>warn</th><th>alert</th>
<th>detail</th></tr>{rows}</table>
<h2>Metrics</h2><table><tr><th>metric</th><th>value</th></tr>{metric_rows}</table>
<h2>Features with the largest PSI</h2><table><tr><th>feature</th><th>PSI</th></tr>{psi_rows}</table>
</body></html>
"""


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
def resolve_window(
    since: str | None, until: str | None, last: str | None, default: str | None
) -> tuple[str | None, str | None]:
    """(since, until) as ISO strings; ``--last`` (or the configured default) counts back from
    ``until`` or now. Explicit ``--since`` wins over any duration."""
    if since:
        return since, until
    duration = last or default
    if not duration:
        return None, until
    end = datetime.fromisoformat(until) if until else datetime.now(UTC)
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    return (end - parse_duration(duration)).isoformat(), until


def main(argv: Sequence[str] | None = None) -> int:
    from scoring.config import load_params, setup_logging

    ap = argparse.ArgumentParser(
        prog="python -m scoring.monitor", description=__doc__.split("\n")[0]
    )
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--url", default=None, help="events SQLAlchemy URL (default $EVENTS_URL)")
    ap.add_argument("--reference", type=Path, default=Path("data/drift"), help="drift stage out")
    ap.add_argument("--html", type=Path, default=Path("reports/monitor.html"))
    ap.add_argument("--json", type=Path, default=Path("reports/monitor.json"))
    ap.add_argument("--since", default=None, help="ISO-8601 start of the window (inclusive)")
    ap.add_argument("--until", default=None, help="ISO-8601 end of the window (exclusive)")
    ap.add_argument("--last", default=None, help="window length back from --until/now, e.g. 6h")
    ap.add_argument("--all", action="store_true", help="every stored event")
    ap.add_argument("--model-version", default=None, help="only events of this model version")
    ap.add_argument("--no-evidently", action="store_true", help="skip the per-column drift run")
    args = ap.parse_args(argv)
    setup_logging()
    cfg = MonitorConfig.from_params(load_params(args.params))
    notifiers = build_notifiers(cfg)
    since, until = (
        (None, None) if args.all else resolve_window(args.since, args.until, args.last, cfg.window)
    )
    ref = Reference.load(args.reference)
    store = EventStore.open(args.url, start_flusher=False)
    try:
        store.recover()  # events of crashed writers count too
        events = store.read_events(since, until, model_version=args.model_version)
        labels = store.read_labels()
    finally:
        store.close()
    log.info("monitor window since=%s until=%s: %d events", since, until, len(events))
    report = evaluate(
        events,
        labels,
        ref,
        cfg,
        window={"since": since, "until": until},
        run_evidently=not args.no_evidently,
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report.to_dict(), indent=2, default=str) + "\n", "utf-8")
    drift_name = None
    if report.snapshot is not None:
        drift_path = args.html.with_name(args.html.stem + "_drift.html")
        report.snapshot.save_html(str(drift_path))
        drift_name = drift_path.name
    args.html.parent.mkdir(parents=True, exist_ok=True)
    args.html.write_text(render_html(report, drift_name), encoding="utf-8")
    print(f"monitor: {report.status.upper()} — {args.html} {args.json}")
    code = 0
    for notifier in notifiers:
        try:
            notifier.notify(report)
        except Exception:  # one broken channel must not hide the others
            log.exception("notifier %s failed", type(notifier).__name__)
            code = 1
        if isinstance(notifier, ExitCodeNotifier):
            code = max(code, notifier.exit_code)
    return code


if __name__ == "__main__":
    sys.exit(main())
