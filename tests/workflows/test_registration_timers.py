"""REG-3 due time, reminder and escalation of a registration review, on the time-skipping server.

The test server's clock starts at real now, so the due and escalation times are read from the
inbox row the workflow opened (3 and 6 working days after opening, Asia/Shanghai calendar).
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType

from domain.processes.registration import Decision
from domain.calendar import LOCAL_TZ
from tests.helpers.workflow_env import RegistrationCase, account_id, as_utc, wait_for

MARGIN = timedelta(minutes=1)


def recipients(case: RegistrationCase, template: str) -> set[int]:
    rows = case.notifications(template)
    assert all(row.channel == "inbox" for row in rows)
    return {row.account_id for row in rows}


def ids(services, *usernames: str) -> set[int]:
    return {account_id(services, name) for name in usernames}


async def scheduled_activities(case: RegistrationCase) -> list[str]:
    history = await case.handle.fetch_history()
    return [event.activity_task_scheduled_event_attributes.activity_type.name for event in history.events
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]


async def test_review_is_due_three_working_days_and_escalates_after_six(skipping, services):
    case = await skipping.start_case()
    task = await case.open_task()

    opened_local = as_utc(task.created_at).astimezone(LOCAL_TZ)
    assert as_utc(task.due_at) == services.calendar.add_working_days(opened_local, 3)
    assert as_utc(task.escalate_at) == services.calendar.add_working_days(opened_local, 6)
    assert timedelta(days=3) <= task.due_at - task.created_at <= timedelta(days=5)


async def test_unclaimed_overdue_case_reminds_district_reviewers_then_escalates_to_chief(skipping, services):
    case = await skipping.start_case()
    task = await case.open_task()

    await skipping.skip_to(as_utc(task.due_at) - MARGIN)
    assert "remind_review_task" not in await scheduled_activities(case)
    assert case.task(task.id).reminded_at is None
    assert not case.notifications("review_overdue")

    await skipping.skip_to(as_utc(task.due_at) + MARGIN)
    view = await wait_for(lambda: _reminded(case), "the reminder")
    assert not view.escalated
    row = case.task(task.id)
    assert row.reminded_at is not None and row.escalated_at is None
    assert recipients(case, "review_overdue") == ids(services, "reviewer", "reviewer2")
    assert account_id(services, "reviewer_xxt") not in recipients(case, "review_overdue")
    assert not case.notifications("review_escalated")
    assert len(case.audit("task.remind")) == 1

    await skipping.skip_to(as_utc(task.escalate_at) + MARGIN)
    view = await wait_for(lambda: _escalated(case), "the escalation")
    assert view.reminded and view.status == "in_review" and view.waiting_on == "queue"
    row = case.task(task.id)
    assert row.escalated_at is not None and row.status == "NEW"
    assert recipients(case, "review_escalated") == ids(services, "chief")
    assert len(case.notifications("review_overdue")) == 2  # the reminder is not sent twice
    assert len(case.audit("task.escalate")) == 1


async def test_claimed_overdue_case_reminds_only_the_claimant(skipping, services):
    case = await skipping.start_case()
    task = await case.open_task()
    await case.claim("reviewer2")

    await skipping.skip_to(as_utc(task.due_at) + MARGIN)
    await wait_for(lambda: _reminded(case), "the reminder")

    assert recipients(case, "review_overdue") == ids(services, "reviewer2")
    row = case.task(task.id)
    assert row.reminded_at is not None and row.owner_id == account_id(services, "reviewer2")


@pytest.mark.parametrize("decision, reason", [(Decision.APPROVE, ""), (Decision.RETURN, "缺少盖章页")],
                         ids=["approved", "returned"])
async def test_case_decided_before_due_time_is_never_reminded(skipping, services, decision, reason):
    case = await skipping.start_case()
    task = await case.open_task()
    await case.claim("reviewer")
    await skipping.skip_to(as_utc(task.due_at) - MARGIN)
    await case.decide("reviewer", decision, reason)

    await skipping.skip_to(as_utc(task.escalate_at) + MARGIN)
    if decision == Decision.APPROVE:
        assert (await case.result()).status == "approved"
    else:  # still running, waiting for the applicant's correction
        view = await case.status()
        assert view.status == "returned" and not view.reminded and not view.escalated

    activities = await scheduled_activities(case)
    assert "remind_review_task" not in activities and "escalate_review_task" not in activities
    row = case.task(task.id)
    assert row.reminded_at is None and row.escalated_at is None
    assert not case.notifications("review_overdue") and not case.notifications("review_escalated")


async def _reminded(case: RegistrationCase):
    view = await case.status()
    return view if view.reminded else None


async def _escalated(case: RegistrationCase):
    view = await case.status()
    return view if view.escalated else None
