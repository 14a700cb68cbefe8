"""Money invariants of a wage run, driving WageRunActivities directly (no Temporal).

The bank is a test double speaking the real protocol: it opens the sealed wage file with its own
key pair and answers with statements signed by its own key. For random tables and random bank
outcomes: Σ table == Σ bank file == Σ paid + Σ failed + Σ settled, counts add up, and repeated
or late statements change nothing.
"""
from __future__ import annotations

import hashlib
import io
import random
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from sqlalchemy import func, select
from temporalio.exceptions import ApplicationError

from activities.wage_run import WageRunActivities
from domain.processes.wage_run import ApplyStatementInput, BuildBatchInput, SettleLineInput
from domain.wage_run import reconcile_state
from bank_connectors.intake import StatementConflict, intake_statement
from bank_connectors.keys import load_or_create_keys
from domain import wage_table as wt
from domain import workforce
from domain.models import (
    Account, BankBatch, BankStatement, Project, WageLine, WageLineStatus, WageRun, Worker,
)
from domain.wage_run import open_run, sign_step
from shiming.seed_workforce import generate_card_number
from tests.helpers.factories import account_id
from tests.helpers.recording_bank import RecordingBank
from tests.helpers.services import copy_services
from tests.helpers.wage_scenario import MONTH, SECURITY_PASSWORDS, TEMPLATE_WORKERS as WORKERS, signed_step
from tests.helpers.scan_samples import minimal_pdf



def _table(prefilled: bytes, amounts: dict[int, int]) -> bytes:
    """The prefilled table keeping only the rows in `amounts` (0-based worker index → net fen),
    gross = net, totals rewritten to match."""
    wb = load_workbook(io.BytesIO(prefilled))
    ws = wb.worksheets[0]
    rows = [r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value not in (None, wt.TOTAL_LABEL)]
    assert len(rows) == WORKERS
    total_row = next(r for r in range(2, ws.max_row + 1) if ws.cell(r, 1).value == wt.TOTAL_LABEL)
    for index, r in enumerate(rows):
        if index in amounts:
            yuan = Decimal(amounts[index]) / 100
            ws.cell(r, 8, yuan)
            ws.cell(r, 9, yuan)
    total = Decimal(sum(amounts.values())) / 100
    ws.cell(total_row, 8, total)
    ws.cell(total_row, 9, total)
    for index in sorted(set(range(WORKERS)) - set(amounts), reverse=True):
        ws.delete_rows(rows[index])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _replace_failed_cards(services, run_id: int) -> dict[int, str]:
    """Every worker of a failed line gets a new payroll card (as the card replacement page stores
    one the bank has checked): a re-issue never goes to the card that failed. Worker id → number."""
    rng = random.Random(run_id)
    numbers = {}
    with services.Session.begin() as session:
        for worker_id in session.scalars(select(WageLine.worker_id).where(
                WageLine.run_id == run_id, WageLine.status == WageLineStatus.FAILED)):
            numbers[worker_id] = generate_card_number(rng, "621700")
            workforce.set_card(session, services.cipher, session.get(Worker, worker_id), "中国建设银行",
                               numbers[worker_id])
    return numbers


def _counts(services) -> tuple:
    with services.Session() as session:
        lines = session.execute(select(WageLine.id, WageLine.status, WageLine.net_fen, WageLine.batch_version)
                                .order_by(WageLine.id)).all()
        return tuple(lines), session.scalar(select(func.count()).select_from(BankStatement))


