"""Small helpers shared by the blueprints' forms."""
from __future__ import annotations

from flask import flash
from flask_babel import gettext as _

try:  # WTForms >= 3.3 deprecates (value, label) tuples in favour of SelectChoice
    from wtforms.fields.choices import SelectChoice
except ImportError:  # pragma: no cover - older WTForms
    SelectChoice = None


def choices(pairs) -> list:
    """Select options from (value, label) pairs, in the form this WTForms version prefers."""
    if SelectChoice is None:
        return [(value, label) for value, label in pairs]
    return [SelectChoice(value, label) for value, label in pairs]


def flash_form_problem(form) -> None:
    """Flash the first error of a form that did not validate."""
    for errors in form.errors.values():
        if errors:
            flash(str(errors[0]), "error")
            return
    flash(_("This field is required."), "error")
