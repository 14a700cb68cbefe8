"""Workers, cards and the Excel roster import: all rows right or nothing saved, PII never in clear."""
from __future__ import annotations

import io
import random
import zipfile
from datetime import date, datetime, timedelta

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import event, func, select, text

from domain import roster
from domain.roster import sheet as roster_sheet
from domain import workforce as wf
from domain.models import BankCard, Company, CompanyKind, Project, ProjectWorker, Team, Worker
from domain.roster import COLUMNS, RowError, error_report_xlsx, import_roster, roster_template_xlsx
from domain.rules import id_number_check_char, mask_card_number, mask_id_number
from shiming.seed import demo_credit_code
from shiming.seed_workforce import generate_card_number, generate_id_number
from tests.conftest import make_services

TEAMS = ("钢筋班组", "木工班组")
HEADERS = [title for _, title in COLUMNS]
COL = {key: i for i, (key, _t) in enumerate(COLUMNS)}
BAD_ROW = 6  # Excel row of the fifth data row, where each bad value goes


# ---- helpers ---------------------------------------------------------------------------------


def make_site(svc) -> int:
    """The demo project with a labour company and two teams; returns the project id."""
    with svc.Session.begin() as session:
        project_id = session.scalar(select(Project.id))
        company = wf.ensure_company(session, project_id, "广西测试劳务有限公司", demo_credit_code("91450100MA5LW0009"),
                                    CompanyKind.LABOUR_COMPANY)
        for name in TEAMS:
            wf.ensure_team(session, project_id, company.id, name)
    return project_id


def valid_rows(n: int, seed: int = 1) -> list[list]:
    rng = random.Random(seed)
    return [[
        f"工人{i}", generate_id_number(rng, "450103", date(1980, 1, 1) + timedelta(days=i)), f"139{seed:02d}{i:06d}",
        TEAMS[i % 2], "020", "350.50", "中国工商银行", generate_card_number(rng), "2026-09-01",
    ] for i in range(n)]


def xlsx(rows: list[list], headers: list = HEADERS) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(headers)
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def counts(svc) -> dict[str, int]:
    with svc.Session() as session:
        return {m.__tablename__: session.scalar(select(func.count()).select_from(m))
                for m in (Worker, ProjectWorker, BankCard, Company, Team)}


def run_import(svc, project_id: int, data: bytes) -> roster.RosterResult:
    with svc.Session.begin() as session:
        return import_roster(session, svc.cipher, project_id, data)


def id_with(body17: str) -> str:
    return body17 + id_number_check_char(body17)


@pytest.fixture
def site(any_db_services):
    return any_db_services, make_site(any_db_services)


@pytest.fixture
def sqlite_site(services):
    """For what the database cannot change: reading cells, matching names."""
    return services, make_site(services)


@pytest.fixture(scope="module")
def shared_site(tmp_path_factory):
    """One SQLite site for tests that only validate: a refused file must leave it untouched."""
    svc = make_services(tmp_path_factory.mktemp("roster"))
    yield svc, make_site(svc)
    svc.engine.dispose()


# ---- the happy path --------------------------------------------------------------------------


def test_ten_valid_rows_create_workers_enrolments_and_cards(site):
    svc, project_id = site
    rows = valid_rows(10)
    before = counts(svc)

    result = run_import(svc, project_id, xlsx(rows))

    assert (result.ok, result.created, result.updated, result.errors) == (True, 10, 0, [])
    after = counts(svc)
    assert {k: after[k] - before[k] for k in after} == {"worker": 10, "project_worker": 10, "bank_card": 10,
                                                         "company": 0, "team": 0}
    with svc.Session() as session:
        teams = {t.name: t for t in session.scalars(select(Team).where(Team.project_id == project_id))}
        for row in rows:
            worker = wf.find_worker(session, svc.cipher, row[COL["id_number"]])
            assert worker.name == row[COL["name"]]
            assert wf.phone_of(svc.cipher, worker) == row[COL["phone"]]
            assert worker.birth_date == date(int(row[1][6:10]), int(row[1][10:12]), int(row[1][12:14]))
            assert worker.gender == ("M" if int(row[1][16]) % 2 else "F")
            card = wf.current_card(session, worker.id)
            assert wf.card_number_of(svc.cipher, card) == row[COL["card_number"]]
            assert (card.bank_name, card.last4) == ("中国工商银行", row[COL["card_number"]][-4:])
            pw = session.scalar(select(ProjectWorker).where(ProjectWorker.worker_id == worker.id))
            team = teams[row[COL["team"]]]
            assert (pw.project_id, pw.team_id, pw.company_id) == (project_id, team.id, team.company_id)
            assert (pw.trade, pw.daily_rate_fen, pw.entry_date, pw.status) == ("020", 35050, date(2026, 9, 1), "active")


