"""Locale choice and the translated words for codes that come from the domain and the process.

msgids are English; web/translations/zh_CN holds the Chinese. Codes (a ProcessRefused code,
an UploadError code, a status) are mapped to lazy strings here so that every user-visible
word goes through gettext.
"""
from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from babel import Locale, support
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import session
from flask_babel import Babel, Domain, get_locale
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext as _lp

from domain.calendar import LOCAL_TZ
from domain.models import TaskStatus, WageLineStatus
from domain.processes.registration import Decision, RegistrationStatus
from domain.processes.wage_run import Step

LANGUAGES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"


def catalog_name(locale: Locale) -> str:
    """The directory of a locale's catalog: `zh_CN` for zh_CN.

    Babel reads "zh_CN" as zh_Hans_CN, whose own name gettext would never expand to zh_CN.
    """
    return f"{locale.language}_{locale.territory}" if locale.territory else locale.language


def load_catalog(locale: Locale) -> support.Translations | support.NullTranslations:
    """A locale's translations, compiled in memory from its messages.po.

    No compiled .mo is shipped or read: a catalog compiled at load time cannot go stale, and
    its content does not depend on the Babel version that would have written a .mo header.
    """
    for name in dict.fromkeys([catalog_name(locale), str(locale)]):
        po = TRANSLATIONS_DIR / name / "LC_MESSAGES" / "messages.po"
        if po.is_file():
            with open(po, "rb") as fh:
                catalog = read_po(fh, locale=name)
            buf = io.BytesIO()
            write_mo(buf, catalog)
            buf.seek(0)
            return support.Translations(fp=buf, domain="messages")
    return support.NullTranslations()


class CatalogDomain(Domain):
    """The messages domain, compiling each locale's catalog once per process."""

    def get_translations(self):
        locale = get_locale()
        if locale is None:
            return support.NullTranslations()
        key = str(locale)
        translations = self.cache.get(key)
        if translations is None:
            translations = load_catalog(locale)
            self.cache[key] = translations
        return translations


class WebBabel(Babel):
    def __init__(self, *args, **kwargs):
        self._domain = CatalogDomain(translation_directories=[str(TRANSLATIONS_DIR)])
        super().__init__(*args, **kwargs)

    @property
    def domain_instance(self) -> Domain:
        return self._domain


def select_locale() -> str:
    lang = session.get("lang")
    return lang if lang in LANGUAGES else DEFAULT_LOCALE


def local_time(moment: Optional[datetime], fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored time (naive UTC, or aware) shown in China time."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(LOCAL_TZ).strftime(fmt)


LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}  # each language in its own words

ROLE_LABELS = {
    "admin": _l("System administrator"),
    "bureau_reviewer": _l("Bureau reviewer"),
    "bureau_chief": _l("Section chief"),
    "enterprise": _l("Enterprise"),
    "project": _l("Project account"),
    "payroll_specialist": _l("Payroll specialist"),
    "security_admin": _l("Security administrator"),
    "auditor": _l("Auditor"),
    "supervisor": _l("Supervisory authority"),
    "company": _l("Subcontractor / labour company"),
}


UPLOAD_ERRORS = {
    "empty_file": _l("The file is empty."),
    "too_large": _l("The file is too large."),
    "unsupported_type": _l("Only PDF, JPEG or PNG scans are accepted (checked by content)."),
    "not_xlsx": _l("Only Excel workbooks (.xlsx) are accepted (checked by content)."),
    "zip_bomb": _l("The workbook unpacks to far more data than a real one: refused."),
    "unsafe_archive": _l("The workbook contains unsafe or unusual entries: refused."),
}

FIELD_ERRORS = {
    "required": _l("This field is required."),
    "bad_credit_code": _l("Not a valid unified social credit code."),
    "bad_mobile": _l("Not a valid mobile number."),
    "end_before_start": _l("The planned end is before the planned start."),
    "bad_amount": _l("Not a valid amount."),
    "unknown_district": _l("Unknown district."),
    "not_a_number": _l("Not a number."),
    "too_many_decimals": _l("At most two decimal places."),
    "must_be_positive": _l("The amount must be greater than zero."),
    "too_large": _l("The amount is too large."),
}

APPLICATION_STATUS = {
    RegistrationStatus.DRAFT: _l("Draft: stamped scan not yet submitted"),
    RegistrationStatus.IN_REVIEW: _l("In review"),
    RegistrationStatus.RETURNED: _l("Returned for correction"),
    RegistrationStatus.APPROVED: _l("Approved"),
    RegistrationStatus.REJECTED: _l("Rejected"),
    RegistrationStatus.CANCELLED: _l("Cancelled"),
}

# Status labels: each kind of thing has its own table and its own msgids (a message context per
# kind), so that one word is never translated for another kind ("Active" of a project is 在建, of
# an account it is 已启用).
TASK_STATUS = {
    TaskStatus.NEW: _lp("task status", "New"),
    TaskStatus.ASSIGNED: _lp("task status", "Claimed"),
    TaskStatus.DONE: _lp("task status", "Done"),
    TaskStatus.CANCELED: _lp("task status", "Cancelled"),
    TaskStatus.ERROR: _lp("task status", "Error"),
}

