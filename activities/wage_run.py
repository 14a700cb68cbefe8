"""Activities of WageRunWorkflow: each one short transaction, idempotent, ids and hashes in and out.

Every signed step is verified here, against the stored public key, before anything is applied
(DESIGN decision 3). The bank is reached through an injected BankConnector (decision 4).
"""
from __future__ import annotations

import functools
import json
from typing import Callable, Optional

from sqlalchemy import bindparam, insert, select, update
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.refusal import refusal
from bank_connectors.keys import PublicKeys
from bank_connectors.protocol import CARD, AccountCheck, BankConnector
from bank_connectors.wagefile import PAID, StatementError, verify_statement
from domain import audit, notify, signing, workforce
from domain import wage_run as wr
from domain.wage_run import reconcile_state
from domain import wage_table as wt
from domain.models import (
    Account,
    BankBatch,
    BankCard,
    BankStatement,
    Role,
    StoredFile,
    WageLine,
    WageRun,
    WageStepSignature,
    Worker,
    utcnow,
)
from domain.processes.wage_run import (
    ApplyStatementInput,
    BatchInfo,
    BatchStatus,
    BuildBatchInput,
    CancelRunInput,
    LineFailure,
    ReconcileState,
    RemindInput,
    RunRef,
    SettleLineInput,
    SignedStepInput,
    Step,
    WageLineStatus,
    WageRunStatus,
    error_report_name,
    settle_sha256,
)
from domain.processes.wage_run import Refusal as R
from domain.services import Services

from . import wage_file
from .liveness import heartbeat_until_done, pause_point


