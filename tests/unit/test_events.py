"""The prediction-event store keeps every acknowledged event, cheaply, even through ``kill -9``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scoring.events import EventStore, PredictionEvent, labelled_events
from scoring.events import main as events_cli

REPO = Path(__file__).resolve().parents[2]


def _event(i: int, **kw: object) -> PredictionEvent:
    base: dict[str, object] = {
        "request_id": f"req-{i}",
        "model_version": "abc123",
        "endpoint": "/v1/score",
        "features": {"EXT_SOURCE_2": 0.1 * (i % 10), "NAME_CONTRACT_TYPE": "Cash loans"},
        "probability": 0.01 * (i % 100),
        "decision": "approved" if i % 3 else "refused",
        "threshold": 0.3,
        "latency_ms": 2.5,
        "sk_id_curr": 100000 + i,
    }
    base.update(kw)
    return PredictionEvent(**base)  # type: ignore[arg-type]


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'events.db'}"


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    ev = _event(
        7,
        features={"A": np.float64(1.5), "B": None, "C": float("nan"), "D": np.int64(3)},
        sk_id_curr=np.int64(100007),
    )
    with EventStore.open(_url(tmp_path), tmp_path / "journal") as store:
        store.record(ev)
        store.record(_event(8, probability=None, decision=None, status_code=422, error="bad"))
        store.flush()
        df = store.read_events()
    assert set(df["request_id"]) == {"req-7", "req-8"}
    row = df.set_index("request_id").loc["req-7"]
    assert row["features"] == {"A": 1.5, "B": None, "C": None, "D": 3}  # NaN stored as null
    assert row["sk_id_curr"] == 100007 and row["decision"] == ev.decision
    assert row["ts"] == ev.ts and row["model_version"] == "abc123"
    failed = df.set_index("request_id").loc["req-8"]
    assert failed["status_code"] == 422 and pd.isna(failed["probability"])
    assert failed["error"] == "bad"


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    with EventStore.open(_url(tmp_path), tmp_path / "j") as store, store.engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_window_filter_by_time(tmp_path: Path) -> None:
    with EventStore.open(_url(tmp_path), tmp_path / "j") as store:
        for i, ts in enumerate(["2026-01-01T10:00:00Z", "2026-01-02T10:00:00Z", "2026-01-03"]):
            store.record(_event(i, ts=pd.Timestamp(ts).isoformat()))
        # timestamps given by callers in other formats are normalised on the way in
        store.flush()
        got = store.read_events(since="2026-01-02", until="2026-01-03")
    assert list(got["request_id"]) == ["req-1"]


def test_events_are_in_sql_without_explicit_flush(tmp_path: Path) -> None:
    """The background thread batches the journal into SQL on its own."""
    with EventStore.open(_url(tmp_path), tmp_path / "j", flush_interval=0.05) as store:
        for i in range(20):
            store.record(_event(i))
        deadline = time.monotonic() + 5
        while store.count_events() < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert store.count_events() == 20
        assert not list((tmp_path / "j").glob("*.jsonl"))  # flushed segments are deleted


def test_record_is_much_cheaper_than_a_millisecond(tmp_path: Path) -> None:
    """Scoring must not slow down noticeably: the median ``record`` stays well under 1 ms."""
    events = [_event(i) for i in range(400)]
    with EventStore.open(_url(tmp_path), tmp_path / "j") as store:
        costs = []
        for ev in events:
            t0 = time.perf_counter()
            store.record(ev)
            costs.append(time.perf_counter() - t0)
    assert float(np.median(costs)) < 0.5e-3


def test_no_journal_mode_inserts_synchronously() -> None:
    with EventStore.open("sqlite://", journal_dir=None) as store:
        store.record(_event(1))
        assert store.count_events() == 1


CHILD = textwrap.dedent(
    """
    import sys, time
    from scoring.events import EventStore, PredictionEvent
    url, journal, tag, interval = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    batch = 7 if interval < 1 else 10**9
    store = EventStore.open(url, journal, flush_interval=interval, batch_size=batch)
    i = 0
    while True:
        store.record(PredictionEvent(
            request_id=f"{tag}-{i}", model_version="v", endpoint="/v1/score",
            features={"x": i}, probability=0.5, decision="approved", threshold=0.3,
            latency_ms=1.0))
        print(f"ack {i}", flush=True)
        i += 1
        time.sleep(0.0005)
    """
)


def _spawn(
    url: str, journal: Path, tag: str, flush_interval: float = 0.01
) -> subprocess.Popen[str]:
    """A writer process; a long ``flush_interval`` keeps every event in the journal only."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, url, str(journal), tag, str(flush_interval)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


def _kill_after(proc: subprocess.Popen[str], n_acks: int) -> list[int]:
    """Read acks until ``n_acks``, SIGKILL mid-stream, then drain the acks already printed."""
    assert proc.stdout is not None
    acked: list[int] = []
    for line in proc.stdout:
        acked.append(int(line.split()[1]))
        if len(acked) >= n_acks:
            os.kill(proc.pid, signal.SIGKILL)
            break
    acked += [int(line.split()[1]) for line in proc.stdout if line.startswith("ack ")]
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    return acked


