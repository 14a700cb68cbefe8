"""The account hierarchy (ACC-1, ACC-2, ACC-4) and who may manage whom.

- The system administrator initialises supervisory-authority, district-bureau and enterprise
  accounts. An enterprise account names its enterprise by unified social credit code; creating it
  creates the enterprise if it is new and links every project whose general contractor has that
  code and that no enterprise owns yet (ACC-6, `link_projects`).
- An enterprise (general contractor) allocates project accounts and payroll specialists for its
  own projects: role (a project account may get the project-allocation permission) → projects.
  A project account with that permission allocates project accounts within its own projects.
- A project account appoints the payroll specialists of its own project as long as the project's
  enterprise has no enterprise account (ACC-6); from the day it has one, the enterprise does.
- A project account creates subcontractor and labour-company accounts for its project, each with
  a "collect" (may enrol workers) and a "login" permission, and disables them.
- The security administrator enables and disables any account but its own and unlocks logins;
  the auditor only reads the audit log; nobody edits audit rows.

Every change writes an audit row; disabling an account or taking its login away ends its sessions.
New accounts get a random initial password, shown once to their creator and to be changed at the
first login.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from . import audit, scope
from .errors import CodedError
from .models import Account, AccountProject, Company, CompanyKind, District, Enterprise, Project, Role, utcnow
from .passwords import end_sessions, hash_password, random_initial_password
from .rules import is_valid_credit_code, normalize_credit_code

USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,63}$")

# the roles each role may create
CREATES = {
    Role.ADMIN: (Role.SUPERVISOR, Role.BUREAU_REVIEWER, Role.BUREAU_CHIEF, Role.ENTERPRISE),
    Role.ENTERPRISE: (Role.PROJECT, Role.PAYROLL_SPECIALIST),
    # plus Role.PROJECT with the project-allocation permission, and Role.PAYROLL_SPECIALIST while
    # the project's enterprise has no enterprise account (ACC-6)
    Role.PROJECT: (Role.COMPANY,),
}
COMPANY_KINDS = (CompanyKind.SUBCONTRACTOR, CompanyKind.LABOUR_COMPANY)


class AccountError(CodedError):
    """A refused account change; `code` maps to a translated message."""


@dataclass
class NewAccount:
    username: str
    display_name: str
    role: str
    district_id: Optional[int] = None
    project_ids: Sequence[int] = ()
    company_id: Optional[int] = None
    can_collect: bool = False
    can_login: bool = True
    can_allocate_projects: bool = False
    reviewer_enterprise_id: Optional[int] = None  # a reviewer's declared enterprise (conflict of interest)
    enterprise_name: str = ""  # an enterprise account: its enterprise, found or created by credit code
    enterprise_credit_code: str = ""


def creatable_roles(actor: Account, session: Optional[Session] = None) -> tuple[str, ...]:
    """The roles `actor` may create; with `session`, also the payroll specialist a project account
    appoints while its project's enterprise has no enterprise account."""
    roles = CREATES.get(actor.role, ())
    if actor.role == Role.PROJECT and actor.can_allocate_projects:
        roles = roles + (Role.PROJECT,)
    if actor.role == Role.PROJECT and session is not None and _appointing_projects(session, actor):
        roles = roles + (Role.PAYROLL_SPECIALIST,)
    return roles


def enterprise_has_account(session: Session, enterprise_id: Optional[int]) -> bool:
    """Whether an enterprise account (enabled or not) exists for the enterprise."""
    if enterprise_id is None:
        return False
    return session.scalar(select(Account.id).where(Account.role == Role.ENTERPRISE,
                                                   Account.enterprise_id == enterprise_id).limit(1)) is not None


def _appointing_projects(session: Session, actor: Account) -> set[int]:
    """ACC-6: the projects of a project account whose enterprise has no enterprise account yet; the
    project account appoints their payroll specialists."""
    if actor.role != Role.PROJECT:
        return set()
    ids = account_projects(session, actor)
    if not ids:
        return set()
    with scope.unscoped():
        projects = session.execute(select(Project.id, Project.enterprise_id).where(Project.id.in_(ids))).all()
    return {pid for pid, enterprise_id in projects if not enterprise_has_account(session, enterprise_id)}


def enterprise_projects(session: Session, enterprise_id: Optional[int]) -> set[int]:
    if enterprise_id is None:
        return set()
    with scope.unscoped():
        return set(session.scalars(select(Project.id).where(Project.enterprise_id == enterprise_id)))