def test_identifiers_are_stored_only_encrypted(site):
    svc, project_id = site
    rows = valid_rows(3)
    assert run_import(svc, project_id, xlsx(rows)).ok

    with svc.engine.connect() as conn:
        stored = [str(v) for table in ("worker", "bank_card", "project_worker")
                  for r in conn.execute(text(f"SELECT * FROM {table}")).all() for v in r]
    for row in rows:
        for secret in (row[COL["id_number"]][3:-4], row[COL["card_number"]][:-4], row[COL["phone"]][3:]):
            assert not any(secret in value for value in stored), secret


def test_importing_the_same_roster_again_updates_and_a_new_card_replaces_the_old(site):
    svc, project_id = site
    rows = valid_rows(4)
    assert run_import(svc, project_id, xlsx(rows)).created == 4
    before = counts(svc)

    rows[0][COL["daily_rate"]] = 400
    rows[0][COL["team"]] = TEAMS[1]
    rows[1][COL["phone"]] = "13700001111"
    old_card, rows[2][COL["card_number"]] = rows[2][COL["card_number"]], generate_card_number(random.Random(9))
    result = run_import(svc, project_id, xlsx(rows))

    assert (result.ok, result.created, result.updated) == (True, 0, 4)
    assert counts(svc) == {**before, "bank_card": before["bank_card"] + 1}
    with svc.Session() as session:
        first = wf.find_worker(session, svc.cipher, rows[0][COL["id_number"]])
        pw = session.scalar(select(ProjectWorker).where(ProjectWorker.worker_id == first.id))
        assert pw.daily_rate_fen == 40000
        assert pw.team_id == session.scalar(select(Team.id).where(Team.name == TEAMS[1]))
        second = wf.find_worker(session, svc.cipher, rows[1][COL["id_number"]])
        assert wf.phone_of(svc.cipher, second) == "13700001111"
        third = wf.find_worker(session, svc.cipher, rows[2][COL["id_number"]])
        cards = session.scalars(select(BankCard).where(BankCard.worker_id == third.id).order_by(BankCard.id)).all()
        assert [wf.card_number_of(svc.cipher, c) for c in cards] == [old_card, rows[2][COL["card_number"]]]
        assert [c.is_current for c in cards] == [False, True]
        assert cards[0].replaced_at is not None and cards[1].replaced_at is None


def test_a_large_roster_is_written_in_batches(site):
    svc, project_id = site
    statements = []

    def count(*_args):
        statements.append(1)

    data = xlsx(valid_rows(1000))
    event.listen(svc.engine, "before_cursor_execute", count)
    try:
        result = run_import(svc, project_id, data)
    finally:
        event.remove(svc.engine, "before_cursor_execute", count)
    assert (result.ok, result.created) == (True, 1000)
    assert len(statements) < 40  # not one (or more) per row


def test_excel_typed_values_are_read_as_the_user_meant(sqlite_site):
    svc, project_id = sqlite_site
    row = valid_rows(1)[0]
    row[COL["phone"]] = int(row[COL["phone"]])  # typed without the text format
    row[COL["trade"]] = 20  # "020" lost its leading zero
    row[COL["daily_rate"]] = 350.5
    row[COL["entry_date"]] = datetime(2026, 9, 1)  # a real Excel date
    row[COL["id_number"]] = row[COL["id_number"]].lower()
    row[COL["card_number"]] = " ".join(row[COL["card_number"]][i:i + 4] for i in range(0, 19, 4))
    assert run_import(svc, project_id, xlsx([row])).ok
    with svc.Session() as session:
        pw = session.scalar(select(ProjectWorker))
        assert (pw.trade, pw.daily_rate_fen, pw.entry_date) == ("020", 35050, date(2026, 9, 1))


