from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import select

from domain.models import Project, Role
from domain.registration import fen_to_yuan
from domain.rules import mask_phone

from ..core import services
from ..i18n import project_status
from ..security import require_roles

bp = Blueprint("project", __name__, url_prefix="/project", template_folder="templates")


@bp.before_request
def guard():
    return require_roles(Role.PROJECT, Role.ENTERPRISE)


def projects_in_scope(db) -> list[Project]:
    if current_user.role == Role.PROJECT:
        if current_user.project_id is None:
            return []
        q = select(Project).where(Project.id == current_user.project_id)
    else:
        if current_user.enterprise_id is None:
            return []
        q = select(Project).where(Project.enterprise_id == current_user.enterprise_id).order_by(Project.code)
    return list(db.scalars(q))


@bp.route("/")
def home():
    cipher = services().cipher
    with services().Session() as db:
        rows = [{
            "id": p.id,
            "code": p.code,
            "name": p.name,
            "address": p.address,
            "district": p.district.name,
            "contractor": p.contractor_name,
            "contract_value": fen_to_yuan(p.contract_value_fen),
            "period": f"{p.planned_start.isoformat()} — {p.planned_end.isoformat()}",
            "contact": p.contact_name,
            "phone": mask_phone(cipher.decrypt(p.contact_phone_enc, "phone")),
            "status": project_status(p.status),
        } for p in projects_in_scope(db)]
    return render_template("project/home.html", projects=rows)
