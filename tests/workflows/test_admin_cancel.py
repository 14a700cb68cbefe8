"""An administrator's cancel closes what the process owns (ADM-2), and the admin pages say where every
process is and whom it waits for (ADM-1) — through the real admin pages, on the real dev server.

The platform runs inside the test (tests/helpers/platform.py): one worker runs every workflow with
its real activities on the test's SQLite database; the bank is an exchange folder nobody answers (a
submitted batch stays in flight, an account check stays unanswered); the web app talks to the dev
server through the real TemporalBridge.
SHIMING_RECORD_HISTORIES=1 refreshes the committed cancel histories.
"""
from __future__ import annotations

import asyncio
import hashlib
import os
import random
import threading
from pathlib import Path
from uuid import uuid4

from markupsafe import escape
from sqlalchemy import func, select
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio import activity
from temporalio.worker import Replayer

from activities.registration import RegistrationActivities
from domain.processes.registration import OpenReviewTaskInput, OpenReviewTaskResult
from activities.worker_exit import WorkerExitActivities
from domain.processes.worker_exit import ExitRef, OutstandingResult
from bank_connectors.keys import load_or_create_keys
from domain import wage_table, workforce
from domain import wage_account as wa
from domain import worker_exit as wx
from domain.models import (
    Account,
    AuditLog,
    HumanTask,
    Project,
    ProjectWorker,
    RegistrationApplication,
    Role,
    TaskStatus,
    WageAccount,
    WageLine,
    WageLineStatus,
    WageRun,
    utcnow,
)
from domain.models import Worker as WorkerRow  # `Worker` is Temporal's here
from domain.wage_run import open_run
from shiming.seed_workforce import generate_card_number
from shiming.temporal import data_converter
from tests.helpers.services import make_settings
from tests.helpers.stack import TEST_PAYLOAD_KEY
from tests.helpers.factories import account_id
from tests.helpers.platform import Platform, closed_as, get, platform, post
from tests.helpers.scan_samples import minimal_pdf
from tests.helpers.wage_scenario import MONTH, WAGE_ACCOUNT, signed_step, wage_scenario
from tests.helpers.workflow_env import wait_for
from domain.processes.account_binding import BindingInput
from workflows.account_binding import WageAccountBindingWorkflow
from domain.processes.registration import RegistrationInput
from workflows.registration import ProjectRegistrationWorkflow
from workflows.wage_run import WageRunWorkflow
from domain.processes.wage_run import Step, WageRunInput
from domain.processes.worker_exit import WorkerExitInput
from workflows.worker_exit import WorkerExitWorkflow

HISTORIES = Path(__file__).parent / "histories"
REASON = "重复开启的工资批次"


def audits(services, action: str, business_key: str | None = None) -> list[AuditLog]:
    with services.Session() as db:
        q = select(AuditLog).where(AuditLog.action == action)
        if business_key is not None:
            q = q.where(AuditLog.business_key == business_key)
        return list(db.scalars(q))


async def replays(workflow, history, services) -> None:
    """The recorded history replays on the current code (with the platform's payload codec)."""
    converter = data_converter(make_settings(services.settings.home, payload_keys=TEST_PAYLOAD_KEY))
    await Replayer(workflows=[workflow], data_converter=converter).replay_workflow(history)


def record(history, name: str) -> None:
    if os.environ.get("SHIMING_RECORD_HISTORIES"):
        (HISTORIES / f"{name}.json").write_text(history.to_json())


# ---- a wage run -------------------------------------------------------------------------------------


async def wage_run_at_bank_file(p: Platform, project_id: int) -> tuple[int, WorkflowHandle]:
    """A run whose table and signed sheet are in: its lines are pending, its bank file built."""
    services = p.services
    with services.Session.begin() as db:
        run = open_run(db, project_id, MONTH, db.get(Account, account_id(services, "payroll_a")))
        run_id, workflow_id = run.id, run.workflow_id
        table = wage_table.prefill_xlsx(db, services.cipher, project_id, MONTH)
        table_id = services.blobs.store(db, table, "application/xlsx", "table.xlsx").id
        sheet_id = services.blobs.store(db, minimal_pdf(), "application/pdf", "sheet.pdf").id
    handle = await p.start(WageRunWorkflow.run, WageRunInput(run_id), workflow_id)
    await handle.execute_update(WageRunWorkflow.submit_wage_table, signed_step(
        services, "payroll_a", run_id, "wage_table", hashlib.sha256(table).hexdigest(), table_id))
    await handle.execute_update(WageRunWorkflow.submit_signed_sheet, signed_step(
        services, "payroll_a", run_id, "signed_sheet", hashlib.sha256(minimal_pdf()).hexdigest(), sheet_id))
    return run_id, handle