def _live(fn):
    """Run the activity body with a heartbeat thread (see activities/liveness.py)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with heartbeat_until_done():
            return fn(*args, **kwargs)
    return wrapper


def _refuse(message: str, code: str, *details) -> ApplicationError:
    return refusal(message, code, *details)


def _open_run(session, run_id: int) -> WageRun:
    """The run, refused (`CaseFinished`) once cancelled: a step on its way when the process was
    cancelled applies nothing — above all, no wage file is sent for a cancelled run."""
    run = session.get(WageRun, run_id)
    if run is not None and run.status == WageRunStatus.CANCELLED:
        raise _refuse("the wage run was cancelled", R.CASE_FINISHED)
    return run


class WageRunActivities:
    def __init__(self, services: Services, connector: BankConnector, platform_signing_key,
                 bank_keys: Callable[[], PublicKeys]):
        self.s = services
        self.connector = connector
        self.platform_key = platform_signing_key
        self._bank_keys = bank_keys  # fetched when first needed: the bank may start after the worker

    @property
    def bank_key(self):
        """The pinned bank encryption key wage files are sealed to (the current one, during a rotation)."""
        return self._bank_keys().encryption

    @property
    def bank_verify_keys(self):
        """Every pinned bank signing key: a statement signed by any of them verifies."""
        return self._bank_keys()

    # --- signatures --------------------------------------------------------------------------------

    def _record(self, session, inp, step: str) -> bool:
        """Verify and store a step signature; False when this exact signature was stored before."""
        existing = session.scalar(select(WageStepSignature).where(
            WageStepSignature.run_id == inp.run_id, WageStepSignature.signature == inp.signature))
        if existing is not None:
            return False
        try:
            doc = json.loads(inp.document)
        except ValueError:
            raise _refuse("unreadable step document", R.SIGNATURE_REFUSED) from None
        if doc.get("actor_id") != inp.actor_id or doc.get("content_sha256") != getattr(inp, "content_sha256", doc.get("content_sha256")):
            raise _refuse("the signed document does not match the request", R.SIGNATURE_REFUSED)
        try:
            signing.record_signature(session, run_id=inp.run_id, step=step, document=inp.document,
                                     signature_hex=inp.signature, signing_key_id=inp.signing_key_id,
                                     actor_id=inp.actor_id)
        except signing.SignatureError as exc:
            raise _refuse(f"signature refused: {exc.code}", R.SIGNATURE_REFUSED, exc.code) from None
        return True

    def _blob(self, session, file_id: Optional[int], expected_sha256: str) -> bytes:
        row = session.get(StoredFile, file_id) if file_id else None
        if row is None or row.sha256 != expected_sha256:
            raise _refuse("the signed file is not the uploaded one", R.SIGNATURE_REFUSED)
        return self.s.blobs.get(row.sha256)

    # --- step 1 ------------------------------------------------------------------------------------

    @activity.defn
    @_live
    def apply_wage_table(self, inp: SignedStepInput) -> ReconcileState:
        with self.s.Session.begin() as session:
            run = _open_run(session, inp.run_id)
            if run.table_sha256 == inp.content_sha256:  # retry after commit
                return reconcile_state(session, run.id)
            data = self._blob(session, inp.file_id, inp.content_sha256)
            parsed = wt.parse_upload(session, run.project_id, data, month=run.month)
            if parsed.ok:
                self._record(session, inp, Step.WAGE_TABLE)
                session.execute(insert(WageLine.__table__), [  # plain executemany: no ORM bookkeeping per line
                    dict(run_id=run.id, seq=line.seq, worker_id=line.worker_id, days=line.days,
                         hours_x10=line.hours_x10, gross_fen=line.gross_fen, net_fen=line.net_fen,
                         remark=line.remark, back_pay_month=line.back_pay_month, status=WageLineStatus.PENDING)
                    for line in parsed.lines])
                run.table_file_id, run.table_sha256, run.table_uploaded_by = inp.file_id, inp.content_sha256, inp.actor_id
                run.line_count, run.total_fen, run.step = len(parsed.lines), parsed.total_fen, Step.SIGNED_SHEET
                actor = session.get(Account, inp.actor_id)
                audit.record(session, actor_id=actor.id, actor_name=actor.display_name, action="wage_run.wage_table",
                             target_type="wage_run", target_id=run.id, business_key=run.workflow_id,
                             detail={"lines": run.line_count, "total_fen": run.total_fen, "sha256": inp.content_sha256})
                return reconcile_state(session, run.id)
        # refused: keep only the error report, so the specialist can download it
        with self.s.Session.begin() as session:
            report = self.s.blobs.store(session, wt.error_report_xlsx(parsed.errors),
                                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                                        error_report_name(inp.run_id))
            report_id = report.id
        raise _refuse(f"the wage table has {len(parsed.errors)} error(s)", R.WAGE_TABLE_INVALID, report_id,
                      [(e.row, e.column, e.code) for e in parsed.errors[:50]])

    # --- step 2 ------------------------------------------------------------------------------------

    @activity.defn
    @_live
    def apply_signed_sheet(self, inp: SignedStepInput) -> None:
        with self.s.Session.begin() as session:
            run = _open_run(session, inp.run_id)
            self._blob(session, inp.file_id, inp.content_sha256)
            # refuse here what would refuse the first batch, before the signature and step are
            # written: otherwise the database says "wage file" while the process still waits here
            wage_file.refuse_unpayable(session, run.id, WageLineStatus.PENDING)
            if self._record(session, inp, Step.SIGNED_SHEET):
                run.sheet_file_id, run.step = inp.file_id, Step.WAGE_FILE
                actor = session.get(Account, inp.actor_id)
                audit.record(session, actor_id=actor.id, actor_name=actor.display_name, action="wage_run.signed_sheet",
                             target_type="wage_run", target_id=run.id, business_key=run.workflow_id)

    # --- step 3 ------------------------------------------------------------------------------------

    @activity.defn
    @_live
    def build_bank_batch(self, inp: BuildBatchInput) -> BatchInfo:
        """Build (once) the encrypted, signed wage file of batch `version` from the open lines.

        A re-issue (version > 1) is refused `SameFailedCard` while a failed line's card failure is
        still the worker's current card: closed or unknown to the bank, it would fail again. A line
        failed for the holder's name goes to the same card only when the bank now confirms the card
        in the worker's name (the name was corrected)."""
        confirmed = self._confirmed_names(inp) if inp.version > 1 else set()
        with self.s.Session.begin() as session:
            existing = session.scalar(select(BankBatch).where(BankBatch.run_id == inp.run_id,
                                                              BankBatch.version == inp.version))
            if existing is not None:
                return wage_file.batch_info(existing)
            run = _open_run(session, inp.run_id)
            if inp.version > 1:  # a re-issue: never to the card the bank has refused
                wage_file.refuse_same_failed_card(session, run.id, confirmed)
            wanted = WageLineStatus.PENDING if inp.version == 1 else WageLineStatus.FAILED
            file_lines, marks = wage_file.lines_to_pay(session, self.s.cipher, run.id, wanted)
            batch = wage_file.store_batch(session, self.s, run, inp.version, file_lines, marks,
                                          platform_key=self.platform_key, bank_key=self.bank_key)
            return wage_file.batch_info(batch)

    def _confirmed_names(self, inp: BuildBatchInput) -> set[int]:
        """Lines refused NAME_MISMATCH whose card is still current, that the bank now confirms in the
        worker's name (asked outside any transaction, kind "card"; BankUnavailable is retried)."""
        with self.s.Session() as session:
            if session.scalar(select(BankBatch.id).where(BankBatch.run_id == inp.run_id,
                                                         BankBatch.version == inp.version)) is not None:
                return set()
            asks = [(line.line_id, workforce.card_number_of(self.s.cipher, session.get(BankCard, line.card_id)),
                     session.get(Worker, line.worker_id).name)
                    for line in wr.lines_on_failed_card(session, inp.run_id) if line.failure_code == LineFailure.NAME_MISMATCH]
        confirmed = set()
        for line_id, number, name in asks:
            check = AccountCheck(number, name, f"{inp.run_id}-reissue-{inp.version}-line-{line_id}", kind=CARD)
            if self.connector.validate_account(check).ok:
                confirmed.add(line_id)
        return confirmed

    @activity.defn
    @_live
    def submit_bank_batch(self, inp: SignedStepInput) -> None:
        with self.s.Session.begin() as session:
            _open_run(session, inp.run_id)
            batch = session.scalar(select(BankBatch).where(BankBatch.run_id == inp.run_id,
                                                           BankBatch.version == inp.batch_version))
            if batch is None or batch.plaintext_sha256 != inp.content_sha256:
                raise _refuse("the signed wage file is not the current one", R.STALE_BATCH)
            self._record(session, inp, Step.WAGE_FILE)
            envelope = self.s.blobs.get(session.get(StoredFile, batch.file_id).sha256)
            batch_id = batch.batch_id
        # the bank call happens outside the transaction; the batch id is the idempotency key
        result = self.connector.submit_wage_file(batch_id, envelope, idempotency_key=f"{inp.run_id}-submit-{inp.batch_version}")
        if not result.accepted and not result.duplicate:
            raise _refuse(f"the bank refused the wage file: {result.code}", R.BANK_REFUSED, result.code)
        pause_point("submit_bank_batch.after_bank_call", self.s.settings.home)  # the bank has it; we have not noted it
        with self.s.Session.begin() as session:
            batch = session.scalar(select(BankBatch).where(BankBatch.batch_id == batch_id))
            if batch.status == BatchStatus.BUILT:
                batch.status, batch.submitted_at = BatchStatus.SUBMITTED, utcnow()
                session.execute(update(WageLine).where(WageLine.run_id == inp.run_id,
                                                       WageLine.batch_version == inp.batch_version)
                                .values(status=WageLineStatus.SUBMITTED))
                run = session.get(WageRun, inp.run_id)
                run.step = Step.RECONCILE
                actor = session.get(Account, inp.actor_id)
                audit.record(session, actor_id=actor.id, actor_name=actor.display_name, action="wage_run.bank_file",
                             target_type="wage_run", target_id=run.id, business_key=run.workflow_id,
                             detail={"batch_id": batch_id, "lines": batch.line_count, "total_fen": batch.total_fen})

    # --- step 4 ------------------------------------------------------------------------------------

    @activity.defn
    @_live
    def apply_statement(self, inp: ApplyStatementInput) -> ReconcileState:
        """Match a verified statement line by line; applying it again changes nothing."""
        with self.s.Session.begin() as session:
            stmt_row = session.scalar(select(BankStatement).where(BankStatement.statement_id == inp.statement_id))
            if stmt_row is None:
                raise self._refuse_statement(inp, "unknown statement", R.UNKNOWN_STATEMENT)
            if stmt_row.applied_at is None:
                body = self.s.blobs.get(stmt_row.body_sha256)
                try:
                    statement = verify_statement(body, self.bank_verify_keys)
                except StatementError as exc:
                    raise self._refuse_statement(inp, f"statement refused: {exc.code}", R.STATEMENT_REFUSED) from None
                batch = session.scalar(select(BankBatch).where(BankBatch.batch_id == statement.batch_id))
                if batch is None or batch.run_id != inp.run_id:
                    raise self._refuse_statement(inp, "statement of another run", R.UNKNOWN_STATEMENT)
                line_t = WageLine.__table__  # plain rows and one executemany per outcome: thousands of lines
                lines = {file_seq: (line_id, status, net_fen) for line_id, file_seq, status, net_fen in session.execute(
                    select(line_t.c.id, line_t.c.file_seq, line_t.c.status, line_t.c.net_fen).where(
                        line_t.c.run_id == inp.run_id, line_t.c.batch_version == batch.version))}
                paid, failed = [], []
                for item in statement.lines:
                    line = lines.get(item.seq)
                    if line is None or line[1] != WageLineStatus.SUBMITTED or item.amount_fen != line[2]:
                        continue  # late, duplicate or foreign lines change nothing
                    if item.status == PAID:
                        paid.append({"b_id": line[0]})
                    else:
                        failed.append({"b_id": line[0], "b_code": item.code[:20], "b_reason": item.reason[:200]})
                    lines[item.seq] = (line[0], None, line[2])  # a line answered twice counts once
                by_id = line_t.c.id == bindparam("b_id")
                if paid:
                    session.execute(update(line_t).where(by_id).values(status=WageLineStatus.PAID, paid_at=utcnow()),
                                    paid)
                if failed:
                    session.execute(update(line_t).where(by_id).values(
                        status=WageLineStatus.FAILED, failure_code=bindparam("b_code"),
                        failure_reason=bindparam("b_reason")), failed)
                batch.status = BatchStatus.ANSWERED
                stmt_row.applied_at = utcnow()
                session.flush()
                pause_point("apply_statement.before_commit", self.s.settings.home)  # lines matched, not committed
            return reconcile_state(session, inp.run_id)

    def _refuse_statement(self, inp: ApplyStatementInput, message: str, code: str) -> ApplicationError:
        """Audit a statement refused when it is applied (own transaction), then the refusal to raise.
        The workflow records it and keeps waiting for a statement it can apply."""
        with self.s.Session.begin() as session:
            run = session.get(WageRun, inp.run_id)
            audit.record(session, actor_id=None, actor_name="bank (statement)", action="bank_statement.refused_at_apply",
                         target_type="wage_run", target_id=inp.run_id,
                         business_key=run.workflow_id if run is not None else None, reason=message[:200],
                         detail={"statement_id": inp.statement_id[:64], "code": code})
        return _refuse(message, code, inp.statement_id[:64])

    @activity.defn
    @_live
    def settle_line(self, inp: SettleLineInput) -> ReconcileState:
        with self.s.Session.begin() as session:
            _open_run(session, inp.run_id)
            line = session.get(WageLine, inp.line_id)
            if line is None or line.run_id != inp.run_id:
                raise _refuse("unknown wage line", R.UNKNOWN_LINE)
            if line.status == WageLineStatus.SETTLED:
                return reconcile_state(session, inp.run_id)
            if line.status != WageLineStatus.FAILED:
                raise _refuse("only failed lines can be settled", R.NOT_FAILED)
            inp.content_sha256 = settle_sha256(line.id, inp.reason)
            self._record(session, inp, Step.SETTLE)
            line.status, line.settled_reason = WageLineStatus.SETTLED, inp.reason[:300]
            actor = session.get(Account, inp.actor_id)
            audit.record(session, actor_id=actor.id, actor_name=actor.display_name, action="wage_run.settle_line",
                         target_type="wage_line", target_id=line.id,
                         business_key=session.get(WageRun, inp.run_id).workflow_id,  # the run's timeline
                         reason=inp.reason)
            return reconcile_state(session, inp.run_id)

    @activity.defn
    @_live
    def complete_run(self, inp: RunRef) -> None:
        with self.s.Session.begin() as session:
            run = session.get(WageRun, inp.run_id)
            if run.status != WageRunStatus.COMPLETED:
                run.status, run.step, run.completed_at = WageRunStatus.COMPLETED, Step.COMPLETED, utcnow()

    @activity.defn
    @_live
    def cancel_run(self, inp: CancelRunInput) -> None:
        """The process was cancelled: close the run's unpaid lines, inbox rows and the run (idempotent)."""
        with self.s.Session.begin() as session:
            try:
                wr.cancel_run(session, inp.run_id, inp.reason, inp.actor_id)
            except wr.WageRunError as exc:
                raise _refuse(f"the run cannot be cancelled: {exc.code}", exc.code) from None

    @activity.defn
    @_live
    def remind_step(self, inp: RemindInput) -> None:
        with self.s.Session.begin() as session:
            run = session.get(WageRun, inp.run_id)
            specialists = session.scalars(select(Account.id).where(
                Account.role == Role.PAYROLL_SPECIALIST, Account.project_id == run.project_id,
                Account.is_active.is_(True))).all()
            for account_id in specialists:
                notify.enqueue(session, self.s.cipher, dedupe_key=f"wage-remind-{run.id}-{inp.step}-{inp.count}-{account_id}",
                               channel="inbox", template="wage_step_waiting", account_id=account_id,
                               body=f"{run.workflow_id}|{inp.step}")

    def all(self) -> list:
        return [self.apply_wage_table, self.apply_signed_sheet, self.build_bank_batch, self.submit_bank_batch,
                self.apply_statement, self.settle_line, self.complete_run, self.remind_step, self.cancel_run]
