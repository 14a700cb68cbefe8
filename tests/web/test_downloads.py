"""Every download goes through flask.send_file (web.core.send_bytes): no view writes a
Content-Disposition header by hand (issue 9), and the header it gets says what the view meant."""
from __future__ import annotations

import ast
from pathlib import Path
from urllib.parse import unquote

from web.core import send_bytes
from web.security import SCAN_CSP

WEB = Path(__file__).resolve().parents[2] / "web"


def test_no_view_builds_a_content_disposition_header():
    found = []
    for path in sorted(WEB.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and node.value.lower() == "content-disposition":
                found.append(f"{path.relative_to(WEB.parent)}:{node.lineno}")
    assert found == []


def test_a_download_is_an_attachment_and_a_scan_is_inline_with_its_policy(app):
    with app.test_request_context():
        table = send_bytes(b"x", "工资表 2026-11.xlsx", "application/octet-stream")
        scan = send_bytes(b"%PDF", "signed-sheet-3", "application/pdf", inline=True, csp=SCAN_CSP)
    assert table.headers["Content-Disposition"].startswith("attachment")
    assert "工资表 2026-11.xlsx" in unquote(table.headers["Content-Disposition"])
    assert scan.headers["Content-Disposition"].startswith("inline")
    assert scan.headers["Content-Security-Policy"] == SCAN_CSP
