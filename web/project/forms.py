"""Forms of the project account's worker pages (roster import, card replacement, exit)."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

REQUIRED = _l("This field is required.")
REASON_REQUIRED = _l("A reason is required.")


class RosterForm(FlaskForm):
    roster = FileField(_l("Filled-in roster (.xlsx)"), validators=[FileRequired(REQUIRED)])


class CardForm(FlaskForm):
    bank_name = StringField(_l("Issuing bank"), validators=[DataRequired(REQUIRED), Length(max=100)])
    card_number = StringField(_l("New card number"), validators=[DataRequired(REQUIRED), Length(max=40)])
    password = PasswordField(_l("Your login password"), validators=[DataRequired(REQUIRED), Length(max=128)])


class ExitForm(FlaskForm):
    reason = TextAreaField(_l("Reason for the exit"), validators=[DataRequired(REASON_REQUIRED), Length(max=200)])


class CancelExitForm(FlaskForm):
    reason = TextAreaField(_l("Reason for withdrawing"), validators=[DataRequired(REASON_REQUIRED), Length(max=200)])


class PlainForm(FlaskForm):
    """A button without fields (CSRF only)."""
