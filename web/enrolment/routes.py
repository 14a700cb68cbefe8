"""Enrolment pages (ENR-1…7), for the project account (the labour specialist, 劳资专管员) and for a
company account with the "collect" permission (its own company's teams only).

Pick the project → read the ID card, take the phone, the face consent and the face (the page's
script asks the local device agent: web/static/enrolment.js) → complete the record → the
enrolment row is written and EnrolmentWorkflow started. The case page shows the step, the
duplicate decision, the contract to download and its signed scan to upload, the safety training
and the admission. Every action is an update of the process (web imports no activities).
"""
from __future__ import annotations

import base64
import binascii
import logging
import random
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Optional

from flask import Blueprint, abort, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from temporalio.exceptions import WorkflowAlreadyStartedError

from domain import enrolment as enr
from domain.face import FaceRefusal, new_challenge
from domain.id_card import IdCardRefusal
from domain.models import Account, Company, Enrolment, Project, Role, StoredFile, Team, Worker
from domain.money import MoneyError, parse_positive_yuan
from domain.processes.enrolment import (
    ContractScanInput,
    DuplicateDecision,
    EnrolmentInput,
    EnrolmentState,
    FaceConsent,
    Refusal,
    ResolveDuplicateInput,
    TrainingInput,
    Waiting,
)
from domain.roster import MAX_DAILY_RATE_FEN
from domain.rules import TRADE_CODES, mask_id_number
from domain.uploads import UploadError, check_scan, read_upload
from workflows.enrolment import EnrolmentWorkflow

from ..auth.usb_key import agent_csp, agent_messages as usb_agent_messages, agent_url
from ..core import bridge, call_process, send_bytes, services
from ..refusals import ENROLMENT_REFUSALS
from ..formutil import choices, flash_form_problem
from ..i18n import upload_message
from ..scoping import get_or_404
from ..security import require_roles
from .forms import ContractScanForm, DuplicateForm, EnrolmentForm, TrainingForm

log = logging.getLogger("shiming.web.enrolment")

bp = Blueprint("enrolment", __name__, url_prefix="/enrolment", template_folder="templates")

STATE = {
    EnrolmentState.CHECKING: _l("Checking for a duplicate enrolment"),
    EnrolmentState.DUPLICATE_REVIEW: _l("Active on another project: decision needed"),
    EnrolmentState.CREATING: _l("Creating the worker, the app account and the contract"),
    EnrolmentState.AWAITING_DOCUMENTS: _l("Enrolled, not admitted"),
    EnrolmentState.ADMITTED: _l("Admitted to the site"),
    EnrolmentState.CANCELLED: _l("Cancelled"),
}

RECORD_ERRORS = {
    "name_required": _l("The name is missing: read the ID card again."),
    "id_number_invalid": _l("The ID number is not valid (GB 11643 check digit, birth date, region)."),
    "card_expired": _l("The ID card has expired: the worker needs a valid ID card."),
    "phone_invalid": _l("Enter a valid 11-digit mobile number."),
    "trade_unknown": _l("Choose a trade from the national trade list."),
    "company_unknown": _l("Choose the employer company."),
    "team_unknown": _l("Choose a team of the employer company."),
    "team_required": _l("Choose a team, or name the new team."),
    "team_leader_required": _l("Name the new team's leader."),
    "team_exists": _l("A team of this name exists already: choose it from the list."),
    "emergency_contact_required": _l("Enter the emergency contact."),
    "contract_period_invalid": _l("The contract period is not valid: it must start before it ends."),
    "daily_rate_invalid": _l("Enter the daily rate in yuan, for example 350 or 350.50."),
    "consent_required": _l("Record whether the worker consents to face recognition."),
    "face_required": _l("Capture the worker's face (they consented to face recognition)."),
    "face_without_consent": _l("No face may be kept without the worker's consent: capture again or record the consent."),
    "already_enrolling": _l("This person's enrolment on this project is already under way: follow it in the list."),
}

WAITING = {
    Waiting.SPECIALIST_DUPLICATE: _l("Decide whether this enrolment continues."),
    Waiting.CONTRACT_SCAN: _l("Upload the signed labour contract."),
    Waiting.TRAINING: _l("Record the safety training."),
    Waiting.CONTRACT_AND_TRAINING: _l("Upload the signed labour contract and record the safety training."),
}


