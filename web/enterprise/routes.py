"""The enterprise (general contractor) account's own settings."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from domain.models import Account, Enterprise, Role
from domain.wage_run import set_maker_checker

from ..core import services
from ..security import require_roles
from .forms import MakerCheckerForm

bp = Blueprint("enterprise", __name__, url_prefix="/enterprise", template_folder="templates")


@bp.before_request
def guard():
    return require_roles(Role.ENTERPRISE)


def _enterprise(db) -> Enterprise:
    enterprise = db.get(Enterprise, current_user.enterprise_id) if current_user.enterprise_id else None
    if enterprise is None:
        abort(404)
    return enterprise


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    with services().Session() as db:
        enterprise = _enterprise(db)
        name, current = enterprise.name, bool(enterprise.maker_checker)
    # a POST reads the box from the form alone: an unticked box is simply absent
    form = MakerCheckerForm() if request.method == "POST" else MakerCheckerForm(data={"maker_checker": current})
    if form.validate_on_submit():
        with services().Session.begin() as db:
            changed = set_maker_checker(db, current_user.enterprise_id, bool(form.maker_checker.data),
                                        db.get(Account, current_user.id))
        if changed:
            flash(_("The setting was saved. Wage runs opened from now on follow it."), "success")
        return redirect(url_for("enterprise.settings"))
    return render_template("enterprise/settings.html", form=form, enterprise_name=name, maker_checker=current)
