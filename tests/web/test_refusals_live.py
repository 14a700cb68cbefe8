"""Every refusal code of every update reaches the person with its own message (issue 8, points 2, 11).

The real Temporal dev server, the real worker (workflows and activities, in this process, see
tests/helpers/live.py), the real TemporalBridge and the Flask app: each story brings a case to where
the process refuses, then acts through the page and reads the page it is sent to. The page must
show the code's own message (in zh_CN, the person's language), never the generic "the process
refused this action", and the web log must hold one line with the code and the case, no traceback.

Where the web's own checks make a code unreachable from a form (the process refuses what the page
already refuses, e.g. an empty reason), the story sends what a stale or tampered page would: the
page's input is altered at the boundary (`tamper`), everything behind it is real.
"""
from __future__ import annotations

import dataclasses
import io
import json
import logging
import random
import sqlite3
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Optional

import pytest
from flask_babel import force_locale
from markupsafe import escape
from openpyxl import load_workbook
from sqlalchemy import func, select, update

from bank_connectors.keys import load_or_create_keys
from bank_connectors.signing import public_hex
from domain import registration as reg
from domain import signing
from domain import wage_account as wa
from domain.processes import account_binding as ab
from domain import wage_table
from domain import worker_exit as wx
from domain.models import (
    Account,
    BankCard,
    Project,
    ProjectWorker,
    RegistrationApplication,
    RegistrationStatus,
    Role,
    WageAccount,
    WageLine,
    WageLineStatus,
    WageRun,
    Worker,
    utcnow,
)
from domain.passwords import hash_password
from domain.rules import mask_card_number
from shiming.seed_workforce import generate_card_number, seed_workforce
from tests.helpers.bank_process import BankProcess
from tests.helpers.services import make_services
from tests.helpers.stack import TEST_PAYLOAD_KEY
from tests.helpers.waiting import poll
from tests.helpers.workflow_env import registration_data
from tests.helpers.web_app import PASSWORDS as DEMO_PASSWORDS
from tests.helpers.web_app import enter_session, tiny_pdf, upload
from tests.helpers.wage_scenario import (
    MONTH, SECURITY_PASSWORDS, WAGE_ACCOUNT, WAGE_ACCOUNT_NAME, create_payroll_specialist, demo_project_id,
    signed_step, wage_account,
)
from tests.helpers.live import LiveEngine
from activities.refusal import is_business_refusal
from web import create_app
from web.refusals import (
    ACCEPT_REFUSALS,
    CORRECTION_REFUSALS,
    EXIT_ERRORS,
    EXIT_REFUSALS,
    PAYROLL_REFUSALS,
    REFUSALS,
)
from domain.processes.account_binding import BindingInput, BindingStatus
from workflows.account_binding import WageAccountBindingWorkflow
from domain.processes.registration import ClaimInput, RegistrationInput
from workflows.registration import ProjectRegistrationWorkflow
from workflows.wage_run import WageRunWorkflow
from domain.processes.wage_run import Step, WageRunInput
from workflows.worker_exit import WorkerExitWorkflow

pytestmark = pytest.mark.slow

UNKNOWN_TO_BANK = "6222020000099990000"
SECOND_ACCOUNT = "6222020000077770000"  # the second project's, being bound
SECURITY = SECURITY_PASSWORDS
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
        "accounts": [{"number": WAGE_ACCOUNT, "name": WAGE_ACCOUNT_NAME, "kind": "wage", "status": "open"},
                     {"number": SECOND_ACCOUNT, "name": WAGE_ACCOUNT_NAME, "kind": "wage", "status": "open"}],
        "cards": [], "platform_keys": [public_hex(platform.signing.public_key())]}, ensure_ascii=False))
    process = BankProcess(home / "bank", "--ledger", str(ledger))
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def services(home, bank):
    svc = make_services(home / "platform", bank_url=bank.url, payload_keys=TEST_PAYLOAD_KEY,
                        bank_keys_file=str(bank.keys_file))  # the bank's keys, pinned
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


def assert_refused(app, page: str, log, code: str, case: str, *tables) -> None:
    """The page shows the code's own message, not the generic one; the web logged one line with
    the code and the case, and no traceback."""
    message = expected(app, code, *tables)
    assert message in page, (code, page[page.find('id="flashes"'):][:1500] or page[:3000])
    if str(escape(str(REFUSALS["Refused"]))) != message:
        assert GENERIC not in page, code
    lines = [r for r in log.records if r.name.startswith("shiming.web") and r.getMessage().startswith(
        f"process refused {code}: case {case}")]
    assert len(lines) == 1, [r.getMessage() for r in log.records if r.name.startswith("shiming.web")]
    assert lines[0].exc_info is None and lines[0].levelno == logging.INFO
    web = [r for r in log.records if r.name.startswith("shiming.web")]
    assert not [r for r in web if r.exc_info], [r.getMessage() for r in web if r.exc_info]
    refusal_tracebacks = [r for r in log.records if r.exc_info and is_business_refusal(r.exc_info[1])]
    assert not refusal_tracebacks, [(r.name, r.getMessage()) for r in refusal_tracebacks]


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


def save_correction(services, case, name: str) -> tuple[int, int]:
    with services.Session.begin() as db:
        app_row = db.get(RegistrationApplication, case["id"])
        data = reg.data_of(app_row, services.cipher)
        data.name = name
        correction = reg.save_correction(db, services.cipher, app_row, data, None)
        return correction.id, correction.base_revision