# ---- refused files save nothing ---------------------------------------------------------------


def _set(column, value):
    def mutate(rows):
        rows[BAD_ROW - 2][COL[column]] = value
    return mutate


def _copy_from_first(column):
    def mutate(rows):
        rows[BAD_ROW - 2][COL[column]] = rows[0][COL[column]]
    return mutate


BAD_VALUES = {
    "missing name": (_set("name", "  "), "name", "required"),
    "name too long": (_set("name", "名" * 51), "name", "too_long"),
    "missing ID number": (_set("id_number", None), "id_number", "required"),
    "ID number too short": (_set("id_number", "45010319800101123"), "id_number", "format"),
    # Excel keeps 15 significant digits of a number: 450103198001011234 becomes 450103198001011000
    "ID number as an Excel number": (_set("id_number", 450103198001011234.0), "id_number", "check_digit"),
    "unknown province": (_set("id_number", id_with("99010319800101123")), "id_number", "region"),
    "born in the future": (_set("id_number", id_with("45010320990101123")), "id_number", "birth_date"),
    "born on 30 February": (_set("id_number", id_with("45010319800230123")), "id_number", "birth_date"),
    "wrong check digit": (_set("id_number", "11010519491231002" + "1"), "id_number", "check_digit"),
    "ID number twice": (_copy_from_first("id_number"), "id_number", "duplicate"),
    "bad phone": (_set("phone", "12812345678"), "phone", "format"),
    "full-width phone": (_set("phone", "１３９１２３４５６７８"), "phone", "format"),
    "unknown team": (_set("team", "油漆班组"), "team", "unknown_team"),
    "missing team": (_set("team", ""), "team", "required"),
    "unknown trade": (_set("trade", "011"), "trade", "unknown_trade"),
    "missing trade": (_set("trade", None), "trade", "required"),
    "rate not a number": (_set("daily_rate", "三百"), "daily_rate", "not_a_number"),
    "rate with 3 decimals": (_set("daily_rate", "350.555"), "daily_rate", "too_many_decimals"),
    "rate of zero": (_set("daily_rate", 0), "daily_rate", "must_be_positive"),
    "rate too high": (_set("daily_rate", "10000.01"), "daily_rate", "too_large"),
    "missing rate": (_set("daily_rate", ""), "daily_rate", "required"),
    "card failing Luhn": (_set("card_number", "6222021234567890125"), "card_number", "check_digit"),
    "card too short": (_set("card_number", "62220212345"), "card_number", "format"),
    "card twice": (_copy_from_first("card_number"), "card_number", "duplicate"),
    "card without a bank": (_set("bank_name", ""), "bank_name", "required"),
    "bank without a card": (_set("card_number", None), "card_number", "required"),
    "slashed date": (_set("entry_date", "2026/09/01"), "entry_date", "format"),
    "impossible date": (_set("entry_date", "2026-02-30"), "entry_date", "format"),
    "missing date": (_set("entry_date", None), "entry_date", "required"),
}


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_one_bad_value_is_reported_on_its_row_and_nothing_is_saved(shared_site, case):
    svc, project_id = shared_site
    mutate, column, code = BAD_VALUES[case]
    rows = valid_rows(10)
    mutate(rows)
    before = counts(svc)

    result = run_import(svc, project_id, xlsx(rows))

    assert not result.ok and (result.created, result.updated) == (0, 0)
    assert [(e.row, e.column, e.code) for e in result.errors] == [(BAD_ROW, column, code)]
    assert counts(svc) == before