ACCOUNT_STATUS = {
    "enabled": _lp("account status", "Enabled"),
    "disabled": _lp("account status", "Disabled"),
}

RUN_STATUS = {
    "open": _lp("wage run status", "Open"),
    "completed": _lp("wage run status", "Completed"),
    "cancelled": _lp("wage run status", "Cancelled"),
}

LINE_STATUS = {
    WageLineStatus.PENDING: _lp("wage line status", "Pending"),
    WageLineStatus.SUBMITTED: _lp("wage line status", "Sent to the bank"),
    WageLineStatus.PAID: _lp("wage line status", "Paid"),
    WageLineStatus.FAILED: _lp("wage line status", "Failed"),
    WageLineStatus.SETTLED: _lp("wage line status", "Settled otherwise"),
    WageLineStatus.CANCELLED: _lp("wage line status", "Cancelled (will not be paid)"),  # the run was cancelled
}

# the steps of a wage run, without numbers: the step list is an ordered list that numbers them
STEP_LABELS = {
    Step.WAGE_TABLE: _lp("wage run step", "Wage table"),
    Step.SIGNED_SHEET: _lp("wage run step", "Signed sheet"),
    Step.WAGE_FILE: _lp("wage run step", "Wage file"),
    Step.RECONCILE: _lp("wage run step", "Reconciliation"),
    Step.COMPLETED: _lp("wage run step", "Completed"),
    Step.CANCELLED: _lp("wage run step", "Cancelled"),
}

# why the bank did not pay a line (statement line codes, bank_connectors/wagefile/statement.py)
BANK_FAILURES = {
    "CARD_CLOSED": _l("The payroll card is closed."),
    "CARD_UNKNOWN": _l("The bank does not know this payroll card."),
    "NAME_MISMATCH": _l("The name does not match the holder of the payroll card."),
}
BANK_FAILURE_OTHER = _l("The bank did not pay this line.")

OUTCOMES = {
    Decision.APPROVE: _l("Approved"),
    Decision.REJECT: _l("Rejected"),
    Decision.RETURN: _l("Returned for correction"),
    RegistrationStatus.CANCELLED: _l("Cancelled"),  # the outcome of a task whose process was cancelled
}

WORKFLOW_STATUS = {
    "RUNNING": _l("Running"),
    "COMPLETED": _l("Completed"),
    "FAILED": _l("Failed"),
    "CANCELED": _l("Cancelled"),
    "TERMINATED": _l("Terminated"),
    "CONTINUED_AS_NEW": _l("Continued as new"),
    "TIMED_OUT": _l("Timed out"),
}

WORKFLOW_TYPES = {
    "ProjectRegistrationWorkflow": _l("Project registration"),
    "WageRunWorkflow": _l("Wage run"),
    "WageAccountBindingWorkflow": _l("Wage account binding"),
    "WorkerExitWorkflow": _l("Worker exit"),
}

PROJECT_STATUS = {
    "active": _lp("project status", "Under construction"),
}


def label(table: dict, code: Optional[str]) -> str:
    """The translated label of `code` in `table`; an unknown code is shown as it is, None as "".
    The one look-up of the web's code → label tables."""
    if code is None:
        return ""
    value = table.get(code)
    return str(value) if value is not None else code


def role_label(role: Optional[str]) -> str:
    return label(ROLE_LABELS, role)


def upload_message(code: str) -> str:
    return str(UPLOAD_ERRORS.get(code, UPLOAD_ERRORS["unsupported_type"]))


def field_error(code: str) -> str:
    return str(FIELD_ERRORS.get(code, FIELD_ERRORS["required"]))


def application_status(code: Optional[str]) -> str:
    return label(APPLICATION_STATUS, code)


def task_status(code: Optional[str]) -> str:
    return label(TASK_STATUS, code)


def outcome_label(code: Optional[str]) -> str:
    return label(OUTCOMES, code)


def workflow_status(code: Optional[str]) -> str:
    return label(WORKFLOW_STATUS, code)


def workflow_type(name: Optional[str]) -> str:
    return label(WORKFLOW_TYPES, name)


def project_status(code: Optional[str]) -> str:
    return label(PROJECT_STATUS, code)


def account_status(active: bool) -> str:
    return str(ACCOUNT_STATUS["enabled" if active else "disabled"])


def run_status(code: Optional[str]) -> str:
    return label(RUN_STATUS, code)


def line_status(code: Optional[str]) -> str:
    return label(LINE_STATUS, code)


def step_label(code: Optional[str]) -> str:
    return label(STEP_LABELS, code)


def bank_failure(code: Optional[str]) -> str:
    """A bank's reason code for a line it did not pay, in the reader's words (never the code)."""
    if not code:
        return ""
    return str(BANK_FAILURES.get(code, BANK_FAILURE_OTHER))