def test_registration_claim_and_decide_refusals(app, client, services, engine, web_log):
    web_log.set_level(logging.INFO)  # the worker's loggers too
    case = start_registration(services, engine, "拒绝测试安置房项目一")
    wid, task = case["workflow_id"], case["task_id"]

    page = bureau(client, services, "reviewer", task, "approve")
    assert_refused(app, page, web_log, "NotClaimed", wid)
    # the validator's refusal in the worker's log: one INFO line with code and case
    validator = [r for r in web_log.records if r.name == "temporalio.workflow"
                 and r.getMessage().startswith(f"refused NotClaimed: case {wid}")]
    assert len(validator) == 1 and validator[0].levelno == logging.INFO and not validator[0].exc_info
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
        ok, _result, _code = call_process(lambda: call(app.extensions["shiming"]["bridge"]), *tables)
        assert not ok
        return " ".join(str(escape(m)) for m in get_flashed_messages())


def correction_form(revision: int, name: str) -> dict:
    from tests.helpers.web_app import registration_form

    return registration_form(name=name, contact_phone="", revision=str(revision))  # empty phone: keep it


def test_registration_resubmit_stale_and_finished_refusals(app, client, services, engine, web_log):
    from domain.processes.registration import ResubmitInput

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

    # an account the process does not know: refused by the claim's activity, and the case stays in
    # the queue (the real reviewer's claim right after must succeed)
    text = through_wrapper(app, lambda b: b.update(wid, ProjectRegistrationWorkflow.claim,
                                                    ClaimInput(999_999, task2)))
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


# ---- wage run: the four signed steps, re-issue, settle --------------------------------------------

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
def payroll(services):
    """Workforce of the demo project for MONTH, its bound wage account (known to the bank), one the
    bank does not know, and two payroll specialists with security passwords."""
    project_id = demo_project_id(services)
    seed_workforce(services, project_id, workers=3, month=MONTH)
    accounts = {"bound": wage_account(services, project_id, WAGE_ACCOUNT, WAGE_ACCOUNT_NAME, "bound"),
                "unknown": wage_account(services, project_id, UNKNOWN_TO_BANK, WAGE_ACCOUNT_NAME, "refused")}
    ids = {u: create_payroll_specialist(services, u, project_id, security_password=p) for u, p in SECURITY.items()}
    return {"project_id": project_id, "accounts": ids, "wage_accounts": accounts}


def new_run(services, engine, payroll, story: str, wage_account: str = "bound") -> dict:
    with services.Session.begin() as db:
        run = WageRun(project_id=payroll["project_id"], month=MONTH, workflow_id=f"wage-run-refusals-{story}",
                      wage_account_id=payroll["wage_accounts"][wage_account])
        db.add(run)
        db.flush()
        run_id, wid = run.id, run.workflow_id
    engine.run(lambda c: c.start_workflow(WageRunWorkflow.run, WageRunInput(run_id, maker_checker=True), id=wid,
                                          task_queue=engine.task_queue))
    return {"id": run_id, "workflow_id": wid}


def prefilled_table(services, payroll, bad: bool = False) -> bytes:
    with services.Session() as db:
        data = wage_table.prefill_xlsx(db, services.cipher, payroll["project_id"], MONTH)
    if not bad:
        return data
    wb = load_workbook(io.BytesIO(data))
    wb.active["I2"] = "一千元"  # 实发: not an amount
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def as_specialist(client, services, username: str):
    enter_session(client, services, username)


def send_table(client, run, data: bytes, username="payroll_a") -> str:
    return post(client, f"/payroll/run/{run['id']}/wage-table",
                {"table": upload(data, "table.xlsx"), "security_password": SECURITY[username]},
                content_type="multipart/form-data")


def send_sheet(client, run, username="payroll_a") -> str:
    return post(client, f"/payroll/run/{run['id']}/signed-sheet",
                {"sheet": upload(tiny_pdf(), "sheet.pdf"), "security_password": SECURITY[username]},
                content_type="multipart/form-data")


def send_bank_file(client, run, version: int, username="payroll_b") -> str:
    return post(client, f"/payroll/run/{run['id']}/wage-file",
                {"batch_version": str(version), "security_password": SECURITY[username]})


def run_step(engine, run) -> str:
    return engine.run(lambda c: c.get_workflow_handle(run["workflow_id"]).query(WageRunWorkflow.status)).step


def flipped(signature: str) -> str:
    return ("1" if signature[0] != "1" else "2") + signature[1:]


def bad_signature(orig, *args, **kwargs):
    inp = orig(*args, **kwargs)
    return dataclasses.replace(inp, signature=flipped(inp.signature))


def lines_of(services, run) -> list[WageLine]:
    with services.Session() as db:
        return list(db.scalars(select(WageLine).where(WageLine.run_id == run["id"]).order_by(WageLine.seq)))


def worker_refusals(log, code: str, case: str) -> list[logging.LogRecord]:
    return [r for r in log.records if r.name == "shiming.refusal"
            and r.getMessage().startswith(f"refused {code}: case {case}")]


def assert_worker_logged_one_line(log, code: str, case: str) -> None:
    """Point 11 on the worker's side: one INFO line (code, case), no SDK warning, no traceback."""
    assert len(worker_refusals(log, code, case)) == 1, [r.getMessage() for r in log.records]
    noisy = [r for r in log.records if r.name.startswith("temporalio") and (r.exc_info or r.levelno >= logging.WARNING)]
    assert not noisy, [(r.name, r.getMessage()) for r in noisy]
    assert "Traceback" not in log.text


