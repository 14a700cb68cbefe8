"""REG-2…4 review of a project registration through updates, on the real dev server.

Every refusal is checked for its ApplicationError type and for leaving the database and the
workflow's state exactly as they were.
"""
from __future__ import annotations

import asyncio
from typing import Awaitable

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError, CancelledError
from temporalio.service import RPCError, RPCStatusCode

from domain.processes.registration import Decision
from domain.models import Account, Role, TaskStatus
from tests.helpers.workflow_env import RegistrationCase, account_id, db_snapshot

REASON = "施工合同金额与盖章扫描件不一致"


async def refused(case: RegistrationCase, action: Awaitable, error_type: str) -> None:
    """`action` (an update call, not yet awaited) is refused with `error_type` and changes nothing."""
    before, view = db_snapshot(case.services), await case.status()
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await action
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == error_type
    assert db_snapshot(case.services) == before
    assert await case.status() == view


async def claimed_case(dev, username: str = "reviewer") -> RegistrationCase:
    case = await dev.start_case()
    await case.open_task()
    await case.claim(username)
    return case


async def returned_case(dev) -> RegistrationCase:
    case = await claimed_case(dev)
    assert await case.decide("reviewer", Decision.RETURN, REASON) == "returned"
    return case


def project_account(case: RegistrationCase, project_id: int) -> Account:
    with case.services.Session() as session:
        return session.scalars(select(Account).where(Account.project_id == project_id,
                                                     Account.role == Role.PROJECT)).one()


# --- happy paths -------------------------------------------------------------------------------

async def test_claimed_case_approved_creates_project_account_and_credentials_sms(dev, services):
    case = await dev.start_case()
    task = await case.open_task()
    assert task.status == TaskStatus.NEW and case.application().status == "in_review"

    await case.claim("reviewer")
    view = await case.status()
    assert view.claimant_id == account_id(services, "reviewer") and view.waiting_on.startswith("reviewer:")
    assert case.task(task.id).status == TaskStatus.ASSIGNED
    assert await case.decide("reviewer", Decision.APPROVE) == "approved"

    result = await case.result()
    assert (result.status, result.rounds) == ("approved", 1)
    [project] = case.projects()
    assert result.project_id == project.id == case.application().project_id
    assert case.application().status == "approved"
    account = project_account(case, project.id)
    assert account.must_change_password is True and account.is_active
    [sms] = case.notifications("registration_approved")
    assert sms.channel == "sms" and sms.account_id == account.id and sms.recipient_enc
    assert case.notifications("registration_rejected") == []
    row = case.task(task.id)
    assert row.status == TaskStatus.DONE and row.outcome == Decision.APPROVE and row.finished_at
    reviewer = account_id(services, "reviewer")
    [claim] = case.audit("task.claim")
    assert claim.actor_id == reviewer and claim.target_id == str(task.id)
    [approve] = case.audit("registration.approve")
    assert approve.actor_id == reviewer and approve.target_id == str(case.application_id)


async def test_released_case_can_be_claimed_by_another_reviewer(dev, services):
    case = await claimed_case(dev, "reviewer")
    task_id = (await case.status()).task_id

    await case.unclaim("reviewer")
    assert (await case.status()).waiting_on == "queue"
    row = case.task(task_id)
    assert row.status == TaskStatus.NEW and row.owner_id is None
    assert len(case.audit("task.unclaim")) == 1

    await case.claim("reviewer2")
    assert case.task(task_id).owner_id == account_id(services, "reviewer2")


async def test_returned_case_resubmitted_with_correction_opens_second_round_then_approved(dev):
    case = await returned_case(dev)
    first = case.tasks()[0]
    assert first.status == TaskStatus.DONE and first.outcome == Decision.RETURN
    view = await case.status()
    assert (view.status, view.waiting_on, view.task_id) == ("returned", "applicant", first.id)
    app = case.application()
    assert app.status == "returned" and app.last_reason == REASON
    assert len(case.notifications("registration_returned")) == 1

    correction_id, base_revision = case.save_correction(name="青秀区测试安置房项目（二期）")
    assert await case.resubmit(correction_id, base_revision) == 2

    second = await case.open_task(round=2)
    assert second.id != first.id and second.status == TaskStatus.NEW and second.owner_id is None
    view = await case.status()
    assert (view.round, view.revision, view.task_id, view.claimant_id) == (2, 2, second.id, None)
    app = case.application()
    assert (app.status, app.revision, app.name) == ("in_review", 2, "青秀区测试安置房项目（二期）")

    await case.claim("reviewer2")
    await case.decide("reviewer2", Decision.APPROVE)
    result = await case.result()
    assert (result.status, result.rounds) == ("approved", 2)
    [project] = case.projects()
    assert project.name == "青秀区测试安置房项目（二期）"
    assert len(case.notifications("registration_approved")) == 1


async def test_rejected_case_notifies_applicant_and_creates_no_project(dev):
    case = await claimed_case(dev)
    assert await case.decide("reviewer", Decision.REJECT, REASON) == "rejected"

    result = await case.result()
    assert (result.status, result.project_id) == ("rejected", None)
    app = case.application()
    assert (app.status, app.last_reason, app.project_id) == ("rejected", REASON, None)
    assert case.projects() == []
    [sms] = case.notifications("registration_rejected")
    assert sms.channel == "sms"
    assert case.notifications("registration_approved") == []
    [task] = case.tasks()
    assert task.status == TaskStatus.DONE and task.outcome == Decision.REJECT
    assert len(case.audit("registration.reject")) == 1