def account_projects(session: Session, account: Account) -> set[int]:
    ids = set(session.scalars(select(AccountProject.project_id).where(AccountProject.account_id == account.id)))
    if account.project_id:
        ids.add(account.project_id)
    return ids


def allocatable_projects(session: Session, actor: Account, role: Optional[str] = None) -> set[int]:
    """The projects `actor` may hand to the accounts of `role` it allocates (any role: `None`)."""
    if actor.role == Role.ENTERPRISE:
        return enterprise_projects(session, actor.enterprise_id)
    if actor.role == Role.PROJECT:
        ids: set[int] = set()
        if actor.can_allocate_projects and role in (None, Role.PROJECT):
            ids |= account_projects(session, actor)
        if role in (None, Role.PAYROLL_SPECIALIST):
            ids |= _appointing_projects(session, actor)
        return ids
    return set()


def link_projects(session: Session, enterprise: Enterprise) -> list[int]:
    """ACC-6: the projects whose general contractor has the enterprise's credit code and that no
    enterprise owns yet become the enterprise's, with the accounts acting for them; returns their ids."""
    with scope.unscoped():
        projects = list(session.scalars(select(Project).where(
            Project.contractor_credit_code == enterprise.credit_code, Project.enterprise_id.is_(None))))
        for project in projects:
            project.enterprise_id = enterprise.id
            for account in session.scalars(select(Account).where(Account.project_id == project.id,
                                                                 Account.enterprise_id.is_(None))):
                account.enterprise_id = enterprise.id
    return sorted(p.id for p in projects)


def enterprise_of_contractor(session: Session, credit_code: str) -> Optional[Enterprise]:
    """The enterprise a new project belongs to: the one with its general contractor's credit code."""
    return session.scalar(select(Enterprise).where(Enterprise.credit_code == normalize_credit_code(credit_code)))


def _enterprise_for_account(session: Session, name: str, credit_code: str) -> tuple[Enterprise, bool]:
    code = normalize_credit_code(credit_code or "")
    if not is_valid_credit_code(code):
        raise AccountError("bad_credit_code")
    enterprise = session.scalar(select(Enterprise).where(Enterprise.credit_code == code))
    if enterprise is not None:
        return enterprise, False
    if not (name or "").strip():
        raise AccountError("enterprise_name_required")
    enterprise = Enterprise(name=name.strip()[:200], credit_code=code, created_at=utcnow())
    session.add(enterprise)
    session.flush()
    return enterprise, True


def _audit(session: Session, actor: Account, action: str, target: Account, detail: dict,
           reason: Optional[str] = None, remote_addr: Optional[str] = None) -> None:
    audit.record(session, actor_id=actor.id, actor_name=actor.display_name, action=action,
                 target_type="account", target_id=target.id, detail=detail, reason=reason, remote_addr=remote_addr)


def _checked_username(session: Session, new: NewAccount) -> str:
    """The new account's username, normalised; refused when malformed or taken (or the name is empty)."""
    username = (new.username or "").strip().lower()
    if not USERNAME.match(username):
        raise AccountError("bad_username")
    if not (new.display_name or "").strip():
        raise AccountError("name_required")
    if session.scalar(select(Account.id).where(Account.username == username)) is not None:
        raise AccountError("username_taken")
    return username


def _place_bureau_account(session: Session, account: Account, new: NewAccount) -> None:
    """A bureau account's district and, for a reviewer, the declared enterprise."""
    if new.district_id is None or session.get(District, new.district_id) is None:
        raise AccountError("district_required")
    account.district_id = new.district_id
    if new.reviewer_enterprise_id is not None:
        if session.get(Enterprise, new.reviewer_enterprise_id) is None:
            raise AccountError("unknown_enterprise")
        account.enterprise_id = new.reviewer_enterprise_id


def _place_project_account(session: Session, actor: Account, account: Account, new: NewAccount) -> list[int]:
    """A project account's or payroll specialist's projects (sorted; the first is its own), its
    enterprise and its allocation permission."""
    projects = sorted(set(new.project_ids))
    if not projects:
        raise AccountError("projects_required")
    if not set(projects) <= allocatable_projects(session, actor, new.role):
        raise AccountError("project_not_allowed")
    if new.role == Role.PAYROLL_SPECIALIST and len(projects) != 1:
        raise AccountError("one_project_only")
    with scope.unscoped():
        account.enterprise_id = actor.enterprise_id or session.get(Project, projects[0]).enterprise_id
    account.project_id = projects[0]
    account.can_allocate_projects = bool(new.can_allocate_projects) and actor.role == Role.ENTERPRISE \
        and new.role == Role.PROJECT
    return projects


