"""Every refusal code of every update reaches the person with its own message (issue 8, points 2, 11).

The real Temporal dev server, the real worker (workflows and activities, in this process, see
tests/web/live.py), the real TemporalBridge and the Flask app: each story brings a case to where
the process refuses, then acts through the page and reads the page it is sent to. The page must
show the code's own message (in zh_CN, the person's language), never the generic "the process
refused this action", and the web log must hold one line with the code and the case, no traceback.

Where the web's own checks make a code unreachable from a form (the process refuses what the page
already refuses, e.g. an empty reason), the story sends what a stale or tampered page would: the
page's input is altered at the boundary (`tamper`), everything behind it is real.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import sqlite3
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Optional

import pytest
from flask_babel import force_locale
from markupsafe import escape
from openpyxl import load_workbook
from sqlalchemy import select, update

from bank_connectors.keys import load_or_create_keys
from bank_connectors.signing import public_hex
from domain import registration as reg
from domain import signing
from domain import wage_account as wa
from domain import wage_table
from domain import worker_exit as wx
from domain.models import (
    Account,
    BankCard,
    HumanTask,
    Project,
    ProjectWorker,
    RegistrationApplication,
    RegistrationStatus,
    Role,
    WageAccount,
    WageLine,
    WageLineStatus,
    WageRun,
    utcnow,
)
from domain.passwords import hash_password
from shiming.seed_workforce import seed_workforce
from tests.bank_connectors.conftest import BankProcess
from tests.conftest import make_services
from tests.helpers.stack import TEST_PAYLOAD_KEY
from tests.helpers.waiting import poll
from tests.helpers.workflow_env import registration_data
from tests.web.conftest import create_payroll_specialist, enter_session, tiny_pdf, upload
from tests.web.live import LiveEngine
from web import create_app
from web.i18n import REFUSALS
from web.payroll.accounts import ACCEPT_REFUSALS
from web.payroll.routes import PAYROLL_REFUSALS
from web.project.routes import EXIT_ERRORS, EXIT_REFUSALS
from web.public.routes import CORRECTION_REFUSALS
from workflows.account_binding import BindingInput, BindingStatus, WageAccountBindingWorkflow
from workflows.registration import ClaimInput, ProjectRegistrationWorkflow, RegistrationInput
from workflows.wage_run import Step, WageRunInput, WageRunWorkflow
from workflows.worker_exit import WorkerExitWorkflow

pytestmark = pytest.mark.slow

MONTH = "2026-10"
WAGE_ACCOUNT = "6222020000012345678"
UNKNOWN_TO_BANK = "6222020000099990000"
WAGE_ACCOUNT_NAME = "示范项目农民工工资专用账户"
SECURITY = {"payroll_a": "Anquan2026a", "payroll_b": "Anquan2026b"}
GENERIC = "流程拒绝了此操作"


# ---- the live platform ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("refusals-live")


@pytest.fixture(scope="module")
def bank(home):
    """The reference bank: knows the project's wage account and trusts the platform's signing key."""
    platform = load_or_create_keys(home / "platform" / "platform_keys")
    ledger = home / "ledger.json"
    ledger.write_text(json.dumps({
        "accounts": [{"number": WAGE_ACCOUNT, "name": WAGE_ACCOUNT_NAME, "kind": "wage", "status": "open"}],
        "cards": [], "platform_keys": [public_hex(platform.signing.public_key())]}, ensure_ascii=False))
    process = BankProcess(home / "bank", "--ledger", str(ledger))
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def services(home, bank):
    svc = make_services(home / "platform", bank_url=bank.url, payload_keys=TEST_PAYLOAD_KEY)
    yield svc
    svc.engine.dispose()


@pytest.fixture(scope="module")
def engine(services):
    live = LiveEngine(services)
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(scope="module")
def app(services, engine):
    return create_app(services, engine.bridge(), {"TESTING": True, "WTF_CSRF_ENABLED": False})


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def web_log(caplog):
    caplog.set_level(logging.INFO, logger="shiming")
    return caplog


def expected(app, code: str, *tables) -> str:
    """The code's own message in zh_CN, as the page escapes it."""
    with app.test_request_context(), force_locale("zh_CN"):
        for table in (*tables, REFUSALS):
            if code in table:
                return str(escape(str(table[code])))
    raise AssertionError(f"no message for {code}")