def test_wage_table_and_signed_sheet_refusals(app, client, services, engine, payroll, web_log):
    web_log.set_level(logging.INFO)  # the SDK's loggers too
    run = new_run(services, engine, payroll, "steps")
    wid = run["workflow_id"]
    as_specialist(client, services, "payroll_a")

    page = send_table(client, run, prefilled_table(services, payroll, bad=True))
    assert_refused(app, page, web_log, "WageTableInvalid", wid, PAYROLL_REFUSALS)
    with app.test_request_context(), force_locale("zh_CN"):
        from flask_babel import gettext
        hint = gettext("An error report is ready for download on this page.")
    assert str(escape(hint)) in page and 'id="download-error-report"' in page
    assert client.get(f"/payroll/run/{run['id']}/errors.xlsx").status_code == 200
    assert_worker_logged_one_line(web_log, "WageTableInvalid", wid)
    web_log.clear()

    with tamper_call("web.payroll.steps._step_input", bad_signature):
        page = send_table(client, run, prefilled_table(services, payroll))
    assert_refused(app, page, web_log, "SignatureRefused", wid, PAYROLL_REFUSALS)
    assert_worker_logged_one_line(web_log, "SignatureRefused", wid)
    web_log.clear()

    send_table(client, run, prefilled_table(services, payroll))
    assert run_step(engine, run) == Step.SIGNED_SHEET
    web_log.clear()

    page = send_table(client, run, prefilled_table(services, payroll))
    assert_refused(app, page, web_log, "WrongStep", wid, PAYROLL_REFUSALS)
    web_log.clear()

    # every line already settled otherwise (another tab): nothing for the bank file
    with services.Session.begin() as db:
        db.execute(update(WageLine).where(WageLine.run_id == run["id"]).values(status=WageLineStatus.SETTLED))
    page = send_sheet(client, run)
    assert_refused(app, page, web_log, "EmptyBatch", wid, PAYROLL_REFUSALS)
    assert_worker_logged_one_line(web_log, "EmptyBatch", wid)
    assert_still_at_signed_sheet(services, engine, run)
    web_log.clear()
    with services.Session.begin() as db:
        db.execute(update(WageLine).where(WageLine.run_id == run["id"]).values(status=WageLineStatus.PENDING))

    # a worker's payroll card was withdrawn meanwhile
    first = lines_of(services, run)[0]
    with services.Session.begin() as db:
        card = db.scalar(select(BankCard).where(BankCard.worker_id == first.worker_id, BankCard.is_current.is_(True)))
        card.is_current = False
        card_id = card.id
    page = send_sheet(client, run)
    assert_refused(app, page, web_log, "MissingCard", wid, PAYROLL_REFUSALS)
    assert_still_at_signed_sheet(services, engine, run)
    web_log.clear()
    with services.Session.begin() as db:
        db.get(BankCard, card_id).is_current = True

    with tamper_call("web.payroll.steps._step_input", bad_signature):
        page = send_sheet(client, run)
    assert_refused(app, page, web_log, "SignatureRefused", wid, PAYROLL_REFUSALS)
    web_log.clear()


def assert_still_at_signed_sheet(services, engine, run) -> None:
    """A refused step 2 writes nothing: the database and the process both still wait for the sheet."""
    from domain.models import WageRun, WageStepSignature

    assert run_step(engine, run) == Step.SIGNED_SHEET
    with services.Session() as db:
        assert db.get(WageRun, run["id"]).step == "signed_sheet"
        assert db.scalar(select(func.count()).select_from(WageStepSignature).where(
            WageStepSignature.run_id == run["id"], WageStepSignature.step == "signed_sheet")) == 0


def to_bank_file_step(client, services, engine, payroll, run):
    as_specialist(client, services, "payroll_a")
    send_table(client, run, prefilled_table(services, payroll))
    send_sheet(client, run)
    assert run_step(engine, run) == Step.WAGE_FILE, run_step(engine, run)
    return engine.run(lambda c: c.get_workflow_handle(run["workflow_id"]).query(WageRunWorkflow.status)).batch


