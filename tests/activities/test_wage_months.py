"""The months a wage run can pay, where the table is applied (WageRunActivities.apply_wage_table,
driven directly as in test_wage_money_invariants, over the
same prepared home: the `template` fixture of tests/activities/conftest.py): a run for a month that has not begun is refused
however its row came to exist, and a back-pay line keeps its month into the bank file's remark."""
from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, func, select
from temporalio.exceptions import ApplicationError

from activities.wage_run import WageRunActivities
from domain.processes.wage_run import BuildBatchInput
from bank_connectors.keys import load_or_create_keys
from domain import wage_table as wt
from domain.attendance import month_bounds
from domain.models import Account, Project, ProjectWorker, Punch, WageAccount, WageLine, WageRun
from domain.wage_run import open_run
from tests.helpers.factories import account_id
from tests.helpers.recording_bank import RecordingBank
from tests.helpers.services import copy_services
from tests.helpers.wage_scenario import MONTH, signed_step
from tests.helpers.scan_samples import minimal_pdf


def _activities(services, tmp_path_factory):
    keys_dir = tmp_path_factory.mktemp("keys")
    bank_keys = load_or_create_keys(keys_dir / "bank")
    platform_keys = load_or_create_keys(keys_dir / "platform")
    bank = RecordingBank(bank_keys, platform_keys.signing.public_key())
    return WageRunActivities(services, bank, platform_keys.signing, bank_keys.public), bank


def _store(services, data: bytes) -> int:
    with services.Session.begin() as session:
        return services.blobs.store(session, data, "application/xlsx", "table.xlsx").id


def test_a_run_for_a_month_that_has_not_begun_is_refused_when_its_table_is_applied(template, tmp_path_factory):
    services = copy_services(template, tmp_path_factory)
    try:
        acts, _bank = _activities(services, tmp_path_factory)
        with services.Session.begin() as session:  # a run row that did not come through open_run
            project_id = session.scalar(select(Project.id).where(Project.code.like("P%")))
            account_id = session.scalar(select(WageAccount.id).where(WageAccount.project_id == project_id))
            run = WageRun(project_id=project_id, month="2999-01", workflow_id="wage-run-future", wage_account_id=account_id)
            session.add(run)
            session.flush()
            run_id = run.id
            table = wt.prefill_xlsx(session, services.cipher, project_id, MONTH)
        with pytest.raises(ApplicationError) as refused:
            acts.apply_wage_table(signed_step(services, "payroll_a", run_id, "wage_table",
                                        hashlib.sha256(table).hexdigest(), _store(services, table)))
        assert refused.value.type == "WageTableInvalid"
        assert refused.value.details[1] == [(0, "file", "future_month")]
        with services.Session() as session:
            assert session.scalar(select(func.count()).select_from(WageLine)) == 0
            assert session.get(WageRun, run_id).table_file_id is None
    finally:
        services.engine.dispose()


def test_a_back_pay_line_is_stored_with_its_month_and_named_in_the_bank_file(template, tmp_path_factory):
    services = copy_services(template, tmp_path_factory)
    try:
        acts, bank = _activities(services, tmp_path_factory)
        with services.Session.begin() as session:
            project_id = session.scalar(select(Project.id).where(Project.code.like("P%")))
            table = wt.prefill_xlsx(session, services.cipher, project_id, MONTH)
            ws = load_workbook(io.BytesIO(table)).worksheets[0]
            worker_id = session.get(ProjectWorker, ws.cell(3, 2).value).worker_id
            start, end = month_bounds(MONTH)  # row 3's worker did not work in October ...
            session.execute(delete(Punch).where(Punch.worker_id == worker_id, Punch.punched_at >= start,
                                                Punch.punched_at < end))
            september, _ = month_bounds("2026-09")  # ... but in September, which is paid now
            session.add(Punch(dedupe_key="back-pay-1", project_id=project_id, worker_id=worker_id, direction="in",
                              punched_at=september + timedelta(days=3, hours=1)))
            run_id = open_run(session, project_id, MONTH, session.get(Account, account_id(services, "payroll_a"))).id

        def upload(data: bytes):
            return acts.apply_wage_table(signed_step(services, "payroll_a", run_id, "wage_table",
                                               hashlib.sha256(data).hexdigest(), _store(services, data)))

        with pytest.raises(ApplicationError) as refused:  # without the back-pay month: no attendance in October
            upload(table)
        assert refused.value.details[1] == [(3, "出勤天数", "no_attendance")]
        wb = load_workbook(io.BytesIO(table))
        wb.worksheets[0].cell(3, wt.BACK_PAY_COLUMN + 1, "2026-09")
        buf = io.BytesIO()
        wb.save(buf)
        state = upload(buf.getvalue())
        assert state.line_count == 8
        with services.Session() as session:
            marked = session.execute(select(WageLine.seq, WageLine.worker_id, WageLine.back_pay_month)
                                     .where(WageLine.back_pay_month.is_not(None))).all()
        assert marked == [(2, worker_id, "2026-09")]
        with services.Session.begin() as session:
            sheet_id = services.blobs.store(session, minimal_pdf(), "application/pdf", "sheet.pdf").id
        acts.apply_signed_sheet(signed_step(services, "payroll_a", run_id, "signed_sheet",
                                      hashlib.sha256(minimal_pdf()).hexdigest(), sheet_id))
        batch = acts.build_bank_batch(BuildBatchInput(run_id, 1))
        acts.submit_bank_batch(signed_step(services, "payroll_b", run_id, "bank_file", batch.plaintext_sha256,
                                     batch_version=1))
        _header, lines = bank.received[batch.batch_id]
        assert [line.remark for line in lines] == ["" if line.seq != 2 else "补发2026-09工资" for line in lines]
    finally:
        services.engine.dispose()
