"""Benchmark of ``POST /v1/score``: our API vs ``mlflow models serve`` vs in-process LightGBM.

    .venv/bin/python benchmarks/api_bench.py                  # default: 8 s per run
    .venv/bin/python benchmarks/api_bench.py --bundle models/bundle --duration 15

Two request modes, each measured at concurrency 1 and 32, with as many server workers as cores,
everything on 127.0.0.1:

- **plain**: an application the model approves — probability, threshold, decision;
- **reasons**: an application the model refuses, answered with 4 reason codes.

Three ways to serve the same bundle:

- **api**: ``python -m api`` (Litestar + uvicorn, events recorded to SQLite, JSON access logs,
  Prometheus) receiving the *raw* application: it computes the 952 features with the training
  code, encodes, predicts, attributes (path attribution; also measured with exact TreeSHAP,
  ``?attribution=treeshap``), records the event;
- **mlflow**: ``mlflow models serve --env-manager local`` on a pyfunc wrapping the same bundle
  (benchmarks/mlflow_model.py) receiving the ready-made *features* (``dataframe_split``);
  refusals get exact TreeSHAP reason codes;
- **in-process**: ``booster.predict`` (plain) and ``booster.predict(pred_contrib=True)``
  (reasons) on a pre-built numpy row, in a loop — the limit no server can beat. At c=32 it runs
  one loop per core.

Load: ``wrk`` when installed (closed loop, one connection per concurrent client), else the
Python generator of benchmarks/loadgen.py (it needs CPU itself: figures are then lower
bounds). Every run first checks the answer (decision, number of reason codes) and counts
non-2xx answers. Results: a table with ratios on stdout, ``benchmarks/out/api_bench.json`` and
``.md``. The bundle defaults to ``$BUNDLE_DIR`` or ``models/bundle``; without one, a large
bundle (952 features, 500 trees × 31 leaves, 48,744 known clients) is trained into
``benchmarks/out/bench-bundle`` (minutes, once) on the real application rows when present,
else on the project's synthetic data.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
BENCH_BUNDLE = OUT / "bench-bundle"
CONCURRENCY = (1, 32)
TARGETS = {
    "plain_rps_c32": 3000.0,
    "plain_p99_c1_ms": 5.0,
    "reasons_p99_c1_ms": 15.0,
    "vs_mlflow": 10.0,
}


@dataclass
class Run:
    """One measured configuration."""

    server: str  # api | api-treeshap | mlflow | in-process
    mode: str  # plain | reasons
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx answers + connection errors
    loadgen: str
    cpu_ms: float | None = None  # server CPU (all its processes) per request, measured


# --------------------------------------------------------------------------------------------
# Bundle and payloads
# --------------------------------------------------------------------------------------------
def resolve_bundle(arg: str | None) -> Path:
    """``--bundle``, else ``$BUNDLE_DIR``, else models/bundle, else the benchmark bundle.

    ``--bundle benchmarks/out/bench-bundle`` builds the large benchmark bundle if it is missing;
    any other missing ``--bundle`` is an error (never silently another model).
    """
    if arg:
        if (Path(arg) / "bundle.json").is_file():
            return Path(arg)
        if Path(arg).resolve() != BENCH_BUNDLE.resolve():
            raise SystemExit(f"error: no bundle at {arg}")
    else:
        for candidate in (os.environ.get("BUNDLE_DIR"), str(ROOT / "models" / "bundle")):
            if candidate and (Path(candidate) / "bundle.json").is_file():
                return Path(candidate)
    if not (BENCH_BUNDLE / "bundle.json").is_file():
        from tests.support.bundle_factory import build_test_bundle, real_data_available

        print(f"no bundle found: training the benchmark bundle into {BENCH_BUNDLE} ...")
        build_test_bundle(
            BENCH_BUNDLE,
            n_clients=48_744,
            n_train=None,
            num_trees=500,
            num_leaves=31,
            source="real" if real_data_available() else "synth",
        )
    return BENCH_BUNDLE


@dataclass
class Payloads:
    """Request bodies of both modes for the API (raw) and MLflow (features), and in-process rows."""

    api: dict[str, bytes]
    mlflow: dict[str, bytes]
    rows: dict[str, np.ndarray]
    ids: dict[str, int]


def build_payloads(bundle_dir: Path) -> Payloads:
    """An approved application and a refused one with 4 reason codes (both attributions).

    Candidates are the known clients' raw application columns from ``clients.parquet``, sent
    without history; their decision is computed in-process through the API's own path (the
    bundle's feature code, encode, predict), so the expectation holds for any bundle. MLflow
    receives the features the API computes for the same application, the in-process loop the
    encoded row: same model, same input, same decision everywhere.
    """
    import msgspec
    import pandas as pd

    from api.features import make_feature_computer
    from api.schemas import request_types
    from scoring.bundle import load_bundle
    from scoring.schema import APPLICATION_TEST, table_schema
    from tests.support.payloads import application_json

    b = load_bundle(bundle_dir)
    b.predict_params = {"num_threads": 1}
    computer = make_feature_computer(b)
    decoder = msgspec.json.Decoder(request_types().score_request)
    kaggle = [c.name for c in table_schema(APPLICATION_TEST).columns]
    clients = pd.read_parquet(bundle_dir / "clients.parquet").head(2000)
    chosen: dict[str, tuple[bytes, dict[str, Any], np.ndarray, int]] = {}
    path = None
    if b.booster is not None:
        from api.attribution import PathAttribution

        path = PathAttribution.from_booster(b.booster)
    for _, row in clients.iterrows():
        body = msgspec.json.encode(
            {"application": application_json({c: row.get(c) for c in kaggle if c in row})}
        )
        try:
            req = decoder.decode(body)
        except msgspec.ValidationError:
            continue
        application = msgspec.structs.asdict(cast(Any, req).application)
        feats = computer.compute(application, None)
        x = b.encode_record(feats)
        refused = b.decide(float(b.predict_proba(x)[0])) == "refused"
        sk = int(row["SK_ID_CURR"])
        if not refused and "plain" not in chosen:
            chosen["plain"] = (body, feats, x, sk)
        elif refused and "reasons" not in chosen:
            exact = b.reason_codes(x[0], b.contributions(x)[0])
            fast = exact
            if path is not None:
                leaves = b.booster.predict(x, pred_leaf=True, num_threads=1)
                fast = b.reason_codes(x[0], path.from_leaves(leaves)[0])
            if len(exact) == 4 and len(fast) == 4:
                chosen["reasons"] = (body, feats, x, sk)
        if len(chosen) == 2:
            break
    missing = {"plain", "reasons"} - set(chosen)
    if missing:
        raise SystemExit(f"error: no known client gives the {missing} mode(s) in {bundle_dir}")
    api: dict[str, bytes] = {}
    mlflow: dict[str, bytes] = {}
    rows: dict[str, np.ndarray] = {}
    ids: dict[str, int] = {}
    for mode, (body, feats, x, sk) in chosen.items():
        api[mode] = body
        data = [[_plain(feats.get(name)) for name in b.feature_names]]
        mlflow[mode] = msgspec.json.encode(
            {"dataframe_split": {"columns": b.feature_names, "data": data}}
        )
        rows[mode] = x
        ids[mode] = sk
    return Payloads(api, mlflow, rows, ids)


def _plain(v: Any) -> Any:
    """A JSON-ready scalar: None for missing, Python numbers, text as is."""
    if v is None or isinstance(v, str):
        return v
    x = float(v)
    return None if x != x else x


# --------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"error: server exited ({proc.returncode}) before {url} answered")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                return
        time.sleep(0.5)
    raise SystemExit(f"error: {url} did not answer within {timeout:.0f} s")


@contextlib.contextmanager
def serve(
    cmd: list[str], env: dict[str, str], ready_url: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a server (own process group), wait until ``ready_url`` answers 200, stop it after."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_http(ready_url, 600, proc)
            yield proc
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def save_mlflow_model(bundle_dir: Path, target: Path) -> Path:
    """Save the pyfunc model of ``bundle_dir`` into ``target`` (a temporary directory: a copy
    of mlflow_model.py under benchmarks/ would be type-checked twice by ``make lint``)."""
    import mlflow.pyfunc

    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "bundle"
        small.mkdir()
        for name in ("bundle.json", "model.txt", "linear.json"):
            if (bundle_dir / name).is_file():
                shutil.copy2(bundle_dir / name, small / name)
        mlflow.pyfunc.save_model(
            path=str(target),
            python_model=str(ROOT / "benchmarks" / "mlflow_model.py"),
            artifacts={"bundle": str(small)},
            pip_requirements=["mlflow==3.17.2", "lightgbm==4.7.0", "pandas<3", "numpy"],
        )
    return target


def session_cpu_seconds(sid: int) -> float:
    """User + system CPU seconds of every live process of session ``sid`` (the server and its
    workers: ``serve`` starts each server in a new session), from ``/proc/<pid>/stat``.

    CPU per request is what the server costs whatever else runs on the machine; req/s on a
    shared box is not.
    """
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[3]) == sid:  # field 6: session id
            total += (int(fields[11]) + int(fields[12])) / tick  # fields 14, 15: utime, stime
    return total


# --------------------------------------------------------------------------------------------
# Load
# --------------------------------------------------------------------------------------------
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("BENCH_BODY"), "rb"); wrk.body = f:read("*a"); f:close()
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "seconds": %f, "p50_us": %f, "p99_us": %f, "errors": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    e.status + e.connect + e.read + e.write + e.timeout))
end
"""


