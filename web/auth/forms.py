from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(_l("This field is required.")), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("This field is required.")),
                                                         Length(max=200)])
    next = HiddenField()


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(_l("Current password"),
                                     validators=[DataRequired(_l("This field is required.")), Length(max=200)])
    new_password = PasswordField(_l("New password"),
                                 validators=[DataRequired(_l("This field is required.")), Length(max=200)])
    confirm_password = PasswordField(_l("Repeat the new password"), validators=[
        DataRequired(_l("This field is required.")),
        EqualTo("new_password", _l("The two new passwords differ.")),
    ])


class KeyLoginForm(FlaskForm):
    """ACC-3: the enterprise USB-key login; the page's script fills challenge and signature."""

    username = StringField(_l("Username"), validators=[DataRequired(_l("This field is required.")), Length(max=64)])
    challenge = HiddenField(validators=[Length(max=400)])
    signature = HiddenField(validators=[Length(max=400)])
    next = HiddenField()


class UsbKeyRegistrationForm(FlaskForm):
    password = PasswordField(_l("Login password"), validators=[DataRequired(_l("This field is required.")),
                                                               Length(max=200)])
    challenge = HiddenField(validators=[Length(max=400)])
    signature = HiddenField(validators=[Length(max=400)])
    public_key = HiddenField(validators=[Length(max=400)])