def flashes(page: str) -> str:
    start = page.find('id="flashes"')
    return page[start:page.find("</div>\n", start) + 2000] if start >= 0 else ""


def assert_refused(app, page: str, log, code: str, case: str, *tables) -> None:
    """The page shows the code's own message, not the generic one; the web logged one line with
    the code and the case, and no traceback."""
    message = expected(app, code, *tables)
    assert message in page, (code, flashes(page) or page[:3000])
    if str(escape(str(REFUSALS["Refused"]))) != message:
        assert GENERIC not in page, (code, flashes(page))
    lines = [r for r in log.records if r.name.startswith("shiming.web") and r.getMessage().startswith(
        f"process refused {code}: case {case}")]
    assert len(lines) == 1, [r.getMessage() for r in log.records if r.name.startswith("shiming.web")]
    assert lines[0].exc_info is None and lines[0].levelno == logging.INFO
    assert "Traceback" not in log.text


def login(client, services, username: str):
    enter_session(client, services, username)


def post(client, url: str, data: Optional[dict] = None, **kwargs) -> str:
    response = client.post(url, data=data or {}, follow_redirects=True, **kwargs)
    assert response.status_code in (200, 422), (url, response.status_code)
    return response.get_data(as_text=True)


@contextmanager
def held_database(services):
    """Hold SQLite's write lock: an activity that writes waits (busy timeout), so its update stays
    in progress, as when the database is slow."""
    path = services.settings.database_url.removeprefix("sqlite:///")
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def pending_activity(engine, workflow_id: str) -> bool:
    async def probe(client):
        desc = await client.get_workflow_handle(workflow_id).describe()
        return bool(desc.raw_description.pending_activities)

    return engine.run(probe)


def in_background(fn) -> threading.Thread:
    errors: list = []

    def target():
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - kept for the assertion below
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.errors = errors
    thread.start()
    return thread


def account_id(services, username: str) -> int:
    with services.Session() as db:
        return db.scalar(select(Account.id).where(Account.username == username))


# ---- registration: claim, unclaim, decide, resubmit -----------------------------------------------


def start_registration(services, engine, name: str) -> dict:
    with services.Session.begin() as db:
        app_row, token = reg.create_application(db, services.cipher, registration_data(db, name=name))
        case = {"id": app_row.id, "number": app_row.number, "workflow_id": app_row.workflow_id, "token": token}
    engine.run(lambda c: c.start_workflow(ProjectRegistrationWorkflow.run, RegistrationInput(case["id"], case["number"]),
                                          id=case["workflow_id"], task_queue=engine.task_queue))
    case["task_id"] = current_task(engine, case["workflow_id"], round=1)
    return case


def current_task(engine, workflow_id: str, round: int = 1) -> int:
    async def status(client):
        return await client.get_workflow_handle(workflow_id).query(ProjectRegistrationWorkflow.status)

    view = poll(lambda: (lambda v: v if v.round == round and v.task_id and v.status == "in_review" else None)(
        engine.run(status)), f"review round {round}")
    return view.task_id


def bureau(client, services, username: str, task_id: int, action: str, reason: str = "") -> str:
    login(client, services, username)
    return post(client, f"/bureau/task/{task_id}/{action}", {"task_id": str(task_id), "reason": reason})


def return_and_resubmit(client, services, engine, case) -> int:
    """Round 1 is returned for correction and the applicant resubmits: round 2 opens."""
    bureau(client, services, "reviewer", case["task_id"], "claim")
    bureau(client, services, "reviewer", case["task_id"], "return", "请补充盖章扫描件")
    correction_id, revision = save_correction(services, case, "更正后的项目名称")
    engine.run(lambda c: c.get_workflow_handle(case["workflow_id"]).execute_update(
        ProjectRegistrationWorkflow.resubmit, __import__("workflows.registration", fromlist=["x"]).ResubmitInput(
            correction_id, revision)))
    return current_task(engine, case["workflow_id"], round=2)


def save_correction(services, case, name: str) -> tuple[int, int]:
    with services.Session.begin() as db:
        app_row = db.get(RegistrationApplication, case["id"])
        data = reg.data_of(app_row, services.cipher)
        data.name = name
        correction = reg.save_correction(db, services.cipher, app_row, data, None)
        return correction.id, correction.base_revision


