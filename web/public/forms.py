from __future__ import annotations

from typing import Optional

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, IntegerField, SelectField, StringField, widgets
from wtforms.validators import DataRequired, Length, Optional as OptionalValue, ValidationError

from domain.money import parse_positive_yuan
from domain.registration import MAX_CONTRACT_FEN, RegistrationData
from domain.rules import is_valid_credit_code, is_valid_mobile

from ..formutil import choices
from ..i18n import field_error

REQUIRED = _l("This field is required.")


def _credit_code(_form, field) -> None:
    if field.data and not is_valid_credit_code(field.data):
        raise ValidationError(field_error("bad_credit_code"))


def _mobile(_form, field) -> None:
    if field.data and not is_valid_mobile(field.data):
        raise ValidationError(field_error("bad_mobile"))


def _amount(_form, field) -> None:
    if not field.data:
        return
    try:
        parse_positive_yuan(field.data, MAX_CONTRACT_FEN)
    except ValueError as exc:
        raise ValidationError(field_error(str(exc))) from None


def _int_or_none(value) -> Optional[int]:
    if value in (None, ""):
        return None
    return int(value)


def _text(label, max_len: int):
    return StringField(label, validators=[DataRequired(REQUIRED), Length(max=max_len)])


def _code(label):
    return StringField(label, validators=[DataRequired(REQUIRED), Length(max=18), _credit_code])


class RegistrationForm(FlaskForm):
    """The project registration application (REG-1)."""

    name = _text(_l("Project name"), 200)
    address = _text(_l("Project address"), 300)
    district_id = SelectField(_l("District"), coerce=_int_or_none, validators=[DataRequired(REQUIRED)])
    builder_name = _text(_l("Builder (construction unit)"), 200)
    builder_credit_code = _code(_l("Builder's unified social credit code"))
    contractor_name = _text(_l("General contractor"), 200)
    contractor_credit_code = _code(_l("General contractor's unified social credit code"))
    owner_name = _text(_l("Owner"), 200)
    owner_credit_code = _code(_l("Owner's unified social credit code"))
    contract_value = StringField(_l("Contract value (yuan)"),
                                 validators=[DataRequired(REQUIRED), Length(max=30), _amount])
    planned_start = DateField(_l("Planned start"), validators=[DataRequired(REQUIRED)])
    planned_end = DateField(_l("Planned end"), validators=[DataRequired(REQUIRED)])
    contact_name = _text(_l("Contact person"), 50)
    contact_phone = StringField(_l("Contact mobile"), validators=[DataRequired(REQUIRED), Length(max=20), _mobile])

    def set_districts(self, districts) -> None:
        self.district_id.choices = choices([("", _l("Choose a district"))] + [(d.id, d.name) for d in districts])

    def validate_planned_end(self, field) -> None:
        start = self.planned_start.data
        if start and field.data and field.data < start:
            raise ValidationError(field_error("end_before_start"))

    def to_data(self, phone_fallback: str = "") -> RegistrationData:
        return RegistrationData(
            name=self.name.data, address=self.address.data, district_id=self.district_id.data,
            builder_name=self.builder_name.data, builder_credit_code=self.builder_credit_code.data,
            contractor_name=self.contractor_name.data, contractor_credit_code=self.contractor_credit_code.data,
            owner_name=self.owner_name.data, owner_credit_code=self.owner_credit_code.data,
            contract_value_fen=parse_positive_yuan(self.contract_value.data, MAX_CONTRACT_FEN),
            planned_start=self.planned_start.data, planned_end=self.planned_end.data,
            contact_name=self.contact_name.data,
            contact_phone=self.contact_phone.data or phone_fallback,
        )

    def show_domain_errors(self, errors: dict[str, str]) -> None:
        """Errors found by domain.registration.check_data, shown on their fields."""
        for name, code in errors.items():
            field = getattr(self, name, None)
            if field is None:
                field = self.name
            field.errors = list(field.errors) + [field_error(code)]


class CorrectionForm(RegistrationForm):
    """The same form for a returned application; the phone is kept when left empty."""

    contact_phone = StringField(_l("Contact mobile (leave empty to keep the current one)"),
                                validators=[OptionalValue(), Length(max=20), _mobile])
    scan = FileField(_l("New stamped scan (optional; PDF, JPEG or PNG)"))
    revision = IntegerField(widget=widgets.HiddenInput(), validators=[DataRequired(REQUIRED)])


class ScanUploadForm(FlaskForm):
    scan = FileField(_l("Stamped application scan (PDF, JPEG or PNG)"), validators=[FileRequired(REQUIRED)])


class SubmitForm(FlaskForm):
    """A button only (CSRF token inside)."""


class StatusForm(FlaskForm):
    number = StringField(_l("Application number"), validators=[DataRequired(REQUIRED), Length(max=32)])
    phone = StringField(_l("Contact mobile"), validators=[DataRequired(REQUIRED), Length(max=20)])
