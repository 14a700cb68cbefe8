"""The bureau inbox and case page (REG-2): scope, updates sent to the process, refusals."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from domain.processes.registration import Decision
from domain.models import AuditLog, HumanTask, TaskStatus, utcnow
from tests.helpers.web_app import account_id, create_registration, enter_session
from domain.processes.registration import ClaimInput, DecideInput
from workflows.registration import ProjectRegistrationWorkflow


@pytest.fixture
def case(services):
    return create_registration(services)


def as_user(app, services, username: str):
    client = app.test_client()
    enter_session(client, services, username)
    return client


def test_a_reviewer_of_another_district_gets_404(app, services, bridge, case):
    client = as_user(app, services, "reviewer_xxt")
    task = case["task_id"]
    for url in (f"/bureau/task/{task}", f"/bureau/task/{task}/scan", f"/bureau/task/{task}/application.docx"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/bureau/task/{task}/claim", data={"task_id": task}).status_code == 404
    assert client.get("/bureau/inbox?district=1").status_code == 404
    assert case["number"] not in client.get("/bureau/inbox").get_data(as_text=True)
    assert bridge.updates == []


def test_the_queue_shows_new_tasks_of_my_district_and_flags_escalated_ones(app, services, case):
    with services.Session.begin() as db:
        db.get(HumanTask, case["task_id"]).escalated_at = utcnow()
    for username in ("reviewer", "chief"):
        page = as_user(app, services, username).get("/bureau/inbox?view=queue").get_data(as_text=True)
        assert f'data-task-id="{case["task_id"]}"' in page and 'data-flag="escalated"' in page, username
    mine = as_user(app, services, "reviewer").get("/bureau/inbox?view=mine").get_data(as_text=True)
    assert f'data-task-id="{case["task_id"]}"' not in mine


def test_mine_and_done_views_and_the_due_filter(app, services, case):
    reviewer = account_id(services, "reviewer")
    with services.Session.begin() as db:
        task = db.get(HumanTask, case["task_id"])
        task.status, task.owner_id = TaskStatus.ASSIGNED, reviewer
    client = as_user(app, services, "reviewer")
    row = f'data-task-id="{case["task_id"]}"'
    assert row in client.get("/bureau/inbox?view=mine").get_data(as_text=True)
    assert row not in client.get("/bureau/inbox?view=queue").get_data(as_text=True)
    assert row not in client.get("/bureau/inbox?view=mine&due=overdue").get_data(as_text=True)
    assert row not in as_user(app, services, "reviewer2").get("/bureau/inbox?view=mine").get_data(as_text=True)
    with services.Session.begin() as db:
        task = db.get(HumanTask, case["task_id"])
        task.status, task.finished_at, task.outcome = TaskStatus.DONE, utcnow(), Decision.APPROVE
    assert row in client.get("/bureau/inbox?view=done").get_data(as_text=True)
    assert row not in client.get("/bureau/inbox?view=done&status=CANCELED").get_data(as_text=True)


def test_the_case_page_masks_the_phone_and_offers_claim(app, services, case):
    page = as_user(app, services, "reviewer").get(f"/bureau/task/{case['task_id']}").get_data(as_text=True)
    assert "139****5678" in page and "13912345678" not in page
    assert 'data-action="claim"' in page and 'data-action="approve"' not in page
    assert "李联系" in page and "填写了申请表" in page  # the timeline, in business words


@pytest.mark.parametrize("action, update, expected", [
    ("claim", ProjectRegistrationWorkflow.claim, lambda me, t: ClaimInput(me, t)),
    ("unclaim", ProjectRegistrationWorkflow.unclaim, lambda me, t: ClaimInput(me, t)),
    ("approve", ProjectRegistrationWorkflow.decide, lambda me, t: DecideInput(me, t, Decision.APPROVE, "")),
    ("reject", ProjectRegistrationWorkflow.decide,
     lambda me, t: DecideInput(me, t, Decision.REJECT, "材料不齐")),
    ("return", ProjectRegistrationWorkflow.decide,
     lambda me, t: DecideInput(me, t, Decision.RETURN, "材料不齐")),
])
def test_an_action_sends_the_right_update(app, services, bridge, case, action, update, expected):
    client = as_user(app, services, "reviewer")
    task = case["task_id"]
    response = client.post(f"/bureau/task/{task}/{action}", data={"task_id": task, "reason": "  材料不齐 "
                                                                  if action in ("reject", "return") else ""})
    assert response.status_code == 302
    [(workflow_id, sent_update, arg)] = bridge.updates
    assert workflow_id == case["workflow_id"]
    assert sent_update == update
    assert arg == expected(account_id(services, "reviewer"), task)
    assert 'class="flash flash-success"' in client.get(response.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize("action", ["reject", "return"])
@pytest.mark.parametrize("reason", ["", "   "])
def test_reject_and_return_without_a_reason_are_refused_by_the_form(app, services, bridge, case, action, reason):
    client = as_user(app, services, "reviewer")
    response = client.post(f"/bureau/task/{case['task_id']}/{action}",
                           data={"task_id": case["task_id"], "reason": reason})
    assert response.status_code == 422
    assert "需要填写理由" in response.get_data(as_text=True)
    assert bridge.updates == []


def test_a_form_rendered_for_another_task_is_refused_before_the_process(app, services, bridge, case):
    client = as_user(app, services, "reviewer")
    response = client.post(f"/bureau/task/{case['task_id']}/claim", data={"task_id": case["task_id"] + 1000})
    assert response.status_code == 302 and bridge.updates == []


def test_the_engine_being_down_is_a_message_not_a_crash(app, services, bridge, case):
    bridge.update = lambda *a: (_ for _ in ()).throw(RuntimeError("connection refused"))
    client = as_user(app, services, "reviewer")
    page = client.post(f"/bureau/task/{case['task_id']}/claim", data={"task_id": case["task_id"]},
                       follow_redirects=True).get_data(as_text=True)
    assert "流程服务暂时无法连接" in page


def test_roles_outside_the_bureau_are_forbidden(app, services, case):
    for username in ("admin", "project", "enterprise"):
        assert as_user(app, services, username).get(f"/bureau/task/{case['task_id']}").status_code == 403


def test_the_scan_is_served_with_its_content_type(app, services, case):
    from domain.models import RegistrationApplication
    from tests.helpers.web_app import tiny_png

    with services.Session.begin() as db:
        db.get(RegistrationApplication, case["id"]).scan_file_id = services.blobs.store_scan(
            db, tiny_png(), 10_000, "scan").id
    response = as_user(app, services, "reviewer").get(f"/bureau/task/{case['task_id']}/scan")
    assert response.status_code == 200 and response.mimetype == "image/png" and response.data == tiny_png()
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_no_audit_row_is_written_by_the_web_layer_for_a_claim(app, services, bridge, case):
    """Claims are recorded by the process's activity, once; the web layer only asks."""
    as_user(app, services, "reviewer").post(f"/bureau/task/{case['task_id']}/claim", data={"task_id": case["task_id"]})
    with services.Session() as db:
        assert db.scalar(select(AuditLog).where(AuditLog.action == "task.claim")) is None