def test_bank_file_reissue_and_settle_refusals(app, client, services, engine, payroll, bank, web_log):
    run = new_run(services, engine, payroll, "bank")
    wid = run["workflow_id"]
    batch = to_bank_file_step(client, services, engine, payroll, run)
    web_log.clear()

    page = send_bank_file(client, run, batch.version, username="payroll_a")  # the table's uploader
    assert_refused(app, page, web_log, "MakerChecker", wid, PAYROLL_REFUSALS)
    web_log.clear()

    as_specialist(client, services, "payroll_b")
    with tamper_call("web.payroll.steps._step_input",
                     lambda orig, *a, **k: dataclasses.replace(orig(*a, **k), content_sha256="00" * 32)):
        page = send_bank_file(client, run, batch.version)
    assert_refused(app, page, web_log, "StaleBatch", wid, PAYROLL_REFUSALS)
    web_log.clear()

    with tamper_call("web.payroll.steps._step_input", bad_signature):
        page = send_bank_file(client, run, batch.version)
    assert_refused(app, page, web_log, "SignatureRefused", wid, PAYROLL_REFUSALS)
    web_log.clear()

    page = post(client, f"/payroll/run/{run['id']}/reissue")
    assert_refused(app, page, web_log, "WrongStep", wid, PAYROLL_REFUSALS)
    web_log.clear()

    line = lines_of(services, run)[0]
    page = post(client, f"/payroll/run/{run['id']}/line/{line.id}/settle",
                {"reason": "已现金发放", "security_password": SECURITY["payroll_b"]})
    assert_refused(app, page, web_log, "WrongStep", wid, PAYROLL_REFUSALS)
    web_log.clear()

    # the bank does not answer: the submission keeps retrying, a second one is Busy
    bank.stop()
    try:
        first = in_background(lambda: engine.run(lambda c: c.get_workflow_handle(wid).execute_update(
            WageRunWorkflow.submit_bank_file,
            signed_step(services, "payroll_b", run["id"], "bank_file", batch.plaintext_sha256,
                         batch_version=batch.version)), timeout=120))
        poll(lambda: pending_activity(engine, wid), "the bank submission's activity")
        page = send_bank_file(client, run, batch.version)
        assert_refused(app, page, web_log, "Busy", wid, PAYROLL_REFUSALS)
        web_log.clear()
    finally:
        bank.start()
    first.join(120)
    assert not first.errors, first.errors
    assert run_step(engine, run) == Step.RECONCILE

    page = post(client, f"/payroll/run/{run['id']}/reissue")  # no statement yet: nothing failed
    assert_refused(app, page, web_log, "NothingToReissue", wid, PAYROLL_REFUSALS)
    web_log.clear()

    page = post(client, f"/payroll/run/{run['id']}/line/{line.id}/settle",
                {"reason": "已现金发放", "security_password": SECURITY["payroll_b"]})
    assert_refused(app, page, web_log, "NotFailed", wid, PAYROLL_REFUSALS)
    web_log.clear()

    with tamper_call("web.payroll.steps.SettleLineInput",
                     lambda orig, **k: orig(**dict(k, reason="  "))):
        page = post(client, f"/payroll/run/{run['id']}/line/{line.id}/settle",
                    {"reason": "已现金发放", "security_password": SECURITY["payroll_b"]})
    assert_refused(app, page, web_log, "ReasonRequired", wid, PAYROLL_REFUSALS)
    web_log.clear()

    other = new_run(services, engine, payroll, "bank-other")
    with services.Session.begin() as db:  # a line of another run, as a tampered form would name it
        foreign = WageLine(run_id=other["id"], seq=1, worker_id=line.worker_id, days=1, hours_x10=80,
                           gross_fen=100, net_fen=100, status=WageLineStatus.FAILED)
        db.add(foreign)
        db.flush()
        foreign_id = foreign.id
    with tamper_call("web.payroll.steps.SettleLineInput", lambda orig, **k: orig(**dict(k, line_id=foreign_id))):
        page = post(client, f"/payroll/run/{run['id']}/line/{line.id}/settle",
                    {"reason": "已现金发放", "security_password": SECURITY["payroll_b"]})
    assert_refused(app, page, web_log, "UnknownLine", wid, PAYROLL_REFUSALS)
    web_log.clear()

    with services.Session.begin() as db:  # the bank's statement failed this line
        db.get(WageLine, line.id).status = WageLineStatus.FAILED
    with tamper_call("web.payroll.steps.SettleLineInput",
                     lambda orig, **k: orig(**dict(k, signature=flipped(k["signature"])))):
        page = post(client, f"/payroll/run/{run['id']}/line/{line.id}/settle",
                    {"reason": "已现金发放", "security_password": SECURITY["payroll_b"]})
    assert_refused(app, page, web_log, "SignatureRefused", wid, PAYROLL_REFUSALS)
    web_log.clear()


def test_the_bank_refusing_the_wage_file(app, client, services, engine, payroll, web_log):
    web_log.set_level(logging.INFO)
    run = new_run(services, engine, payroll, "bank-refused", wage_account="unknown")
    batch = to_bank_file_step(client, services, engine, payroll, run)
    web_log.clear()
    as_specialist(client, services, "payroll_b")
    page = send_bank_file(client, run, batch.version)
    assert_refused(app, page, web_log, "BankRefused", run["workflow_id"], PAYROLL_REFUSALS)
    assert_worker_logged_one_line(web_log, "BankRefused", run["workflow_id"])


# ---- wage account binding: accept_agreement --------------------------------------------------------


# ---- re-issue to a card that failed; the card replacement checked by the bank (issue 8, point 8) ----


def deliver_statement(client, bank, batch_id: str) -> None:
    """The bank's signed statement of a batch, delivered to the platform's callback as the bank
    would (this module's bank has no callback address)."""
    body = poll(lambda: bank.connector().fetch_statement(batch_id), f"the bank's statement of {batch_id}")
    response = client.post("/api/bank/statements", data=body, content_type="application/json")
    assert response.status_code == 200, response.get_data(as_text=True)


def reconciled(engine, run, **wanted):
    view = engine.run(lambda c: c.get_workflow_handle(run["workflow_id"]).query(WageRunWorkflow.status))
    return view.reconcile is not None and all(getattr(view.reconcile, k) == v for k, v in wanted.items()) and view


def replace_card(client, pw_id: int, number: str) -> tuple[int, str]:
    response = client.post(f"/project/workers/{pw_id}/card", follow_redirects=False, data={
        "bank_name": "中国建设银行", "card_number": number, "password": DEMO_PASSWORDS["project"]})
    return response.status_code, response.get_data(as_text=True)