@st.composite
def scenarios(draw):
    workers = draw(st.lists(st.integers(0, WORKERS - 1), min_size=1, max_size=WORKERS, unique=True))
    amounts = {w: draw(st.integers(0, 5_000_000)) for w in workers}
    paid = [draw(st.booleans()) for _ in workers]
    # per failed line: 0 = left failed, 1 = settled, 2 = re-issued in batch 2 (and paid then)
    fate = [draw(st.sampled_from([0, 1, 2])) for _ in workers]
    return amounts, paid, fate


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(scenario=scenarios())
def test_money_is_conserved_from_table_to_bank_to_reconciliation(template, tmp_path_factory, scenario):
    amounts, paid, fate = scenario
    services = copy_services(template, tmp_path_factory)
    try:
        _run_scenario(services, tmp_path_factory, amounts, paid, fate)
    finally:
        services.engine.dispose()


def _run_scenario(services, tmp_path_factory, amounts, paid, fate):
    keys_dir = tmp_path_factory.mktemp("keys")
    bank_keys = load_or_create_keys(keys_dir / "bank")
    platform_keys = load_or_create_keys(keys_dir / "platform")
    bank = RecordingBank(bank_keys, platform_keys.signing.public_key())
    acts = WageRunActivities(services, bank, platform_keys.signing, bank_keys.public)

    with services.Session.begin() as session:
        project_id = session.scalar(select(Project.id).where(Project.code.like("P%")))
        run = open_run(session, project_id, MONTH, session.get(Account, account_id(services, "payroll_a")))
        run_id = run.id
        prefilled = wt.prefill_xlsx(session, services.cipher, project_id, MONTH)
    table = _table(prefilled, amounts)
    with services.Session.begin() as session:
        table_file = services.blobs.store(session, table, "application/xlsx", "table.xlsx")
        sheet_file = services.blobs.store(session, minimal_pdf(), "application/pdf", "sheet.pdf")
        table_id, sheet_id = table_file.id, sheet_file.id
    table_sha = hashlib.sha256(table).hexdigest()
    expected_total = sum(amounts.values())

    # steps 1-3, each with a real signature
    if 0 in amounts.values():  # a zero net is refused (the bank pays positive amounts only); nothing written
        with pytest.raises(ApplicationError) as refused:
            acts.apply_wage_table(signed_step(services, "payroll_a", run_id, "wage_table", table_sha, table_id))
        assert refused.value.type == "WageTableInvalid"
        zero_rows = [pos for pos, worker in enumerate(sorted(amounts)) if amounts[worker] == 0]  # kept rows, in order
        assert [(row, code) for row, _, code in refused.value.details[1]] == [(i + 2, "zero_net") for i in zero_rows]
        assert reconcile_state(services.Session(), run_id).line_count == 0
        return
    state = acts.apply_wage_table(signed_step(services, "payroll_a", run_id, "wage_table", table_sha, table_id))
    assert (state.line_count, state.table_fen, state.open_lines) == (len(amounts), expected_total, len(amounts))
    acts.apply_signed_sheet(signed_step(services, "payroll_a", run_id, "signed_sheet",
                                  hashlib.sha256(minimal_pdf()).hexdigest(), sheet_id))
    batch = acts.build_bank_batch(BuildBatchInput(run_id, 1))
    assert acts.build_bank_batch(BuildBatchInput(run_id, 1)) == batch  # built once
    acts.submit_bank_batch(signed_step(services, "payroll_b", run_id, "bank_file", batch.plaintext_sha256,
                                 batch_version=1))
    header, file_lines = bank.received[batch.batch_id]
    with services.Session() as session:
        run = session.get(WageRun, run_id)
        table_fen, table_count = run.total_fen, run.line_count
        line_ids = {l.seq: l.id for l in session.scalars(select(WageLine).where(WageLine.run_id == run_id))}
    # Σ table == Σ bank file
    assert table_fen == expected_total == batch.total_fen == header.total_fen == sum(l.amount_fen for l in file_lines)
    assert table_count == len(amounts) == header.line_count == len(file_lines) == batch.line_count
    assert sorted(l.amount_fen for l in file_lines) == sorted(amounts.values())

    # the bank answers batch 1
    outcome = {l.seq: ok for l, ok in zip(file_lines, paid)}
    body = bank.statement(batch.batch_id, "ST1", outcome)
    intake = intake_statement(services, body, bank_keys.public().signing, "test")
    assert intake.new and intake.run_id == run_id
    state = acts.apply_statement(ApplyStatementInput(run_id, "ST1"))
    paid_fen = sum(l.amount_fen for l in file_lines if outcome[l.seq])
    failed = [l for l in file_lines if not outcome[l.seq]]
    assert state.paid_fen == paid_fen and state.paid_lines == len(file_lines) - len(failed)
    assert state.failed_lines == len(failed) == state.open_lines
    assert state.table_fen == table_fen

    # the same statement again, delivered or applied twice, changes nothing
    before = _counts(services)
    assert not intake_statement(services, body, bank_keys.public().signing, "test").new
    assert acts.apply_statement(ApplyStatementInput(run_id, "ST1")) == state
    assert _counts(services) == before

    # failed lines: settle some, re-issue some
    fates = {l.seq: f for l, f in zip(file_lines, fate) if not outcome[l.seq]}
    settled_fen = 0
    for seq, f in fates.items():
        if f != 1:
            continue
        reason = f"paid in cash, line {seq}"
        sha = hashlib.sha256(f"{line_ids[seq]}:{reason}".encode()).hexdigest()
        signed = sign_step(services.Session, account_id(services, "payroll_b"), SECURITY_PASSWORDS["payroll_b"],
                           run_id, "settle", sha)
        settle = SettleLineInput(run_id=run_id, actor_id=account_id(services, "payroll_b"), line_id=line_ids[seq],
                                 reason=reason, document=signed.document, signature=signed.signature,
                                 signing_key_id=signed.signing_key_id)
        state = acts.settle_line(settle)
        assert acts.settle_line(settle) == state  # settling again changes nothing
        settled_fen += next(l.amount_fen for l in file_lines if l.seq == seq)

    # re-issue: batch 2 takes every failed line that was not settled, numbered 1..k in its own file
    # in table order (wage_line.file_seq keeps the mapping)
    unsettled = sorted(seq for seq, f in fates.items() if f != 1)
    reissue = any(f == 2 for f in fates.values())
    if not reissue:
        fates = {seq: (1 if f == 1 else 0) for seq, f in fates.items()}
    else:
        _replace_failed_cards(services, run_id)
        batch2 = acts.build_bank_batch(BuildBatchInput(run_id, 2))
        acts.submit_bank_batch(signed_step(services, "payroll_b", run_id, "bank_file", batch2.plaintext_sha256,
                                     batch_version=2))
        header2, lines2 = bank.received[batch2.batch_id]
        amount_of = {l.seq: l.amount_fen for l in file_lines}
        # Σ of the second bank file == Σ of the failed, unsettled lines
        assert header2.total_fen == batch2.total_fen == sum(l.amount_fen for l in lines2) == \
            sum(amount_of[s] for s in unsettled)
        assert [l.amount_fen for l in lines2] == [amount_of[s] for s in unsettled]
        state_before = acts.apply_statement(ApplyStatementInput(run_id, "ST1"))
        assert [l.seq for l in lines2] == list(range(1, len(unsettled) + 1))
        body2 = bank.statement(batch2.batch_id, "ST2", {l.seq: fates[s] == 2 for l, s in zip(lines2, unsettled)})
        intake_statement(services, body2, bank_keys.public().signing, "test")
        state = acts.apply_statement(ApplyStatementInput(run_id, "ST2"))
        paid2 = sum(amount_of[s] for s in unsettled if fates[s] == 2)
        assert state.paid_fen == state_before.paid_fen + paid2
        paid_fen += paid2

    # a late, second statement for batch 1 claiming everything was paid is a conflict: refused at
    # intake, never stored or applied, and it changes nothing (issue 8: audited, a task opened)
    before_late = _counts(services)
    state_before = acts.apply_statement(ApplyStatementInput(run_id, "ST1"))
    late = bank.statement(batch.batch_id, "ST1-LATE", {l.seq: True for l in file_lines})
    with pytest.raises(StatementConflict):
        intake_statement(services, late, bank_keys.public().signing, "test")
    assert acts.apply_statement(ApplyStatementInput(run_id, "ST1")) == state_before
    assert _counts(services) == before_late

    # the final reconciliation: Σ table == Σ paid + Σ failed + Σ settled, and the counts add up
    final = reconcile_state(services.Session(), run_id)
    with services.Session() as session:
        failed_fen = session.scalar(select(func.coalesce(func.sum(WageLine.net_fen), 0)).where(
            WageLine.run_id == run_id, WageLine.status == WageLineStatus.FAILED))
        statuses = set(session.scalars(select(WageLine.status).where(WageLine.run_id == run_id)))
    assert statuses <= {WageLineStatus.PAID, WageLineStatus.FAILED, WageLineStatus.SETTLED}
    assert final.table_fen == table_fen == final.paid_fen + failed_fen + final.settled_fen
    assert final.paid_fen == paid_fen
    assert final.settled_fen == settled_fen
    assert final.line_count == final.paid_lines + final.failed_lines + final.settled_lines == len(amounts)
    assert final.open_lines == final.failed_lines == sum(1 for f in fates.values() if f == 0)
    assert final.settled_lines == sum(1 for f in fates.values() if f == 1)



