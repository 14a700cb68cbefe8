"""The declarative base and what every model shares: naive-UTC times and the role names."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy.orm import DeclarativeBase


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


class Base(DeclarativeBase):
    pass


class Role:
    ADMIN = "admin"  # system administrator
    BUREAU_REVIEWER = "bureau_reviewer"
    BUREAU_CHIEF = "bureau_chief"  # section chief; escalations land here
    ENTERPRISE = "enterprise"
    PROJECT = "project"
    PAYROLL_SPECIALIST = "payroll_specialist"  # scoped to a project; signs wage steps
    # ACC-1 / separation of duties: the system administrator runs the platform, the security
    # administrator manages accounts' state, the auditor reads the audit log and changes nothing
    SECURITY_ADMIN = "security_admin"
    AUDITOR = "auditor"
    SUPERVISOR = "supervisor"  # supervisory authority above the district bureaus; reads, decides nothing
    COMPANY = "company"  # a subcontractor or labour company on one project (ACC-2)

    ALL = (ADMIN, BUREAU_REVIEWER, BUREAU_CHIEF, ENTERPRISE, PROJECT, PAYROLL_SPECIALIST,
           SECURITY_ADMIN, AUDITOR, SUPERVISOR, COMPANY)
    BUREAU = (BUREAU_REVIEWER, BUREAU_CHIEF)