# A failed card is replaced through the bank before the re-issue pays: the story's chapters, each
# state-changing step a module fixture the next chapter builds on.


@pytest.fixture(scope="module")
def unknown_cards(app, services, engine, payroll, bank) -> dict:
    """A run whose wage file went to a bank that knows none of the workers' cards: every line failed
    CARD_UNKNOWN; the lines, their cards and the cards' full numbers."""
    client = app.test_client()
    run = new_run(services, engine, payroll, "same-card")
    batch = to_bank_file_step(client, services, engine, payroll, run)
    as_specialist(client, services, "payroll_b")
    send_bank_file(client, run, batch.version)
    deliver_statement(client, bank, batch.batch_id)
    count = batch.line_count
    poll(lambda: reconciled(engine, run, failed_lines=count), "the failed lines")
    lines = lines_of(services, run)
    with services.Session() as db:
        cards = {c.id: c for c in db.scalars(select(BankCard).where(BankCard.id.in_([l.card_id for l in lines])))}
        numbers = {c.id: services.cipher.decrypt(c.card_number_enc, "card_number") for c in cards.values()}
    return {"run": run, "count": count, "lines": lines, "cards": cards, "numbers": numbers}


def test_every_line_failed_for_an_unknown_card_shows_its_masked_card_and_why(client, services, unknown_cards):
    run, lines = unknown_cards["run"], unknown_cards["lines"]
    cards, numbers = unknown_cards["cards"], unknown_cards["numbers"]
    assert {line.failure_code for line in lines} == {"CARD_UNKNOWN"}
    # the run page: each line's masked card and batch; the lines that need a new card, and why
    as_specialist(client, services, "payroll_b")
    page = client.get(f"/payroll/run/{run['id']}").get_data(as_text=True)
    for line in lines:
        row = page[page.index(f'<tr data-line-id="{line.id}"'):]
        row = row[:row.index("</tr>")]
        assert mask_card_number(cards[line.card_id].last4) in row and 'data-batch-version="1"' in row
        assert "需先更换工资卡才能重新发放" in row and "银行查无此工资卡" in row
        assert numbers[line.card_id] not in page
    assert 'id="needs-new-card"' in page


def test_a_reissue_to_the_same_failed_cards_is_refused_and_builds_nothing(app, client, services, engine, unknown_cards,
                                                                          web_log):
    web_log.set_level(logging.INFO)
    run = unknown_cards["run"]
    wid = run["workflow_id"]
    as_specialist(client, services, "payroll_b")
    page = post(client, f"/payroll/run/{run['id']}/reissue")
    assert_refused(app, page, web_log, "SameFailedCard", wid, PAYROLL_REFUSALS)
    assert_worker_logged_one_line(web_log, "SameFailedCard", wid)
    assert run_step(engine, run) == Step.RECONCILE
    assert {line.batch_version for line in lines_of(services, run)} == {1}


@pytest.fixture(scope="module")
def replaced_card(app, services, payroll, bank, unknown_cards) -> dict:
    """The project account replaces the first worker's card: the bank refuses an unknown card, a closed
    one and another holder's, then checks a good one; what each attempt answered."""
    client = app.test_client()
    first = unknown_cards["lines"][0]
    with services.Session() as db:
        pw_id = db.scalar(select(ProjectWorker.id).where(ProjectWorker.worker_id == first.worker_id,
                                                         ProjectWorker.project_id == payroll["project_id"]))
        holder = db.scalar(select(Worker.name).where(Worker.id == first.worker_id))
    enter_session(client, services, "project")
    offered = client.get(f"/project/workers/{pw_id}").get_data(as_text=True)
    rng = random.Random(808)
    refused = {"unknown": generate_card_number(rng, "621700"), "closed": generate_card_number(rng, "621700"),
               "another holder": generate_card_number(rng, "621700")}
    bank.admin("cards", [{"number": refused["closed"], "holder_name": holder, "status": "closed"},
                         {"number": refused["another holder"], "holder_name": "别的人", "status": "open"}])
    answers = {}
    for case in refused:
        status, text = replace_card(client, pw_id, refused[case])
        with services.Session() as db:
            current = db.scalar(select(BankCard.id).where(BankCard.worker_id == first.worker_id,
                                                          BankCard.is_current.is_(True)))
        answers[case] = (status, text, current)
    good = generate_card_number(rng, "621700")
    bank.admin("cards", [{"number": good, "holder_name": holder, "status": "open"}])
    status, _text = replace_card(client, pw_id, good)
    after = client.get(f"/project/workers/{pw_id}").get_data(as_text=True)
    return {**unknown_cards, "first": first, "offered": offered, "refused": refused, "answers": answers,
            "good": good, "good_status": status, "after": after}


def test_the_bank_checks_each_replacement_card_and_refuses_a_bad_one_with_its_reason(replaced_card):
    first = replaced_card["first"]
    assert f'id="replace-card-for-{first.id}"' in replaced_card["offered"]  # the card replacement, offered
    for case, reason in (("unknown", "银行查无此工资卡。"), ("closed", "工资卡已销户。"),
                         ("another holder", "姓名与工资卡持卡人不一致。")):
        status, text, current = replaced_card["answers"][case]
        assert status == 422 and "银行核验未通过" in text and reason in text, (case, text[-3000:])
        assert replaced_card["refused"][case] not in text
        assert current == first.card_id, case
    assert replaced_card["good_status"] == 302
    good = replaced_card["good"]
    assert f'id="replace-card-for-{first.id}"' not in replaced_card["after"] and good not in replaced_card["after"]


