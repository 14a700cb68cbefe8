"""Fault test: the worker is SIGKILLed while a case waits for review, then restarted."""
from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import func, select

from domain.processes.registration import Decision
from domain.models import Account, HumanTask, Notification, Project, RegistrationApplication, AuditLog
from tests.helpers.factories import account_id, create_application
from tests.helpers.stack import start_stack
from domain.processes.registration import ClaimInput, DecideInput, RegistrationInput
from workflows.registration import ProjectRegistrationWorkflow

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(tmp_path):
    s = start_stack(tmp_path / "stack", web=False, worker=True)
    yield s
    s.stop()


def wait_until(predicate, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def count(services, stmt) -> int:
    with services.Session() as session:
        return session.scalar(stmt)


def test_case_survives_worker_sigkill_without_loss_or_duplication(stack):
    services = stack.services
    app_id, number, workflow_id = create_application(services)
    reviewer = account_id(services, "reviewer")

    async def scenario():
        client = await stack_client()
        handle = await client.start_workflow(ProjectRegistrationWorkflow.run, RegistrationInput(app_id, number),
                                             id=workflow_id, task_queue=services.settings.task_queue)
        return client, handle

    async def stack_client():
        return await stack.client()

    async def main():
        client, handle = await scenario()
        task_exists = lambda: count(services, select(func.count()).select_from(HumanTask)  # noqa: E731
                                    .where(HumanTask.workflow_id == workflow_id)) == 1
        for _ in range(300):
            if task_exists():
                break
            await asyncio.sleep(0.2)
        assert task_exists(), stack.logs()
        with services.Session() as session:
            task_id = session.scalar(select(HumanTask.id).where(HumanTask.workflow_id == workflow_id))
        await handle.execute_update(ProjectRegistrationWorkflow.claim, ClaimInput(reviewer, task_id))

        # The case now waits for the reviewer's decision. Kill the worker without warning.
        stack.kill_worker()
        # The reviewer decides while no worker is alive; the update waits for one.
        decision = asyncio.create_task(handle.execute_update(
            ProjectRegistrationWorkflow.decide, DecideInput(reviewer, task_id, Decision.APPROVE, "")))
        await asyncio.sleep(3)
        assert not decision.done()
        stack.start_worker()
        assert await asyncio.wait_for(decision, 90) == "approved"
        result = await asyncio.wait_for(handle.result(), 60)
        assert result.status == "approved" and result.rounds == 1

    asyncio.run(main())

    with services.Session() as session:
        app = session.get(RegistrationApplication, app_id)
        assert app.status == "approved"
        assert session.scalar(select(func.count()).select_from(HumanTask).where(HumanTask.workflow_id == workflow_id)) == 1
        assert session.scalar(select(func.count()).select_from(Project).where(Project.registration_id == app_id)) == 1
        assert session.scalar(select(func.count()).select_from(Account).where(Account.project_id == app.project_id)) == 1
        assert session.scalar(select(func.count()).select_from(Notification)
                              .where(Notification.template == "registration_approved")) == 1
        actions = session.scalars(select(AuditLog.action).where(AuditLog.business_key == number)).all()
        assert sorted(actions) == sorted(["registration.create", "registration.submit", "task.claim",
                                          "registration.approve"])
