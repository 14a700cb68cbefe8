"""ENR-1, ENR-4…7 enrolment on the real dev server: EnrolmentWorkflow with the real worker and the
real EnrolmentActivities on the test's SQLite database, acted on by updates as the web layer does.

The worker, the engagement, the app account and the contract are created; admission waits for
both the signed scan and the training, in either order; a duplicate (the same person active on
another project) waits for the specialist's decision; refusals arrive with their codes.
`SHIMING_RECORD_HISTORIES=1` refreshes the committed histories replayed by test_enrolment_replay.py.
"""
from __future__ import annotations

import zipfile
import io

import pytest
from sqlalchemy import func, select
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError

from domain import face
from domain import workforce
from domain.models import (
    AuditLog,
    FaceTemplate,
    HumanTask,
    ProjectWorker,
    SafetyTraining,
    SiteAccessGrant,
    StoredFile,
    TaskStatus,
    Worker,
    WorkerAppAccount,
)
from domain.passwords import verify_password
from domain.processes.enrolment import (
    AttendanceMode,
    ContractScanInput,
    DuplicateDecision,
    EnrolmentState,
    FaceConsent,
    Refusal,
    ResolveDuplicateInput,
    TrainingInput,
    Waiting,
)
from tests.helpers import enrolment as h
from tests.helpers.enrolment import record_history, start_workflow, state_is
from workflows.enrolment import EnrolmentWorkflow

async def refused(action, code: str) -> None:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await action
    assert caught.value.cause.type == code, caught.value.cause


def training(actor_id: int, file_id: int, **changes) -> TrainingInput:
    values = dict(actor_id=actor_id, course="三级安全教育（项目级）", trained_on="2026-12-02", hours_x10=240,
                  certificate_file_id=file_id)
    values.update(changes)
    return TrainingInput(**values)


async def test_enrolment_creates_the_worker_and_admits_only_with_contract_scan_and_training(dev, started):
    services = dev.services
    s = h.site(services)
    enrolment_id, workflow_id = h.start(services, s)
    handle = await start_workflow(dev, started, enrolment_id, workflow_id, s.actor_id)
    view = await state_is(handle, EnrolmentState.AWAITING_DOCUMENTS)
    assert view.waiting_on == Waiting.CONTRACT_AND_TRAINING and view.duplicate_task_id is None

    row = h.enrolment(services, enrolment_id)
    with services.Session() as session:
        worker = session.get(Worker, row.worker_id)
        pw = session.get(ProjectWorker, row.project_worker_id)
        assert worker.verified_by_card and worker.face_consent == FaceConsent.GIVEN
        assert worker.face_consent_by == s.actor_id and worker.face_consent_at is not None
        assert worker.attendance_mode == AttendanceMode.FACE
        assert workforce.id_number_of(services.cipher, worker) == h.id_number()
        stored = session.scalar(select(FaceTemplate).where(FaceTemplate.worker_id == worker.id))
        assert h.TEMPLATE.hex() not in stored.template_enc  # sealed, never in the clear
        assert face.decrypt_template(services.cipher, stored.template_enc, str(worker.id)) == h.TEMPLATE
        assert row.staged_template_enc is None
        assert (pw.team_id, pw.company_id, pw.trade) == (s.team_id, s.company_id, "020")
        assert pw.contract_start.isoformat() == "2026-12-01" and pw.admitted_at is None
        app = session.scalar(select(WorkerAppAccount).where(WorkerAppAccount.worker_id == worker.id))
        assert app.must_change_password and verify_password(app.password_hash, h.id_number()[-6:])
        assert app.login_hash == workforce.id_number_hash(services.cipher, h.id_number())
        contract = session.get(StoredFile, row.contract_file_id)
        document = zipfile.ZipFile(io.BytesIO(services.blobs.get(contract.sha256))).read("word/document.xml").decode()
        assert "劳动合同" in document and "覃建国" in document and h.id_number() not in document

    scan = h.stored_scan(services)
    await refused(handle.execute_update(EnrolmentWorkflow.submit_contract_scan, ContractScanInput(s.actor_id, 0)),
                  Refusal.SCAN_REQUIRED)
    await refused(handle.execute_update(EnrolmentWorkflow.record_training, training(s.actor_id, scan, hours_x10=0)),
                  Refusal.HOURS_INVALID)
    await refused(handle.execute_update(EnrolmentWorkflow.record_training,
                                        training(s.actor_id, scan, trained_on="2026-13-01")), Refusal.DATE_INVALID)
    await refused(handle.execute_update(EnrolmentWorkflow.record_training, training(s.actor_id, 10**6)),
                  Refusal.UNKNOWN_FILE)  # refused by the activity, passed on with its code
    assert await handle.execute_update(EnrolmentWorkflow.submit_contract_scan,
                                       ContractScanInput(s.actor_id, scan)) is False
    view = await handle.query(EnrolmentWorkflow.status)
    assert view.state == EnrolmentState.AWAITING_DOCUMENTS and view.waiting_on == Waiting.TRAINING
    with services.Session() as session:  # the scan alone admits no one
        assert session.scalar(select(func.count()).select_from(SiteAccessGrant)) == 0
    await refused(handle.execute_update(EnrolmentWorkflow.submit_contract_scan, ContractScanInput(s.actor_id, scan)),
                  Refusal.CONTRACT_ON_FILE)
    assert await handle.execute_update(EnrolmentWorkflow.record_training, training(s.actor_id, scan)) is True
    result = await handle.result()
    assert result.state == EnrolmentState.ADMITTED and result.project_worker_id == row.project_worker_id
    with services.Session() as session:
        grant = session.scalar(select(SiteAccessGrant))
        assert grant.project_worker_id == row.project_worker_id and grant.workflow_id == workflow_id
        assert session.get(ProjectWorker, row.project_worker_id).admitted_at is not None
        trained = session.scalar(select(SafetyTraining))
        assert (trained.hours_x10, trained.certificate_file_id, trained.recorded_by) == (240, scan, s.actor_id)
        actions = set(session.scalars(select(AuditLog.action).where(AuditLog.business_key == workflow_id)))
        assert {"enrolment_started", "contract_scan_uploaded", "safety_training_recorded",
                "site_access_granted"} <= actions
    assert h.enrolment(services, enrolment_id).state == EnrolmentState.ADMITTED
    recorded = (await handle.fetch_history()).to_json()
    assert h.id_number() not in recorded and "覃建国" not in recorded
    record_history(recorded, "admitted")


