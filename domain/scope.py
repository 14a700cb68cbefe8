"""One scoping rule for every query (ACC-2): nobody reads a record outside their scope.

The rule lives here, in the query layer, not in the views. `install(sessionmaker)` registers a
`do_orm_execute` hook that adds `with_loader_criteria` for every scoped model to each ORM SELECT
(lists, `session.get`, relationship loads, counts) run while a scope is active. The web layer
activates the caller's scope for the whole request (`activate`); workers, activities, the CLI and
anonymous public pages run without one and see everything they are written to see.

Scopes, from an account:
- `all`: administrator, security administrator, auditor, supervisory authority (province-wide);
- `district`: bureau reviewers and section chiefs — projects, applications and tasks of their district;
- `enterprise`: the general contractor — its own projects;
- `projects`: a project account or payroll specialist — its project, plus projects allocated to it;
- `company`: a subcontractor / labour-company account — its company's workers on its project;
- `none`: an account whose scope cannot be established sees nothing.
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field
from typing import Iterator, Optional

from sqlalchemy import event, false, select
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from .models import (
    Account,
    AccountProject,
    AttendanceDevice,
    BankCard,
    DeviceCommand,
    Company,
    Enrolment,
    FaceTemplate,
    HumanTask,
    Project,
    ProjectWorker,
    Punch,
    PunchCorrection,
    PunchQuarantine,
    RegistrationApplication,
    Role,
    SafetyTraining,
    SiteAccessGrant,
    SiteAccessRevocation,
    Team,
    WageAccount,
    WageLine,
    WageRun,
    Worker,
)

ALL, DISTRICT, ENTERPRISE, PROJECTS, COMPANY, NONE = "all", "district", "enterprise", "projects", "company", "none"
GLOBAL_ROLES = (Role.ADMIN, Role.SECURITY_ADMIN, Role.AUDITOR, Role.SUPERVISOR)


@dataclass(frozen=True)
class Scope:
    kind: str
    district_id: Optional[int] = None
    enterprise_id: Optional[int] = None
    project_ids: frozenset = field(default_factory=frozenset)
    company_id: Optional[int] = None

    @property
    def is_global(self) -> bool:
        return self.kind == ALL


def scope_of(session: Session, account: Account) -> Scope:
    """The scope an account acts in, from its role and the records it is tied to."""
    role = account.role
    if role in GLOBAL_ROLES:
        return Scope(ALL)
    if role in Role.BUREAU:
        return Scope(DISTRICT, district_id=account.district_id) if account.district_id else Scope(NONE)
    if role == Role.ENTERPRISE:
        return Scope(ENTERPRISE, enterprise_id=account.enterprise_id) if account.enterprise_id else Scope(NONE)
    if role in (Role.PROJECT, Role.PAYROLL_SPECIALIST):
        ids = set(session.scalars(select(AccountProject.project_id).where(AccountProject.account_id == account.id)))
        if account.project_id:
            ids.add(account.project_id)
        return Scope(PROJECTS, project_ids=frozenset(ids)) if ids else Scope(NONE)
    if role == Role.COMPANY:
        if account.company_id and account.project_id:
            return Scope(COMPANY, project_ids=frozenset({account.project_id}), company_id=account.company_id)
        return Scope(NONE)
    return Scope(NONE)


# --- the active scope ------------------------------------------------------------------------------

_active: contextvars.ContextVar[Optional[Scope]] = contextvars.ContextVar("shiming_scope", default=None)
BYPASS = "shiming_scope_bypass"  # execution option: this one statement runs unscoped (existence checks)


def activate(scope: Optional[Scope]) -> contextvars.Token:
    return _active.set(scope)


def deactivate(token: contextvars.Token) -> None:
    _active.reset(token)


def current() -> Optional[Scope]:
    return _active.get()


@contextlib.contextmanager
def unscoped() -> Iterator[None]:
    """For domain operations that must see global facts whoever calls them — a worker is one
    person across projects, found by ID number (roster import, card binding). Also a decorator."""
    token = _active.set(None)
    try:
        yield
    finally:
        _active.reset(token)


# --- the criteria ------------------------------------------------------------------------------------


def _project_ids(scope: Scope):
    """A subquery (or literal set) of the project ids in scope."""
    if scope.kind == DISTRICT:
        return select(Project.id).where(Project.district_id == scope.district_id).scalar_subquery()
    if scope.kind == ENTERPRISE:
        return select(Project.id).where(Project.enterprise_id == scope.enterprise_id).scalar_subquery()
    return sorted(scope.project_ids)


def _device_commands(projects):
    """A ZKTeco device's commands are in scope with their device."""
    devices = select(AttendanceDevice.id).where(AttendanceDevice.project_id.in_(projects))
    return with_loader_criteria(DeviceCommand, DeviceCommand.device_id.in_(devices), include_aliases=True)


