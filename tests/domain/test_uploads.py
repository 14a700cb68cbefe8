"""The upload guard (SEC-2): size, type by content, zip bombs and unsafe entry names refused."""
from __future__ import annotations

import io
import zipfile

import pytest
from openpyxl import Workbook

from domain import roster, wage_table
from domain.uploads import (
    XLSX,
    UploadError,
    check_scan,
    check_xlsx,
    display_name,
    read_upload,
    xlsx_refusal,
)
from tests.helpers.web_app import tiny_pdf, tiny_png

LIMIT = 1024 * 1024


def workbook(rows: int = 3) -> bytes:
    wb = Workbook()
    for i in range(rows):
        wb.active.append([f"row {i}", i])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def rezip(data: bytes, extra: dict[str, bytes] | None = None, rename: dict[str, str] | None = None,
          drop: tuple[str, ...] = ()) -> bytes:
    """The workbook `data` with entries added, renamed or left out."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            if item.filename in drop:
                continue
            dst.writestr((rename or {}).get(item.filename, item.filename), src.read(item.filename))
        for name, body in (extra or {}).items():
            dst.writestr(name, body)
    return out.getvalue()


def refusal(data: bytes, **limits) -> str:
    with pytest.raises(UploadError) as refused:
        check_xlsx(data, LIMIT, **limits)
    return str(refused.value)


# ---- good files pass ----------------------------------------------------------------------------


def test_a_real_workbook_and_real_scans_pass():
    assert check_xlsx(workbook(), LIMIT) == XLSX
    assert check_scan(tiny_pdf(), LIMIT) == "application/pdf"
    assert check_scan(tiny_png(), LIMIT) == "image/png"
    assert check_scan(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64, LIMIT) == "image/jpeg"


def test_a_large_honest_workbook_passes():
    assert check_xlsx(workbook(5000), 10 * LIMIT) == XLSX


# ---- size -----------------------------------------------------------------------------------------


def test_size_limits():
    assert read_upload(io.BytesIO(b"x" * 10), 10) == b"x" * 10
    for stream, code in ((io.BytesIO(b"x" * 11), "too_large"), (io.BytesIO(b""), "empty_file"), (None, "empty_file")):
        with pytest.raises(UploadError, match=code):
            read_upload(stream, 10)
    with pytest.raises(UploadError, match="too_large"):
        check_scan(tiny_pdf(), 10)
    with pytest.raises(UploadError, match="too_large"):
        check_xlsx(workbook(), 100)
    with pytest.raises(UploadError, match="empty_file"):
        check_xlsx(b"", LIMIT)


# ---- type by content --------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [
    b"MZ\x90\x00 an executable named scan.pdf",
    b"<html><script>alert(1)</script></html>",
    b"GIF89a" + b"\x00" * 32,
])
def test_a_scan_is_judged_by_its_bytes(data):
    with pytest.raises(UploadError, match="unsupported_type"):
        check_scan(data, LIMIT)


def test_wrong_content_for_a_workbook():
    assert refusal(tiny_pdf()) == "not_xlsx"
    assert refusal(b"PK\x03\x04 not really a zip") == "not_xlsx"
    plain_zip = io.BytesIO()
    with zipfile.ZipFile(plain_zip, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert refusal(plain_zip.getvalue()) == "not_xlsx"  # a zip, but not a workbook
    assert refusal(rezip(workbook(), drop=("[Content_Types].xml",))) == "not_xlsx"


# ---- zip bombs and entry names ----------------------------------------------------------------------


def test_zip_bomb_by_total_size_is_refused():
    bomb = rezip(workbook(), extra={f"xl/media/pad{i}.bin": b"\x00" * (2 * 1024 * 1024) for i in range(3)})
    assert len(bomb) < 100_000
    assert refusal(bomb, max_unpacked=5 * 1024 * 1024) == "zip_bomb"


def test_zip_bomb_by_ratio_is_refused():
    bomb = rezip(workbook(), extra={"xl/worksheets/sheet2.xml": b"<row/>" * 2_000_000})  # 12 MB of one pattern
    assert len(bomb) < 200_000
    assert refusal(bomb) == "zip_bomb"


def test_too_many_entries_are_refused():
    many = rezip(workbook(), extra={f"xl/x/{i}.xml": b"<a/>" for i in range(60)})
    assert refusal(many, max_entries=50) == "unsafe_archive"


@pytest.mark.parametrize("name", ["../../etc/passwd", "xl/../../evil.xml", "/abs/path.xml", "xl\\worksheets\\a.xml",
                                  "C:/windows/a.xml", "xl/./sheet.xml", "xl/\x01ctl.xml"])
def test_unsafe_entry_names_are_refused(name):
    assert refusal(rezip(workbook(), extra={name: b"<x/>"})) == "unsafe_archive"


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_duplicate_entry_names_are_refused():
    data = rezip(workbook(), extra={"xl/workbook.xml": b"<workbook/>"})  # a second entry of the same name
    assert refusal(data) == "unsafe_archive"


# ---- the readers go through the guard before openpyxl ------------------------------------------------


def test_readers_refuse_a_bomb_before_opening_it():
    """The wage-table and roster readers answer from the guard (no database session needed)."""
    bomb = rezip(workbook(), extra={"xl/worksheets/sheet2.xml": b"<row/>" * 2_000_000})
    traversal = rezip(workbook(), extra={"../evil.xml": b"<x/>"})
    assert xlsx_refusal(bomb, LIMIT) == "zip_bomb"
    result = wage_table.parse_upload(None, 1, bomb)
    assert [(e.row, e.code) for e in result.errors] == [(0, "too_large")]
    result = wage_table.parse_upload(None, 1, traversal)
    assert [(e.row, e.code) for e in result.errors] == [(0, "not_xlsx")]
    result = roster.import_roster(None, None, 1, bomb)
    assert not result.ok and [e.code for e in result.errors] == ["file_too_large"]
    result = roster.import_roster(None, None, 1, traversal)
    assert not result.ok and [e.code for e in result.errors] == ["not_xlsx"]


# ---- names --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("client_name,expected", [
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\张三\\盖章扫描件.pdf", "盖章扫描件.pdf"),
    ("scan\x00.pdf\u202e", "scan.pdf"),
    ("..", "upload"),
    ("", "upload"),
    (None, "upload"),
    (".hidden", "hidden"),
])
def test_display_names_are_labels_not_paths(client_name, expected):
    assert display_name(client_name, "upload") == expected
