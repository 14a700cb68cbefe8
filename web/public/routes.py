from __future__ import annotations

import json

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from temporalio.exceptions import WorkflowAlreadyStartedError

from domain import audit
from domain import registration as reg
from domain.blobstore import UploadError
from domain.money import format_yuan_plain
from domain.models import District, RegistrationApplication
from domain.processes.registration import Refusal, RegistrationInput, RegistrationStatus, ResubmitInput
from domain.rules import mask_phone
from workflows.registration import ProjectRegistrationWorkflow

from ..core import bridge, call_process, remote_addr, send_bytes, services
from ..refusals import CORRECTION_REFUSALS
from ..i18n import application_status, upload_message
from ..security import home_for, rate_limit
from .forms import CorrectionForm, RegistrationForm, ScanUploadForm, StatusForm, SubmitForm
from .links import find_application, signed_token

bp = Blueprint("public", __name__, template_folder="templates")


@bp.route("/")
def index():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return render_template("public/index.html")


def _districts(db) -> list[District]:
    return list(db.scalars(select(District).order_by(District.code)))


def _load(db, token: str) -> RegistrationApplication:
    app = find_application(db, services().settings.secret_key, token)
    if app is None:
        abort(404)
    return app


def _phone_masked(app: RegistrationApplication) -> str:
    return mask_phone(services().cipher.decrypt(app.contact_phone_enc, "phone"))


@bp.route("/register/", methods=["GET", "POST"])
@rate_limit("sms")  # each application makes the platform text the phone typed into it
def register():
    form = RegistrationForm()
    with services().Session() as db:
        form.set_districts(_districts(db))
    if form.validate_on_submit():
        try:
            with services().Session.begin() as db:
                app, token = reg.create_application(db, services().cipher, form.to_data())
                number = app.number
        except reg.RegistrationError as exc:
            form.show_domain_errors(json.loads(str(exc)) if exc.code == Refusal.INVALID else {})
        else:
            flash(_("Application %(number)s saved. Keep this number and this page's address: "
                    "they are your way back to the application.", number=number), "success")
            return redirect(url_for("public.application", token=token))
    return render_template("public/register.html", form=form)