def _only(model, clause):
    """The loader criterion that filters `model` by `clause` (its aliases too)."""
    return with_loader_criteria(model, clause, include_aliases=True)


# every model the scoping rule filters; a scope of NONE sees none of them
_SCOPED_MODELS = (Project, RegistrationApplication, HumanTask, Company, Team, Worker, ProjectWorker, BankCard, Punch,
                  WageAccount, WageRun, WageLine, SiteAccessRevocation, Enrolment, SafetyTraining, SiteAccessGrant,
                  FaceTemplate, AttendanceDevice, PunchQuarantine, DeviceCommand, PunchCorrection)


def _criteria(scope: Scope) -> list:
    """Plain criteria per model (no lambdas: each scope's values become bound parameters)."""
    if scope.kind == NONE:
        return [_only(m, false()) for m in _SCOPED_MODELS]
    projects = _project_ids(scope)
    engagements = select(ProjectWorker.worker_id).where(ProjectWorker.project_id.in_(projects))
    if scope.kind == COMPANY:
        engagements = engagements.where(ProjectWorker.company_id == scope.company_id)
    runs = select(WageRun.id).where(WageRun.project_id.in_(projects))
    crit = [
        _only(Project, Project.id.in_(projects)),
        _only(Team, Team.project_id.in_(projects)),
        _only(Punch, Punch.project_id.in_(projects)),
        _only(AttendanceDevice, AttendanceDevice.project_id.in_(projects)),
        _only(PunchQuarantine, PunchQuarantine.project_id.in_(projects)),
        _device_commands(projects),
        _only(WageAccount, WageAccount.project_id.in_(projects)),
        _only(WageRun, WageRun.project_id.in_(projects)),
        _only(SiteAccessRevocation, SiteAccessRevocation.project_id.in_(projects)),
        _only(Worker, Worker.id.in_(engagements)),
        _only(BankCard, BankCard.worker_id.in_(engagements)),
        _only(SiteAccessGrant, SiteAccessGrant.project_id.in_(projects)),
        _only(SafetyTraining, SafetyTraining.project_id.in_(projects) & SafetyTraining.worker_id.in_(engagements)),
        _only(FaceTemplate, FaceTemplate.worker_id.in_(engagements)),
        _only(PunchCorrection, PunchCorrection.project_id.in_(projects) & PunchCorrection.worker_id.in_(engagements)),
    ]
    crit += _engagement_criteria(scope, projects, engagements, runs)
    return crit


def _engagement_criteria(scope: Scope, projects, engagements, runs) -> list:
    """Companies, engagements, wage lines and enrolments: a company sees its own; registration
    cases and tasks by district."""
    if scope.kind == COMPANY:
        crit = [
            _only(Company, Company.id == scope.company_id),
            _only(ProjectWorker, ProjectWorker.project_id.in_(projects) & (ProjectWorker.company_id == scope.company_id)),
            _only(WageLine, WageLine.run_id.in_(runs) & WageLine.worker_id.in_(engagements)),
            _only(Enrolment, Enrolment.project_id.in_(projects) & (Enrolment.company_id == scope.company_id)),
        ]
    else:
        crit = [_only(Company, Company.project_id.in_(projects)),
                _only(ProjectWorker, ProjectWorker.project_id.in_(projects)),
                _only(WageLine, WageLine.run_id.in_(runs)),
                _only(Enrolment, Enrolment.project_id.in_(projects))]
    if scope.kind == DISTRICT:
        crit += [_only(RegistrationApplication, RegistrationApplication.district_id == scope.district_id),
                 _only(HumanTask, HumanTask.district_id == scope.district_id)]
    else:  # an applicant reaches their application by its own token on the public pages, unscoped
        crit += [_only(RegistrationApplication, RegistrationApplication.project_id.in_(projects)),
                 _only(HumanTask, false())]
    return crit


def _on_execute(state: ORMExecuteState) -> None:
    scope = _active.get()
    if scope is None or scope.is_global or not state.is_select:
        return
    if state.execution_options.get(BYPASS) or state.is_column_load:
        return
    state.statement = state.statement.options(*_criteria(scope))


def install(session_factory) -> None:
    """Register the rule on a sessionmaker (once; Services.build does it)."""
    if not event.contains(session_factory, "do_orm_execute", _on_execute):
        event.listen(session_factory, "do_orm_execute", _on_execute)


def exists_unscoped(session: Session, model, ident) -> bool:
    """Whether a record exists at all (for auditing an out-of-scope attempt); never shown to the caller."""
    pk = model.__mapper__.primary_key[0]
    return session.execute(select(pk).where(pk == ident).execution_options(**{BYPASS: True})).first() is not None