def agent_messages() -> dict[str, str]:
    """What the enrolment page says for each answer of the device agent (`kind.code`)."""
    messages = {key: value for key, value in usb_agent_messages().items() if not key.startswith("usb_key.")}
    messages["agent_failed"] = _("The device agent did not answer as expected. Try again.")
    no_reader = _("No ID card reader is connected to this PC. Connect the reader and try again.")
    card = {
        IdCardRefusal.NO_READER: no_reader,
        IdCardRefusal.READER_NOT_FOUND: no_reader,
        IdCardRefusal.NO_CARD: _("No card is on the reader. Place the ID card on the reader and try again."),
        IdCardRefusal.CARD_REMOVED: _("The card was removed while it was read. Leave it on the reader and try again."),
        IdCardRefusal.NOT_AN_ID_CARD: _("The card on the reader is not a resident ID card."),
        IdCardRefusal.READ_FAILED: _("The card could not be read. Try again, or use another reader."),
        IdCardRefusal.MALFORMED_BLOCK: _("The card's data is damaged or incomplete. Read the card again."),
        IdCardRefusal.RESIDENCE_PERMIT: _("Residence permits for Hong Kong, Macao and Taiwan residents are not "
                                          "supported yet. Enrol the worker with a resident ID card."),
        IdCardRefusal.FOREIGN_PERMANENT_RESIDENCE: _("Foreigners' permanent residence cards are not supported yet."),
        IdCardRefusal.UNKNOWN_CARD_TYPE: _("This card type is not supported: only resident ID cards are."),
        IdCardRefusal.EXPIRED: _("The ID card has expired: the worker needs a valid ID card."),
        IdCardRefusal.NOT_YET_VALID: _("The ID card is not valid yet."),
    }
    invalid = _("The card's data is not valid (name, gender, ethnic group, dates, issuer or ID number). "
                "The card may be damaged or forged: check it.")
    for code in IdCardRefusal:
        messages[f"id_card.{code}"] = card.get(code, invalid)
    no_camera = _("No camera is available to the device agent. Connect the camera and try again.")
    again = _("Please try again and follow the instructions.")
    face = {
        FaceRefusal.CAMERA_UNAVAILABLE: no_camera,
        FaceRefusal.SOURCE_ENDED: no_camera,
        FaceRefusal.NO_FACE: _("No face is visible. Look straight at the camera."),
        FaceRefusal.MULTIPLE_FACES: _("More than one face is visible. Only the worker may be in the picture."),
        FaceRefusal.FACE_TOO_SMALL: _("The face is too small. Come closer to the camera."),
        FaceRefusal.TOO_DARK: _("The picture is too dark. Turn on more light."),
        FaceRefusal.TOO_BRIGHT: _("The picture is too bright. Move out of direct light."),
        FaceRefusal.BLURRED: _("The picture is blurred. Hold still and clean the lens."),
        FaceRefusal.STATIC_IMAGE: _("The camera shows a still image. A live person must stand in front of it."),
        FaceRefusal.FACE_CHANGED: _("The face changed during the check. The same person must stay in front of "
                                    "the camera."),
        FaceRefusal.MODEL_FILE_MISSING: _("The face model of the device agent is missing. Ask the operator."),
        FaceRefusal.TEMPLATE_INVALID: _("The face could not be captured. Try again."),
    }
    for code in FaceRefusal:
        messages[f"face.{code}"] = face.get(code, again)
    messages["card_read"] = _("Card read: %(id)s. Check the name before you go on.", id="{id}")
    messages["face_captured"] = _("Face captured and checked as live.")
    messages["face_prompt"] = _("Ask the worker to follow the movements: %(moves)s", moves="{moves}")
    return messages


CHALLENGE_WORDS = {"turn_left": _l("turn the head left"), "turn_right": _l("turn the head right"),
                   "look_up": _l("look up"), "look_down": _l("look down")}


@bp.before_request
def guard():
    return require_roles(Role.PROJECT, Role.COMPANY)


def _collector_company() -> Optional[int]:
    """The project account may enrol into any team (None); a company account with the "collect"
    permission into its own company's teams only; any other account: 403."""
    if current_user.role == Role.PROJECT:
        return None
    with services().Session() as db:
        account = db.get(Account, current_user.id)
        if account is not None and account.can_collect and account.company_id:
            return account.company_id
    abort(403)


def _label(table: dict, code) -> str:
    value = table.get(code)
    return str(value) if value is not None else (code or "")


@bp.route("/")
def home():
    company_id = _collector_company()
    with services().Session() as db:
        projects = list(db.scalars(select(Project).order_by(Project.code)))  # the scope filters
        q = select(Enrolment).order_by(Enrolment.id.desc()).limit(200)
        if company_id is not None:
            q = q.where(Enrolment.company_id == company_id)
        cases = [{"id": e.id, "name": e.name, "state": e.state, "state_label": _label(STATE, e.state),
                  "id_number": mask_id_number(enr.id_number_of(services().cipher, e)), "created_at": e.created_at}
                 for e in db.scalars(q)]
    return render_template("enrolment/home.html", projects=projects, cases=cases)


def _choices(db, project_id: int, company_id: Optional[int]):
    companies = select(Company).where(Company.project_id == project_id).order_by(Company.name)
    teams = select(Team).where(Team.project_id == project_id).order_by(Team.name)
    if company_id is not None:
        companies, teams = companies.where(Company.id == company_id), teams.where(Team.company_id == company_id)
    return ([(c.id, c.name) for c in db.scalars(companies)],
            [(0, _("— a new team —"))] + [(t.id, f"{t.name} ({t.leader_name})" if t.leader_name else t.name)
                                          for t in db.scalars(teams)])


