"""Expected refusals are logged as one line, not a traceback (issue 8, point 11), in the real processes.

`shiming worker` and `shiming web` run as OS processes with their own logging setup (shiming/cli.py)
next to a Temporal dev server (tests/helpers/stack.py). A payroll specialist uploads a wage table
with an error through the real web over HTTP (login, CSRF, multipart): the page shows the
refusal's own message and the error-report link; worker.log and web.log each hold exactly one
line with the code and the case (workflow id), no traceback, no SDK warning, and no PII.
"""
from __future__ import annotations

import http.cookiejar
import io
import re
import urllib.parse
import urllib.request
import uuid

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from domain import wage_table
from domain.models import WageRun, Worker
from shiming.seed_workforce import seed_workforce
from tests.helpers.stack import start_stack
from tests.helpers.waiting import poll
from tests.helpers.wage_scenario import MONTH, bound_wage_account, create_payroll_specialist, demo_project_id

pytestmark = pytest.mark.slow

LOGIN, SECURITY = "Login2026x", "Anquan2026a"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = start_stack(tmp_path_factory.mktemp("refusal-logs"))
    yield s
    s.stop()


class Browser:
    """Cookies, CSRF tokens and multipart forms over plain HTTP."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=60) as resp:
            return resp.read().decode("utf-8")

    @staticmethod
    def token(page: str) -> str:
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)

    def post(self, path: str, fields: dict, files: dict | None = None) -> str:
        if files:
            boundary = uuid.uuid4().hex
            body = io.BytesIO()
            for name, value in fields.items():
                body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
            for name, (filename, data, content_type) in files.items():
                body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                           f"Content-Type: {content_type}\r\n\r\n".encode() + data + b"\r\n")
            body.write(f"--{boundary}--\r\n".encode())
            data, content = body.getvalue(), f"multipart/form-data; boundary={boundary}"
        else:
            data, content = urllib.parse.urlencode(fields).encode(), "application/x-www-form-urlencoded"
        req = urllib.request.Request(self.base + path, data=data, headers={"Content-Type": content}, method="POST")
        with self.opener.open(req, timeout=90) as resp:
            return resp.read().decode("utf-8")

    def login(self, username: str, password: str) -> None:
        page = self.get("/login")
        self.post("/login", {"csrf_token": self.token(page), "username": username, "password": password})


def test_a_refused_wage_table_is_one_line_in_each_log_and_its_message_on_the_page(stack):
    services = stack.services
    project_id = demo_project_id(services)
    seed_workforce(services, project_id, workers=3, month=MONTH)
    bound_wage_account(services, project_id)
    create_payroll_specialist(services, "payroll_a", project_id, login_password=LOGIN, security_password=SECURITY)
    with services.Session() as db:
        table = wage_table.prefill_xlsx(db, services.cipher, project_id, MONTH)
        names = [w.name for w in db.scalars(select(Worker))]
    wb = load_workbook(io.BytesIO(table))
    wb.active["I2"] = "一千元"  # 实发: not an amount
    buf = io.BytesIO()
    wb.save(buf)

    web = Browser(stack.web_url)
    web.login("payroll_a", LOGIN)
    home = web.get("/payroll/")
    web.post("/payroll/open", {"csrf_token": web.token(home), "month": MONTH})
    with services.Session() as db:
        run_id, wid = db.execute(select(WageRun.id, WageRun.workflow_id).where(WageRun.month == MONTH)).one()
    run_page = web.get(f"/payroll/run/{run_id}")
    page = web.post(f"/payroll/run/{run_id}/wage-table", {"csrf_token": web.token(run_page), "security_password": SECURITY},
                    files={"table": ("table.xlsx", buf.getvalue(),
                                     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")})

    assert "工资表有错误。请下载错误报告，修改工资表后重新上传。" in page, page[:3000]
    assert "可在本页下载错误报告。" in page  # the hint of the wage-table refusal
    assert 'id="download-error-report"' in page
    assert "流程拒绝了此操作" not in page

    worker_log = poll(lambda: (lambda text: text if f"refused WageTableInvalid: case {wid}" in text else None)(
        (stack.home / "worker.log").read_text(errors="replace")), "the worker's refusal line", timeout=30)
    web_log = (stack.home / "web.log").read_text(errors="replace")
    for text, line in ((worker_log, f"refused WageTableInvalid: case {wid}, apply_wage_table"),
                       (web_log, f"process refused WageTableInvalid: case {wid}, submit_wage_table")):
        hits = [ln for ln in text.splitlines() if line in ln]
        assert len(hits) == 1 and " INFO " in hits[0], hits
        assert "Traceback" not in text, text[-4000:]
    assert "Completing activity as failed" not in worker_log  # the SDK's WARNING with the traceback
    for name in names:  # no PII: the refusal's message and details stay out of the logs
        assert name not in worker_log and name not in web_log