def test_registration_claim_and_decide_refusals(app, client, services, engine, web_log):
    case = start_registration(services, engine, "拒绝测试安置房项目一")
    wid, task = case["workflow_id"], case["task_id"]

    page = bureau(client, services, "reviewer", task, "approve")
    assert_refused(app, page, web_log, "NotClaimed", wid)
    web_log.clear()

    bureau(client, services, "reviewer", task, "claim")
    page = bureau(client, services, "reviewer2", task, "claim")
    assert_refused(app, page, web_log, "AlreadyClaimed", wid)
    web_log.clear()

    page = bureau(client, services, "reviewer2", task, "unclaim")
    assert_refused(app, page, web_log, "NotClaimant", wid)
    web_log.clear()

    page = bureau(client, services, "reviewer2", task, "approve")
    assert_refused(app, page, web_log, "NotClaimant", wid)
    web_log.clear()

    with tamper("web.bureau.routes.DECISIONS", {"approve": "bogus", "reject": "reject", "return": "return_for_correction"}):
        page = bureau(client, services, "reviewer", task, "approve")
    assert_refused(app, page, web_log, "BadDecision", wid)
    web_log.clear()

    with tamper_call("web.bureau.routes.DecideInput", lambda orig, *a: orig(a[0], a[1], a[2], "  ")):
        page = bureau(client, services, "reviewer", task, "reject", "不符合要求")
    assert_refused(app, page, web_log, "ReasonRequired", wid)
    web_log.clear()

    # the reviewer's first decision is under way (its activity waits for the database): a second is Busy
    with held_database(services):
        first = in_background(lambda: engine.run(lambda c: c.get_workflow_handle(wid).execute_update(
            ProjectRegistrationWorkflow.unclaim, ClaimInput(account_id(services, "reviewer"), task))))
        poll(lambda: pending_activity(engine, wid), "the unclaim's activity")
        page = bureau(client, services, "reviewer", task, "approve")
    first.join(60)
    assert not first.errors
    assert_refused(app, page, web_log, "Busy", wid)
    web_log.clear()

    # a stale page: the case was returned and resubmitted; the old task is no longer the case's task
    bureau(client, services, "reviewer", task, "claim")
    bureau(client, services, "reviewer", task, "return", "请补充盖章扫描件")
    page = bureau(client, services, "reviewer", task, "claim")
    assert_refused(app, page, web_log, "NotInReview", wid)
    web_log.clear()


class tamper:
    """Replace a module attribute the page uses while the block runs."""

    def __init__(self, target: str, value):
        module, _, self.name = target.rpartition(".")
        self.module = __import__(module, fromlist=[self.name])
        self.value = value

    def __enter__(self):
        self.saved = getattr(self.module, self.name)
        setattr(self.module, self.name, self.value)
        return self

    def __exit__(self, *exc):
        setattr(self.module, self.name, self.saved)


class tamper_call(tamper):
    """Wrap a callable the page uses: `fn(original, *args, **kwargs)` runs instead."""

    def __enter__(self):
        self.saved = getattr(self.module, self.name)
        original, fn = self.saved, self.value
        setattr(self.module, self.name, lambda *a, **k: fn(original, *a, **k))
        return self


def through_wrapper(app, call, *tables) -> str:
    """What a page's call wrapper flashes for `call` (the real bridge), in zh_CN: for the codes no
    form can provoke because the page checks the same first (a race between two people)."""
    from flask import get_flashed_messages

    from web.core import call_process

    with app.test_request_context("/"), force_locale("zh_CN"):
        ok, _result = call_process(lambda: call(app.extensions["shiming"]["bridge"]), *tables)
        assert not ok
        return " ".join(str(escape(m)) for m in get_flashed_messages())


def correction_form(revision: int, name: str) -> dict:
    from tests.web.conftest import registration_form

    with_district = registration_form(name=name, contact_phone="", revision=str(revision))
    return with_district


