"""Forms of the enrolment pages. The card fields and the face template are filled by the page's
script from the local device agent (web/static/enrolment.js); the rest is typed."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, HiddenField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from domain.processes.enrolment import DuplicateDecision, FaceConsent

from ..formutil import choices

REQUIRED = _l("This field is required.")


class EnrolmentForm(FlaskForm):
    # from the ID card (agent /id-card/read)
    name = StringField(_l("Name"), validators=[DataRequired(REQUIRED), Length(max=50)])
    id_number = StringField(_l("ID number"), validators=[DataRequired(REQUIRED), Length(max=18)])
    card_valid_to = HiddenField()
    card_read = HiddenField()  # "1" when the script filled name and number from a card read
    phone = StringField(_l("Mobile"), validators=[DataRequired(REQUIRED), Length(max=20)])
    face_consent = RadioField(_l("Consent to face recognition"), choices=choices([
        (FaceConsent.GIVEN, _l("The worker consents to the processing of their face for attendance")),
        (FaceConsent.REFUSED, _l("The worker refuses: attendance by card or other means"))]),
        validators=[DataRequired(REQUIRED)])
    face_template = HiddenField()  # base64, from the agent's /face/capture
    trade = SelectField(_l("Trade"), validators=[DataRequired(REQUIRED)])
    company_id = SelectField(_l("Employer company"), coerce=int, validators=[DataRequired(REQUIRED)])
    team_id = SelectField(_l("Team"), coerce=int)  # 0: a new team
    new_team_name = StringField(_l("New team name"), validators=[Length(max=100)])
    team_leader_name = StringField(_l("Team leader"), validators=[Length(max=50)])
    team_leader_phone = StringField(_l("Team leader's mobile"), validators=[Length(max=20)])
    emergency_contact_name = StringField(_l("Emergency contact"), validators=[DataRequired(REQUIRED), Length(max=50)])
    emergency_contact_phone = StringField(_l("Emergency contact's mobile"),
                                          validators=[DataRequired(REQUIRED), Length(max=20)])
    contract_start = DateField(_l("Contract from"), validators=[DataRequired(REQUIRED)])
    contract_end = DateField(_l("Contract until (empty: until the work is done)"), validators=[Optional()])
    daily_rate = StringField(_l("Daily rate (yuan)"), validators=[Length(max=12)])


class DuplicateForm(FlaskForm):
    decision = RadioField(_l("Decision"), choices=choices([
        (DuplicateDecision.CONTINUE, _l("Continue: the worker works on both projects")),
        (DuplicateDecision.CANCEL, _l("Cancel this enrolment"))]), validators=[DataRequired(REQUIRED)])
    reason = TextAreaField(_l("Reason"), validators=[Length(max=200)])


class ContractScanForm(FlaskForm):
    scan = FileField(_l("Signed contract (PDF, JPEG or PNG)"), validators=[FileRequired(REQUIRED)])


class TrainingForm(FlaskForm):
    course = StringField(_l("Course"), validators=[DataRequired(REQUIRED), Length(max=100)])
    trained_on = DateField(_l("Training date"), validators=[DataRequired(REQUIRED)])
    hours = StringField(_l("Hours"), validators=[DataRequired(REQUIRED), Length(max=6)])
    certificate = FileField(_l("Certificate scan (PDF, JPEG or PNG)"), validators=[FileRequired(REQUIRED)])