def _place_company_account(session: Session, actor: Account, account: Account, new: NewAccount) -> None:
    """A subcontractor's or labour company's account: a company of the actor's project, its permissions."""
    company = session.get(Company, new.company_id) if new.company_id else None
    if company is None or company.project_id != actor.project_id or company.kind not in COMPANY_KINDS:
        raise AccountError("company_not_allowed")
    account.project_id, account.company_id = actor.project_id, company.id
    account.enterprise_id = actor.enterprise_id
    account.can_collect, account.can_login = bool(new.can_collect), bool(new.can_login)


def create_account(session: Session, actor: Account, new: NewAccount,
                   remote_addr: Optional[str] = None) -> tuple[Account, str]:
    """Create an account `actor` may create; returns it and its initial password (shown once)."""
    if new.role not in creatable_roles(actor, session):
        raise AccountError("role_not_allowed")
    username = _checked_username(session, new)
    account = Account(username=username, display_name=new.display_name.strip()[:100], role=new.role,
                      created_by=actor.id, must_change_password=True, created_at=utcnow())
    projects: list[int] = []
    linked: list[int] = []
    enterprise_created = False
    if actor.role == Role.ADMIN and new.role == Role.ENTERPRISE:
        enterprise, enterprise_created = _enterprise_for_account(session, new.enterprise_name,
                                                                 new.enterprise_credit_code)
        account.enterprise_id = enterprise.id
        linked = link_projects(session, enterprise)
    elif actor.role == Role.ADMIN:
        if new.role in Role.BUREAU:
            _place_bureau_account(session, account, new)
    elif new.role in (Role.PROJECT, Role.PAYROLL_SPECIALIST):
        projects = _place_project_account(session, actor, account, new)
    elif new.role == Role.COMPANY:
        _place_company_account(session, actor, account, new)
    password = random_initial_password()
    account.password_hash = hash_password(password)
    session.add(account)
    session.flush()
    for project_id in projects[1:]:
        session.add(AccountProject(account_id=account.id, project_id=project_id))
    _audit(session, actor, "account.create", account,
           {"role": account.role, "projects": projects, "district_id": account.district_id,
            "company_id": account.company_id, "can_collect": account.can_collect, "can_login": account.can_login,
            "can_allocate_projects": account.can_allocate_projects,
            "enterprise_id": account.enterprise_id if new.role == Role.ENTERPRISE else None,
            "enterprise_created": enterprise_created, "projects_linked": linked}, remote_addr=remote_addr)
    return account, password


def manages(session: Session, actor: Account, target: Account) -> bool:
    """Whether `actor` may change `target` (permissions, enabling, disabling)."""
    if target.id == actor.id:
        return False
    if actor.role == Role.SECURITY_ADMIN:
        return True
    if actor.role == Role.ADMIN:
        return target.role in CREATES[Role.ADMIN]
    if actor.role == Role.ENTERPRISE:
        return (target.role in (Role.PROJECT, Role.PAYROLL_SPECIALIST) and actor.enterprise_id is not None
                and (target.enterprise_id == actor.enterprise_id
                     or target.project_id in enterprise_projects(session, actor.enterprise_id)))
    if actor.role == Role.PROJECT:
        if target.role == Role.COMPANY:
            return target.project_id is not None and target.project_id == actor.project_id
        if target.role == Role.PAYROLL_SPECIALIST:
            return target.project_id in _appointing_projects(session, actor)
        return target.role == Role.PROJECT and target.created_by == actor.id
    return False


def managed_accounts(session: Session, actor: Account) -> list[Account]:
    """The accounts `actor` manages, for its user-management page."""
    q = select(Account).where(Account.id != actor.id)
    if actor.role == Role.SECURITY_ADMIN:
        pass
    elif actor.role == Role.ADMIN:
        q = q.where(Account.role.in_(CREATES[Role.ADMIN]))
    elif actor.role == Role.ENTERPRISE:
        projects = enterprise_projects(session, actor.enterprise_id)
        q = q.where(Account.role.in_((Role.PROJECT, Role.PAYROLL_SPECIALIST)),
                    (Account.enterprise_id == actor.enterprise_id) | Account.project_id.in_(projects))
    elif actor.role == Role.PROJECT:
        q = q.where(((Account.role == Role.COMPANY) & (Account.project_id == actor.project_id))
                    | ((Account.role == Role.PROJECT) & (Account.created_by == actor.id))
                    | ((Account.role == Role.PAYROLL_SPECIALIST)
                       & Account.project_id.in_(sorted(_appointing_projects(session, actor)))))
    else:
        return []
    return list(session.scalars(q.order_by(Account.role, Account.username)))


