"""Temporal test plumbing shared by tests/workflows and tests/workflows/record_histories.py.

A `RegistrationHarness` is one in-process worker (fresh task queue, real activities against the
test's database) on a Temporal environment; a `RegistrationCase` is one registration application
with its running ProjectRegistrationWorkflow, acted on the way the web layer does: by updates.
"""
from __future__ import annotations

import asyncio
import inspect
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import AsyncIterator, Awaitable, Callable, Optional, TypeVar, Union
from uuid import uuid4

from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from domain import registration as reg
from domain.models import (
    Account,
    AuditLog,
    Base,
    District,
    HumanTask,
    Notification,
    Project,
    RegistrationApplication,
)
from domain.services import Services
from shiming.seed import demo_credit_code
from shiming.worker import build_worker
from domain.processes.registration import (
    ClaimInput,
    DecideInput,
    RegistrationInput,
    RegistrationResult,
    RegistrationStatusView,
    ResubmitInput,
)
from workflows.registration import ProjectRegistrationWorkflow

T = TypeVar("T")

QINGXIU = "450103"  # demo district of reviewer, reviewer2 and chief (reviewer_xxt is in 450107)


def registration_data(session, district_code: str = QINGXIU, name: str = "青秀区测试安置房项目") -> reg.RegistrationData:
    district = session.scalar(select(District).where(District.code == district_code))
    return reg.RegistrationData(
        name=name, address="南宁市青秀区测试路8号", district_id=district.id,
        builder_name="南宁市测试建设单位", builder_credit_code=demo_credit_code("12450100MB0000101"),
        contractor_name="广西测试总包有限公司", contractor_credit_code=demo_credit_code("91450100MA5K9XYW2"),
        owner_name="南宁市测试业主单位", owner_credit_code=demo_credit_code("12450100MB0000102"),
        contract_value_fen=880_000_000, planned_start=date(2026, 12, 1), planned_end=date(2028, 6, 30),
        contact_name="周联系", contact_phone="13900139000",
    )


def account_id(services: Services, username: str) -> int:
    with services.Session() as session:
        return session.scalar(select(Account.id).where(Account.username == username))


def db_snapshot(services: Services) -> dict[str, list[tuple]]:
    """Every row of every table: equal snapshots mean nothing was written in between."""
    with services.Session() as session:
        return {table.name: [tuple(row) for row in session.execute(table.select().order_by(*table.primary_key))]
                for table in Base.metadata.sorted_tables}


def as_utc(naive: datetime) -> datetime:
    """Database times are naive UTC."""
    return naive.replace(tzinfo=timezone.utc)