async def test_worker_who_refuses_face_consent_is_enrolled_for_card_attendance(dev, started):
    services = dev.services
    s = h.site(services)
    enrolment_id, workflow_id = h.start(services, s, h.record(s, face_consent=FaceConsent.REFUSED,
                                                              face_template=None))
    handle = await start_workflow(dev, started, enrolment_id, workflow_id, s.actor_id)
    await state_is(handle, EnrolmentState.AWAITING_DOCUMENTS)
    row = h.enrolment(services, enrolment_id)
    with services.Session() as session:
        worker = session.get(Worker, row.worker_id)
        assert worker.face_consent == FaceConsent.REFUSED and worker.attendance_mode == AttendanceMode.CARD
        assert session.scalar(select(func.count()).select_from(FaceTemplate)) == 0


async def test_duplicate_on_another_project_waits_for_the_specialist_who_may_continue(dev, started):
    services = dev.services
    first = h.site(services)
    other = h.site(services, h.other_project(services))
    enrolment_id, workflow_id = h.start(services, other)  # active there first
    handle = await start_workflow(dev, started, enrolment_id, workflow_id, other.actor_id)
    await state_is(handle, EnrolmentState.AWAITING_DOCUMENTS)

    enrolment_id, workflow_id = h.start(services, first)
    handle = await start_workflow(dev, started, enrolment_id, workflow_id, first.actor_id)
    view = await state_is(handle, EnrolmentState.DUPLICATE_REVIEW)
    assert view.waiting_on == Waiting.SPECIALIST_DUPLICATE
    with services.Session() as session:
        task = session.get(HumanTask, view.duplicate_task_id)
        assert task.status == TaskStatus.ASSIGNED and task.owner_id == first.actor_id
        assert h.enrolment(services, enrolment_id).worker_id is None  # nothing created before the decision
    scan = h.stored_scan(services)
    await refused(handle.execute_update(EnrolmentWorkflow.submit_contract_scan, ContractScanInput(first.actor_id, scan)),
                  Refusal.NOT_AWAITING_DOCUMENTS)
    await refused(handle.execute_update(EnrolmentWorkflow.resolve_duplicate,
                                        ResolveDuplicateInput(first.actor_id, "maybe")), Refusal.UNKNOWN_DECISION)
    await refused(handle.execute_update(EnrolmentWorkflow.resolve_duplicate,
                                        ResolveDuplicateInput(first.actor_id, DuplicateDecision.CANCEL, " ")),
                  Refusal.REASON_REQUIRED)
    await handle.execute_update(EnrolmentWorkflow.resolve_duplicate,
                                ResolveDuplicateInput(first.actor_id, DuplicateDecision.CONTINUE, "两个项目同时施工"))
    await refused(handle.execute_update(EnrolmentWorkflow.resolve_duplicate,
                                        ResolveDuplicateInput(first.actor_id, DuplicateDecision.CONTINUE)),
                  Refusal.NOT_IN_DUPLICATE_REVIEW)
    await state_is(handle, EnrolmentState.AWAITING_DOCUMENTS)
    await handle.execute_update(EnrolmentWorkflow.record_training, training(first.actor_id, scan))
    await handle.execute_update(EnrolmentWorkflow.submit_contract_scan, ContractScanInput(first.actor_id, scan))
    assert (await handle.result()).state == EnrolmentState.ADMITTED
    with services.Session() as session:
        task = session.get(HumanTask, view.duplicate_task_id)
        assert task.status == TaskStatus.DONE and task.outcome == DuplicateDecision.CONTINUE
        assert session.scalar(select(func.count()).select_from(Worker)) == 1  # one person, two engagements
        assert session.scalar(select(func.count()).select_from(ProjectWorker)) == 2
        assert session.scalar(select(func.count()).select_from(WorkerAppAccount)) == 1
    record_history((await handle.fetch_history()).to_json(), "duplicate_continued")


