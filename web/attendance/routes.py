"""The attendance blueprint (`attendance`, /attendance): each concern is a module of its own that adds
its views (statistics, corrections, flags; the devices' pages), and guards them itself."""
from __future__ import annotations

from flask import Blueprint

bp = Blueprint("attendance", __name__, url_prefix="/attendance")