async def wait_for(probe: Callable[[], Union[T, Awaitable[T]]], what: str, timeout: float = 15.0) -> T:
    """Poll `probe` (sync or async) until it returns something truthy, in real time."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = probe()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(0.05)


@dataclass
class RegistrationCase:
    harness: "RegistrationHarness"
    application_id: int
    number: str
    handle: WorkflowHandle

    @property
    def services(self) -> Services:
        return self.harness.services

    # --- reading -------------------------------------------------------------------------

    async def status(self) -> RegistrationStatusView:
        return await self.handle.query(ProjectRegistrationWorkflow.status)

    async def open_task(self, round: int = 1) -> HumanTask:
        """Wait until review round `round` has its inbox row, and return that row."""
        async def opened() -> Optional[RegistrationStatusView]:
            view = await self.status()
            return view if view.round == round and view.task_id and view.status == "in_review" else None

        view = await wait_for(opened, f"review round {round} of {self.number}")
        return self.task(view.task_id)

    def task(self, task_id: int) -> HumanTask:
        with self.services.Session() as session:
            return session.get(HumanTask, task_id)

    def tasks(self) -> list[HumanTask]:
        with self.services.Session() as session:
            return list(session.scalars(select(HumanTask).where(HumanTask.workflow_id == self.handle.id)
                                        .order_by(HumanTask.round)))

    def application(self) -> RegistrationApplication:
        with self.services.Session() as session:
            return session.get(RegistrationApplication, self.application_id)

    def projects(self) -> list[Project]:
        with self.services.Session() as session:
            return list(session.scalars(select(Project).where(Project.registration_id == self.application_id)))

    def notifications(self, template: str) -> list[Notification]:
        with self.services.Session() as session:
            return list(session.scalars(select(Notification).where(Notification.template == template)
                                        .order_by(Notification.id)))

    def audit(self, action: str) -> list[AuditLog]:
        with self.services.Session() as session:
            return list(session.scalars(select(AuditLog).where(AuditLog.action == action,
                                                               AuditLog.business_key == self.number)))

    async def result(self) -> RegistrationResult:
        return await self.handle.result()

    async def execution_status(self) -> Optional[WorkflowExecutionStatus]:
        return (await self.handle.describe()).status

    # --- acting, as the web layer does -----------------------------------------------------

    async def _current_task_id(self) -> int:
        return (await self.status()).task_id

    async def claim(self, username: str, task_id: Optional[int] = None) -> None:
        task_id = task_id if task_id is not None else await self._current_task_id()
        await self.handle.execute_update(ProjectRegistrationWorkflow.claim,
                                         ClaimInput(account_id(self.services, username), task_id))

    async def unclaim(self, username: str, task_id: Optional[int] = None) -> None:
        task_id = task_id if task_id is not None else await self._current_task_id()
        await self.handle.execute_update(ProjectRegistrationWorkflow.unclaim,
                                         ClaimInput(account_id(self.services, username), task_id))

    async def decide(self, username: str, decision: str, reason: str = "", task_id: Optional[int] = None) -> str:
        task_id = task_id if task_id is not None else await self._current_task_id()
        return await self.handle.execute_update(
            ProjectRegistrationWorkflow.decide,
            DecideInput(account_id(self.services, username), task_id, decision, reason))

    async def resubmit(self, correction_id: int, base_revision: int) -> int:
        return await self.handle.execute_update(ProjectRegistrationWorkflow.resubmit,
                                                ResubmitInput(correction_id, base_revision))

    def save_correction(self, name: str) -> tuple[int, int]:
        """The applicant saves a corrected form; returns (correction id, revision it was based on)."""
        with self.services.Session.begin() as session:
            app = session.get(RegistrationApplication, self.application_id)
            data = reg.data_of(app, self.services.cipher)
            data.name = name
            correction = reg.save_correction(session, self.services.cipher, app, data, None)
            return correction.id, correction.base_revision


@dataclass
class RegistrationHarness:
    env: WorkflowEnvironment
    services: Services
    task_queue: str
    cases: list[RegistrationCase] = field(default_factory=list)

    async def start_case(self, district_code: str = QINGXIU, name: str = "青秀区测试安置房项目") -> RegistrationCase:
        """Create a draft application the way the public form does and start its workflow."""
        with self.services.Session.begin() as session:
            app, _token = reg.create_application(session, self.services.cipher,
                                                 registration_data(session, district_code, name))
            application_id, number, workflow_id = app.id, app.number, app.workflow_id
        handle = await self.env.client.start_workflow(
            ProjectRegistrationWorkflow.run, RegistrationInput(application_id, number),
            id=workflow_id, task_queue=self.task_queue)
        case = RegistrationCase(self, application_id, number, handle)
        self.cases.append(case)
        return case

    async def skip_to(self, moment: datetime) -> None:
        """Time-skipping environment: move the server clock forward to `moment` (aware)."""
        now = await self.env.get_current_time()
        assert moment > now, f"cannot skip back from {now} to {moment}"
        await self.env.sleep(moment - now)

    async def terminate_open_cases(self) -> None:
        for case in self.cases:
            if await case.execution_status() == WorkflowExecutionStatus.RUNNING:
                await case.handle.terminate("test finished")


@asynccontextmanager
async def registration_harness(env: WorkflowEnvironment, services: Services) -> AsyncIterator[RegistrationHarness]:
    """A worker with the real workflows and activities on a fresh task queue of `env`."""
    with ThreadPoolExecutor(max_workers=16) as executor:
        task_queue = f"tq-{uuid4()}"
        async with build_worker(env.client, services, executor, task_queue=task_queue):
            harness = RegistrationHarness(env, services, task_queue)
            try:
                yield harness
            finally:
                await harness.terminate_open_cases()