@pytest.mark.parametrize(
    "flush_interval",
    [
        pytest.param(0.01, id="flusher-running"),  # most events already in SQL at the kill
        pytest.param(3600.0, id="journal-only"),  # every event only in the journal at the kill
    ],
)
def test_kill_9_loses_no_acknowledged_event(tmp_path: Path, flush_interval: float) -> None:
    url, journal = _url(tmp_path), tmp_path / "journal"
    acked = _kill_after(_spawn(url, journal, "a", flush_interval), 300)
    before = EventStore.open(url, None)
    in_sql_before = before.count_events()
    before.close()
    if flush_interval > 1:
        assert in_sql_before == 0 and list(journal.glob("*.jsonl"))
    else:
        assert in_sql_before > 0
    with EventStore.open(url, journal, start_flusher=False) as store:
        ids = set(store.read_events()["request_id"])
    missing = {f"a-{i}" for i in acked} - ids
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:5]}"
    assert not list(journal.glob("*.jsonl"))  # the orphan segments were replayed and removed


def test_two_concurrent_writers_one_killed(tmp_path: Path) -> None:
    """Two worker processes share the store; one dies, the other keeps going, nothing is lost
    or duplicated once the store is reopened."""
    url, journal = _url(tmp_path), tmp_path / "journal"
    survivor, victim = _spawn(url, journal, "s"), _spawn(url, journal, "v")
    acked_victim = _kill_after(victim, 150)
    acked_survivor = _kill_after(survivor, 150)  # then the survivor dies too
    with EventStore.open(url, journal, start_flusher=False) as store:
        df = store.read_events()
    assert df["id"].is_unique
    ids = set(df["request_id"])
    assert {f"v-{i}" for i in acked_victim} <= ids
    assert {f"s-{i}" for i in acked_survivor} <= ids


def test_live_segment_is_never_taken_for_an_orphan(tmp_path: Path) -> None:
    """A second store's recovery must not steal (and delete) a running writer's segment."""
    url, journal = _url(tmp_path), tmp_path / "j"
    with EventStore.open(url, journal, start_flusher=False) as writer:
        writer.record(_event(1))
        with EventStore.open(url, journal, start_flusher=False) as other:
            assert other.recover() == 0
        assert len(list(journal.glob("*.jsonl"))) == 1
        writer.record(_event(2))
    with EventStore.open(url, journal, start_flusher=False) as store:
        assert set(store.read_events()["request_id"]) == {"req-1", "req-2"}


def test_labels_attach_and_join(tmp_path: Path) -> None:
    with EventStore.open(_url(tmp_path), tmp_path / "j") as store:
        for i in range(4):
            store.record(_event(i))
        store.flush()
        store.attach_labels(
            [
                {"sk_id_curr": 100000, "label": 1},
                {"sk_id_curr": 100001, "label": 0},
                {"sk_id_curr": 100001, "label": 1},  # a later correction wins
                {"sk_id_curr": 999, "label": 0, "request_id": "req-3"},
            ]
        )
        got = labelled_events(store.read_events(), store.read_labels()).set_index("request_id")
    assert got["label"].to_dict() == {"req-0": 1, "req-1": 1, "req-3": 0}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"sk_id_curr": 1, "label": 2}], "label must be 0 or 1"),
        ([{"sk_id_curr": 1.5, "label": 1}], "sk_id_curr must be an integer"),
        ([{"label": 1}], "'sk_id_curr' is required"),
    ],
)
def test_bad_labels_are_refused_with_the_row(
    tmp_path: Path, rows: list[dict[str, object]], message: str
) -> None:
    with EventStore.open(_url(tmp_path), None) as store, pytest.raises(ValueError, match=message):
        store.attach_labels(rows)


def test_labels_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "labels.csv"
    csv.write_text("SK_ID_CURR,TARGET_LABEL\n1,1\n", encoding="utf-8")
    url = _url(tmp_path)
    assert events_cli(["--url", url, "labels", "--csv", str(csv)]) == 2
    assert "'label' is required" in capsys.readouterr().err
    csv.write_text("sk_id_curr,label\n1,1\n2,0\n", encoding="utf-8")
    assert events_cli(["--url", url, "labels", "--csv", str(csv)]) == 0
    assert "attached 2 labels" in capsys.readouterr().out
    with EventStore.open(url, None) as store:
        assert sorted(store.read_labels()["sk_id_curr"]) == [1, 2]


def test_postgresql_statements_compile() -> None:
    """No PostgreSQL server here: at least the DDL and the idempotent insert must be valid SQL
    for that dialect (JSONB features, ON CONFLICT DO NOTHING on the event id)."""
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql

    from scoring.events import EVENTS, METADATA

    dialect = postgresql.dialect()
    ddl = str(sa.schema.CreateTable(EVENTS, if_not_exists=True).compile(dialect=dialect))
    assert "CREATE TABLE IF NOT EXISTS prediction_events" in ddl and "JSONB" in ddl
    for table in METADATA.sorted_tables:
        str(sa.schema.CreateTable(table).compile(dialect=dialect))
    ins = postgresql.insert(EVENTS).on_conflict_do_nothing(index_elements=["id"])
    assert "ON CONFLICT (id) DO NOTHING" in str(ins.compile(dialect=dialect))