def _managed(session: Session, actor: Account, account_id: int) -> Account:
    target = session.get(Account, account_id)
    if target is None or not manages(session, actor, target):
        raise AccountError("not_found")
    return target


def set_projects(session: Session, actor: Account, account_id: int, project_ids: Iterable[int],
                 remote_addr: Optional[str] = None) -> None:
    """ACC-4: choose the projects of an allocated project account / payroll specialist."""
    target = _managed(session, actor, account_id)
    if target.role not in (Role.PROJECT, Role.PAYROLL_SPECIALIST):
        raise AccountError("not_found")
    projects = sorted(set(project_ids))
    if not projects:
        raise AccountError("projects_required")
    if not set(projects) <= allocatable_projects(session, actor, target.role):
        raise AccountError("project_not_allowed")
    if target.role == Role.PAYROLL_SPECIALIST and len(projects) != 1:
        raise AccountError("one_project_only")
    before = sorted(account_projects(session, target))
    if before == projects:
        return
    target.project_id = projects[0]
    session.execute(delete(AccountProject).where(AccountProject.account_id == target.id))
    for project_id in projects[1:]:
        session.add(AccountProject(account_id=target.id, project_id=project_id))
    end_sessions(target)  # its scope changed: it signs in again with the new one
    _audit(session, actor, "account.projects", target, {"before": before, "after": projects}, remote_addr=remote_addr)


def set_company_permissions(session: Session, actor: Account, account_id: int, *, can_collect: bool,
                            can_login: bool, remote_addr: Optional[str] = None) -> None:
    target = _managed(session, actor, account_id)
    if target.role != Role.COMPANY:
        raise AccountError("not_found")
    before = {"can_collect": target.can_collect, "can_login": target.can_login}
    after = {"can_collect": bool(can_collect), "can_login": bool(can_login)}
    if before == after:
        return
    target.can_collect, target.can_login = after["can_collect"], after["can_login"]
    if not target.can_login:
        end_sessions(target)
    _audit(session, actor, "account.permissions", target, {"before": before, "after": after}, remote_addr=remote_addr)


def set_active(session: Session, actor: Account, account_id: int, active: bool, reason: str,
               remote_addr: Optional[str] = None) -> None:
    """Enable or disable an account; disabling ends every session of it at once."""
    if not (reason or "").strip():
        raise AccountError("reason_required")
    target = _managed(session, actor, account_id)
    if bool(target.is_active) == active:
        return
    target.is_active = active
    if not active:
        end_sessions(target)
    _audit(session, actor, "account.enable" if active else "account.disable", target, {"role": target.role},
           reason=reason.strip()[:300], remote_addr=remote_addr)


def reset_password(session: Session, actor: Account, account_id: int, remote_addr: Optional[str] = None) -> str:
    """A manager gives an account a new random initial password (shown once), to be changed at the
    next login; every session of the account ends."""
    target = _managed(session, actor, account_id)
    password = random_initial_password()
    target.password_hash = hash_password(password)
    target.must_change_password = True
    target.password_changed_at = utcnow()
    end_sessions(target)
    _audit(session, actor, "account.password_reset", target, {}, remote_addr=remote_addr)
    return password


def unlock(session: Session, actor: Account, account_id: int, remote_addr: Optional[str] = None) -> None:
    """The security administrator lifts a login lockout."""
    if actor.role != Role.SECURITY_ADMIN:
        raise AccountError("not_found")
    target = _managed(session, actor, account_id)
    target.locked_until = utcnow()  # failures before now no longer count toward a lockout
    _audit(session, actor, "account.unlock", target, {}, remote_addr=remote_addr)


def conflict_of_interest(session: Session, reviewer: Account, builder_credit_code: str,
                         contractor_credit_code: str) -> bool:
    """A reviewer may not decide on a project of their own enterprise (separation of duties)."""
    if reviewer.enterprise_id is None:
        return False
    enterprise = session.get(Enterprise, reviewer.enterprise_id)
    return enterprise is not None and enterprise.credit_code in (builder_credit_code, contractor_credit_code)
