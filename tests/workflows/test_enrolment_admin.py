"""ADM-1/2 for EnrolmentWorkflow: the administrator's list and process page show its step and whom it
waits for (from the status query, and from the database when no worker answers), and the
administrator's cancel ends the enrolment cancelled, as for the other process types."""
from __future__ import annotations

from html import escape
from uuid import uuid4

from temporalio.client import WorkflowExecutionStatus

from domain.processes.enrolment import ContractScanInput, EnrolmentInput, EnrolmentState
from tests.helpers import enrolment as h
from tests.helpers.platform import closed_as, get, platform, post
from tests.helpers.enrolment import state_is
from workflows.enrolment import EnrolmentWorkflow


def row_of(listing: str, workflow_id: str) -> str:
    start = listing.index(f'data-workflow-id="{workflow_id}"')
    return listing[start:listing.index("</tr>", start)]


async def test_the_admin_pages_show_the_enrolment_step_and_cancel_it(dev_env, services, tmp_path):
    s = h.site(services)
    async with platform(dev_env, services, tmp_path) as p:
        enrolment_id, workflow_id = h.start(services, s)
        handle = await p.start(EnrolmentWorkflow.run, EnrolmentInput(enrolment_id, s.actor_id), workflow_id)
        await state_is(handle, EnrolmentState.AWAITING_DOCUMENTS)
        await handle.execute_update(EnrolmentWorkflow.submit_contract_scan,
                                    ContractScanInput(s.actor_id, h.stored_scan(services)))
        admin = p.page("admin")
        step, waiting = escape("Enrolled, not admitted"), escape("the labour specialist: record the safety training")
        row = row_of(await get(admin, "/admin/?status=Running"), workflow_id)
        assert f"<td>{step}</td>" in row and f"<td>{waiting}</td>" in row, row
        page = await get(admin, f"/admin/process/{workflow_id}")
        assert f"<dd>{step}</dd>" in page and f"<dd>{waiting}</dd>" in page

        # a second case on a queue no worker polls: the database's view
        other_id, other_wf = h.start(services, s, h.record(s, id_number=h.id_number(124)))
        await p.start(EnrolmentWorkflow.run, EnrolmentInput(other_id, s.actor_id), other_wf,
                      task_queue=f"tq-nobody-{uuid4()}")
        row = row_of(await get(admin, "/admin/?status=Running"), other_wf)
        assert f"<td>{escape('Checking for a duplicate enrolment')}</td>" in row, row

        assert "Cancellation requested." in await post(admin, f"/admin/process/{workflow_id}/cancel",
                                                       data={"reason": "采集信息有误"})
        await closed_as(handle, WorkflowExecutionStatus.CANCELED)
        row = h.enrolment(services, enrolment_id)
        assert row.state == EnrolmentState.CANCELLED and row.admitted_at is None