def _through_first_batch(services, tmp_path_factory, amounts: dict[int, int]):
    """Steps 1-3 for `amounts`: (activities, bank double, bank keys, run id, batch 1)."""
    keys_dir = tmp_path_factory.mktemp("keys")
    bank_keys = load_or_create_keys(keys_dir / "bank")
    platform_keys = load_or_create_keys(keys_dir / "platform")
    bank = RecordingBank(bank_keys, platform_keys.signing.public_key())
    acts = WageRunActivities(services, bank, platform_keys.signing, bank_keys.public)
    with services.Session.begin() as session:
        project_id = session.scalar(select(Project.id).where(Project.code.like("P%")))
        run_id = open_run(session, project_id, MONTH, session.get(Account, account_id(services, "payroll_a"))).id
        table = _table(wt.prefill_xlsx(session, services.cipher, project_id, MONTH), amounts)
    with services.Session.begin() as session:
        table_id = services.blobs.store(session, table, "application/xlsx", "table.xlsx").id
        sheet_id = services.blobs.store(session, minimal_pdf(), "application/pdf", "sheet.pdf").id
    acts.apply_wage_table(signed_step(services, "payroll_a", run_id, "wage_table", hashlib.sha256(table).hexdigest(),
                                table_id))
    acts.apply_signed_sheet(signed_step(services, "payroll_a", run_id, "signed_sheet",
                                  hashlib.sha256(minimal_pdf()).hexdigest(), sheet_id))
    batch = acts.build_bank_batch(BuildBatchInput(run_id, 1))
    acts.submit_bank_batch(signed_step(services, "payroll_b", run_id, "bank_file", batch.plaintext_sha256,
                                 batch_version=1))
    return acts, bank, bank_keys, run_id, batch


