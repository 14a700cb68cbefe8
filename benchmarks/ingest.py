"""`shiming bench ingest`: punches per second through the signed punch API, against a raw
`executemany` of the same rows into the same table and indexes.

Setup (not measured): a temporary home with SQLite (or `--database-url`), demo data, W admitted
workers, T registered devices, and `shiming web` as its own process on a free loopback port.
Measured: T simulated terminals upload N punches in all, concurrently, in signed batches of B over
real loopback HTTP (one connection per terminal), each batch answered only after its commit. Every
answer is checked: all N stored, none rejected.
Baseline in the same run and database: the same rows (as ingest writes them, for T other devices)
inserted with the DB-API cursor's `executemany`, one transaction per batch of B, by T threads.
With `--rounds R` the two alternate R times (new devices each round) and the medians are taken.
One JSON line: both rates, per round and median, and the ratio of the medians (target ≥ 0.5).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional

from sqlalchemy import func, select, update

from domain import attendance_devices as devices
from domain.models import Account, Project, ProjectWorker, Punch, utcnow
from domain.processes.attendance import (
    API_PREFIX,
    MAX_BATCH_ITEMS,
    DeviceKind,
    DeviceProtocol,
    PunchChannel,
    signed_headers,
    skew_flagged,
    skew_seconds,
)
from domain.punches import dedupe_key, device_instant
from domain.services import Services
from domain.settings import Settings
from shiming.db import migrate
from shiming.processes import ProcessGroup, free_port, http_ok, shiming_argv, wait_for
from shiming.seed import seed_demo
from shiming.seed_workforce import seed_workforce

PUNCHES_PATH = f"{API_PREFIX}/punches"
KEYS = {"SHIMING_SECRET_KEY": "bench-" + "x" * 40, "SHIMING_PII_KEY": "44" * 32, "SHIMING_AUDIT_KEY": "55" * 32}
CHINA = timezone(timedelta(hours=8))
BUSY_RESENDS = 5


class LoopbackDevice:
    """A terminal's side of the API over one HTTP connection (reopened when the server closes it)."""

    def __init__(self, host: str, port: int, serial: str, secret: str):
        self.host, self.port, self.serial, self.secret = host, port, serial, secret
        self._conn: Optional[http.client.HTTPConnection] = None

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, dict]:
        headers = signed_headers(self.serial, self.secret, method, path, body, timestamp=int(time.time()),
                                 nonce=secrets.token_hex(16))
        headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            conn = self._conn or http.client.HTTPConnection(self.host, self.port, timeout=120)
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (ConnectionError, http.client.HTTPException):
                conn.close()
                self._conn = None
                if attempt == 2:
                    raise
                continue  # the server closed a kept-alive connection before this request: a new one
            self._conn = None if response.getheader("Connection", "").lower() == "close" else conn
            if self._conn is None:
                conn.close()
            return response.status, json.loads(data)
        raise AssertionError("unreachable")

    def post_punches(self, items: list[dict]) -> tuple[int, dict]:
        """POST one batch; a `busy` answer (503: nothing stored) is sent again after its Retry-After,
        as a terminal does."""
        body = json.dumps({"punches": items}).encode()
        for _ in range(BUSY_RESENDS):
            status, answer = self.request("POST", PUNCHES_PATH, body)
            if status != 503:
                break
            time.sleep(1)
        return status, answer

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def batches_of(serial_index: int, per_device: int, batch: int, workers: list[int], start: datetime) -> list[list[dict]]:
    items = [{"seq": seq, "worker_id": workers[(serial_index + seq) % len(workers)],
              "time": (start + timedelta(seconds=30 * seq)).isoformat(), "direction": "in" if seq % 2 else "out",
              "match_score": 870, "photo": None, "photo_sha256": None} for seq in range(1, per_device + 1)]
    return [items[i:i + batch] for i in range(0, len(items), batch)]


def _services(home: Path, database_url: Optional[str]) -> Services:
    settings = Settings.from_env(env="test", home=str(home), database_url=database_url or f"sqlite:///{home / 'bench.db'}",
                                 secret_key=KEYS["SHIMING_SECRET_KEY"], pii_key=KEYS["SHIMING_PII_KEY"],
                                 audit_key=KEYS["SHIMING_AUDIT_KEY"])
    migrate(settings.database_url)
    services = Services.build(settings)
    seed_demo(services)
    return services


