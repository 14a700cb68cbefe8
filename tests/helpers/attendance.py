"""Attendance test data and a device's side of the signed API: a project with admitted workers
(the demo workforce, admitted), registered devices through the domain, and signed requests built
with the platform's own canonical string (domain/processes/attendance.py)."""
from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Optional

from sqlalchemy import select, update

from domain import attendance_devices as devices
from domain.models import Account, Project, ProjectWorker, utcnow
from domain.processes.attendance import API_PREFIX, DeviceKind, DeviceProtocol, signed_headers
from domain.services import Services
from shiming.seed import DEMO_ACCOUNTS
from shiming.seed_workforce import seed_workforce

PUNCHES_PATH = f"{API_PREFIX}/punches"
GAPS_PATH = f"{API_PREFIX}/gaps"
CHINA = timezone(timedelta(hours=8))
PASSWORDS = {username: password for username, password, *_rest in DEMO_ACCOUNTS}


@dataclass
class Site:
    project_id: int
    worker_ids: list[int]  # admitted on the project
    actor: devices.Actor  # the project account (labour specialist)


def site(services: Services, workers: int = 5) -> Site:
    """The demo project with `workers` demo workers, all admitted."""
    with services.Session.begin() as db:
        project_id = db.scalar(select(Project.id).order_by(Project.id).limit(1))
    seed_workforce(services, project_id, workers=workers, month="2026-10")
    with services.Session.begin() as db:
        db.execute(update(ProjectWorker).where(ProjectWorker.project_id == project_id).values(admitted_at=utcnow()))
        worker_ids = list(db.scalars(select(ProjectWorker.worker_id).where(ProjectWorker.project_id == project_id)
                                     .order_by(ProjectWorker.id)))
        account = db.scalar(select(Account).where(Account.username == "project"))
        return Site(project_id, worker_ids, devices.Actor(account.id, account.display_name, "127.0.0.1"))


def register(services: Services, s: Site, serial: str, protocol: str = DeviceProtocol.API,
             sources: str = "") -> Optional[str]:
    """Register a device; its secret (None for ZKTeco)."""
    with services.Session.begin() as db:
        _device, secret = devices.register_device(db, services.cipher, s.actor, project_id=s.project_id,
                                                  serial=serial, kind=DeviceKind.GATE, protocol=protocol,
                                                  allowed_sources=sources)
    return secret


def item(seq: int, worker_id: int, at: datetime, direction: str = "in", serial: Optional[str] = None, **extra) -> dict:
    doc = {"seq": seq, "worker_id": worker_id, "time": at.isoformat(), "direction": direction,
           "match_score": 900, "photo": None, "photo_sha256": None}
    if serial:
        doc["device"] = serial
    doc.update(extra)
    return doc


def body_of(items: list) -> bytes:
    return json.dumps({"punches": items}).encode()


def headers(serial: str, secret: str, method: str, path: str, body: bytes, *, timestamp: Optional[int] = None,
            nonce: Optional[str] = None) -> dict:
    return signed_headers(serial, secret, method, path, body,
                          timestamp=int(time.time()) if timestamp is None else timestamp,
                          nonce=nonce or secrets.token_hex(16))


def post_punches(client, serial: str, secret: str, items: list, **signing):
    """POST a signed batch through a Flask test client."""
    body = body_of(items)
    return client.post(PUNCHES_PATH, data=body, content_type="application/json",
                       headers=headers(serial, secret, "POST", PUNCHES_PATH, body, **signing))


def get_gaps(client, serial: str, secret: str):
    return client.get(GAPS_PATH, headers=headers(serial, secret, "GET", GAPS_PATH, b""))


def now_local() -> datetime:
    return datetime.now(CHINA).replace(microsecond=0)