def check_answer(url: str, body: bytes, expect: Callable[[Any], bool]) -> None:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        answer = json.loads(r.read())
    if not expect(answer):
        raise SystemExit(f"error: unexpected answer from {url}: {json.dumps(answer)[:400]}")


def load(
    url: str,
    body: bytes,
    concurrency: int,
    duration: float,
    warmup: float,
    tool: str,
    sid: int | None = None,
) -> tuple[float, float, float, int, int, float | None]:
    """(req/s, p50 ms, p99 ms, requests, errors, server CPU ms/request) of one closed-loop run.

    The server's CPU is read around the measured part only (not the warm-up).
    """
    host, port, path = _split(url)
    if tool == "wrk":
        with tempfile.TemporaryDirectory() as tmp:
            script, body_file = Path(tmp) / "post.lua", Path(tmp) / "body.json"
            script.write_text(WRK_SCRIPT)
            body_file.write_bytes(body)
            env = {**os.environ, "BENCH_BODY": str(body_file)}
            threads = "1" if concurrency == 1 else "2"
            if warmup > 0:
                subprocess.run(
                    ["wrk", "-t1", f"-c{concurrency}", f"-d{warmup:.0f}s", "-s", str(script), url],
                    env=env, capture_output=True, check=True,
                )  # fmt: skip
            cpu0 = session_cpu_seconds(sid) if sid is not None else 0.0
            out = subprocess.run(
                ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{duration:.0f}s",
                 "--timeout", "10s", "-s", str(script), url],
                env=env, capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
        cpu = _cpu_per_request(sid, cpu0, 0)
        line = next(x for x in out.splitlines() if x.startswith("BENCH "))
        r = json.loads(line[6:])
        return (
            r["requests"] / r["seconds"],
            r["p50_us"] / 1e3,
            r["p99_us"] / 1e3,
            r["requests"],
            r["errors"],
            None if cpu is None else cpu / max(1, r["requests"]),
        )
    from loadgen import http_request, run_load  # this script's folder is on sys.path

    req = http_request("POST", path, body, host, port)
    if warmup > 0:
        run_load(host, port, [req], concurrency=concurrency, duration=warmup)
    cpu0 = session_cpu_seconds(sid) if sid is not None else 0.0
    res = run_load(host, port, [req], concurrency=concurrency, duration=duration)
    cpu = _cpu_per_request(sid, cpu0, 0)
    return (
        res.rps,
        res.percentile_ms(50),
        res.percentile_ms(99),
        res.n,
        res.non_2xx + res.errors,
        None if cpu is None else cpu / max(1, res.n),
    )