def lines(services, run_id: int) -> list[str]:
    with services.Session() as db:
        return list(db.scalars(select(WageLine.status).where(WageLine.run_id == run_id).order_by(WageLine.seq)))


def the_run(services, run_id: int) -> WageRun:
    with services.Session() as db:
        run = db.get(WageRun, run_id)
        db.expunge(run)
        return run


async def test_cancelling_a_wage_run_closes_its_lines_and_tasks_and_the_month_opens_again(dev_env, services, tmp_path):
    project_id = wage_scenario(services, workers=3)["project_id"]
    async with platform(dev_env, services, tmp_path) as p:
        run_id, handle = await wage_run_at_bank_file(p, project_id)
        assert set(lines(services, run_id)) == {WageLineStatus.PENDING}
        with services.Session() as db:
            first_line = db.scalar(select(WageLine).where(WageLine.run_id == run_id).order_by(WageLine.seq))
            pw_id = db.scalar(select(ProjectWorker.id).where(ProjectWorker.project_id == project_id,
                                                             ProjectWorker.worker_id == first_line.worker_id))
        # an inbox row of the run's process (a projection of it waiting on a person)
        with services.Session.begin() as db:
            db.add(HumanTask(kind="wage_step", workflow_id=handle.id, business_key=handle.id, round=1,
                             title="工资表", status=TaskStatus.NEW, candidate_role=Role.PAYROLL_SPECIALIST,
                             created_at=utcnow()))
        # the worker's exit waits for the run's unpaid line
        with services.Session.begin() as db:
            pw = wx.request_exit(db, project_id, pw_id, db.get(Account, account_id(services, "project")), "合同期满")
            exit_id = pw.exit_workflow_id
        exit_handle = await p.start(WorkerExitWorkflow.run, WorkerExitInput(pw_id, account_id(
            services, "project")), exit_id)

        async def waiting_on_lines():
            view = await exit_handle.query(WorkerExitWorkflow.status)
            return view if view.state == "waiting" else None
        assert (await wait_for(waiting_on_lines, "the exit to wait")).unpaid_lines == 1

        admin = p.page("admin")
        page = await post(admin, f"/admin/process/{handle.id}/cancel", data={"reason": REASON})
        assert "Cancellation requested." in page
        await closed_as(handle, WorkflowExecutionStatus.CANCELED)

        # the run owns: its unpaid lines (never payable), its inbox rows, its own status with the reason
        assert set(lines(services, run_id)) == {WageLineStatus.CANCELLED}
        run = the_run(services, run_id)
        assert run.status == "cancelled"
        with services.Session() as db:
            assert db.scalar(select(HumanTask.status).where(HumanTask.workflow_id == handle.id)) == TaskStatus.CANCELED
        [row] = audits(services, "wage_run.cancel", handle.id)
        assert row.reason == REASON and row.actor_id == account_id(services, "admin")
        assert len(audits(services, "admin.cancel", handle.id)) == 1

        page = await get(admin, f"/admin/process/{handle.id}")
        assert f"Cancelled: {REASON}" in page
        run_page = await get(p.page("payroll_a"), f"/payroll/run/{run_id}")
        assert 'id="run-cancelled"' in run_page and REASON in run_page
        assert 'id="wage-table-form"' not in run_page and 'id="wage-file-form"' not in run_page

        # the exit is no longer blocked by those lines: only the month, until it is opened again
        with services.Session() as db:
            found = wx.outstanding(db, db.get(ProjectWorker, pw_id))
        assert found.lines == [] and found.months_without_run == [MONTH]

        # the month opens again, as a new run with its own process
        page = await post(p.page("payroll_a"), "/payroll/open", data={"month": MONTH})
        with services.Session() as db:
            runs = list(db.scalars(select(WageRun).where(WageRun.project_id == project_id, WageRun.month == MONTH)
                                   .order_by(WageRun.id)))
        assert [r.status for r in runs] == ["cancelled", "open"]
        assert runs[1].workflow_id == f"{runs[0].workflow_id}-r2"
        new = p.client.get_workflow_handle(runs[1].workflow_id)
        assert (await new.query(WageRunWorkflow.status)).step == Step.WAGE_TABLE
        # a second live run of the month is still refused
        page = await post(p.page("payroll_a"), "/payroll/open", data={"month": MONTH}, status=422)
        assert "A wage run for this month already exists." in page

        history = await handle.fetch_history()
        await replays(WageRunWorkflow, history, services)
        record(history, "wage_run_admin_cancelled")


