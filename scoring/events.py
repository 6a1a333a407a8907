"""The prediction-event store: every score the API gives is recorded, durably and cheaply.

Why a journal in front of SQL
-----------------------------
An event is *acknowledged* once the API has answered the request; from then on it must survive
``kill -9`` of the worker. A synchronous SQL ``INSERT`` + ``COMMIT`` per request is durable but
costs a transaction per score and serialises two uvicorn workers on SQLite's single writer lock.
Instead :meth:`EventStore.record` appends the event as **one JSON line with one ``os.write``** to
a per-process journal segment (``<journal_dir>/*.jsonl``). Once ``write(2)`` returns, the bytes
are in the kernel's page cache, which outlives the process: a ``kill -9`` cannot lose them (a
power cut can, unless ``fsync=True``). A background thread moves sealed segments into the SQL
store in one transaction per batch and deletes a segment only after its commit.

Crash recovery: every live segment is held under an exclusive ``flock`` by its writer. The lock
dies with the process, so any ``*.jsonl`` whose lock can be taken belongs to a dead writer; the
store replays such orphans at :meth:`EventStore.open` and periodically from the flusher thread
(so a surviving worker also picks up a crashed sibling's events). Replays are idempotent: the
event ``id`` (a UUID made by the writer) is the primary key and duplicates are ignored.

Tables (SQLAlchemy Core, any URL; SQLite in WAL mode by default, see docs/design.md):

- ``prediction_events``: id, request_id, ts (UTC ISO-8601), model_version, endpoint,
  sk_id_curr (nullable), features (JSON), probability, decision, threshold, latency_ms,
  status_code, error (nullable). ``probability``/``decision``/``threshold`` are null for a
  request that failed (the error rate is computed from these rows).
- ``ground_truth``: id, sk_id_curr, request_id (nullable), label (0/1), ts — labels arrive
  later, through :meth:`EventStore.attach_labels` or ``python -m scoring.events labels``.

Use: open one store per process in the API's lifespan (never at import, never across a fork)::

    store = EventStore.open()            # $EVENTS_URL or sqlite:///data/events.db
    store.record(PredictionEvent(request_id=..., model_version=..., endpoint="/v1/score", ...))
    store.close()                        # flushes what is left
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import math
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.pool import StaticPool

if TYPE_CHECKING:  # pandas is imported lazily: the API's hot path (record) never needs it
    import pandas as pd

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite:///data/events.db"
ENV_URL = "EVENTS_URL"
ENV_JOURNAL = "EVENTS_JOURNAL_DIR"
SEGMENT_SUFFIX = ".jsonl"


def utc_now_iso() -> str:
    """Now, UTC, ISO-8601 with microseconds and an explicit offset.

    One fixed format for every row, so that SQL string comparison on ``ts`` orders correctly.
    """
    return datetime.now(UTC).isoformat(timespec="microseconds")


def normalize_ts(value: str | datetime) -> str:
    """Any ISO-8601 timestamp → the canonical ``YYYY-MM-DDTHH:MM:SS.ffffff+00:00`` (naive = UTC)."""
    ts = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    return ts.isoformat(timespec="microseconds")


def _is_canonical_ts(ts: str) -> bool:
    """Cheap check that ``ts`` already has the :func:`utc_now_iso` shape."""
    return len(ts) == 32 and ts[10] == "T" and ts.endswith("+00:00")


def _new_id() -> str:
    return uuid.uuid4().hex


class PredictionEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One scoring request as the API answered it.

    ``features`` are the model inputs actually used (feature name → value; categorical values as
    text, missing as ``None``), so the monitor can compare them with the training reference.
    ``id`` and ``ts`` are filled in at construction when not given.
    """

    request_id: str
    model_version: str
    endpoint: str
    features: dict[str, Any]
    probability: float | None
    decision: str | None
    threshold: float | None
    latency_ms: float
    status_code: int = 200
    sk_id_curr: int | None = None
    error: str | None = None
    ts: str = msgspec.field(default_factory=utc_now_iso)
    id: str = msgspec.field(default_factory=_new_id)


