"""A case's page (ENR-4…7): its state as the process reports it, the duplicate decision, the contract
to download, the signed scan and the safety training uploaded, each action an update of
EnrolmentWorkflow; a refused update leaves no file row behind."""
from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Optional

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from domain import enrolment as enr
from domain.labour_contract import DOCX
from domain.models import Company, StoredFile, Team, Worker
from domain.processes.enrolment import (
    ContractScanInput,
    DuplicateDecision,
    EnrolmentState,
    FaceConsent,
    Refusal,
    ResolveDuplicateInput,
    TrainingInput,
    Waiting,
)
from domain.rules import TRADE_CODES, mask_id_number
from domain.uploads import UploadError, check_scan, read_upload
from workflows.enrolment import EnrolmentWorkflow

from ..core import bridge, call_process, send_bytes, services
from ..formutil import flash_form_problem
from ..i18n import upload_message
from ..refusals import ENROLMENT_REFUSALS
from .forms import ContractScanForm, DuplicateForm, TrainingForm
from .routes import STATE, _collector_company, _enrolment, _label, bp

log = logging.getLogger("shiming.web.enrolment")

WAITING = {
    Waiting.SPECIALIST_DUPLICATE: _l("Decide whether this enrolment continues."),
    Waiting.CONTRACT_SCAN: _l("Upload the signed labour contract."),
    Waiting.TRAINING: _l("Record the safety training."),
    Waiting.CONTRACT_AND_TRAINING: _l("Upload the signed labour contract and record the safety training."),
}


def _view(workflow_id: str):
    try:
        return bridge().run(lambda c: c.get_workflow_handle(workflow_id).query(EnrolmentWorkflow.status), timeout=10)
    except Exception:  # noqa: BLE001 - the page shows the database's view
        log.info("enrolment %s: status query failed", workflow_id, exc_info=True)
        return None


@bp.route("/<int:enrolment_id>")
def case(enrolment_id: int):
    company_id = _collector_company()
    cipher = services().cipher
    with services().Session() as db:
        row = _enrolment(db, enrolment_id, company_id)
        team, company = db.get(Team, row.team_id), db.get(Company, row.company_id)
        training = enr.training_of(db, row)
        worker = db.get(Worker, row.worker_id) if row.worker_id else None
        w = {"id": row.id, "name": row.name, "id_number": mask_id_number(enr.id_number_of(cipher, row)),
             "state": row.state, "team": team.name if team else "", "leader": team.leader_name if team else "",
             "company": company.name if company else "",
             "trade": f"{row.trade} {TRADE_CODES.get(row.trade, '')}",
             "period": f"{row.contract_start.isoformat()} — "
                       f"{row.contract_end.isoformat() if row.contract_end else _('until the work is done')}",
             "consent": row.face_consent, "consent_at": row.face_consent_at,
             "verified_by_card": worker.verified_by_card if worker else row.verified_by_card,
             "contract_file": bool(row.contract_file_id), "scan_on_file": bool(row.contract_scan_file_id),
             "training": {"course": training.course, "trained_on": training.trained_on.isoformat(),
                          "hours": f"{training.hours_x10 / 10:g}"} if training else None,
             "admitted_at": row.admitted_at, "project_worker_id": row.project_worker_id,
             "duplicate_decision": row.duplicate_decision, "workflow_id": row.workflow_id}
    view = _view(w["workflow_id"]) if w["state"] not in (EnrolmentState.ADMITTED, EnrolmentState.CANCELLED) else None
    state = view.state if view is not None else w["state"]
    return render_template("enrolment/case.html", w=w, state=state, state_label=_label(STATE, state),
                           waiting=_label(WAITING, view.waiting_on) if view is not None else "",
                           reachable=view is not None, FaceConsent=FaceConsent, EnrolmentState=EnrolmentState,
                           duplicate_form=DuplicateForm(formdata=None), scan_form=ContractScanForm(formdata=None),
                           training_form=TrainingForm(formdata=None))


def _back(enrolment_id: int, anchor: str = ""):
    return redirect(url_for("enrolment.case", enrolment_id=enrolment_id) + (f"#{anchor}" if anchor else ""))