async def test_cancel_is_refused_while_a_submitted_batch_is_unanswered(dev_env, services, tmp_path):
    project_id = wage_scenario(services, workers=3)["project_id"]
    async with platform(dev_env, services, tmp_path) as p:
        run_id, handle = await wage_run_at_bank_file(p, project_id)
        batch = (await handle.query(WageRunWorkflow.status)).batch
        await handle.execute_update(WageRunWorkflow.submit_bank_file, signed_step(
            services, "payroll_b", run_id, "bank_file", batch.plaintext_sha256, batch_version=batch.version))
        assert set(lines(services, run_id)) == {WageLineStatus.SUBMITTED}

        admin = p.page("admin")
        page = await post(admin, f"/admin/process/{handle.id}/cancel", data={"reason": REASON})
        assert "money in flight" in page and "Cancellation requested." not in page
        await asyncio.sleep(0.5)
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        view = await handle.query(WageRunWorkflow.status)
        assert view.step == Step.RECONCILE and view.money_in_flight and not view.cancelling
        assert set(lines(services, run_id)) == {WageLineStatus.SUBMITTED}
        assert the_run(services, run_id).status == "open"
        assert audits(services, "admin.cancel") == [] and audits(services, "wage_run.cancel") == []
        # the page says whom the run waits for: the bank
        assert "the bank: its statement of the submitted batch" in await get(admin, f"/admin/process/{handle.id}")


async def test_cancelling_an_ended_process_is_refused_and_writes_nothing(dev_env, services, tmp_path):
    async with platform(dev_env, services, tmp_path) as p:
        with services.Session.begin() as db:
            from tests.helpers.factories import registration_data
            from domain import registration as reg
            app, _token = reg.create_application(db, services.cipher, registration_data(db))
            app_id, number, workflow_id = app.id, app.number, app.workflow_id
        handle = await p.start(ProjectRegistrationWorkflow.run, RegistrationInput(app_id, number), workflow_id)

        async def opened():
            return (await handle.query(ProjectRegistrationWorkflow.status)).task_id
        await wait_for(opened, "the review task")
        admin = p.page("admin")
        assert "Cancellation requested." in await post(admin, f"/admin/process/{workflow_id}/cancel",
                                                       data={"reason": "申请重复"})
        await closed_as(handle, WorkflowExecutionStatus.CANCELED)
        before = len(audits(services, "admin.cancel"))
        assert before == 1

        page = await post(admin, f"/admin/process/{workflow_id}/cancel", data={"reason": "再次取消"})
        assert "The process of this case has already finished." in page
        assert "Cancellation requested." not in page
        assert len(audits(services, "admin.cancel")) == before
        with services.Session() as db:
            assert db.get(RegistrationApplication, app_id).status == "cancelled"
            assert db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.reason == "再次取消")) == 0