def _enc_hook(obj: Any) -> Any:
    """numpy scalars → Python scalars (``np.int64`` is not an ``int`` and msgspec refuses it)."""
    item = getattr(obj, "item", None)
    if callable(item):
        return item()
    raise NotImplementedError(f"cannot encode {type(obj).__name__} in an event")


_ENCODER = msgspec.json.Encoder(enc_hook=_enc_hook)
_DECODER = msgspec.json.Decoder(PredictionEvent)


def _json_dumps(obj: Any) -> str:
    """JSON for the ``features`` column: NaN/inf become null (JSON, and PostgreSQL, have no NaN).

    A ``msgspec.Raw`` is JSON already (:meth:`EventStore.record_many` encodes each event's
    features once, for the journal line, and keeps that text for the SQL insert).
    """
    if isinstance(obj, msgspec.Raw):
        return bytes(obj).decode("utf-8")
    return _ENCODER.encode(obj).decode("utf-8")


def _json_loads(text: str | bytes) -> Any:
    return msgspec.json.decode(text)


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------
METADATA = sa.MetaData()

EVENTS = sa.Table(
    "prediction_events",
    METADATA,
    sa.Column("id", sa.String(32), primary_key=True),  # writer-made UUID: idempotent replay
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("ts", sa.String(32), nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("endpoint", sa.String(64), nullable=False),
    sa.Column("sk_id_curr", sa.BigInteger, nullable=True),
    sa.Column("features", sa.JSON().with_variant(pg_dialect.JSONB(), "postgresql")),
    sa.Column("probability", sa.Float, nullable=True),
    sa.Column("decision", sa.String(16), nullable=True),
    sa.Column("threshold", sa.Float, nullable=True),
    sa.Column("latency_ms", sa.Float, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=False),
    sa.Column("error", sa.Text, nullable=True),
    sa.Index("ix_prediction_events_ts", "ts"),
    sa.Index("ix_prediction_events_request_id", "request_id"),
    sa.Index("ix_prediction_events_sk_id_curr", "sk_id_curr"),
)

GROUND_TRUTH = sa.Table(
    "ground_truth",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sk_id_curr", sa.BigInteger, nullable=False),
    sa.Column("request_id", sa.String(64), nullable=True),
    sa.Column("label", sa.SmallInteger, nullable=False),
    sa.Column("ts", sa.String(32), nullable=False),
    sa.CheckConstraint("label IN (0, 1)", name="ck_ground_truth_label"),
    sa.Index("ix_ground_truth_sk_id_curr", "sk_id_curr"),
    sa.Index("ix_ground_truth_request_id", "request_id"),
)

EVENT_COLUMNS: tuple[str, ...] = tuple(c.name for c in EVENTS.columns)


def _row(ev: PredictionEvent) -> dict[str, Any]:
    def num(x: float | None) -> float | None:
        return None if x is None or not math.isfinite(x) else float(x)

    return {
        "id": ev.id,
        "request_id": ev.request_id,
        "ts": ev.ts if _is_canonical_ts(ev.ts) else normalize_ts(ev.ts),
        "model_version": ev.model_version,
        "endpoint": ev.endpoint,
        "sk_id_curr": None if ev.sk_id_curr is None else int(ev.sk_id_curr),
        "features": ev.features,
        "probability": num(ev.probability),
        "decision": ev.decision,
        "threshold": num(ev.threshold),
        "latency_ms": float(ev.latency_ms),
        "status_code": int(ev.status_code),
        "error": ev.error,
    }


def make_engine(url: str) -> sa.Engine:
    """An engine for ``url``; SQLite gets WAL, ``synchronous=NORMAL`` and a 30 s busy timeout.

    WAL lets the monitor read while workers write; NORMAL is enough because a commit in WAL mode
    survives a process crash (only a power cut can drop the last commits, and the journal
    segment is deleted only after the commit). In-memory SQLite shares one connection across
    threads (``StaticPool``), which is what tests want.
    """
    u = sa.engine.make_url(url)
    kwargs: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": _json_loads}
    if u.get_backend_name() == "sqlite":
        in_memory = u.database in (None, "", ":memory:")
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        if in_memory:
            kwargs["poolclass"] = StaticPool
        else:
            Path(u.database or "").parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(u, **kwargs)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # Before WAL, and only effective on a new database file: an event is ~10 KB (the
            # model's features), which spills over overflow pages at the default 4 KB page size;
            # 32 KB pages made the flusher's inserts 1.4-1.7x cheaper for 10-33 KB events
            # (benchmarks/events_page_size.py, figures in docs/monitoring.md).
            cur.execute("PRAGMA page_size=32768")
            if not in_memory:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return sa.create_engine(u, pool_pre_ping=True, **kwargs)


def create_tables(engine: sa.Engine) -> None:
    """``CREATE TABLE/INDEX IF NOT EXISTS``: two workers starting together must not race."""
    with engine.begin() as conn:
        for table in METADATA.sorted_tables:
            conn.execute(sa.schema.CreateTable(table, if_not_exists=True))
            for index in table.indexes:
                conn.execute(sa.schema.CreateIndex(index, if_not_exists=True))


def insert_events(conn: sa.Connection, events: Sequence[PredictionEvent]) -> int:
    """Insert events, ignoring ids already stored (replays are idempotent). Returns #new rows."""
    if not events:
        return 0
    rows = [_row(e) for e in events]
    dialect = conn.dialect.name
    if dialect in ("sqlite", "postgresql"):
        ins = (sqlite_dialect.insert if dialect == "sqlite" else pg_dialect.insert)(EVENTS)
        result = conn.execute(ins.on_conflict_do_nothing(index_elements=["id"]), rows)
        return int(result.rowcount) if result.rowcount is not None else len(rows)
    ids = [r["id"] for r in rows]
    known = set(conn.execute(sa.select(EVENTS.c.id).where(EVENTS.c.id.in_(ids))).scalars())
    fresh = [r for r in rows if r["id"] not in known]
    if fresh:
        conn.execute(EVENTS.insert(), fresh)
    return len(fresh)


# --------------------------------------------------------------------------------------------
# Journal segments
# --------------------------------------------------------------------------------------------
@dataclass
class _Segment:
    """One journal file, exclusively ``flock``-ed by its writer until its events are in SQL."""

    path: Path
    fd: int
    events: list[PredictionEvent] = field(default_factory=list)

    def release(self, *, delete: bool) -> None:
        if delete:
            self.path.unlink(missing_ok=True)
        os.close(self.fd)  # closing drops the flock


def _read_segment(fd: int, path: Path) -> list[PredictionEvent]:
    """Decode a segment; a torn last line (never acknowledged) is skipped with a warning."""
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            break
        chunks.append(b)
    out: list[PredictionEvent] = []
    for i, line in enumerate(b"".join(chunks).splitlines()):
        if not line.strip():
            continue
        try:
            out.append(_DECODER.decode(line))
        except msgspec.DecodeError as exc:
            log.warning("%s line %d: unreadable journal line skipped (%s)", path, i + 1, exc)
    return out


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def default_journal_dir(url: str) -> Path | None:
    """``$EVENTS_JOURNAL_DIR``, else ``<db file>.journal`` for SQLite files, else ``data/...``.

    In-memory SQLite has nothing to be durable against and gets no journal.
    """
    env = os.environ.get(ENV_JOURNAL)
    if env:
        return Path(env)
    u = sa.engine.make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database in (None, "", ":memory:"):
            return None
        return Path(f"{u.database}.journal")
    return Path("data/events-journal")


class EventStore:
    """Durable, cheap event recording in front of a SQL store. Build with :meth:`open`.

    ``record`` returns once the event is durable against a process crash (one ``os.write`` to
    a journal segment, about 10 µs measured, see docs/monitoring.md); a daemon thread batches
    segments into SQL every ``flush_interval`` seconds or ``batch_size`` events.
    Without a journal (``journal_dir=None``, e.g. in-memory SQLite) ``record`` inserts and
    commits synchronously.
    """

    def __init__(
        self,
        engine: sa.Engine,
        journal_dir: Path | None,
        *,
        flush_interval: float = 0.5,
        batch_size: int = 500,
        recover_interval: float = 30.0,
        fsync: bool = False,
    ) -> None:
        self.engine = engine
        self.journal_dir = journal_dir
        self.flush_interval = flush_interval
        self.batch_size = batch_size
        self.recover_interval = recover_interval
        self.fsync = fsync
        self._pid = os.getpid()
        self._writer = f"{socket.gethostname()}-{self._pid}-{uuid.uuid4().hex[:8]}"
        self._seq = 0
        self._lock = threading.Lock()  # guards the current segment (hot path)
        self._flush_lock = threading.Lock()  # one flusher at a time
        self._current: _Segment | None = None
        self._sealed: list[_Segment] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        url: str | None = None,
        journal_dir: str | Path | bool | None = True,
        *,
        flush_interval: float = 0.5,
        batch_size: int = 500,
        recover_interval: float = 30.0,
        fsync: bool = False,
        start_flusher: bool = True,
    ) -> EventStore:
        """Open (and create) the store, replay orphaned journal segments, start the flusher.

        ``url``: any SQLAlchemy URL; default ``$EVENTS_URL`` or ``sqlite:///data/events.db``.
        ``journal_dir``: ``True`` = :func:`default_journal_dir`; a path; ``None``/``False`` = no
        journal (synchronous inserts). ``fsync=True`` also survives power loss, at the cost of
        one fsync per event.
        """
        url = url or os.environ.get(ENV_URL) or DEFAULT_URL
        jdir: Path | None
        if journal_dir is True:
            jdir = default_journal_dir(url)
        elif journal_dir is False or journal_dir is None:
            jdir = None
        else:
            jdir = Path(journal_dir)
        engine = make_engine(url)
        create_tables(engine)
        store = cls(
            engine,
            jdir,
            flush_interval=flush_interval,
            batch_size=batch_size,
            recover_interval=recover_interval,
            fsync=fsync,
        )
        if jdir is not None:
            jdir.mkdir(parents=True, exist_ok=True)
            store.recover()
            if start_flusher:
                store._thread = threading.Thread(
                    target=store._run, name="event-flusher", daemon=True
                )
                store._thread.start()
        return store

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- hot path ------------------------------------------------------------------------------
    def record(self, event: PredictionEvent) -> None:
        """Make ``event`` durable against a crash of this process, then return."""
        self.record_many((event,))

    def record_many(self, events: Sequence[PredictionEvent]) -> None:
        """Several events with one ``write`` (the batch endpoint): all durable on return."""
        if not events:
            return
        if self._closed:
            raise RuntimeError("EventStore is closed")
        if os.getpid() != self._pid:
            raise RuntimeError("EventStore used after fork: open one store per process")
        if self.journal_dir is None:
            with self.engine.begin() as conn:
                insert_events(conn, events)
            return
        # Features encoded once (they are ~95 % of an event): the journal line embeds the text,
        # the flusher inserts the same text (see _json_dumps), instead of encoding them twice.
        events = [
            e if isinstance(e.features, msgspec.Raw)
            else msgspec.structs.replace(e, features=msgspec.Raw(_ENCODER.encode(e.features)))
            for e in events
        ]  # fmt: skip
        data = b"".join(_ENCODER.encode(e) + b"\n" for e in events)
        with self._lock:
            seg = self._current
            if seg is None:
                seg = self._current = self._new_segment()
            _write_all(seg.fd, data)
            if self.fsync:
                os.fsync(seg.fd)
            seg.events.extend(events)
            full = len(seg.events) >= self.batch_size
        if full:
            self._wake.set()

    def _new_segment(self) -> _Segment:
        """Create, lock, then publish a segment under its ``.jsonl`` name.

        Locking before the rename means a recovering process can never take a live segment for
        an orphan: it only ever sees ``*.jsonl`` files that are already locked.
        """
        assert self.journal_dir is not None
        self._seq += 1
        final = self.journal_dir / f"{self._writer}-{self._seq:08d}{SEGMENT_SUFFIX}"
        tmp = final.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(tmp, final)
        return _Segment(final, fd)

    # -- background flushing ---------------------------------------------------------------------
    def _run(self) -> None:
        last_recover = time.monotonic()
        while not self._stop.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            try:
                self.flush()
                if time.monotonic() - last_recover >= self.recover_interval:
                    last_recover = time.monotonic()
                    self.recover()
            except Exception:  # keep the thread alive; the events stay journaled and retry
                log.exception("event flush failed; will retry (events remain in the journal)")
                self._stop.wait(min(5.0, 4 * self.flush_interval))

    def flush(self) -> int:
        """Move every journaled event of this process into SQL now. Returns #events written.

        On a SQL error the segments stay on disk (and in memory) and the error propagates; the
        next flush or a later :meth:`recover` writes them.
        """
        with self._flush_lock:
            with self._lock:
                if self._current is not None:
                    self._sealed.append(self._current)
                    self._current = None
            written = 0
            while self._sealed:
                seg = self._sealed[0]
                with self.engine.begin() as conn:
                    insert_events(conn, seg.events)
                written += len(seg.events)
                seg.release(delete=True)
                self._sealed.pop(0)
            return written

    def recover(self) -> int:
        """Replay segments left by dead writers (their ``flock`` is free). Returns #events."""
        if self.journal_dir is None or not self.journal_dir.is_dir():
            return 0
        replayed = 0
        for path in sorted(self.journal_dir.glob(f"*{SEGMENT_SUFFIX}")):
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # flushed and deleted by its owner meanwhile
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live writer owns it
                if os.fstat(fd).st_nlink == 0:
                    continue  # another recoverer already replayed and deleted it
                events = _read_segment(fd, path)
                with self.engine.begin() as conn:
                    new = insert_events(conn, events)
                path.unlink(missing_ok=True)
                replayed += len(events)
                log.info("replayed %d journaled events (%d new) from %s", len(events), new, path)
            finally:
                os.close(fd)
        return replayed

    def close(self) -> None:
        """Stop the flusher and write what is left. Safe to call twice."""
        if self._closed:
            return
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        try:
            if self.journal_dir is not None:
                self.flush()
        finally:
            self._closed = True
            for seg in self._sealed:  # unflushable: keep on disk for the next recover()
                seg.release(delete=False)
            self._sealed.clear()
            self.engine.dispose()

    # -- reading ---------------------------------------------------------------------------------
    def read_events(
        self,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        *,
        endpoint: str | None = None,
        model_version: str | None = None,
    ) -> pd.DataFrame:
        """Events with ``since <= ts < until`` as a DataFrame (``features`` holds dicts).

        Reads what is in SQL: call :meth:`flush` first to include this process's last events.
        """
        import pandas as pd

        q = sa.select(EVENTS).order_by(EVENTS.c.ts, EVENTS.c.id)
        if since is not None:
            q = q.where(EVENTS.c.ts >= normalize_ts(since))
        if until is not None:
            q = q.where(EVENTS.c.ts < normalize_ts(until))
        if endpoint is not None:
            q = q.where(EVENTS.c.endpoint == endpoint)
        if model_version is not None:
            q = q.where(EVENTS.c.model_version == model_version)
        with self.engine.connect() as conn:
            rows = conn.execute(q).mappings().all()
        frame = pd.DataFrame([dict(r) for r in rows], columns=list(EVENT_COLUMNS))
        return frame.astype({"sk_id_curr": "Int64", "status_code": "int64"})

    def count_events(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar_one())

    def attach_labels(self, labels: pd.DataFrame | Iterable[Mapping[str, Any]]) -> int:
        """Store ground truth: rows with ``sk_id_curr``, ``label`` (0/1), optional
        ``request_id`` and ``ts``. Returns #rows stored.

        A later label for the same client (or request) supersedes an earlier one when read.
        """
        import pandas as pd

        frame = labels if isinstance(labels, pd.DataFrame) else pd.DataFrame(list(labels))
        rows = validate_labels(frame)
        if rows:
            with self.engine.begin() as conn:
                conn.execute(GROUND_TRUTH.insert(), rows)
        return len(rows)

    def read_labels(self) -> pd.DataFrame:
        """The latest label per (client, request): columns sk_id_curr, request_id, label, ts."""
        import pandas as pd

        q = sa.select(
            GROUND_TRUTH.c.sk_id_curr,
            GROUND_TRUTH.c.request_id,
            GROUND_TRUTH.c.label,
            GROUND_TRUTH.c.ts,
            GROUND_TRUTH.c.id,
        ).order_by(GROUND_TRUTH.c.ts, GROUND_TRUTH.c.id)
        with self.engine.connect() as conn:
            frame = pd.DataFrame(
                conn.execute(q).mappings().all(), columns=list(q.selected_columns.keys())
            )
        key = frame["request_id"].fillna("") + "|" + frame["sk_id_curr"].astype(str)
        frame = frame.loc[~key.duplicated(keep="last")]
        return frame.drop(columns="id").reset_index(drop=True)


