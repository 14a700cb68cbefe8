"""Enrolment pages (ENR-1…7), for the project account (the labour specialist, 劳资专管员) and for a
company account with the "collect" permission (its own company's teams only). Blueprint `enrolment`,
one module per concern: routes (the blueprint, who may enrol, the list of cases), agent (what the
page says for each answer of the local device agent), new (the enrolment record and the start of
EnrolmentWorkflow), case (a case's page, its contract and its updates).

Pick the project → read the ID card, take the phone, the face consent and the face (the page's
script asks the local device agent: web/static/enrolment.js) → complete the record → the
enrolment row is written and EnrolmentWorkflow started. The case page shows the step, the
duplicate decision, the contract to download and its signed scan to upload, the safety training
and the admission. Every action is an update of the process (web imports no activities).
"""
from __future__ import annotations

from typing import Optional

from flask import Blueprint, abort, render_template
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from domain import enrolment as enr
from domain.models import Account, Enrolment, Project, Role
from domain.processes.enrolment import EnrolmentState
from domain.rules import mask_id_number

from ..core import services
from ..scoping import get_or_404
from ..security import require_roles

bp = Blueprint("enrolment", __name__, url_prefix="/enrolment", template_folder="templates")

STATE = {
    EnrolmentState.CHECKING: _l("Checking for a duplicate enrolment"),
    EnrolmentState.DUPLICATE_REVIEW: _l("Active on another project: decision needed"),
    EnrolmentState.CREATING: _l("Creating the worker, the app account and the contract"),
    EnrolmentState.AWAITING_DOCUMENTS: _l("Enrolled, not admitted"),
    EnrolmentState.ADMITTED: _l("Admitted to the site"),
    EnrolmentState.CANCELLED: _l("Cancelled"),
}


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


def _enrolment(db, enrolment_id: int, company_id: Optional[int]) -> Enrolment:
    row = get_or_404(db, Enrolment, enrolment_id)
    if company_id is not None and row.company_id != company_id:
        abort(404)
    return row