def _workflow_of(enrolment_id: int) -> str:
    """The process of an enrolment the caller may act on (404 outside the caller's scope)."""
    company_id = _collector_company()
    with services().Session() as db:
        return _enrolment(db, enrolment_id, company_id).workflow_id


def _update(workflow_id: str, update, arg) -> bool:
    ok, _result, _code = call_process(lambda: bridge().update(workflow_id, update, arg), ENROLMENT_REFUSALS)
    return ok


@bp.route("/<int:enrolment_id>/duplicate", methods=["POST"])
def duplicate(enrolment_id: int):
    workflow_id = _workflow_of(enrolment_id)
    form = DuplicateForm()
    if not form.validate_on_submit():
        flash_form_problem(form)
        return _back(enrolment_id, "duplicate")
    if _update(workflow_id, EnrolmentWorkflow.resolve_duplicate,
               ResolveDuplicateInput(current_user.id, form.decision.data, form.reason.data or "")):
        flash(_("The enrolment goes on.") if form.decision.data == DuplicateDecision.CONTINUE
              else _("The enrolment was cancelled."), "success")
    return _back(enrolment_id, "duplicate")


@bp.route("/<int:enrolment_id>/contract.docx")
def contract(enrolment_id: int):
    company_id = _collector_company()
    with services().Session() as db:
        row = _enrolment(db, enrolment_id, company_id)
        stored = db.get(StoredFile, row.contract_file_id) if row.contract_file_id else None
        if stored is None:
            abort(404)
        data = services().blobs.get(stored.sha256)
    return send_bytes(data, _("Labour contract %(id)s.docx", id=enrolment_id), DOCX)


def _store_scan(field) -> Optional[int]:
    """A checked scan (PDF/JPEG/PNG by content) stored; its file id, or None after flashing why not."""
    limit = services().settings.upload_max_bytes
    try:
        data = read_upload(field.data, limit)
        content_type = check_scan(data, limit)
    except UploadError as exc:
        flash(upload_message(str(exc)), "error")
        return None
    with services().Session.begin() as db:
        return services().blobs.store(db, data, content_type, "scan").id


def _forget(file_id: int) -> None:
    """A refused update leaves no file row behind (the content-addressed blob may stay, unreferenced)."""
    with services().Session.begin() as db:
        stored = db.get(StoredFile, file_id)
        if stored is not None:
            db.delete(stored)


@bp.route("/<int:enrolment_id>/contract-scan", methods=["POST"])
def contract_scan(enrolment_id: int):
    workflow_id = _workflow_of(enrolment_id)
    form = ContractScanForm()
    if not form.validate_on_submit():
        flash_form_problem(form)
        return _back(enrolment_id, "contract")
    file_id = _store_scan(form.scan)
    if file_id is None:
        return _back(enrolment_id, "contract")
    if _update(workflow_id, EnrolmentWorkflow.submit_contract_scan, ContractScanInput(current_user.id, file_id)):
        flash(_("The signed contract is on file."), "success")
    else:
        _forget(file_id)
    return _back(enrolment_id, "contract")


@bp.route("/<int:enrolment_id>/training", methods=["POST"])
def training(enrolment_id: int):
    workflow_id = _workflow_of(enrolment_id)
    form = TrainingForm()
    if not form.validate_on_submit():
        flash_form_problem(form)
        return _back(enrolment_id, "training")
    try:
        hours = Decimal(form.hours.data.strip())
    except InvalidOperation:
        flash(str(ENROLMENT_REFUSALS[Refusal.HOURS_INVALID]), "error")
        return _back(enrolment_id, "training")
    if hours != hours.quantize(Decimal("0.1")):
        flash(str(ENROLMENT_REFUSALS[Refusal.HOURS_INVALID]), "error")
        return _back(enrolment_id, "training")
    file_id = _store_scan(form.certificate)
    if file_id is None:
        return _back(enrolment_id, "training")
    arg = TrainingInput(current_user.id, form.course.data, form.trained_on.data.isoformat(), int(hours * 10), file_id)
    if _update(workflow_id, EnrolmentWorkflow.record_training, arg):
        flash(_("The safety training is recorded."), "success")
    else:
        _forget(file_id)
    return _back(enrolment_id, "training")
