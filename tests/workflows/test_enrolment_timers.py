"""EnrolmentWorkflow's reminder on the time-skipping server: while the signed contract scan or the
safety training is missing, the specialist who enrolled the worker is reminded every REMIND_EVERY;
the documents then admit the worker as usual."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from domain.models import Notification
from domain.processes.enrolment import ContractScanInput, EnrolmentState, TrainingInput
from tests.helpers import enrolment as h
from tests.helpers.workflow_env import wait_for
from tests.helpers.enrolment import record_history, start_workflow, state_is
from workflows.enrolment import REMIND_EVERY, EnrolmentWorkflow


def reminders(services) -> list[Notification]:
    with services.Session() as session:
        return list(session.scalars(select(Notification).where(Notification.template == "enrolment_documents_missing")
                                    .order_by(Notification.id)))


async def test_missing_documents_remind_the_specialist_every_week_until_admitted(skipping, started):
    services = skipping.services
    s = h.site(services)
    enrolment_id, workflow_id = h.start(services, s)
    handle = await start_workflow(skipping, started, enrolment_id, workflow_id, s.actor_id)
    await state_is(handle, EnrolmentState.AWAITING_DOCUMENTS)
    assert reminders(services) == []
    await skipping.env.sleep(REMIND_EVERY - timedelta(hours=1))
    assert reminders(services) == []
    await skipping.env.sleep(timedelta(hours=2))
    first = await wait_for(lambda: reminders(services), "the first reminder")
    assert [(n.account_id, n.channel) for n in first] == [(s.actor_id, "inbox")]
    scan = h.stored_scan(services)
    await handle.execute_update(EnrolmentWorkflow.submit_contract_scan, ContractScanInput(s.actor_id, scan))
    await skipping.env.sleep(REMIND_EVERY)
    await wait_for(lambda: len(reminders(services)) == 2, "the second reminder (training still missing)")
    assert (await handle.query(EnrolmentWorkflow.status)).reminders == 2
    await handle.execute_update(EnrolmentWorkflow.record_training,
                                TrainingInput(s.actor_id, "三级安全教育", "2026-12-02", 80, scan))
    assert (await handle.result()).state == EnrolmentState.ADMITTED
    assert len(reminders(services)) == 2
    record_history((await handle.fetch_history()).to_json(), "reminded_then_admitted")
