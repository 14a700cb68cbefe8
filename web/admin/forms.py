from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

REASON_REQUIRED = _l("A reason is required.")


class ReasonForm(FlaskForm):
    """Cancel or retry a process: the reason goes into the audit log."""

    reason = TextAreaField(_l("Reason"), validators=[DataRequired(REASON_REQUIRED), Length(max=1000)])