async def test_duplicate_cancelled_by_the_specialist_creates_nothing(dev, started):
    services = dev.services
    first = h.site(services)
    other = h.site(services, h.other_project(services))
    enrolment_id, workflow_id = h.start(services, other)
    await state_is(await start_workflow(dev, started, enrolment_id, workflow_id, other.actor_id),
                   EnrolmentState.AWAITING_DOCUMENTS)
    enrolment_id, workflow_id = h.start(services, first)
    handle = await start_workflow(dev, started, enrolment_id, workflow_id, first.actor_id)
    await state_is(handle, EnrolmentState.DUPLICATE_REVIEW)
    await handle.execute_update(EnrolmentWorkflow.resolve_duplicate,
                                ResolveDuplicateInput(first.actor_id, DuplicateDecision.CANCEL, "已在其他项目在岗"))
    assert (await handle.result()).state == EnrolmentState.CANCELLED
    row = h.enrolment(services, enrolment_id)
    assert row.state == EnrolmentState.CANCELLED and row.worker_id is None and row.staged_template_enc is None
    assert row.duplicate_reason == "已在其他项目在岗"
    with services.Session() as session:
        assert session.scalar(select(func.count()).select_from(ProjectWorker)
                              .where(ProjectWorker.project_id == first.project_id)) == 0
    record_history((await handle.fetch_history()).to_json(), "duplicate_cancelled")


async def test_administrator_cancel_ends_the_enrolment_cancelled_without_admission(dev, started):
    services = dev.services
    s = h.site(services)
    enrolment_id, workflow_id = h.start(services, s)
    handle = await start_workflow(dev, started, enrolment_id, workflow_id, s.actor_id)
    await state_is(handle, EnrolmentState.AWAITING_DOCUMENTS)
    await handle.cancel()
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    row = h.enrolment(services, enrolment_id)
    assert row.state == EnrolmentState.CANCELLED and row.admitted_at is None
    with services.Session() as session:
        assert session.scalar(select(func.count()).select_from(SiteAccessGrant)) == 0
    record_history((await handle.fetch_history()).to_json(), "admin_cancelled")