def test_the_reissue_goes_to_the_new_checked_card_and_each_batch_keeps_its_card(client, services, engine, bank,
                                                                                 replaced_card, web_log):
    web_log.set_level(logging.INFO)
    run, lines, first = replaced_card["run"], replaced_card["lines"], replaced_card["first"]
    good, wid, count = replaced_card["good"], run["workflow_id"], replaced_card["count"]
    cards, numbers = replaced_card["cards"], replaced_card["numbers"]
    # the other failed lines are settled otherwise; the re-issue goes to the new, checked card
    as_specialist(client, services, "payroll_b")
    for line in lines[1:]:
        post(client, f"/payroll/run/{run['id']}/line/{line.id}/settle",
             {"reason": "已现金发放", "security_password": SECURITY["payroll_b"]})
    page = client.get(f"/payroll/run/{run['id']}").get_data(as_text=True)
    assert 'id="needs-new-card"' not in page and "重新发放将打入新卡 " + mask_card_number(good) in page
    page = post(client, f"/payroll/run/{run['id']}/reissue")
    assert "SameFailedCard" not in web_log.text and run_step(engine, run) == Step.WAGE_FILE
    batch2 = engine.run(lambda c: c.get_workflow_handle(wid).query(WageRunWorkflow.status)).batch
    assert (batch2.version, batch2.line_count) == (2, 1)
    send_bank_file(client, run, batch2.version)
    deliver_statement(client, bank, batch2.batch_id)
    poll(lambda: engine.run(lambda c: c.get_workflow_handle(wid).describe()).status.name == "COMPLETED",
         "the run to complete")
    with services.Session() as db:
        paid = db.get(WageLine, first.id)
        new_card = db.get(BankCard, paid.card_id)
        assert (paid.status, paid.batch_version, new_card.last4, new_card.is_current) == ("paid", 2, good[-4:], True)
    page = client.get(f"/payroll/run/{run['id']}").get_data(as_text=True)
    row = page[page.index(f'<tr data-line-id="{first.id}"'):]
    row = row[:row.index("</tr>")]
    assert mask_card_number(good) in row and 'data-batch-version="2"' in row and 'data-status="paid"' in row
    assert good not in page

    # each batch keeps the card it used: version 1 the refused card (failed, re-issued in 2), 2 the new one
    first_cards = {1: mask_card_number(cards[first.card_id].last4), 2: mask_card_number(good)}
    for version, status in ((1, "failed"), (2, "paid")):
        assert f'id="batch-lines-{version}"' in page
        batch_page = client.get(f"/payroll/run/{run['id']}/batch/{version}").get_data(as_text=True)
        rows = batch_page[batch_page.index('id="batch-line-table"'):].split("<tr data-file-seq=")[1:]
        assert len(rows) == (count if version == 1 else 1)
        [row] = [r for r in rows if f'data-seq="{first.seq}"' in r]
        assert first_cards[version] in row and f'data-status="{status}"' in row
        assert ('data-reissued-in="2"' in row) == (version == 1)
        assert good not in batch_page and all(n not in batch_page for n in numbers.values())
    assert client.get(f"/payroll/run/{run['id']}/batch/3").status_code == 404


def test_a_line_failed_for_the_holders_name_goes_to_the_same_card_once_the_bank_confirms_it(
        app, client, services, engine, payroll, bank, web_log):
    """The holder's name: the re-issue asks the bank about the same card in the worker's name; it is
    refused while the bank still differs, and goes to that card once the bank's record agrees."""
    web_log.set_level(logging.INFO)
    run = new_run(services, engine, payroll, "holder-name")
    wid = run["workflow_id"]
    batch = to_bank_file_step(client, services, engine, payroll, run)
    lines = lines_of(services, run)
    with services.Session() as db:  # the bank knows every card; the first under another spelling
        known = [{"number": services.cipher.decrypt(db.get(BankCard, line.card_id).card_number_enc, "card_number"),
                  "holder_name": db.get(Worker, line.worker_id).name, "status": "open"} for line in lines]
    real_name = known[0]["holder_name"]
    known[0] = dict(known[0], holder_name=real_name + "某")
    bank.admin("cards", known)
    as_specialist(client, services, "payroll_b")
    send_bank_file(client, run, batch.version)
    deliver_statement(client, bank, batch.batch_id)
    poll(lambda: reconciled(engine, run, failed_lines=1, open_lines=1), "the failed line")
    assert lines_of(services, run)[0].failure_code == "NAME_MISMATCH"
    page = client.get(f"/payroll/run/{run['id']}").get_data(as_text=True)
    assert 'id="needs-new-card"' in page and "姓名更正且银行确认" in page

    page = post(client, f"/payroll/run/{run['id']}/reissue")  # the bank still has the other name
    assert_refused(app, page, web_log, "SameFailedCard", wid, PAYROLL_REFUSALS)
    web_log.clear()

    bank.admin("cards", [dict(known[0], holder_name=real_name)])  # the bank's record corrected
    post(client, f"/payroll/run/{run['id']}/reissue")
    assert "SameFailedCard" not in web_log.text and run_step(engine, run) == Step.WAGE_FILE
    batch2 = engine.run(lambda c: c.get_workflow_handle(wid).query(WageRunWorkflow.status)).batch
    send_bank_file(client, run, batch2.version)
    deliver_statement(client, bank, batch2.batch_id)
    poll(lambda: engine.run(lambda c: c.get_workflow_handle(wid).describe()).status.name == "COMPLETED",
         "the run to complete")
    again = lines_of(services, run)[0]
    assert (again.status, again.batch_version, again.card_id) == ("paid", 2, lines[0].card_id)