def _cpu_per_request(sid: int | None, before: float, _: int) -> float | None:
    """Server CPU milliseconds spent since ``before`` (``None`` without a session)."""
    return None if sid is None else (session_cpu_seconds(sid) - before) * 1e3


def _split(url: str) -> tuple[str, int, str]:
    rest = url.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    return host, int(port), "/" + path


# --------------------------------------------------------------------------------------------
# In-process limit
# --------------------------------------------------------------------------------------------
def _loop(args: tuple[str, str, np.ndarray, float]) -> tuple[int, list[float]]:
    model_file, mode, row, seconds = args
    import lightgbm as lgb

    booster = lgb.Booster(model_file=model_file)
    kw: dict[str, Any] = {"pred_contrib": True} if mode == "reasons" else {"raw_score": True}
    for _ in range(50):
        booster.predict(row, num_threads=1, **kw)
    lat: list[float] = []
    end = time.perf_counter() + seconds
    while (t0 := time.perf_counter()) < end:
        booster.predict(row, num_threads=1, **kw)
        lat.append(time.perf_counter() - t0)
    return len(lat), lat


def in_process_runs(
    model_file: Path, mode: str, row: np.ndarray, workers: int, seconds: float
) -> list[Run]:
    """One loop (c=1), then one loop per core (the c=32 equivalent) over a pre-built row."""
    out = []
    for concurrency, procs in ((1, 1), (32, workers)):
        args = [(str(model_file), mode, row, seconds)] * procs
        if procs == 1:
            results = [_loop(args[0])]
        else:
            with mp.get_context("spawn").Pool(procs) as pool:
                results = pool.map(_loop, args)
        lat = np.concatenate([np.asarray(r[1]) for r in results])
        n = sum(r[0] for r in results)
        out.append(
            Run(
                server="in-process",
                mode=mode,
                concurrency=concurrency,
                rps=n / seconds,
                p50_ms=float(np.percentile(lat, 50) * 1e3),
                p99_ms=float(np.percentile(lat, 99) * 1e3),
                requests=n,
                errors=0,
                loadgen=f"{procs} loop(s)",
            )
        )
    return out


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------
def usable_cores() -> int:
    return len(os.sched_getaffinity(0))


