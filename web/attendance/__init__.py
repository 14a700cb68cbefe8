"""Attendance devices pages (issue 11 point 1), for the project account (the labour specialist):
the project's gates and terminals with last contact, backlog and sequence gaps; register (the
secret shown once) and revoke; the quarantined punches of unknown workers, stored or dismissed.
Blueprint `attendance`: routes (the views), forms; and the attendance readers' modules: statistics (a month's
and a day's figures, the report, the photo gallery), corrections (补卡), flags (BEY-9)."""
from . import routes, statistics, corrections, flags  # noqa: F401 - the blueprint, then the views on it