def validate_labels(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Label rows ready to insert; raises ``ValueError`` naming the row and column at fault."""
    import pandas as pd

    for col in ("sk_id_curr", "label"):
        if col not in frame.columns:
            raise ValueError(f"labels: column {col!r} is required (got {list(frame.columns)})")
    now = utc_now_iso()
    out: list[dict[str, Any]] = []
    for i, rec in enumerate(frame.to_dict(orient="records")):
        label = rec["label"]
        if pd.isna(label) or float(label) not in (0.0, 1.0):
            raise ValueError(f"labels row {i}: label must be 0 or 1, got {label!r}")
        sk = rec["sk_id_curr"]
        if pd.isna(sk) or float(sk) != int(float(sk)):
            raise ValueError(f"labels row {i}: sk_id_curr must be an integer, got {sk!r}")
        req = rec.get("request_id")
        ts = rec.get("ts")
        out.append(
            {
                "sk_id_curr": int(float(sk)),
                "request_id": None if req is None or pd.isna(req) else str(req),
                "label": int(float(label)),
                "ts": now if ts is None or pd.isna(ts) else normalize_ts(ts),
            }
        )
    return out


def labelled_events(events: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Events that have ground truth, with a ``label`` column.

    A label carrying a ``request_id`` applies to that request only; a label without one applies
    to every event of that client (the usual case: default is observed per client).
    """
    import pandas as pd

    if events.empty or labels.empty:
        return events.iloc[0:0].assign(label=pd.Series(dtype="int64"))
    by_req = labels.dropna(subset=["request_id"])[["request_id", "label"]]
    by_client = labels.loc[labels["request_id"].isna(), ["sk_id_curr", "label"]]
    by_client = by_client.drop_duplicates("sk_id_curr", keep="last")
    out = events.merge(by_req.rename(columns={"label": "label_req"}), on="request_id", how="left")
    out = out.merge(
        by_client.rename(columns={"label": "label_client"}).astype({"sk_id_curr": "Int64"}),
        on="sk_id_curr",
        how="left",
    )
    out["label"] = out["label_req"].combine_first(out["label_client"])
    out = out.drop(columns=["label_req", "label_client"]).dropna(subset=["label"])
    return out.astype({"label": "int64"}).reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Measurement: the per-event cost the API pays (python -m scoring.events bench)
# --------------------------------------------------------------------------------------------
def _bench_worker(
    url: str, journal: str | None, n: int, n_features: int, pace: float, out: Any
) -> None:
    features = {f"F{j:03d}": 0.123456 * j for j in range(n_features)}
    store = EventStore.open(url, journal)
    costs = []
    for i in range(n):
        ev = PredictionEvent(
            request_id=f"{os.getpid()}-{i}",
            model_version="bench",
            endpoint="/v1/score",
            features=features,
            probability=0.1,
            decision="approved",
            threshold=0.3,
            latency_ms=1.0,
        )
        t0 = time.perf_counter()
        store.record(ev)
        costs.append(time.perf_counter() - t0)
        if pace:
            time.sleep(pace)  # requests arrive spaced out, as in a server; 0 = tight loop
    store.close()
    out.put(costs)


def benchmark(
    workdir: Path,
    *,
    n: int = 2000,
    processes: int = 2,
    n_features: int = 300,
    pace: float = 0.0,
) -> dict[str, dict[str, float]]:
    """Per-event ``record`` cost (µs) with ``processes`` writers at once, journal vs synchronous.

    Synchronous = one SQLite ``INSERT`` + ``COMMIT`` (WAL, synchronous=NORMAL) per event: the
    alternative design. Each writer records ``n`` events of ``n_features`` numeric features,
    ``pace`` seconds apart (0 = a tight loop, the worst case for the tail: writer and flusher
    thread then fight for the GIL).
    """
    import multiprocessing as mp

    import numpy as np

    results: dict[str, dict[str, float]] = {}
    for mode in ("journal", "sync"):
        db = workdir / f"bench-{mode}.db"
        url = f"sqlite:///{db}"
        journal = str(workdir / f"bench-{mode}.journal") if mode == "journal" else None
        EventStore.open(url, journal, start_flusher=False).close()  # create tables once
        queue: Any = mp.Queue()
        procs = [
            mp.Process(target=_bench_worker, args=(url, journal, n, n_features, pace, queue))
            for _ in range(processes)
        ]
        t0 = time.perf_counter()
        for p in procs:
            p.start()
        costs = np.concatenate([np.asarray(queue.get()) for _ in procs]) * 1e6
        for p in procs:
            p.join()
        wall = time.perf_counter() - t0
        with EventStore.open(url, None) as check:
            stored = check.count_events()
        results[mode] = {
            "median_us": float(np.median(costs)),
            "p99_us": float(np.percentile(costs, 99)),
            "mean_us": float(costs.mean()),
            "events": float(stored),
            "wall_s": wall,
        }
    return results


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """CLI: ``labels --csv labels.csv`` | ``stats`` | ``recover`` | ``bench``."""
    ap = argparse.ArgumentParser(
        prog="python -m scoring.events", description=__doc__.split("\n")[0]
    )
    ap.add_argument(
        "--url", default=None, help=f"SQLAlchemy URL (default ${ENV_URL} or {DEFAULT_URL})"
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    lab = sub.add_parser("labels", help="attach ground-truth labels from a CSV")
    lab.add_argument(
        "--csv", required=True, type=Path, help="columns sk_id_curr,label[,request_id,ts]"
    )
    sub.add_parser("stats", help="print event and label counts")
    sub.add_parser("recover", help="replay orphaned journal segments into SQL")
    bench = sub.add_parser("bench", help="measure the per-event record cost (temporary SQLite)")
    bench.add_argument("--n", type=int, default=2000, help="events per writer process")
    bench.add_argument("--processes", type=int, default=2, help="concurrent writers")
    bench.add_argument("--features", type=int, default=300, help="features per event")
    bench.add_argument("--pace-ms", type=float, default=0.0, help="pause between events")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.cmd == "bench":
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            res = benchmark(
                Path(tmp),
                n=args.n,
                processes=args.processes,
                n_features=args.features,
                pace=args.pace_ms / 1e3,
            )
        for mode, r in res.items():
            print(
                f"{mode:8s} median {r['median_us']:8.1f} µs  p99 {r['p99_us']:8.1f} µs  "
                f"mean {r['mean_us']:8.1f} µs  stored {int(r['events'])}  wall {r['wall_s']:.1f} s"
            )
        return 0
    store = EventStore.open(args.url, start_flusher=False)
    try:
        if args.cmd == "labels":
            import pandas as pd

            frame = pd.read_csv(args.csv)
            frame.columns = [c.strip().lower() for c in frame.columns]
            n = store.attach_labels(frame)
            print(f"attached {n} labels from {args.csv}")
        elif args.cmd == "stats":
            print(f"events: {store.count_events()}  labels: {len(store.read_labels())}")
        else:
            print(f"replayed {store.recover()} events")
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        with contextlib.suppress(Exception):
            store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