def test_every_bad_row_is_reported_and_nothing_is_saved(site):
    svc, project_id = site
    rows = valid_rows(12)
    rows[1][COL["card_number"]] = rows[1][COL["card_number"]][:-1] + str((int(rows[1][COL["card_number"]][-1]) + 1) % 10)
    rows[4][COL["id_number"]] = "990103198001011234"  # region and check digit
    rows[7][COL["team"]] = "不存在班组"
    rows[7][COL["phone"]] = "1391234567"
    rows[11][COL["id_number"]] = rows[10][COL["id_number"]]
    before = counts(svc)

    result = run_import(svc, project_id, xlsx(rows))

    assert not result.ok
    assert [(e.row, e.column, e.code) for e in result.errors] == [
        (3, "card_number", "check_digit"),
        (6, "id_number", "region"), (6, "id_number", "check_digit"),
        (9, "phone", "format"), (9, "team", "unknown_team"),
        (13, "id_number", "duplicate"),
    ]
    assert counts(svc) == before


def test_error_values_are_masked(shared_site):
    svc, project_id = shared_site
    rows = valid_rows(3)
    bad_card = "6222021234567890125"
    rows[0][COL["card_number"]] = bad_card
    rows[1][COL["id_number"]] = "110105194912310021"
    rows[2][COL["phone"]] = "12812345678"
    result = run_import(svc, project_id, xlsx(rows))

    assert result.errors == [
        RowError(2, "card_number", "check_digit", "**** **** **** 0125"),
        RowError(3, "id_number", "check_digit", "110***********0021"),
        RowError(4, "phone", "format", "128****5678"),
    ]


def test_blank_rows_are_skipped_and_rows_keep_their_excel_numbers(shared_site):
    svc, project_id = shared_site
    rows = valid_rows(4)
    rows[3][COL["trade"]] = "999"
    rows.insert(2, [None] * len(COLUMNS))  # Excel row 4 left empty
    rows.insert(3, ["", " ", None, "", "", "", "", "", ""])
    result = run_import(svc, project_id, xlsx(rows))
    assert [(e.row, e.column, e.code) for e in result.errors] == [(7, "trade", "unknown_trade")]


def test_a_worker_known_under_another_name_is_refused(sqlite_site):
    svc, project_id = sqlite_site
    rows = valid_rows(2)
    with svc.Session.begin() as session:
        wf.upsert_worker(session, svc.cipher, name="张三", id_number=rows[1][COL["id_number"]])
    before = counts(svc)
    result = run_import(svc, project_id, xlsx(rows))
    assert [(e.row, e.column, e.code, e.value_masked) for e in result.errors] == [(3, "name", "name_mismatch", "工人1")]
    assert counts(svc) == before


def test_a_card_that_is_another_workers_current_card_is_refused(site):
    svc, project_id = site
    rows = valid_rows(2)
    with svc.Session.begin() as session:
        other = wf.upsert_worker(session, svc.cipher, name="张三", id_number=id_with("45010319700101555"))
        wf.set_card(session, svc.cipher, other, "中国建设银行", rows[0][COL["card_number"]])
    before = counts(svc)
    result = run_import(svc, project_id, xlsx(rows))
    assert [(e.row, e.column, e.code, e.value_masked) for e in result.errors] == [
        (2, "card_number", "in_use", mask_card_number(rows[0][COL["card_number"]]))]
    assert counts(svc) == before


def _docx_like_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


@pytest.mark.parametrize(("data", "code"), [
    (b"", "not_xlsx"),
    (b"name,id_number\n", "not_xlsx"),
    (_docx_like_zip(), "not_xlsx"),
    (b"PK\x03\x04" + b"\0" * 100, "not_xlsx"),
    (b"\0" * (5 * 1024 * 1024 + 1), "file_too_large"),
])
def test_a_file_that_is_not_a_workbook_is_refused(shared_site, data, code):
    svc, project_id = shared_site
    assert run_import(svc, project_id, data).errors == [RowError(0, "", code, "")]


def test_a_zip_bomb_is_refused_before_it_is_unpacked(shared_site, monkeypatch):
    svc, project_id = shared_site
    data = xlsx(valid_rows(200))
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        unpacked = sum(m.file_size for m in z.infolist())
    monkeypatch.setattr(roster_sheet, "MAX_UNPACKED_BYTES", unpacked - 1)
    assert run_import(svc, project_id, data).errors == [RowError(0, "", "file_too_large", "")]