async def test_a_cancel_already_requested_is_not_recorded_twice(dev_env, services, tmp_path):
    project_id = wage_scenario(services, workers=3)["project_id"]
    async with platform(dev_env, services, tmp_path) as p:
        _run_id, handle = await wage_run_at_bank_file(p, project_id)
        # cancel requested by someone else (Temporal UI, CLI): the process is closing
        await handle.cancel(reason="cli")
        await closed_as(handle, WorkflowExecutionStatus.CANCELED)
        page = await post(p.page("admin"), f"/admin/process/{handle.id}/cancel", data={"reason": REASON})
        assert "The process of this case has already finished." in page
        assert audits(services, "admin.cancel") == []
        # cancelled from outside the pages, the run still closed what it owns, with that reason
        assert set(lines(services, _run_id)) == {WageLineStatus.CANCELLED}
        assert [r.reason for r in audits(services, "wage_run.cancel", handle.id)] == ["cli"]


async def test_cancelling_a_binding_unbinds_the_account_so_another_can_be_added(dev_env, services, tmp_path):
    with services.Session() as db:
        project_id = db.scalar(select(Project.id).where(Project.code.like("P%")).order_by(Project.id))
    with services.Session.begin() as db:
        actor = db.scalar(select(Account).where(Account.username == "project"))
        row = wa.start_binding(db, services.cipher, project_id=project_id, actor=actor, bank_code=sorted(wa.BANK_CODES)[0],
                               account_number=WAGE_ACCOUNT, account_name="示范项目农民工工资专用账户")
        account_id, workflow_id = row.id, row.workflow_id
    async with platform(dev_env, services, tmp_path) as p:
        handle = await p.start(WageAccountBindingWorkflow.run, BindingInput(account_id), workflow_id)
        admin = p.page("admin")
        page = await get(admin, f"/admin/process/{workflow_id}")
        assert "The bank validates the account" in page and "the bank: validation of the account" in page
        assert "Cancellation requested." in await post(admin, f"/admin/process/{workflow_id}/cancel",
                                                       data={"reason": "账号填错"})
        await closed_as(handle, WorkflowExecutionStatus.CANCELED)
        with services.Session() as db:
            row = db.get(WageAccount, account_id)
            assert (row.status, row.refusal_reason) == (wa.UNBOUND, wa.CANCELLED)
            assert wa.active_account(db, project_id) is None  # the project may add another account
        [audited] = audits(services, "wage_account.cancelled", workflow_id)
        assert audited.reason == "账号填错"
        history = await handle.fetch_history()
        await replays(WageAccountBindingWorkflow, history, services)
        record(history, "account_binding_admin_cancelled")


async def test_the_admin_list_and_page_show_step_and_waiting_on_for_every_type(dev_env, services, tmp_path):
    project_id = wage_scenario(services, workers=3)["project_id"]
    with services.Session() as db:
        pw_id = db.scalar(select(ProjectWorker.id).where(ProjectWorker.project_id == project_id)
                          .order_by(ProjectWorker.id))
    async with platform(dev_env, services, tmp_path) as p:
        with services.Session.begin() as db:
            from tests.helpers.factories import registration_data
            from domain import registration as reg
            app, _token = reg.create_application(db, services.cipher, registration_data(db))
            app_id, number, reg_id = app.id, app.number, app.workflow_id
            # another month: the exit still waits for MONTH, in which the worker punched
            run = open_run(db, project_id, "2026-11", db.get(Account, account_id(services, "payroll_a")))
            run_id, run_wf = run.id, run.workflow_id
            pw = wx.request_exit(db, project_id, pw_id, db.get(Account, account_id(services, "project")), "合同期满")
            exit_wf = pw.exit_workflow_id
            other = Project(code="PBIND00001", district_id=1, name="另一个项目", address="南宁",
                            builder_name="b", builder_credit_code="x", contractor_name="c",
                            contractor_credit_code="y", owner_name="o", owner_credit_code="z",
                            contract_value_fen=1, planned_start=utcnow().date(), planned_end=utcnow().date(),
                            contact_name="周", contact_phone_enc="x", contact_phone_hash="x")
            db.add(other)
            db.flush()
            binding = wa.start_binding(db, services.cipher, project_id=other.id,
                                       actor=db.scalar(select(Account).where(Account.username == "project")),
                                       bank_code=sorted(wa.BANK_CODES)[0], account_number="6222020000099990000",
                                       account_name="另一个项目工资专户")
            binding_id, binding_wf = binding.id, binding.workflow_id
        handles = [
            await p.start(ProjectRegistrationWorkflow.run, RegistrationInput(app_id, number), reg_id),
            await p.start(WageRunWorkflow.run, WageRunInput(run_id), run_wf),
            await p.start(WorkerExitWorkflow.run, WorkerExitInput(pw_id, account_id(services, "project")), exit_wf),
            await p.start(WageAccountBindingWorkflow.run, BindingInput(binding_id), binding_wf),
        ]

        async def exit_waiting():
            return (await handles[2].query(WorkerExitWorkflow.status)).state == "waiting"
        await wait_for(exit_waiting, "the exit to wait")
        await wait_for(lambda: handles[0].query(ProjectRegistrationWorkflow.status), "the registration")

        expected = {
            reg_id: ("In review", "the reviewers' queue"),
            run_wf: ("Wage table", "a payroll specialist of the project: upload the wage table"),
            exit_wf: ("Waiting until the wages owed are paid",
                      f"the payroll specialists: 0 unpaid line(s), months without a wage run: {MONTH}"),
            binding_wf: ("The bank validates the account", "the bank: validation of the account"),
        }
        admin = p.page("admin")
        listing = await get(admin, "/admin/?status=Running")
        for workflow_id, (step, waiting) in expected.items():
            step, waiting = escape(step), escape(waiting)
            start = listing.index(f'data-workflow-id="{workflow_id}"')
            row = listing[start:listing.index("</tr>", start)]
            assert f"<td>{step}</td>" in row and f"<td>{waiting}</td>" in row, row
            page = await get(admin, f"/admin/process/{workflow_id}")
            assert f"<dd>{step}</dd>" in page and f"<dd>{waiting}</dd>" in page, workflow_id
    

