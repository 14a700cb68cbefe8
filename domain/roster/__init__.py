"""Roster import from Excel for sites that start with a paper roster.

The file is read and every row checked first; only a file without a single error is written,
in the caller's transaction, with batched inserts. Errors name the Excel row (the header is row
1; row 0 means the file as a whole) and carry masked values only: an ID number, card or phone
never appears in full in an error or in the downloadable report.

One module per concern (sheet: the file format, template, error report and reading; checks: each
row on its own; database: the checks against stored workers and cards, and the writes; importing:
`import_roster`); this package exports their public names.
"""
from .sheet import (
    COLUMNS,
    TITLES,
    MAX_ROWS,
    MAX_BYTES,
    MAX_UNPACKED_BYTES,
    MESSAGES,
    REPORT_HEADERS,
    RowError,
    roster_template_xlsx,
    error_report_xlsx,
)
from .checks import MAX_DAILY_RATE_FEN
from .importing import RosterResult, import_roster

__all__ = [
    "COLUMNS", "TITLES", "MAX_ROWS", "MAX_BYTES", "MAX_UNPACKED_BYTES", "MESSAGES", "REPORT_HEADERS", "RowError",
    "roster_template_xlsx", "error_report_xlsx", "MAX_DAILY_RATE_FEN", "RosterResult", "import_roster",
]