@bp.route("/register/<token>/")
def application(token: str):
    with services().Session() as db:
        app = _load(db, token)
        district = app.district.name
        scan = app.scan_file
        phone = _phone_masked(app)
    return render_template("public/application.html", app=app, token=token, district=district, scan=scan,
                           phone=phone, status_label=application_status(app.status),
                           upload_form=ScanUploadForm(), submit_form=SubmitForm(),
                           max_mb=services().settings.upload_max_bytes // (1024 * 1024))


def docx_labels() -> dict[str, str]:
    return {
        "title": _("Project registration application"),
        "number": _("Application number"),
        "name": _("Project name"),
        "address": _("Project address"),
        "district": _("District"),
        "builder": _("Builder (construction unit)"),
        "contractor": _("General contractor"),
        "owner": _("Owner"),
        "contract_value": _("Contract value (yuan)"),
        "period": _("Planned period"),
        "contact": _("Contact person"),
        "declaration": _("We declare that the information above is true and complete."),
        "seal": _("Seal of the project"),
        "date": _("Date"),
    }


def docx_response(app: RegistrationApplication, district_name: str):
    data = reg.application_docx(app, district_name, docx_labels())
    return send_bytes(data, f"{app.number}.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document")


@bp.route("/register/<token>/application.docx")
def application_docx(token: str):
    with services().Session() as db:
        app = _load(db, token)
        return docx_response(app, app.district.name)


def start_review(application_id: int, number: str, workflow_id: str) -> bool:
    """Start the review process; starting it again while it runs is harmless (one workflow id per
    application). A run that ended before the application left draft (terminated) is started anew."""
    b = bridge()

    def start():
        try:
            b.run(lambda c: c.start_workflow(
                ProjectRegistrationWorkflow.run, RegistrationInput(application_id, number),
                id=workflow_id, task_queue=b.task_queue))
        except WorkflowAlreadyStartedError:
            pass  # a re-submit: the process is already there

    ok, _result, _code = call_process(start)
    return ok


@bp.route("/register/<token>/upload", methods=["POST"])
def upload_scan(token: str):
    form = ScanUploadForm()
    if not form.validate_on_submit():
        flash(_("Choose the stamped scan to upload."), "error")
        return redirect(url_for("public.application", token=token))
    settings = services().settings
    data = form.scan.data.read(settings.upload_max_bytes + 1)
    try:
        with services().Session.begin() as db:
            app = _load(db, token)
            if app.status != RegistrationStatus.DRAFT:
                flash(_("The application has already been submitted."), "info")
                return redirect(url_for("public.application", token=token))
            stored = services().blobs.store_scan(db, data, settings.upload_max_bytes, f"{app.number}-scan")
            app.scan_file_id = stored.id
            audit.record(db, actor_id=None, actor_name=app.contact_name, action="registration.upload_scan",
                         target_type="registration", target_id=app.id, business_key=app.number,
                         detail={"sha256": stored.sha256, "size": stored.size}, remote_addr=remote_addr())
            ids = (app.id, app.number, app.workflow_id)
    except UploadError as exc:
        flash(upload_message(str(exc)), "error")
        return redirect(url_for("public.application", token=token))
    if start_review(*ids):
        flash(_("Your application %(number)s has been submitted for review. Keep this number.",
                number=ids[1]), "success")
    return redirect(url_for("public.application", token=token))


@bp.route("/register/<token>/submit", methods=["POST"])
def submit(token: str):
    """Submit again after an outage: the scan is already stored, only the process start failed."""
    form = SubmitForm()
    with services().Session() as db:
        app = _load(db, token)
        ids = (app.id, app.number, app.workflow_id)
        ready = app.status == RegistrationStatus.DRAFT and app.scan_file_id is not None
    if not ready:
        flash(_("The application has already been submitted."), "info")
    elif form.validate_on_submit() and start_review(*ids):
        flash(_("Your application %(number)s has been submitted for review. Keep this number.",
                number=ids[1]), "success")
    return redirect(url_for("public.application", token=token))


@bp.route("/register/status", methods=["GET", "POST"])
def status():
    form = StatusForm()
    found = None
    if form.validate_on_submit():
        with services().Session() as db:
            app = reg.find_by_number_and_phone(db, services().cipher, form.number.data, form.phone.data)
            if app is None:
                flash(_("No application matches this number and mobile number."), "error")
            else:
                link = signed_token(services().settings.secret_key, app)
                found = {
                    "number": app.number,
                    "name": app.name,
                    "status": app.status,
                    "status_label": application_status(app.status),
                    "reason": app.last_reason if app.status in (RegistrationStatus.RETURNED,
                                                                RegistrationStatus.REJECTED) else None,
                    "link": url_for("public.application", token=link),
                    "correct_link": url_for("public.correct", token=link)
                    if app.status == RegistrationStatus.RETURNED else None,
                }
        form.phone.data = ""  # the page never shows a phone number in full
    return render_template("public/status.html", form=form, found=found)


def _prefill(app: RegistrationApplication) -> dict:
    data = reg.data_of(app, services().cipher)
    return {
        "name": data.name, "address": data.address, "district_id": data.district_id,
        "builder_name": data.builder_name, "builder_credit_code": data.builder_credit_code,
        "contractor_name": data.contractor_name, "contractor_credit_code": data.contractor_credit_code,
        "owner_name": data.owner_name, "owner_credit_code": data.owner_credit_code,
        "contract_value": format_yuan_plain(data.contract_value_fen),
        "planned_start": data.planned_start, "planned_end": data.planned_end,
        "contact_name": data.contact_name, "contact_phone": "",  # never shown unmasked
        "revision": app.revision,
    }


# what the process answers a resubmission whose correction it cannot apply (codes of apply_correction)


@bp.route("/register/<token>/correct", methods=["GET", "POST"])
def correct(token: str):
    with services().Session() as db:
        app = _load(db, token)
        if app.status != RegistrationStatus.RETURNED:
            flash(_("The application is not waiting for correction."), "info")
            return redirect(url_for("public.application", token=token))
        districts = _districts(db)
        prefill = _prefill(app)
        phone = _phone_masked(app)
        current_phone = services().cipher.decrypt(app.contact_phone_enc, "phone")
    form = CorrectionForm(data=prefill) if request.method == "GET" else CorrectionForm()
    form.set_districts(districts)
    if request.method == "POST" and form.validate_on_submit():
        corrected = _save_correction(token, form, current_phone)
        if corrected is not None:
            workflow_id, correction_id, revision, number = corrected
            ok, _result, _code = call_process(lambda: bridge().update(
                workflow_id, ProjectRegistrationWorkflow.resubmit, ResubmitInput(correction_id, revision)),
                CORRECTION_REFUSALS)
            if ok:
                flash(_("Your correction of application %(number)s has been submitted for review.",
                        number=number), "success")
                return redirect(url_for("public.application", token=token))
    return render_template("public/correct.html", form=form, app=app, token=token, phone=phone,
                           reason=app.last_reason)


def _save_correction(token: str, form: CorrectionForm, current_phone: str):
    """Store the correction (and a new scan) in one transaction; None after flashing why not."""
    settings = services().settings
    upload = form.scan.data
    data = upload.read(settings.upload_max_bytes + 1) if upload and getattr(upload, "filename", "") else None
    try:
        with services().Session.begin() as db:
            app = _load(db, token)
            if app.status != RegistrationStatus.RETURNED:
                flash(_("The application is not waiting for correction."), "error")
                return None
            if form.revision.data != app.revision:
                flash(_("The application has changed since this form was opened. Please open it again."), "error")
                return None
            scan_id = None
            if data is not None:
                scan_id = services().blobs.store_scan(db, data, settings.upload_max_bytes,
                                                      f"{app.number}-scan-r{app.revision + 1}").id
            correction = reg.save_correction(db, services().cipher, app, form.to_data(current_phone), scan_id)
            audit.record(db, actor_id=None, actor_name=app.contact_name, action="registration.correction_saved",
                         target_type="registration", target_id=app.id, business_key=app.number,
                         detail={"correction_id": correction.id}, remote_addr=remote_addr())
            return app.workflow_id, correction.id, app.revision, app.number
    except UploadError as exc:
        flash(upload_message(str(exc)), "error")
    except reg.RegistrationError as exc:
        if exc.code == Refusal.INVALID:
            form.show_domain_errors(json.loads(str(exc)))
        else:
            flash(_("The application is not waiting for correction."), "error")
    return None