async def test_with_no_worker_answering_the_pages_show_the_database_view(dev_env, services, tmp_path):
    project_id = wage_scenario(services, workers=3)["project_id"]
    with services.Session() as db:
        pw_id = db.scalar(select(ProjectWorker.id).where(ProjectWorker.project_id == project_id)
                          .order_by(ProjectWorker.id))
    async with platform(dev_env, services, tmp_path) as p:
        with services.Session.begin() as db:
            # another month: the exit waits for MONTH, in which the worker punched
            run = open_run(db, project_id, "2026-11", db.get(Account, account_id(services, "payroll_a")))
            run.step, run.table_uploaded_by = "bank_file", account_id(services, "payroll_a")
            run_id, run_wf = run.id, run.workflow_id
            exit_wf = wx.request_exit(db, project_id, pw_id, db.get(Account, account_id(services, "project")),
                                      "合同期满").exit_workflow_id
        nobody = f"tq-nobody-{uuid4()}"  # no worker polls it: the status queries cannot be answered
        await p.start(WageRunWorkflow.run, WageRunInput(run_id), run_wf, task_queue=nobody)
        await p.start(WorkerExitWorkflow.run, WorkerExitInput(pw_id, account_id(services, "project")), exit_wf,
                      task_queue=nobody)
        expected = {
            run_wf: ("Wage file", "a payroll specialist other than 工资专员A: submit the wage file"),
            exit_wf: ("Waiting until the wages owed are paid",
                      f"the payroll specialists: 0 unpaid line(s), months without a wage run: {MONTH}"),
        }
        admin = p.page("admin")
        listing = await get(admin, "/admin/?status=Running")
        for workflow_id, (step, waiting) in expected.items():
            start = listing.index(f'data-workflow-id="{workflow_id}"')
            row = listing[start:listing.index("</tr>", start)]
            assert f"<td>{escape(step)}</td>" in row and f"<td>{escape(waiting)}</td>" in row, row
            page = await get(admin, f"/admin/process/{workflow_id}")
            assert f"<dd>{escape(step)}</dd>" in page and f"<dd>{escape(waiting)}</dd>" in page, workflow_id


# ---- a cancel that arrives while an activity runs ---------------------------------------------------


class Gate:
    """Holds an activity at its start until the test opens it (the cancel arrives meanwhile)."""

    def __init__(self):
        self.entered, self.opened = threading.Event(), threading.Event()

    def hold(self):
        self.entered.set()
        self.opened.wait(30)