def measure(
    name: str, mode: str, url: str, body: bytes, c: int, args: argparse.Namespace, tool: str,
    sid: int,
) -> Run:  # fmt: skip
    """One run against a live server, printed as it completes."""
    rps, p50, p99, n, errors, cpu = load(url, body, c, args.duration, args.warmup, tool, sid)
    run = Run(name, mode, c, rps, p50, p99, n, errors, tool, cpu)
    cpu_text = "" if cpu is None else f"  server CPU {cpu:6.2f} ms/req"
    print(
        f"  {name:13s} {mode:8s} c={c:<3d} {rps:9.0f} req/s  p50 {p50:7.2f} ms  "
        f"p99 {p99:7.2f} ms  errors {errors}{cpu_text}",
        flush=True,
    )
    return run


def run_server_modes(
    name: str,
    url: str,
    bodies: dict[str, bytes],
    checks: dict[str, Callable[[Any], bool]],
    args: argparse.Namespace,
    tool: str,
    sid: int,
) -> list[Run]:
    runs = []
    for mode in ("plain", "reasons"):
        check_answer(url, bodies[mode], checks[mode])
        for c in CONCURRENCY:
            runs.append(measure(name, mode, url, bodies[mode], c, args, tool, sid))
    return runs


def table(runs: list[Run]) -> str:
    def find(server: str, mode: str, c: int) -> Run | None:
        return next(
            (r for r in runs if r.server == server and r.mode == mode and r.concurrency == c),
            None,
        )

    lines = [
        "| mode | c | server | req/s | p50 ms | p99 ms | errors | server CPU ms/req "
        "| api ÷ this (req/s) | this ÷ api (CPU/req) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mode in ("plain", "reasons"):
        for c in CONCURRENCY:
            api = find("api", mode, c)
            for server in ("api", "api-treeshap", "mlflow", "in-process"):
                r = find(server, mode, c)
                if r is None:
                    continue
                ratio = f"{api.rps / r.rps:.2f}×" if api and r.rps > 0 else "—"
                cpu = "—" if r.cpu_ms is None else f"{r.cpu_ms:.2f}"
                cpu_ratio = (
                    f"{r.cpu_ms / api.cpu_ms:.2f}×"
                    if api and api.cpu_ms and r.cpu_ms is not None
                    else "—"
                )
                lines.append(
                    f"| {mode} | {c} | {server} | {r.rps:,.0f} | {r.p50_ms:.2f} | "
                    f"{r.p99_ms:.2f} | {r.errors} | {cpu} | {ratio} | {cpu_ratio} |"
                )
    return "\n".join(lines)


def verdicts(runs: list[Run]) -> list[str]:
    def get(server: str, mode: str, c: int) -> Run | None:
        return next(
            (r for r in runs if r.server == server and r.mode == mode and r.concurrency == c),
            None,
        )

    out = []
    plain32, plain1 = get("api", "plain", 32), get("api", "plain", 1)
    reasons1 = get("api", "reasons", 1)
    if plain32:
        ok = plain32.rps >= TARGETS["plain_rps_c32"]
        out.append(f"plain, c=32: {plain32.rps:,.0f} req/s (target >= 3,000): {_pf(ok)}")
    if plain1:
        ok = plain1.p99_ms <= TARGETS["plain_p99_c1_ms"]
        out.append(f"plain, c=1: p99 {plain1.p99_ms:.2f} ms (target <= 5 ms): {_pf(ok)}")
    if reasons1:
        ok = reasons1.p99_ms <= TARGETS["reasons_p99_c1_ms"]
        out.append(f"reasons, c=1: p99 {reasons1.p99_ms:.2f} ms (target <= 15 ms): {_pf(ok)}")
    for mode in ("plain", "reasons"):
        for c in CONCURRENCY:
            a, m = get("api", mode, c), get("mlflow", mode, c)
            if a and m and m.rps > 0:
                ok = a.rps / m.rps >= TARGETS["vs_mlflow"]
                out.append(
                    f"{mode}, c={c}: api / mlflow = {a.rps / m.rps:.1f}× req/s "
                    f"(target >= 10×): {_pf(ok)}"
                )
            if a and m and a.cpu_ms and m.cpu_ms:
                out.append(
                    f"{mode}, c={c}: server CPU per request, mlflow / api = "
                    f"{m.cpu_ms / a.cpu_ms:.1f}× ({m.cpu_ms:.2f} vs {a.cpu_ms:.2f} ms)"
                )
    if plain32 and plain32.cpu_ms:
        ceiling = usable_cores() * 1e3 / plain32.cpu_ms
        out.append(
            f"plain: CPU-bound ceiling on {usable_cores()} otherwise idle cores = cores / server "
            f"CPU per request = {ceiling:,.0f} req/s (derived; the load generator's own CPU "
            "is not counted)"
        )
    return out


def _pf(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--bundle", default=None, help="bundle dir (default $BUNDLE_DIR or models/bundle)"
    )
    ap.add_argument("--duration", type=float, default=8.0, help="seconds measured per run")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per run")
    ap.add_argument("--workers", type=int, default=usable_cores(), help="server workers (cores)")
    ap.add_argument("--loadgen", choices=("auto", "wrk", "python"), default="auto")
    ap.add_argument("--skip-mlflow", action="store_true")
    args = ap.parse_args(argv)
    tool = args.loadgen
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "python"
    OUT.mkdir(parents=True, exist_ok=True)

    load_before = os.getloadavg()
    if load_before[0] > usable_cores():
        print(
            f"warning: load average {load_before[0]:.1f} on {usable_cores()} cores — other work "
            "is competing for the CPU; the figures below are lower bounds",
            flush=True,
        )
    bundle_dir = resolve_bundle(args.bundle)
    from scoring.bundle import load_bundle

    bundle = load_bundle(bundle_dir)
    payloads = build_payloads(bundle_dir)
    print(
        f"bundle {bundle_dir} — model {bundle.model_version}: {len(bundle.feature_names)} "
        f"features, {bundle.booster.num_trees() if bundle.booster else 0} trees; "
        f"clients {payloads.ids}; {args.workers} workers on {usable_cores()} cores; "
        f"load generator: {tool}; {args.duration:.0f} s per run after {args.warmup:.0f} s warm-up",
        flush=True,
    )
    runs: list[Run] = []

    print("in-process (booster.predict / pred_contrib on a numpy row):", flush=True)
    model_file = bundle_dir / "model.txt"
    for mode in ("plain", "reasons"):
        for r in in_process_runs(
            model_file, mode, payloads.rows[mode], args.workers, args.duration
        ):
            runs.append(r)
            print(
                f"  in-process    {mode:8s} c={r.concurrency:<3d} {r.rps:9.0f} calls/s  "
                f"p50 {r.p50_ms:7.3f} ms  p99 {r.p99_ms:7.3f} ms",
                flush=True,
            )

    print("api (python -m api):", flush=True)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "BUNDLE_DIR": str(bundle_dir),
            "EVENTS_URL": f"sqlite:///{tmp}/events.db",
        }
        base = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "api", "--port", str(port), "--workers", str(args.workers)]
        with serve(cmd, env, f"{base}/ready", OUT / "api_bench_server.log") as proc:
            checks = {
                "plain": lambda a: a["decision"] == "approved",
                "reasons": lambda a: a["decision"] == "refused" and len(a["reason_codes"]) == 4,
            }
            url = f"{base}/v1/score"
            runs += run_server_modes("api", url, payloads.api, checks, args, tool, proc.pid)
            exact_url, refusal = f"{url}?attribution=treeshap", payloads.api["reasons"]
            check_answer(exact_url, refusal, checks["reasons"])
            for c in CONCURRENCY:
                runs.append(
                    measure("api-treeshap", "reasons", exact_url, refusal, c, args, tool, proc.pid)
                )

    if not args.skip_mlflow:
        print("mlflow models serve --env-manager local (pyfunc on the same bundle):", flush=True)
        mlflow_tmp = tempfile.TemporaryDirectory(prefix="api-bench-mlflow-")
        model_dir = save_mlflow_model(bundle_dir, Path(mlflow_tmp.name) / "model")
        port = free_port()
        bin_dir = str(Path(sys.executable).parent)  # mlflow execs `uvicorn` from PATH
        env = {
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "OMP_NUM_THREADS": "1",
        }
        cmd = [
            str(Path(bin_dir) / "mlflow"), "models", "serve", "-m", str(model_dir),
            "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port),
            "-w", str(args.workers),
        ]  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        with serve(cmd, env, f"{base}/ping", OUT / "api_bench_mlflow.log") as proc:
            checks = {
                "plain": lambda a: a["predictions"][0]["decision"] == "approved",
                "reasons": lambda a: len(a["predictions"][0]["reason_codes"]) == 4,
            }
            runs += run_server_modes(
                "mlflow", f"{base}/invocations", payloads.mlflow, checks, args, tool, proc.pid
            )
        mlflow_tmp.cleanup()

    md = table(runs)
    lines = verdicts(runs)
    print("\n" + md + "\n")
    for line in lines:
        print(line)
    meta = {
        "bundle": str(bundle_dir),
        "model_version": bundle.model_version,
        "n_features": len(bundle.feature_names),
        "n_trees": bundle.booster.num_trees() if bundle.booster else None,
        "workers": args.workers,
        "cores": usable_cores(),
        "loadgen": tool,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "python": platform.python_version(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
    }
    (OUT / "api_bench.json").write_text(
        json.dumps({"meta": meta, "runs": [asdict(r) for r in runs], "verdicts": lines}, indent=1)
    )
    (OUT / "api_bench.md").write_text(md + "\n\n" + "\n".join(f"- {v}" for v in lines) + "\n")
    print(f"\nwritten: {OUT / 'api_bench.json'}, {OUT / 'api_bench.md'}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))  # run as a script: make tests.support and benchmarks importable
    sys.exit(main())
