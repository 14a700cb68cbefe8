"""Administrators (ADM-1, ADM-2): process list and timeline, cancel and retry with a reason."""
from __future__ import annotations

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowExecutionStatus

from domain import audit
from domain.models import AuditLog
from tests.helpers.web_app import account_id, create_registration, enter_session
from tests.helpers.fakes import FakeExecution, failed_history
from domain.processes.registration import RegistrationStatusView


@pytest.fixture
def admin(app, services):
    client = app.test_client()
    enter_session(client, services, "admin")
    client.get("/lang/en")
    return client


@pytest.fixture
def case(services, bridge):
    c = create_registration(services)
    reviewer = account_id(services, "reviewer")
    bridge.client.executions[c["workflow_id"]] = FakeExecution(
        c["workflow_id"], view=RegistrationStatusView("in_review", 1, 1, c["task_id"], reviewer, False, False,
                                                      f"reviewer:{reviewer}"))
    with services.Session.begin() as db:
        audit.record(db, actor_id=reviewer, actor_name="青秀区建管科 李审核", action="task.claim", target_type="task",
                     target_id=c["task_id"], business_key=c["number"])
        audit.record(db, actor_id=reviewer, actor_name="青秀区建管科 李审核", action="registration.return_for_correction",
                     target_type="registration", target_id=c["id"], business_key=c["number"], reason="缺少盖章")
    return c


def _audits(services, action: str) -> list[AuditLog]:
    with services.Session() as db:
        return list(db.scalars(select(AuditLog).where(AuditLog.action == action)))


def test_the_list_shows_step_and_who_it_waits_on(admin, case):
    page = admin.get("/admin/").get_data(as_text=True)
    assert f'data-workflow-id="{case["workflow_id"]}"' in page
    assert "Project registration" in page and "In review" in page and "reviewer 青秀区建管科 李审核" in page


def test_the_process_page_tells_the_story_in_business_words(admin, services, case):
    page = admin.get(f"/admin/process/{case['workflow_id']}").get_data(as_text=True)
    assert "青秀区建管科 李审核 claimed the case" in page
    assert "青秀区建管科 李审核 returned it for correction: 缺少盖章" in page
    assert "Review round 1 opened" in page
    assert f'data-task-id="{case["task_id"]}"' in page  # pending task
    ui = f'{services.settings.temporal_ui_url}/namespaces/default/workflows/{case["workflow_id"]}'
    assert f'href="{ui}"' in page


def test_an_unknown_process_is_not_found(admin):
    assert admin.get("/admin/process/registration-NOPE").status_code == 404


@pytest.mark.parametrize("action", ["cancel", "retry"])
def test_cancel_and_retry_require_a_reason(admin, services, bridge, case, action):
    response = admin.post(f"/admin/process/{case['workflow_id']}/{action}", data={"reason": "  "},
                          follow_redirects=True)
    assert "A reason is required." in response.get_data(as_text=True)
    assert bridge.client.cancelled == [] and bridge.client.resets == []
    assert _audits(services, f"admin.{action}") == []


def test_cancel_with_a_reason_cancels_and_is_audited(admin, services, bridge, case):
    response = admin.post(f"/admin/process/{case['workflow_id']}/cancel", data={"reason": "duplicate application"})
    assert response.status_code == 302
    assert bridge.client.cancelled == [case["workflow_id"]]
    [row] = _audits(services, "admin.cancel")
    assert row.reason == "duplicate application" and row.actor_id == account_id(services, "admin")
    assert row.business_key == case["number"] and row.target_id == case["workflow_id"]


def test_retry_of_a_running_process_is_refused_with_a_message(admin, services, bridge, case):
    page = admin.post(f"/admin/process/{case['workflow_id']}/retry", data={"reason": "try again"},
                      follow_redirects=True).get_data(as_text=True)
    assert "still running" in page
    assert bridge.client.resets == [] and _audits(services, "admin.retry") == []


def test_retry_resets_a_failed_process_to_its_last_completed_workflow_task(admin, services, bridge, case):
    ex = bridge.client.executions[case["workflow_id"]]
    ex.status, ex.events = WorkflowExecutionStatus.FAILED, failed_history()
    response = admin.post(f"/admin/process/{case['workflow_id']}/retry", data={"reason": "database was down"})
    assert response.status_code == 302
    [request] = bridge.client.resets
    assert request.namespace == "default"
    assert request.workflow_execution.workflow_id == case["workflow_id"]
    assert request.workflow_task_finish_event_id == 16
    assert request.reason == "database was down" and request.request_id
    [row] = _audits(services, "admin.retry")
    assert row.reason == "database was down" and row.actor_name == "系统管理员"
    assert "run-2" in row.detail


def test_a_completed_process_cannot_be_retried(admin, services, bridge, case):
    bridge.client.executions[case["workflow_id"]].status = WorkflowExecutionStatus.COMPLETED
    page = admin.post(f"/admin/process/{case['workflow_id']}/retry", data={"reason": "x"},
                      follow_redirects=True).get_data(as_text=True)
    assert "Only a failed, terminated or timed-out process can be retried." in page
    assert bridge.client.resets == []


def test_an_unreachable_engine_still_shows_the_records(admin, bridge, case):
    bridge.down = True
    assert 'id="engine-unavailable"' in admin.get("/admin/").get_data(as_text=True)
    page = admin.get(f"/admin/process/{case['workflow_id']}").get_data(as_text=True)
    assert 'id="engine-unavailable"' in page and "claimed the case" in page