def _devices(services: Services, project_id: int, prefix: str, count: int) -> list[tuple[int, str, str]]:
    """(id, serial, secret) of `count` new API devices."""
    with services.Session.begin() as db:
        account = db.scalar(select(Account).where(Account.username == "project"))
        actor = devices.Actor(account.id, account.display_name, "127.0.0.1")
        made = [devices.register_device(db, services.cipher, actor, project_id=project_id, serial=f"{prefix}-{i:03d}",
                                        kind=DeviceKind.GATE, protocol=DeviceProtocol.API) for i in range(count)]
        db.flush()
        return [(d.id, d.serial, secret) for d, secret in made]


def _prepare(services: Services, workers: int) -> tuple[int, list[int]]:
    with services.Session.begin() as db:
        project_id = db.scalar(select(Project.id).order_by(Project.id).limit(1))
    seed_workforce(services, project_id, workers=workers, month="2026-10")
    with services.Session.begin() as db:
        db.execute(update(ProjectWorker).where(ProjectWorker.project_id == project_id).values(admitted_at=utcnow()))
        return project_id, list(db.scalars(select(ProjectWorker.worker_id).where(ProjectWorker.project_id == project_id)))


def _start_web(home: Path, services: Services, group: ProcessGroup) -> int:
    port = free_port()
    env = dict(os.environ, SHIMING_ENV="test", SHIMING_HOME=str(home), PYTHONUNBUFFERED="1",
               SHIMING_DATABASE_URL=services.settings.database_url, SHIMING_PUBLIC_URL=f"http://127.0.0.1:{port}",
               SHIMING_TEMPORAL_ADDRESS=f"127.0.0.1:{free_port()}", **KEYS)  # the device API needs no Temporal
    proc = group.start("web", shiming_argv("web", "--port", str(port)), env, home / "web.log")
    wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/login"), 60, "web app", proc)
    return port


def _upload(port: int, devs: list[tuple[int, str, str]], plans: list[list[list[dict]]]) -> tuple[float, dict]:
    """All terminals at once; (seconds, summed answer counts). A refused batch stops the run."""
    totals = {"stored": 0, "duplicates": 0, "quarantined": 0, "rejected": 0, "requests": 0}
    lock = threading.Lock()

    def terminal(index: int) -> None:
        device = LoopbackDevice("127.0.0.1", port, devs[index][1], devs[index][2])
        try:
            for batch in plans[index]:
                status, answer = device.post_punches(batch)
                if status != 200:
                    raise RuntimeError(f"batch refused: {status} {answer}")
                with lock:
                    totals["requests"] += 1
                    for key in ("stored", "duplicates", "quarantined", "rejected"):
                        totals[key] += answer[key]
        finally:
            device.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(devs)) as pool:
        for future in [pool.submit(terminal, i) for i in range(len(devs))]:
            future.result()
    return time.perf_counter() - started, totals


def _rows(device_id: int, serial: str, batch: list[dict], project_id: int, received: datetime) -> list[tuple]:
    """The rows ingest writes for a batch, as the tuple of `COLUMNS`."""
    out = []
    for item in batch:
        at = device_instant(datetime.fromisoformat(item["time"]))
        skew = skew_seconds(at, received)
        out.append((dedupe_key(device_id, item["seq"]), project_id, item["worker_id"], item["direction"], at, serial,
                    item["match_score"], received, device_id, item["seq"], at, skew, skew_flagged(skew),
                    PunchChannel.API.value, None, None))
    return out


COLUMNS = ("dedupe_key", "project_id", "worker_id", "direction", "punched_at", "device_code", "match_score",
           "created_at", "device_id", "device_seq", "device_time", "skew_seconds", "skew_flagged", "channel",
           "photo_file_id", "photo_sha256")


