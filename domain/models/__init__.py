"""SQLAlchemy 2.0 models: the facts. Processes live in Temporal workflows.

Times are naive UTC (`utcnow()`), which both SQLite and MySQL store alike. Money is integer
fen. Phone numbers are stored encrypted (`*_enc`) with a keyed hash (`*_hash`) for look-ups.
One module per area; this package exports every model under its one name.
"""
from .base import (
    Base,
    utcnow,
    Role,
)
from .platform import (
    District,
    Enterprise,
    StoredFile,
    Project,
    Account,
    AccountProject,
    LoginAttempt,
    UsbKeyCredential,
    LoginChallenge,
    RegistrationApplication,
    RegistrationCorrection,
    TaskStatus,
    HumanTask,
    NotificationStatus,
    Notification,
    AuditLog,
    AuditChain,
)
from .workforce import (
    CompanyKind,
    Company,
    Team,
    Worker,
    FaceTemplate,
    WorkerAppAccount,
    ProjectWorker,
    Enrolment,
    SafetyTraining,
    SiteAccessGrant,
    SiteAccessRevocation,
    BankCard,
    Punch,
)
from .payroll import (
    SigningKey,
    SecurityPasswordState,
    WageAccount,
    WageRun,
    WageLine,
    WageStepSignature,
    BankBatch,
    BankBatchLine,
    BankStatement,
)
from .attendance import (
    AttendanceDevice,
    PunchQuarantine,
    DeviceRequestNonce,
)
from .zkteco import DeviceCommand
from .correction import PunchCorrection
from ..processes.account_binding import AccountStatus
from ..processes.enrolment import EnrolmentState
from ..processes.registration import RegistrationStatus
from ..processes.wage_run import BatchStatus, Step, WageLineStatus, WageRunStatus
from ..processes.worker_exit import EngagementStatus

__all__ = [
    "Base",
    "utcnow",
    "Role",
    "District",
    "Enterprise",
    "StoredFile",
    "Project",
    "Account",
    "AccountProject",
    "LoginAttempt",
    "UsbKeyCredential",
    "LoginChallenge",
    "RegistrationApplication",
    "RegistrationCorrection",
    "TaskStatus",
    "HumanTask",
    "NotificationStatus",
    "Notification",
    "AuditLog",
    "AuditChain",
    "CompanyKind",
    "Company",
    "Team",
    "Worker",
    "FaceTemplate",
    "WorkerAppAccount",
    "ProjectWorker",
    "Enrolment",
    "SafetyTraining",
    "SiteAccessGrant",
    "SiteAccessRevocation",
    "BankCard",
    "Punch",
    "PunchCorrection",
    "SigningKey",
    "SecurityPasswordState",
    "WageAccount",
    "WageRun",
    "WageLine",
    "WageStepSignature",
    "BankBatch",
    "BankBatchLine",
    "BankStatement",
    "AttendanceDevice",
    "PunchQuarantine",
    "DeviceRequestNonce",
    "DeviceCommand",
    "AccountStatus",
    "EnrolmentState",
    "RegistrationStatus",
    "BatchStatus",
    "Step",
    "WageLineStatus",
    "WageRunStatus",
    "EngagementStatus",
]
