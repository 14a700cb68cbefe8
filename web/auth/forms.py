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