async def test_cancelled_case_cancels_application_and_open_task(dev):
    case = await claimed_case(dev)

    await case.handle.cancel()
    with pytest.raises(WorkflowFailureError) as failed:
        await case.result()
    assert isinstance(failed.value.cause, CancelledError)
    assert await case.execution_status() == WorkflowExecutionStatus.CANCELED
    assert case.application().status == "cancelled"
    [task] = case.tasks()
    assert task.status == TaskStatus.CANCELED and task.outcome == "cancelled"


# --- refusals ----------------------------------------------------------------------------------

async def test_decision_on_unclaimed_case_is_refused(dev):
    case = await dev.start_case()
    await case.open_task()
    await refused(case, case.decide("reviewer", Decision.APPROVE), "NotClaimed")


async def test_decision_by_reviewer_other_than_claimant_is_refused(dev):
    case = await claimed_case(dev, "reviewer")
    await refused(case, case.decide("reviewer2", Decision.APPROVE), "NotClaimant")


async def test_second_claim_is_refused(dev):
    case = await claimed_case(dev, "reviewer")
    await refused(case, case.claim("reviewer2"), "AlreadyClaimed")
    await refused(case, case.claim("reviewer"), "AlreadyClaimed")


async def test_release_by_reviewer_other_than_claimant_is_refused(dev):
    case = await claimed_case(dev, "reviewer")
    await refused(case, case.unclaim("reviewer2"), "NotClaimant")


async def test_claim_refused_by_its_activity_leaves_the_case_unclaimed(dev, services):
    """The validator passes but the activity refuses (an account the database does not know): the
    case must not stay claimed by nobody-real, or no reviewer could ever claim it again."""
    from workflows.registration import ClaimInput, ProjectRegistrationWorkflow

    case = await dev.start_case()
    task = await case.open_task()
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await case.handle.execute_update(ProjectRegistrationWorkflow.claim, ClaimInput(999_999, task.id))
    assert failed.value.cause.cause.type == "UnknownActor"
    view = await case.status()
    assert view.claimant_id is None and view.waiting_on == "queue"
    await case.claim("reviewer")
    assert (await case.status()).claimant_id == account_id(services, "reviewer")
    assert await case.decide("reviewer", Decision.APPROVE) == "approved"


@pytest.mark.parametrize("decision", [Decision.REJECT, Decision.RETURN])
@pytest.mark.parametrize("reason", ["", "   "], ids=["empty", "blank"])
async def test_rejection_or_return_without_reason_is_refused(dev, decision, reason):
    case = await claimed_case(dev)
    await refused(case, case.decide("reviewer", decision, reason), "ReasonRequired")


async def test_action_on_task_of_earlier_round_is_refused(dev):
    case = await returned_case(dev)
    first = case.tasks()[0]
    correction_id, base_revision = case.save_correction(name="青秀区测试安置房项目（修正）")
    await case.resubmit(correction_id, base_revision)
    await case.open_task(round=2)

    await refused(case, case.claim("reviewer", task_id=first.id), "StaleTask")
    await case.claim("reviewer")
    await refused(case, case.decide("reviewer", Decision.APPROVE, task_id=first.id), "StaleTask")


async def test_resubmission_based_on_older_revision_is_refused(dev):
    case = await returned_case(dev)
    correction_id, base_revision = case.save_correction(name="青秀区测试安置房项目（修正）")
    await refused(case, case.resubmit(correction_id, base_revision - 1), "StaleForm")
    app = case.application()
    assert (app.status, app.revision) == ("returned", 1)


async def test_second_approval_of_approved_case_fails_and_changes_nothing(dev):
    case = await claimed_case(dev)
    task_id = (await case.status()).task_id
    await case.decide("reviewer", Decision.APPROVE)
    await case.result()
    before = db_snapshot(dev.services)

    with pytest.raises(RPCError) as failed:  # the case is closed: no handler is left to ask
        await case.decide("reviewer", Decision.APPROVE, task_id=task_id)
    assert failed.value.status == RPCStatusCode.NOT_FOUND
    assert db_snapshot(dev.services) == before
    assert len(case.projects()) == 1 and len(case.notifications("registration_approved")) == 1


async def test_concurrent_double_approval_creates_one_project(dev):
    case = await claimed_case(dev)
    outcomes = await asyncio.gather(*(case.decide("reviewer", Decision.APPROVE) for _ in range(2)),
                                    return_exceptions=True)

    assert outcomes.count("approved") == 1
    [failure] = [o for o in outcomes if o != "approved"]
    if isinstance(failure, WorkflowUpdateFailedError):
        assert failure.cause.type in ("Busy", "NotInReview")
    else:
        assert isinstance(failure, RPCError) and failure.status == RPCStatusCode.NOT_FOUND
    assert (await case.result()).status == "approved"
    assert len(case.projects()) == 1 and len(case.notifications("registration_approved")) == 1
    assert len(case.audit("registration.approve")) == 1