def test_a_sheet_with_other_headers_is_refused_without_echoing_them(shared_site):
    svc, project_id = shared_site
    rows = valid_rows(2)
    data = xlsx(rows[1:], headers=rows[0])  # no header row: the first worker is in row 1
    assert run_import(svc, project_id, data).errors == [RowError(0, "", "bad_headers", "")]
    swapped = HEADERS[:]
    swapped[1], swapped[2] = swapped[2], swapped[1]
    assert run_import(svc, project_id, xlsx(rows, headers=swapped)).errors == [RowError(0, "", "bad_headers", "")]


def test_a_header_only_file_is_refused(shared_site):
    svc, project_id = shared_site
    assert run_import(svc, project_id, xlsx([])).errors == [RowError(0, "", "no_rows", "")]


def test_more_rows_than_the_limit_are_refused(shared_site, monkeypatch):
    svc, project_id = shared_site
    monkeypatch.setattr(roster_sheet, "MAX_ROWS", 5)
    rows, errors = roster_sheet.read_rows(xlsx(valid_rows(5)))
    assert (len(rows), errors) == (5, [])
    assert run_import(svc, project_id, xlsx(valid_rows(6))).errors == [RowError(0, "", "too_many_rows", "")]


# ---- template and error report ----------------------------------------------------------------


def test_the_template_has_the_chinese_headers_and_text_formatted_identifier_columns(shared_site):
    svc, project_id = shared_site
    data = roster_template_xlsx()
    wb = load_workbook(io.BytesIO(data))
    ws = wb.worksheets[0]
    assert [c.value for c in ws[1]] == ["姓名", "身份证号", "手机号", "班组", "工种", "日工资(元)", "开户银行", "银行卡号",
                                        "进场日期"]
    assert ws.column_dimensions["B"].number_format == "@"
    assert ws.column_dimensions["H"].number_format == "@"
    assert ("010", "砌筑工") in [(r[0].value, r[1].value) for r in wb["工种代码"].iter_rows(min_row=2)]
    assert run_import(svc, project_id, data).errors == [RowError(0, "", "no_rows", "")]


def test_a_filled_in_template_imports(sqlite_site):
    svc, project_id = sqlite_site
    wb = load_workbook(io.BytesIO(roster_template_xlsx()))
    for row in valid_rows(3):
        wb.worksheets[0].append(row)
    out = io.BytesIO()
    wb.save(out)
    assert run_import(svc, project_id, out.getvalue()).created == 3


def test_the_error_report_opens_and_holds_only_masked_values(shared_site):
    svc, project_id = shared_site
    rows = valid_rows(3)
    secrets = ["110105194912310021", "6222021234567890125", "12812345678"]
    rows[0][COL["id_number"]], rows[1][COL["card_number"]], rows[2][COL["phone"]] = secrets
    rows[2][COL["trade"]] = "011"
    errors = run_import(svc, project_id, xlsx(rows)).errors

    data = error_report_xlsx(errors)

    ws = load_workbook(io.BytesIO(data)).worksheets[0]
    cells = [[c.value for c in r] for r in ws.iter_rows()]
    assert cells == [
        ["行号", "列", "错误说明", "错误代码", "值（已脱敏）"],
        [2, "身份证号", "身份证号校验位错误", "check_digit", mask_id_number(secrets[0])],
        [3, "银行卡号", "银行卡号校验位错误", "check_digit", "**** **** **** 0125"],
        [4, "手机号", "手机号格式不正确", "format", "128****5678"],
        [4, "工种", "工种不是有效的工种代码", "unknown_trade", "011"],
    ]
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        raw = b"".join(z.read(name) for name in z.namelist())
    for secret in secrets:
        assert secret.encode() not in raw and secret[3:-4].encode() not in raw


def test_a_file_level_error_reads_as_such_in_the_report():
    ws = load_workbook(io.BytesIO(error_report_xlsx([RowError(0, "", "bad_headers", "")]))).worksheets[0]
    assert [c.value for c in ws[2]] == [0, "文件", "表头与模板不一致，请下载模板填写", "bad_headers", None]