def test_reissue_of_a_failed_middle_line_is_numbered_from_one_and_reconciles(template, tmp_path_factory):
    services = copy_services(template, tmp_path_factory)
    try:
        acts, bank, bank_keys, run_id, batch = _through_first_batch(services, tmp_path_factory,
                                                                    {0: 100, 1: 200, 2: 300})
        body = bank.statement(batch.batch_id, "ST1", {1: True, 2: False, 3: True})  # the middle line fails
        intake_statement(services, body, bank_keys.public().signing, "test")
        assert acts.apply_statement(ApplyStatementInput(run_id, "ST1")).failed_lines == 1
        _replace_failed_cards(services, run_id)
        batch2 = acts.build_bank_batch(BuildBatchInput(run_id, 2))
        middle = next(l for l in bank.received[batch.batch_id][1] if l.seq == 2)
        assert batch2.line_count == 1 and batch2.total_fen == middle.amount_fen
        acts.submit_bank_batch(signed_step(services, "payroll_b", run_id, "bank_file", batch2.plaintext_sha256,
                                     batch_version=2))
        _, lines2 = bank.received[batch2.batch_id]
        assert [(l.seq, l.worker_name) for l in lines2] == [(1, middle.worker_name)]
        body2 = bank.statement(batch2.batch_id, "ST2", {1: True})
        intake_statement(services, body2, bank_keys.public().signing, "test")
        state = acts.apply_statement(ApplyStatementInput(run_id, "ST2"))
        assert state.open_lines == 0 and state.paid_lines == 3
        # the late first statement again changes nothing
        assert acts.apply_statement(ApplyStatementInput(run_id, "ST1")) == state
    finally:
        services.engine.dispose()