def second_project(services) -> int:
    """A project approved from a registration (it has no wage account yet)."""
    from tests.helpers.web_app import create_registration

    case = create_registration(services)
    with services.Session.begin() as db:
        project, _account, _password = reg.approve(db, services.cipher, db.get(RegistrationApplication, case["id"]))
        db.flush()
        return project.id


def binding_status(engine, wid: str) -> str:
    return engine.run(lambda c: c.get_workflow_handle(wid).query(WageAccountBindingWorkflow.status)).status


def test_accept_agreement_refusals(app, client, services, engine, payroll, bank, web_log):
    from domain.processes.account_binding import AcceptAgreementInput

    project_id = second_project(services)
    specialist = create_payroll_specialist(services, "payroll_c", project_id, security_password=SECURITY["payroll_a"])
    with services.Session.begin() as db:
        row = wa.start_binding(db, services.cipher, project_id=project_id, actor=db.get(Account, specialist),
                               bank_code="REFBANK", account_number=SECOND_ACCOUNT, account_name=WAGE_ACCOUNT_NAME)
        account, wid = row.id, row.workflow_id
    enter_session(client, services, "payroll_c")
    url = f"/payroll/accounts/{account}/accept"
    form = {"security_password": SECURITY["payroll_a"]}
    tables = (ACCEPT_REFUSALS, PAYROLL_REFUSALS)

    # the bank has not answered the validation yet (it is down): nothing to accept so far
    bank.stop()
    try:
        engine.run(lambda c: c.start_workflow(WageAccountBindingWorkflow.run, BindingInput(account), id=wid,
                                              task_queue=engine.task_queue))
        poll(lambda: pending_activity(engine, wid), "the bank's validation to be under way")
        assert binding_status(engine, wid) == BindingStatus.VALIDATING
        page = post(client, url, form)
        assert_refused(app, page, web_log, "NotAwaitingAgreement", wid, *tables)
        web_log.clear()
    finally:
        bank.start()
    poll(lambda: binding_status(engine, wid) == BindingStatus.AWAITING_AGREEMENT, "the bank's validation")

    def altered(**changes):
        return tamper_call("web.payroll.accounts.AcceptAgreementInput", lambda orig, **k: orig(**dict(k, **changes)))

    with altered(wage_account_id=payroll["wage_accounts"]["bound"]):
        page = post(client, url, form)
    assert_refused(app, page, web_log, "WrongAccount", wid, *tables)
    web_log.clear()

    with altered(signature=""):
        page = post(client, url, form)
    assert_refused(app, page, web_log, "SignatureRefused", wid, *tables)
    web_log.clear()

    with tamper_call("web.payroll.accounts.AcceptAgreementInput",
                     lambda orig, **k: orig(**dict(k, signature=flipped(k["signature"])))):
        page = post(client, url, form)
    assert_refused(app, page, web_log, "SignatureRefused", wid, *tables)
    web_log.clear()

    with altered(actor_id=payroll["accounts"]["payroll_a"]):  # a specialist of another project
        page = post(client, url, form)
    assert_refused(app, page, web_log, "NotProjectSpecialist", wid, *tables)
    web_log.clear()

    def signed_acceptance() -> AcceptAgreementInput:
        key = signing.unlock(services.Session, specialist, SECURITY["payroll_a"])
        document = ab.agreement_document(wage_account_id=account, actor_id=specialist,
                                         accepted_at=datetime.now(timezone.utc))
        return AcceptAgreementInput(wage_account_id=account, actor_id=specialist, document=document,
                                    signature=signing.sign(key, document), signing_key_id=key.key_id)

    # the account left "binding" in the database meanwhile (another tab): the activity refuses
    with services.Session.begin() as db:
        db.get(WageAccount, account).status = wa.REFUSED
    text = through_wrapper(app, lambda b: b.update(wid, WageAccountBindingWorkflow.accept_agreement,
                                                    signed_acceptance()), *tables)
    assert expected(app, "NotAwaitingAgreement", *tables) in text and GENERIC not in text
    with services.Session.begin() as db:
        db.get(WageAccount, account).status = wa.BINDING
    web_log.clear()

    # one acceptance is being applied (its activity waits for the database) when a second arrives
    acceptance = signed_acceptance()
    with held_database(services):
        first = in_background(lambda: engine.run(lambda c: c.get_workflow_handle(wid).execute_update(
            WageAccountBindingWorkflow.accept_agreement, acceptance)))
        poll(lambda: pending_activity(engine, wid), "the acceptance's activity")
        text = through_wrapper(app, lambda b: b.update(wid, WageAccountBindingWorkflow.accept_agreement,
                                                        acceptance), *tables)
    first.join(60)
    assert not first.errors, first.errors
    assert expected(app, "Busy", *tables) in text and GENERIC not in text
    web_log.clear()

    # bound: the process has ended; a second tab's acceptance finds it closed
    poll(lambda: engine.run(lambda c: c.get_workflow_handle(wid).describe()).status.name == "COMPLETED",
         "the binding to complete")
    with services.Session.begin() as db:
        db.get(WageAccount, account).status = wa.BINDING  # what that tab's page still believes
    page = post(client, url, form)
    assert_refused(app, page, web_log, "CaseFinished", wid, *tables)
    with services.Session.begin() as db:
        db.get(WageAccount, account).status = wa.BOUND


