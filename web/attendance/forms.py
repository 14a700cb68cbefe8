"""Forms of the devices page."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from domain.processes.attendance import SERIAL_MAX, SOURCES_MAX, DeviceKind, DeviceProtocol

from ..formutil import choices

REQUIRED = _l("This field is required.")
KIND_LABELS = {DeviceKind.GATE: _l("Gate (closed site)"), DeviceKind.TERMINAL: _l("Terminal (open site)")}
PROTOCOL_LABELS = {DeviceProtocol.API: _l("The platform's signed API"),
                   DeviceProtocol.ZKTECO: _l("ZKTeco push protocol (ADMS / iclock)")}


class DeviceForm(FlaskForm):
    serial = StringField(_l("Serial number"), validators=[DataRequired(REQUIRED), Length(max=SERIAL_MAX)])
    kind = SelectField(_l("Kind"), choices=choices(list(KIND_LABELS.items())), validators=[DataRequired(REQUIRED)])
    protocol = SelectField(_l("Protocol"), choices=choices(list(PROTOCOL_LABELS.items())),
                           validators=[DataRequired(REQUIRED)])
    allowed_sources = StringField(_l("Allowed source addresses (empty: any)"), validators=[Length(max=SOURCES_MAX)])


class ActionForm(FlaskForm):
    """A button that changes something: revoke, or resolve a quarantined punch."""

    decision = HiddenField()