class GatedRegistration(RegistrationActivities):
    """Holds the opening of review round 2 (after the return and the resubmission)."""

    def __init__(self, services, gate: Gate):
        super().__init__(services)
        self.gate = gate

    @activity.defn(name="open_review_task")
    def open_review_task(self, inp: OpenReviewTaskInput) -> OpenReviewTaskResult:
        if inp.round == 2:
            self.gate.hold()
        return super().open_review_task(inp)


class GatedExit(WorkerExitActivities):
    def __init__(self, services, gate: Gate):
        super().__init__(services)
        self.gate = gate

    @activity.defn(name="check_outstanding")
    def check_outstanding(self, inp: ExitRef) -> OutstandingResult:
        self.gate.hold()
        return super().check_outstanding(inp)


async def test_a_registration_cancelled_while_its_review_round_opens_is_closed(dev_env, services, tmp_path):
    from domain.processes.registration import Decision
    from domain import registration as reg
    from tests.helpers.factories import registration_data
    from domain.processes.registration import ClaimInput, DecideInput, ResubmitInput

    gate = Gate()
    async with platform(dev_env, services, tmp_path, registration=GatedRegistration(services, gate)) as p:
        with services.Session.begin() as db:
            app, _token = reg.create_application(db, services.cipher, registration_data(db))
            app_id, number, workflow_id = app.id, app.number, app.workflow_id
        handle = await p.start(ProjectRegistrationWorkflow.run, RegistrationInput(app_id, number), workflow_id)

        async def opened():
            return (await handle.query(ProjectRegistrationWorkflow.status)).task_id
        task_id = await wait_for(opened, "review round 1")
        reviewer = account_id(services, "reviewer")
        await handle.execute_update(ProjectRegistrationWorkflow.claim, ClaimInput(reviewer, task_id))
        await handle.execute_update(ProjectRegistrationWorkflow.decide,
                                    DecideInput(reviewer, task_id, Decision.RETURN, "缺少盖章"))
        with services.Session.begin() as db:
            correction = reg.save_correction(db, services.cipher, db.get(RegistrationApplication, app_id),
                                             reg.data_of(db.get(RegistrationApplication, app_id), services.cipher),
                                             None)
            correction_id, base = correction.id, correction.base_revision
        await handle.execute_update(ProjectRegistrationWorkflow.resubmit, ResubmitInput(correction_id, base))
        await asyncio.to_thread(gate.entered.wait, 15)  # round 2 is being opened
        assert "Cancellation requested." in await post(p.page("admin"), f"/admin/process/{workflow_id}/cancel",
                                                       data={"reason": "申请重复"})
        await closed_as(handle, WorkflowExecutionStatus.CANCELED)
        gate.opened.set()  # the round's activity goes on after the cancel: it must open nothing
        await asyncio.sleep(1)
        with services.Session() as db:
            assert db.get(RegistrationApplication, app_id).status == "cancelled"
            assert [(t.round, t.status) for t in db.scalars(select(HumanTask).where(
                HumanTask.workflow_id == workflow_id))] == [(1, TaskStatus.DONE)]
        history = await handle.fetch_history()
        await replays(ProjectRegistrationWorkflow, history, services)
        record(history, "registration_cancelled_during_activity")


