from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField


class MakerCheckerForm(FlaskForm):
    maker_checker = BooleanField(_l("A second payroll specialist must submit the wage file (maker-checker)"))