def _raw_executemany(services: Services, devs: list[tuple[int, str, str]], plans: list[list[list[dict]]],
                     project_id: int) -> float:
    """The same rows through the DB-API cursor, one transaction per batch, one thread per device."""
    mark = "?" if services.engine.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO punch ({', '.join(COLUMNS)}) VALUES ({', '.join([mark] * len(COLUMNS))})"

    def device(index: int) -> None:
        device_id, serial, _secret = devs[index]
        conn = services.engine.raw_connection()
        try:
            for batch in plans[index]:
                cursor = conn.cursor()
                cursor.executemany(sql, _rows(device_id, serial, batch, project_id, utcnow()))
                cursor.close()
                conn.commit()
        finally:
            conn.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(devs)) as pool:
        for future in [pool.submit(device, i) for i in range(len(devs))]:
            future.result()
    return time.perf_counter() - started


def _round(services: Services, port: int, project_id: int, plans: list[list[list[dict]]], n: int) -> dict:
    """One round: the API upload with new devices, then the raw baseline with others."""
    api_devs = _devices(services, project_id, f"BENCH-API-{n}", len(plans))
    raw_devs = _devices(services, project_id, f"BENCH-RAW-{n}", len(plans))
    api_s, totals = _upload(port, api_devs, plans)
    raw_s = _raw_executemany(services, raw_devs, plans, project_id)
    with services.Session() as db:
        rows = db.scalar(select(func.count()).select_from(Punch).where(Punch.device_id.in_([d[0] for d in api_devs])))
    return {"api_s": api_s, "raw_s": raw_s, "rows": rows, **totals}


def run(punches: int, batch: int, terminals: int, workers: int, rounds: int, database_url: Optional[str],
        home: Path) -> dict:
    services = _services(home, database_url)
    group = ProcessGroup()
    try:
        project_id, worker_ids = _prepare(services, workers)
        per_device = punches // terminals
        start = datetime.now(CHINA).replace(microsecond=0) - timedelta(hours=1)
        plans = [batches_of(i, per_device, batch, worker_ids, start) for i in range(terminals)]
        port = _start_web(home, services, group)
        results = [_round(services, port, project_id, plans, n) for n in range(rounds)]
    finally:
        group.stop_all()
        services.engine.dispose()
    total = per_device * terminals
    api = [total / r["api_s"] for r in results]
    raw = [total / r["raw_s"] for r in results]
    return {"bench": "ingest", "punches": total, "batch": batch, "terminals": terminals, "workers": workers,
            "rounds": rounds, "database": services.engine.dialect.name,
            "requests": sum(r["requests"] for r in results), "stored": sum(r["stored"] for r in results),
            "rejected": sum(r["rejected"] for r in results), "rows_in_db": sum(r["rows"] for r in results),
            "api_punches_per_s": round(statistics.median(api), 1), "raw_punches_per_s": round(statistics.median(raw), 1),
            "api_rounds": [round(x, 1) for x in api], "raw_rounds": [round(x, 1) for x in raw],
            "ratio": round(statistics.median(api) / statistics.median(raw), 3)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="shiming bench ingest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--punches", type=int, default=20_000, help="punches in all (default 20000)")
    parser.add_argument("--batch", type=int, default=200, help=f"punches per request (at most {MAX_BATCH_ITEMS})")
    parser.add_argument("--terminals", type=int, default=4, help="terminals uploading at once (default 4)")
    parser.add_argument("--workers", type=int, default=50, help="admitted workers the punches name")
    parser.add_argument("--rounds", type=int, default=1, help="API and baseline rounds, alternating; medians")
    parser.add_argument("--database-url",
                        help="an empty database instead of a temporary SQLite file (migrated and seeded)")
    args = parser.parse_args(argv)
    if not 1 <= args.batch <= MAX_BATCH_ITEMS or args.terminals < 1 or args.rounds < 1 \
            or args.punches < args.terminals:
        parser.error("need 1 <= batch <= %d, terminals >= 1 and punches >= terminals" % MAX_BATCH_ITEMS)
    with tempfile.TemporaryDirectory(prefix="shiming-bench-ingest-") as tmp:
        figures = run(args.punches, args.batch, args.terminals, args.workers, args.rounds, args.database_url,
                      Path(tmp))
    print(json.dumps(figures))
    return 0
