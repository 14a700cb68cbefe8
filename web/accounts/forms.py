from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField, TextAreaField, widgets
from wtforms.validators import DataRequired, Length, Optional

REQUIRED = _l("This field is required.")


class MultiCheckboxField(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class CreateAccountForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired(REQUIRED), Length(max=64)])
    display_name = StringField(_l("Name shown"), validators=[DataRequired(REQUIRED), Length(max=100)])
    role = SelectField(_l("Role"), validators=[DataRequired(REQUIRED)])
    district_id = SelectField(_l("District"), coerce=int, validators=[Optional()])
    reviewer_enterprise_id = SelectField(_l("Enterprise the reviewer is tied to (conflict of interest)"),
                                         coerce=int, validators=[Optional()])
    enterprise_name = StringField(_l("Enterprise name (general contractor)"), validators=[Optional(), Length(max=200)])
    enterprise_credit_code = StringField(_l("Unified social credit code of the enterprise"),
                                         validators=[Optional(), Length(max=18)])
    project_ids = MultiCheckboxField(_l("Projects"), coerce=int, validators=[Optional()])
    can_allocate_projects = BooleanField(_l("May allocate project accounts (project-allocation permission)"))
    company_id = SelectField(_l("Company"), coerce=int, validators=[Optional()])
    can_collect = BooleanField(_l("Collect: may enrol workers"))
    can_login = BooleanField(_l("Login: may sign in"), default=True)


class ProjectsForm(FlaskForm):
    project_ids = MultiCheckboxField(_l("Projects"), coerce=int, validators=[Optional()])


class CompanyPermissionsForm(FlaskForm):
    can_collect = BooleanField(_l("Collect: may enrol workers"))
    can_login = BooleanField(_l("Login: may sign in"))


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(_l("A reason is required.")), Length(max=300)])


class UnlockForm(FlaskForm):
    pass
