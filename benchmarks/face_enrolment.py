"""`enrolment_through_agent_ms` of `shiming bench face`: one worker's enrolment end to end through the agent.

Set up once (not measured): a private pcscd + vpcd (benchmarks/virtual_devices.py; a development
and bench tool only: vpcd listens on all interfaces), a virtual resident ID card in slot 0, the
device agent (devices/agent/, the real threaded server) on 127.0.0.1 with a pairing token and a
video-file camera, and a throw-away SQLite platform database (migrated, demo data).

Measured per repeat, wall clock: POST /id-card/read over loopback HTTP; POST /face/capture with a
challenge drawn as the enrolment page draws it (domain.face.new_challenge), the camera file
showing a head that follows it (written before the clock starts); then the platform side of the
enrolment page's submit: the record from the card and the template, `domain.enrolment.start_enrolment`
in one transaction. Starting the Temporal enrolment workflow is not part of the figure
(`shiming bench registration` measures a process start). Each repeat's card holds another ID number.

When pcscd or vpcd is missing, or another pcscd holds its fixed socket for longer than `wait`
seconds, the figure is None and `reason` says why: never a made-up number.
"""
from __future__ import annotations

import base64
import json
import random
import statistics
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Optional
from uuid import uuid4

from sqlalchemy import select

from benchmarks.face_clips import challenge_frames, write_clip
from benchmarks.virtual_devices import SLOT_0, SLOT_1, Pcscd, PcscdError, VirtualIdCard, free_port_pair, \
    other_pcscd, wait_card_state
from devices import agent
from devices.id_card_reader import IDENTITY_FILE_ID, PcscCardReader
from devices.usb_key import PcscUsbKey
from domain import enrolment as enr
from domain import workforce
from domain.face import new_challenge
from domain.id_card import IdentityRecord, encode_text_block
from domain.models import Account, CompanyKind, Project
from domain.processes.enrolment import FaceConsent
from domain.rules import id_number_check_char

PLATFORM = "http://127.0.0.1:5000"
_TOKEN = "bench-pairing-token-" + uuid4().hex
BORN = date(1988, 4, 20)


@dataclass
class EnrolmentFigure:
    median_ms: Optional[float]
    reason: Optional[str] = None


def identity(sequence: int) -> IdentityRecord:
    body = f"450103{BORN:%Y%m%d}{sequence:03d}"
    return IdentityRecord(name="覃建国", gender="M" if sequence % 2 else "F", nation_code="02", birth_date=BORN,
                          address="广西壮族自治区南宁市青秀区民族大道100号", id_number=body + id_number_check_char(body),
                          issuer="南宁市公安局青秀分局", valid_from=date(2020, 5, 6), valid_to=date(2040, 5, 6))


def _services(home: Path):
    from domain.services import Services
    from domain.settings import Settings
    from shiming.db import migrate
    from shiming.seed import seed_demo

    settings = Settings.from_env(env="test", home=str(home), database_url=f"sqlite:///{home / 'bench.db'}",
                                 secret_key="bench-" + "x" * 40, pii_key="22" * 32, task_queue=f"bench-{uuid4()}")
    migrate(settings.database_url)
    services = Services.build(settings)
    seed_demo(services)
    with services.Session.begin() as session:
        project_id = session.scalar(select(Project.id).order_by(Project.id).limit(1))
        company = workforce.ensure_company(session, project_id, "广西测试劳务有限公司", "91450100MA5KAAAA1X",
                                           CompanyKind.LABOUR_COMPANY)
        team = workforce.ensure_team(session, project_id, company.id, "采集测试班组")
        actor_id = session.scalar(select(Account.id).where(Account.username == "project"))
        site = (project_id, company.id, team.id, actor_id)
    return services, site


def _post(port: int, path: str, body: dict) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Origin": PLATFORM, agent.TOKEN_HEADER: _TOKEN,
                                              "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"agent {path} refused: {exc.read()[:300]!r}") from None


def _wait_for_pcscd(wait: float) -> Optional[str]:
    deadline = time.monotonic() + wait
    while True:
        other = other_pcscd()
        if other is None:
            return None
        if time.monotonic() >= deadline:
            return (f"another pcscd ({'pid ' + str(other) if other > 0 else 'unknown pid'}) held "
                    f"/run/pcscd/pcscd.comm for {wait:.0f} s")
        time.sleep(1)


def measure(model_factory, frame, face, repeats: int, wait: float = 60) -> EnrolmentFigure:
    """Median ms of one worker's enrolment through the agent over `repeats` (after one warm-up)."""
    busy = _wait_for_pcscd(wait)
    if busy:
        return EnrolmentFigure(None, busy)
    with tempfile.TemporaryDirectory(prefix="shiming-bench-enrol-") as tmp:
        home = Path(tmp)
        daemon = Pcscd(home / "pcscd", free_port_pair())
        (home / "pcscd").mkdir()
        try:
            daemon.start()
        except PcscdError as exc:
            return EnrolmentFigure(None, f"no private pcscd + vpcd: {exc}")
        card = VirtualIdCard(daemon.port, encode_text_block(identity(0)))
        server = None
        try:
            card.insert()
            wait_card_state(SLOT_0, present=True)
            services, (project_id, company_id, team_id, actor_id) = _services(home)
            devices = agent.AgentDevices(PcscCardReader(SLOT_0), PcscUsbKey(SLOT_1), str(home / "none.avi"),
                                         model_factory, SLOT_0, SLOT_1)
            app = agent.create_agent_app(agent.AgentConfig((PLATFORM,), agent.token_digest(_TOKEN)), devices)
            server = agent.make_server(app, "127.0.0.1", 0)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            port, rng, times = server.server_port, random.SystemRandom(), []
            for i in range(repeats + 1):  # the first is a warm-up (the agent loads its face model)
                card.files[IDENTITY_FILE_ID] = encode_text_block(identity(i + 1))
                challenge = new_challenge(rng)
                devices.camera = str(write_clip(home / f"camera-{i}.avi", challenge_frames(frame, face, challenge)))
                start = time.perf_counter()
                card_read = _post(port, "/id-card/read", {})["identity"]
                captured = _post(port, "/face/capture", {"challenge": list(challenge)})
                record = enr.EnrolmentRecord(
                    name=card_read["name"], id_number=card_read["id_number"], phone="13800138000", trade="020",
                    company_id=company_id, team_id=team_id, emergency_contact_name="覃妻",
                    emergency_contact_phone="13900139001", contract_start=date(2026, 12, 1),
                    contract_end=date(2027, 11, 30), daily_rate_fen=35000, verified_by_card=True,
                    card_valid_to=date.fromisoformat(card_read["valid_to"]) if card_read["valid_to"] else None,
                    face_consent=FaceConsent.GIVEN, face_template=_template(captured["template"]))
                with services.Session.begin() as session:
                    enr.start_enrolment(session, services.cipher, project_id, session.get(Account, actor_id), record)
                if i:
                    times.append((time.perf_counter() - start) * 1000)
            return EnrolmentFigure(round(statistics.median(times), 2))
        finally:
            if server is not None:
                server.shutdown()
                server.server_close()
            card.remove()
            daemon.stop()


def _template(text: str) -> bytes:
    return base64.b64decode(text, validate=True)