# ---- workforce functions ----------------------------------------------------------------------


def test_upsert_finds_the_worker_by_id_number_and_keeps_a_phone_not_given(any_db_services):
    svc = any_db_services
    with svc.Session.begin() as session:
        first = wf.upsert_worker(session, svc.cipher, name=" 李四 ", id_number="11010519491231002x", phone="139 1234 5678")
        again = wf.upsert_worker(session, svc.cipher, name="李四", id_number="11010519491231002X")
        assert again.id == first.id
        assert wf.find_worker(session, svc.cipher, " 11010519491231002x ").id == first.id
        assert wf.find_worker(session, svc.cipher, "440524188001010014") is None
        assert wf.id_number_of(svc.cipher, again) == "11010519491231002X"
        assert wf.phone_of(svc.cipher, again) == "13912345678"
        assert (again.name, again.gender, again.birth_date) == ("李四", "F", date(1949, 12, 31))
        assert wf.masked_worker_view(svc.cipher, again) == {
            "id": first.id, "name": "李四", "id_number_masked": "110***********002X", "phone_masked": "139****5678",
            "gender": "F", "birth_date": date(1949, 12, 31),
        }


@pytest.mark.parametrize(("id_number", "phone"), [("11010519491231002", None), ("110105194912310021", None),
                                                  ("11010519491231002X", "12812345678")])
def test_upsert_refuses_invalid_identifiers(shared_site, id_number, phone):
    svc, _project_id = shared_site
    with svc.Session() as session, pytest.raises(ValueError):
        wf.upsert_worker(session, svc.cipher, name="李四", id_number=id_number, phone=phone)


def test_setting_the_same_card_again_changes_nothing_a_new_one_replaces_it_and_a_bad_one_is_refused(any_db_services):
    svc = any_db_services
    with svc.Session.begin() as session:
        worker = wf.upsert_worker(session, svc.cipher, name="李四", id_number="11010519491231002X")
        card = wf.set_card(session, svc.cipher, worker, "中国工商银行", "6222 0212 3456 7890 128")
        assert wf.set_card(session, svc.cipher, worker, "中国工商银行", "6222021234567890128").id == card.id
        with pytest.raises(ValueError):
            wf.set_card(session, svc.cipher, worker, "中国工商银行", "6222021234567890125")
        assert wf.current_card(session, worker.id).id == card.id
        assert card.card_number_hash == svc.cipher.lookup_hash("6222021234567890128", "card_number")
        other = wf.upsert_worker(session, svc.cipher, name="王五", id_number="440524198001010013")
        replaced = wf.set_card(session, svc.cipher, worker, "中国建设银行", "4111111111111111")
        assert wf.current_cards(session, [worker.id, other.id, worker.id]) == {worker.id: replaced}
        assert (card.is_current, replaced.is_current) == (False, True)


def test_companies_teams_and_enrolments_are_created_once(any_db_services):
    svc = any_db_services
    with svc.Session.begin() as session:
        project_id = session.scalar(select(Project.id))
        code = demo_credit_code("91450100MA5LW0009")
        company = wf.ensure_company(session, project_id, "劳务公司", code, CompanyKind.LABOUR_COMPANY)
        assert wf.ensure_company(session, project_id, "劳务公司", code.lower(), CompanyKind.LABOUR_COMPANY).id == company.id
        team = wf.ensure_team(session, project_id, company.id, "钢筋班组")
        assert wf.ensure_team(session, project_id, company.id, " 钢筋班组 ").id == team.id
        worker = wf.upsert_worker(session, svc.cipher, name="李四", id_number="11010519491231002X")
        pw = wf.enrol(session, project_id=project_id, worker=worker, team=team, company=company, trade="020",
                      daily_rate_fen=30000, entry_date=date(2026, 9, 1))
        again = wf.enrol(session, project_id=project_id, worker=worker, team=team, company=company, trade="240",
                         daily_rate_fen=32000, entry_date=date(2026, 9, 2))
        assert again.id == pw.id and (again.trade, again.daily_rate_fen) == ("240", 32000)
    assert counts(svc)["project_worker"] == 1