def test_a_reissue_to_the_card_that_failed_is_refused_until_the_card_is_replaced(template, tmp_path_factory):
    """Issue 8, point 8: a line the bank failed for its card (closed here) is never sent to that card
    again. The re-issue is refused (SameFailedCard, the lines' numbers as details) and builds nothing;
    once the worker's card is replaced, the re-issue goes to the new card and the line records it."""
    services = copy_services(template, tmp_path_factory)
    try:
        acts, bank, bank_keys, run_id, batch = _through_first_batch(services, tmp_path_factory,
                                                                    {0: 100, 1: 200, 2: 300})
        body = bank.statement(batch.batch_id, "ST1", {1: True, 2: False, 3: True})
        intake_statement(services, body, bank_keys.public().signing, "test")
        acts.apply_statement(ApplyStatementInput(run_id, "ST1"))
        with services.Session() as session:
            line = session.scalar(select(WageLine).where(WageLine.run_id == run_id, WageLine.status == "failed"))
            old_card = line.card_id
        with pytest.raises(ApplicationError) as refused:
            acts.build_bank_batch(BuildBatchInput(run_id, 2))
        assert refused.value.type == "SameFailedCard" and refused.value.details == ([line.seq],)
        with services.Session() as session:
            assert session.scalar(select(func.count()).select_from(BankBatch).where(BankBatch.version == 2)) == 0
            assert session.get(WageLine, line.id).batch_version == 1
        new_number = _replace_failed_cards(services, run_id)[line.worker_id]
        batch2 = acts.build_bank_batch(BuildBatchInput(run_id, 2))
        acts.submit_bank_batch(signed_step(services, "payroll_b", run_id, "bank_file", batch2.plaintext_sha256,
                                     batch_version=2))
        [sent] = bank.received[batch2.batch_id][1]
        assert sent.card_number == new_number
        with services.Session() as session:
            again = session.get(WageLine, line.id)
            assert again.batch_version == 2 and again.card_id != old_card
            assert workforce.current_card(session, line.worker_id).id == again.card_id
    finally:
        services.engine.dispose()


def test_zero_net_line_is_refused_before_any_bank_file(template, tmp_path_factory):
    """Regression: a net of 0.00 used to pass the table and break build_bank_batch (BAD_AMOUNT)."""
    services = copy_services(template, tmp_path_factory)
    try:
        with pytest.raises(ApplicationError) as refused:
            _through_first_batch(services, tmp_path_factory, {0: 100, 1: 0})
        assert refused.value.type == "WageTableInvalid"
        assert refused.value.details[1] == [(3, wt.HEADERS[8], "zero_net")]
        with services.Session() as session:
            assert session.scalar(select(func.count()).select_from(WageLine)) == 0
            assert session.scalar(select(func.count()).select_from(BankBatch)) == 0
    finally:
        services.engine.dispose()
