from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import IntegerField, PasswordField, StringField, TextAreaField, widgets
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, Regexp

REQUIRED = _l("This field is required.")
REASON_REQUIRED = _l("A reason is required.")
PASSWORD_MAX = 128


def _security_password():
    return PasswordField(_l("Security password"), validators=[DataRequired(REQUIRED), Length(max=PASSWORD_MAX)])


class OpenRunForm(FlaskForm):
    month = StringField(_l("Month (YYYY-MM)"), validators=[
        DataRequired(REQUIRED), Regexp(r"^\d{4}-\d{2}$", message=_l("Enter the month as YYYY-MM."))])


class SetSecurityPasswordForm(FlaskForm):
    new_password = PasswordField(_l("New security password"), validators=[DataRequired(REQUIRED),
                                                                          Length(max=PASSWORD_MAX)])
    confirm_password = PasswordField(_l("Repeat the new security password"), validators=[
        DataRequired(REQUIRED), EqualTo("new_password", message=_l("The two passwords differ."))])


class ChangeSecurityPasswordForm(SetSecurityPasswordForm):
    current_password = PasswordField(_l("Current security password"), validators=[DataRequired(REQUIRED),
                                                                                  Length(max=PASSWORD_MAX)])


class WageTableForm(FlaskForm):
    table = FileField(_l("Edited wage table (.xlsx)"), validators=[FileRequired(REQUIRED)])
    security_password = _security_password()


class SignedSheetForm(FlaskForm):
    sheet = FileField(_l("Scan of the sheet signed by the workers (PDF, JPEG or PNG)"),
                      validators=[FileRequired(REQUIRED)])
    security_password = _security_password()


class WageFileForm(FlaskForm):
    batch_version = IntegerField(widget=widgets.HiddenInput(), validators=[InputRequired(REQUIRED)])
    security_password = _security_password()


class ReissueForm(FlaskForm):
    pass


class SettleForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(REASON_REQUIRED), Length(max=300)])
    security_password = _security_password()
