from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, TextAreaField, widgets
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from ..formutil import choices

REQUIRED = _l("This field is required.")
REASON_REQUIRED = _l("A reason is required.")
REASON_MAX = 1000


def _task_id():
    return IntegerField(widget=widgets.HiddenInput(), validators=[InputRequired(REQUIRED)])


class TaskActionForm(FlaskForm):
    """Claim or unclaim. `task_id` is the task the page was rendered with (a stale page is refused)."""

    task_id = _task_id()


class ApproveForm(TaskActionForm):
    reason = TextAreaField(_l("Comment (optional)"), validators=[Optional(), Length(max=REASON_MAX)])


class ReasonForm(TaskActionForm):
    """Reject or return for correction: the reason is required here, before the process is asked."""

    reason = TextAreaField(_l("Reason"), validators=[DataRequired(REASON_REQUIRED), Length(max=REASON_MAX)])


class InboxFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET form that changes nothing

    status = SelectField(_l("Status"), validate_choice=False)
    district = SelectField(_l("District"), validate_choice=False)
    due = SelectField(_l("Due"), validate_choice=False, choices=choices([
        ("all", _l("All")), ("overdue", _l("Overdue")), ("today", _l("Due today"))]))