def test_registration_resubmit_stale_and_finished_refusals(app, client, services, engine, web_log):
    from workflows.registration import ResubmitInput

    case = start_registration(services, engine, "拒绝测试安置房项目二")
    wid, task1 = case["workflow_id"], case["task_id"]
    with services.Session() as db:
        district_id = db.get(RegistrationApplication, case["id"]).district_id
    bureau(client, services, "reviewer", task1, "claim")
    bureau(client, services, "reviewer", task1, "return", "请补充盖章扫描件")
    stale_correction, _rev = save_correction(services, case, "一份没有提交的更正")  # based on revision 1
    url = f"/register/{case['token']}/correct"
    form = dict(correction_form(1, "更正后的项目名称"), district_id=str(district_id))

    with tamper_call("web.public.routes.ResubmitInput", lambda orig, cid, rev: orig(cid, rev + 5)):
        page = post(client, url, form)
    assert_refused(app, page, web_log, "StaleForm", wid)
    web_log.clear()

    with tamper_call("web.public.routes.ResubmitInput", lambda orig, cid, rev: orig(999_999, rev)):
        page = post(client, url, form)
    assert_refused(app, page, web_log, "unknown_correction", wid, CORRECTION_REFUSALS)
    web_log.clear()

    other = start_registration(services, engine, "另一份申请")
    with services.Session.begin() as db:
        db.get(RegistrationApplication, other["id"]).status = RegistrationStatus.RETURNED
    foreign, _r = save_correction(services, other, "另一份申请的更正")
    with tamper_call("web.public.routes.ResubmitInput", lambda orig, cid, rev: orig(foreign, rev)):
        page = post(client, url, form)
    assert_refused(app, page, web_log, "WrongApplication", wid, CORRECTION_REFUSALS)
    web_log.clear()

    # Busy: a resubmission is being applied (its activity waits for the database) when another arrives
    good, revision = save_correction(services, case, "更正后的项目名称")
    with held_database(services):
        first = in_background(lambda: engine.run(lambda c: c.get_workflow_handle(wid).execute_update(
            ProjectRegistrationWorkflow.resubmit, ResubmitInput(good, revision))))
        poll(lambda: pending_activity(engine, wid), "the resubmission's activity")
        text = through_wrapper(app, lambda b: b.update(wid, ProjectRegistrationWorkflow.resubmit,
                                                        ResubmitInput(good, revision)), CORRECTION_REFUSALS)
    first.join(60)
    assert not first.errors
    assert expected(app, "Busy") in text and GENERIC not in text
    web_log.clear()
    task2 = current_task(engine, wid, round=2)

    # the database still says "returned" (a second tab), the process is reviewing round 2
    with services.Session.begin() as db:
        db.get(RegistrationApplication, case["id"]).status = RegistrationStatus.RETURNED
    page = post(client, url, dict(form, revision=str(revision + 1)))
    assert_refused(app, page, web_log, "NotReturned", wid)
    web_log.clear()
    with services.Session.begin() as db:
        db.get(RegistrationApplication, case["id"]).status = RegistrationStatus.IN_REVIEW

    page = bureau(client, services, "reviewer", task1, "claim")  # the round-1 page, still open
    assert_refused(app, page, web_log, "StaleTask", wid)
    web_log.clear()

    # an account the process does not know (on the other case: a refused claim leaves its claimant set)
    text = through_wrapper(app, lambda b: b.update(other["workflow_id"], ProjectRegistrationWorkflow.claim,
                                                    ClaimInput(999_999, other["task_id"])))
    assert expected(app, "UnknownActor") in text and GENERIC not in text
    web_log.clear()

    # round 2 returned too; the never-submitted correction of round 1 is stale now
    bureau(client, services, "reviewer", task2, "claim")
    bureau(client, services, "reviewer", task2, "return", "仍需补充")
    with tamper_call("web.public.routes.ResubmitInput", lambda orig, cid, rev: orig(stale_correction, rev)):
        page = post(client, url, dict(form, revision=str(revision + 1)))
    assert_refused(app, page, web_log, "stale_correction", wid, CORRECTION_REFUSALS)
    web_log.clear()

    # finished: approved, the process has completed; the reviewer's old page acts on it
    good2, rev2 = save_correction(services, case, "第二次更正")
    engine.run(lambda c: c.get_workflow_handle(wid).execute_update(ProjectRegistrationWorkflow.resubmit,
                                                                     ResubmitInput(good2, rev2)))
    task3 = current_task(engine, wid, round=3)
    bureau(client, services, "reviewer", task3, "claim")
    bureau(client, services, "reviewer", task3, "approve")
    poll(lambda: engine.run(lambda c: c.get_workflow_handle(wid).describe()).status.name == "COMPLETED",
         "the registration to complete")
    page = bureau(client, services, "reviewer", task3, "unclaim")
    assert_refused(app, page, web_log, "CaseFinished", wid)