def _yuan_to_fen(text: str) -> int:
    """The daily rate typed in yuan (empty: not set yet), as the roster import reads it."""
    text = (text or "").strip()
    if not text:
        return 0
    try:
        return parse_positive_yuan(text, MAX_DAILY_RATE_FEN)
    except MoneyError:
        raise enr.EnrolmentError("daily_rate_invalid") from None


def _template(text: str) -> Optional[bytes]:
    if not text:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise enr.EnrolmentError("face_required") from None


@bp.route("/new/<int:project_id>", methods=["GET", "POST"])
def new(project_id: int):
    company_id = _collector_company()
    with services().Session() as db:
        project = get_or_404(db, Project, project_id)
        companies, teams = _choices(db, project_id, company_id)
        project_view = {"id": project.id, "name": project.name, "code": project.code}
    form = EnrolmentForm()
    form.trade.choices = choices((code, f"{code} {name}") for code, name in TRADE_CODES.items())
    form.company_id.choices, form.team_id.choices = choices(companies), choices(teams)
    if not form.is_submitted():
        return _respond(form, project_view)
    if not form.validate():
        flash_form_problem(form)
        return _respond(form, project_view, 400)
    try:
        record = enr.EnrolmentRecord(
            name=form.name.data, id_number=form.id_number.data, phone=form.phone.data, trade=form.trade.data,
            company_id=form.company_id.data, team_id=form.team_id.data or None,
            new_team_name=form.new_team_name.data or "", team_leader_name=form.team_leader_name.data or "",
            team_leader_phone=form.team_leader_phone.data or "",
            emergency_contact_name=form.emergency_contact_name.data,
            emergency_contact_phone=form.emergency_contact_phone.data,
            contract_start=form.contract_start.data, contract_end=form.contract_end.data,
            daily_rate_fen=_yuan_to_fen(form.daily_rate.data), verified_by_card=form.card_read.data == "1",
            card_valid_to=_date_or_none(form.card_valid_to.data), face_consent=form.face_consent.data,
            face_template=_template(form.face_template.data))
        with services().Session.begin() as db:
            row = enr.start_enrolment(db, services().cipher, project_id, db.get(Account, current_user.id), record)
            enrolment_id, workflow_id = row.id, row.workflow_id
    except enr.EnrolmentError as exc:
        flash(_label(RECORD_ERRORS, exc.code), "error")
        return _respond(form, project_view, 400)
    if _start(enrolment_id, workflow_id):
        flash(_("The enrolment was submitted. Follow it on this page."), "success")
    return redirect(url_for("enrolment.case", enrolment_id=enrolment_id))


def _respond(form, project_view, status: int = 200):
    # the head movements the liveness check asks for, drawn here for this page (a video recorded for
    # another page's challenge fails it)
    challenge = ",".join(new_challenge(random.SystemRandom()))
    response = render_template("enrolment/new.html", form=form, project=project_view, agent_url=agent_url(),
                               agent_messages=agent_messages(), challenge=challenge,
                               challenge_words={k: str(v) for k, v in CHALLENGE_WORDS.items()})
    return agent_csp(make_response(response, status))


def _date_or_none(text: str) -> Optional[date]:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        raise enr.EnrolmentError("card_expired") from None


def _start(enrolment_id: int, workflow_id: str) -> bool:
    queue = bridge().task_queue

    async def start(client):
        try:
            await client.start_workflow(EnrolmentWorkflow.run, EnrolmentInput(enrolment_id, current_user.id),
                                        id=workflow_id, task_queue=queue)
        except WorkflowAlreadyStartedError:
            pass

    ok, _result, _code = call_process(lambda: bridge().run(start), ENROLMENT_REFUSALS)
    return ok


def _enrolment(db, enrolment_id: int, company_id: Optional[int]) -> Enrolment:
    row = get_or_404(db, Enrolment, enrolment_id)
    if company_id is not None and row.company_id != company_id:
        abort(404)
    return row


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


def _update(workflow_id: str, update, arg) -> bool:
    ok, _result, _code = call_process(lambda: bridge().update(workflow_id, update, arg), ENROLMENT_REFUSALS)
    return ok


@bp.route("/<int:enrolment_id>/duplicate", methods=["POST"])
def duplicate(enrolment_id: int):
    company_id = _collector_company()
    with services().Session() as db:
        workflow_id = _enrolment(db, enrolment_id, company_id).workflow_id
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
    return send_bytes(data, _("Labour contract %(id)s.docx", id=enrolment_id), enr.DOCX)


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
    company_id = _collector_company()
    with services().Session() as db:
        workflow_id = _enrolment(db, enrolment_id, company_id).workflow_id
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
    company_id = _collector_company()
    with services().Session() as db:
        workflow_id = _enrolment(db, enrolment_id, company_id).workflow_id
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