# ---- worker exit: cancel_exit ----------------------------------------------------------------------


def exit_waiting(services, engine, payroll, index: int) -> dict:
    """A worker of the demo project with an unpaid line in an open run: the exit waits for it."""
    with services.Session() as db:
        pw = db.scalars(select(ProjectWorker).where(ProjectWorker.project_id == payroll["project_id"])
                        .order_by(ProjectWorker.id)).all()[index]
        pw_id, worker_id = pw.id, pw.worker_id
    with services.Session.begin() as db:
        run = WageRun(project_id=payroll["project_id"], month=MONTH, workflow_id=f"wage-run-exit-{pw_id}",
                      wage_account_id=payroll["wage_accounts"]["bound"])
        db.add(run)
        db.flush()
        db.add(WageLine(run_id=run.id, seq=1, worker_id=worker_id, days=20, hours_x10=1600, gross_fen=600_000,
                        net_fen=600_000, status=WageLineStatus.PENDING))
    return {"pw_id": pw_id}


def exit_state(engine, wid: str) -> str:
    return engine.run(lambda c: c.get_workflow_handle(wid).query(WorkerExitWorkflow.status)).state


def test_cancel_exit_refusals(app, client, services, engine, payroll, web_log):
    from domain.processes.worker_exit import CancelExitRequest

    case = exit_waiting(services, engine, payroll, 0)
    pw_id = case["pw_id"]
    enter_session(client, services, "project")
    post(client, f"/project/workers/{pw_id}/exit", {"reason": "合同期满"})
    with services.Session() as db:
        wid = db.get(ProjectWorker, pw_id).exit_workflow_id
    poll(lambda: exit_state(engine, wid) == "waiting", "the exit to wait for the unpaid line")
    url = f"/project/workers/{pw_id}/exit/cancel"
    tables = (EXIT_REFUSALS, EXIT_ERRORS)

    with services.Session.begin() as db:
        project = db.get(Project, payroll["project_id"])
        db.add(Account(username="project2", display_name="示范项目部二", password_hash=hash_password("Login2026x"),
                       role=Role.PROJECT, project_id=project.id, district_id=project.district_id,
                       created_at=utcnow()))
    enter_session(client, services, "project2")
    page = post(client, url, {"reason": "工人继续留用"})
    assert_refused(app, page, web_log, "NotRequester", wid, *tables)
    with services.Session() as db:  # refused: the exit goes on
        assert db.get(ProjectWorker, pw_id).status == wx.EXITING
    assert exit_state(engine, wid) == "waiting"
    web_log.clear()

    enter_session(client, services, "project")
    for reason, code in (("   ", "ReasonRequired"), ("长" * 201, "ReasonTooLong")):
        with tamper_call("web.project.routes.CancelExitRequest", lambda orig, actor, _r, reason=reason: orig(actor, reason)):
            page = post(client, url, {"reason": "工人继续留用"})
        assert_refused(app, page, web_log, code, wid, *tables)
        web_log.clear()

    # the engagement's exit belongs to another process in the database: the activity refuses
    with services.Session.begin() as db:
        db.get(ProjectWorker, pw_id).exit_workflow_id = "worker-exit-someone-else"
    requester = account_id(services, "project")
    text = through_wrapper(app, lambda b: b.update(wid, WorkerExitWorkflow.cancel_exit,
                                                    CancelExitRequest(requester, "工人继续留用")), *tables)
    assert expected(app, "not_exiting", *tables) in text and GENERIC not in text
    with services.Session.begin() as db:
        db.get(ProjectWorker, pw_id).exit_workflow_id = wid
    poll(lambda: exit_state(engine, wid) == "waiting", "the exit to wait again")
    web_log.clear()

    # a withdrawal is being applied (its activity waits for the database) when a second arrives
    with held_database(services):
        first = in_background(lambda: engine.run(lambda c: c.get_workflow_handle(wid).execute_update(
            WorkerExitWorkflow.cancel_exit, CancelExitRequest(requester, "工人继续留用"))))
        poll(lambda: pending_activity(engine, wid), "the withdrawal's activity")
        text = through_wrapper(app, lambda b: b.update(wid, WorkerExitWorkflow.cancel_exit,
                                                        CancelExitRequest(requester, "工人继续留用")), *tables)
    first.join(60)
    assert not first.errors, first.errors
    assert expected(app, "NotWaiting", *tables) in text and GENERIC not in text
    web_log.clear()

    poll(lambda: engine.run(lambda c: c.get_workflow_handle(wid).describe()).status.name == "COMPLETED",
         "the exit process to end")
    with services.Session.begin() as db:  # what a second tab still believes
        pw = db.get(ProjectWorker, pw_id)
        pw.status, pw.exit_workflow_id = wx.EXITING, wid
    page = post(client, url, {"reason": "工人继续留用"})
    assert_refused(app, page, web_log, "CaseFinished", wid, *tables)
    web_log.clear()

    # "check the wages again" signals the process: it has ended, which is a refusal, not an outage
    page = post(client, f"/project/workers/{pw_id}/exit/recheck")
    assert expected(app, "CaseFinished", *tables) in page
    assert str(escape(str(REFUSALS["Unavailable"]))) not in page
    assert "process refused CaseFinished" in web_log.text and "Traceback" not in web_log.text
