"""One I/O-free module per process: its vocabulary, its messages and its pure helpers.

Each module here is the process's `shared.py` (the money-transfer sample): the `StrEnum`
vocabulary (steps, statuses, refusal codes), the dataclasses its workflow, activities and web
exchange, and pure helpers (workflow ids, content hashes). Workflows, activities and web import
from here, so a step or a status is never a string literal elsewhere. These modules import the
standard library and each other only (tests/test_layering.py checks it): no SQLAlchemy, no Flask,
no Temporal client or activity.

- `registration` — ProjectRegistrationWorkflow (REG-1…4)
- `worker_exit` — WorkerExitWorkflow (PAY-7)
- `account_binding` — WageAccountBindingWorkflow (PAY-2)
- `enrolment` — EnrolmentWorkflow (ENR-1, ENR-4…7)
- `wage_run` — WageRunWorkflow (PAY-3…7)
- `attendance_correction` — AttendanceCorrectionWorkflow (补卡, issue 11 point 5)
- `attendance` — devices and their punches (ATT-1…4; no workflow: the signed API and ingest)
- `zkteco` — the ZKTeco PUSH protocol of off-the-shelf terminals (ATT-6; no workflow)
"""