async def test_an_exit_cancelled_while_it_checks_the_wages_puts_the_worker_back(dev_env, services, tmp_path):
    project_id = wage_scenario(services, workers=3)["project_id"]
    with services.Session() as db:
        pw_id = db.scalar(select(ProjectWorker.id).where(ProjectWorker.project_id == project_id)
                          .order_by(ProjectWorker.id))
    gate = Gate()
    async with platform(dev_env, services, tmp_path, worker_exit=GatedExit(services, gate)) as p:
        with services.Session.begin() as db:
            exit_wf = wx.request_exit(db, project_id, pw_id, db.get(Account, account_id(services, "project")),
                                      "合同期满").exit_workflow_id
        handle = await p.start(WorkerExitWorkflow.run, WorkerExitInput(pw_id, account_id(services, "project")), exit_wf)
        await asyncio.to_thread(gate.entered.wait, 15)
        assert "Cancellation requested." in await post(p.page("admin"), f"/admin/process/{exit_wf}/cancel",
                                                       data={"reason": "误操作"})
        await closed_as(handle, WorkflowExecutionStatus.CANCELED)
        gate.opened.set()
        with services.Session() as db:
            assert db.get(ProjectWorker, pw_id).status == wx.ACTIVE
        assert [r.actor_name for r in audits(services, "worker.exit_cancel", exit_wf)] == ["system"]
        history = await handle.fetch_history()
        await replays(WorkerExitWorkflow, history, services)
        if os.environ.get("SHIMING_RECORD_HISTORIES"):
            (HISTORIES / "worker_exit_cancelled_during_activity.json").write_text(history.to_json())


async def test_a_reissued_batch_in_flight_refuses_the_cancel_too(dev_env, services, tmp_path):
    from bank_connectors.intake import intake_statement
    from bank_connectors.wagefile import Statement, StatementLine, sign_statement
    from domain.processes.wage_run import ReissueInput, StatementArrived

    project_id = wage_scenario(services, workers=3)["project_id"]
    async with platform(dev_env, services, tmp_path) as p:
        run_id, handle = await wage_run_at_bank_file(p, project_id)
        batch = (await handle.query(WageRunWorkflow.status)).batch
        await handle.execute_update(WageRunWorkflow.submit_bank_file, signed_step(
            services, "payroll_b", run_id, "bank_file", batch.plaintext_sha256, batch_version=batch.version))
        # the bank answers batch 1: the first line failed (closed card), the others were paid
        with services.Session() as db:
            sent = db.execute(select(WageLine.file_seq, WageLine.net_fen).where(WageLine.run_id == run_id)
                              .order_by(WageLine.file_seq)).all()
        body = sign_statement(Statement("ST-CANCEL-1", batch.batch_id, [
            StatementLine(seq, "failed", fen, "CARD_CLOSED", "card closed") if seq == 1 else
            StatementLine(seq, "paid", fen, paid_at="2026-11-05T08:00:00Z") for seq, fen in sent],
            issued_at="2026-11-05T08:00:00Z"), load_or_create_keys(tmp_path / "bank_keys").signing)
        result = await asyncio.to_thread(intake_statement, services, body,
                                         load_or_create_keys(tmp_path / "bank_keys").signing.public_key(), "test")
        await handle.signal(WageRunWorkflow.statement_arrived, StatementArrived(result.statement_id))

        async def answered():
            view = await handle.query(WageRunWorkflow.status)
            return view.reconcile is not None and view.reconcile.failed_lines == 1 and not view.money_in_flight
        await wait_for(answered, "the statement to be applied")
        # the worker's card is replaced (a re-issue never goes to the card that failed); the failed
        # line is re-issued in batch 2 and submitted: money is in flight again
        with services.Session.begin() as db:
            worker_id = db.scalar(select(WageLine.worker_id).where(WageLine.run_id == run_id,
                                                                   WageLine.status == WageLineStatus.FAILED))
            workforce.set_card(db, services.cipher, db.get(WorkerRow, worker_id), "中国建设银行",
                               generate_card_number(random.Random(run_id), "621700"))
        await handle.execute_update(WageRunWorkflow.reissue_failed, ReissueInput(account_id(services, "payroll_a")))
        batch2 = (await handle.query(WageRunWorkflow.status)).batch
        await handle.execute_update(WageRunWorkflow.submit_bank_file, signed_step(
            services, "payroll_b", run_id, "bank_file", batch2.plaintext_sha256, batch_version=batch2.version))
        assert (await handle.query(WageRunWorkflow.status)).money_in_flight

        admin = p.page("admin")
        page = await post(admin, f"/admin/process/{handle.id}/cancel", data={"reason": REASON})
        assert "money in flight" in page and "Cancellation requested." not in page
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        assert sorted(lines(services, run_id)) == [WageLineStatus.PAID, WageLineStatus.PAID, WageLineStatus.SUBMITTED]
        assert audits(services, "admin.cancel") == []
