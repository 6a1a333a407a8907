"""Server settings, read once from the environment (12-factor), frozen afterwards."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

AttributionSetting = Literal["auto", "path", "treeshap"]


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"${name} must be an integer, got {raw!r}") from exc
    if value <= 0:
        raise ValueError(f"${name} must be positive, got {value}")
    return value


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    """What the API reads from its environment.

    - ``BUNDLE_DIR`` (``models/bundle``): the model bundle;
    - ``EVENTS_URL``: prediction-event store (SQLAlchemy URL; unset = the store's default
      ``sqlite:///data/events.db``; ``none`` disables recording, for experiments only);
    - ``MAX_BODY_BYTES`` (1 MiB) for ``/v1/score``, ``MAX_BATCH_BODY_BYTES`` (16 MiB) for
      ``/v1/score/batch``;
    - ``REASON_ATTRIBUTION`` (``auto``): how ``/v1/score`` attributes reason codes —
      ``treeshap`` (exact), ``path`` (fast path attribution, see :mod:`api.attribution`), or
      ``auto``: exact when the model's TreeSHAP work fits the per-request budget, else path;
    - ``LOG_REQUESTS`` (true): one JSON access-log line per request.
    """

    bundle_dir: Path = Path("models/bundle")
    events_url: str | None = None
    max_body_bytes: int = 1 << 20
    max_batch_body_bytes: int = 16 << 20
    reason_attribution: AttributionSetting = "auto"
    log_requests: bool = True

    @classmethod
    def from_env(cls) -> Settings:
        method = os.environ.get("REASON_ATTRIBUTION", "auto").strip().lower()
        if method not in ("auto", "path", "treeshap"):
            raise ValueError(
                f"$REASON_ATTRIBUTION must be 'auto', 'path' or 'treeshap', got {method!r}"
            )
        return cls(
            bundle_dir=Path(os.environ.get("BUNDLE_DIR") or "models/bundle"),
            events_url=os.environ.get("EVENTS_URL") or None,
            max_body_bytes=_int("MAX_BODY_BYTES", 1 << 20),
            max_batch_body_bytes=_int("MAX_BATCH_BODY_BYTES", 16 << 20),
            reason_attribution=cast(AttributionSetting, method),
            log_requests=_flag("LOG_REQUESTS", True),
        )
