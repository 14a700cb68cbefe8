"""The enrolment record (ENR-1…3): the page that reads the ID card and the face through the device
agent, the record checked and written (domain/enrolment.py) and EnrolmentWorkflow started on it."""
from __future__ import annotations

import base64
import binascii
import random
from datetime import date
from typing import Optional

from flask import flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from temporalio.exceptions import WorkflowAlreadyStartedError

from domain import enrolment as enr
from domain.face import new_challenge
from domain.models import Account, Company, Project, Team
from domain.money import MoneyError, parse_positive_yuan
from domain.processes.enrolment import EnrolmentInput
from domain.roster import MAX_DAILY_RATE_FEN
from domain.rules import TRADE_CODES
from workflows.enrolment import EnrolmentWorkflow

from ..auth.usb_key import agent_csp, agent_url
from ..core import bridge, call_process, services
from ..formutil import choices, flash_form_problem
from ..refusals import ENROLMENT_REFUSALS
from ..scoping import get_or_404
from .agent import CHALLENGE_WORDS, agent_messages
from .forms import EnrolmentForm
from .routes import _collector_company, _label, bp

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
