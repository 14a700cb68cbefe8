"""Small helpers shared by the blueprints' forms."""
from __future__ import annotations

try:  # WTForms >= 3.3 deprecates (value, label) tuples in favour of SelectChoice
    from wtforms.fields.choices import SelectChoice
except ImportError:  # pragma: no cover - older WTForms
    SelectChoice = None


def choices(pairs) -> list:
    """Select options from (value, label) pairs, in the form this WTForms version prefers."""
    if SelectChoice is None:
        return [(value, label) for value, label in pairs]
    return [SelectChoice(value, label) for value, label in pairs]
