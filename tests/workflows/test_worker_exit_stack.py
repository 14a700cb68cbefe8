"""PAY-7 across real processes: Temporal dev server, `shiming worker` and `shiming web`.

The project account requests an exit on the worker page (real CSRF, real bridge with the payload
codec); the worker process runs WorkerExitWorkflow; the page shows it waiting on the unpaid line;
once the line is paid the "check again" button lets the exit through. A second exit is withdrawn
from the page. The raw Temporal history holds no name or ID number of the worker.
"""
from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest
from sqlalchemy import select

from domain import workforce as wf
from domain.models import Project, ProjectWorker, SiteAccessRevocation, WageLine, WageLineStatus, Worker
from shiming.seed import DEMO_ACCOUNTS
from tests.helpers.stack import run_in_thread, start_stack
from tests.helpers.worker_exit import MONTH, open_month_with_line, set_line
from tests.helpers.waiting import poll as _poll

pytestmark = pytest.mark.slow

PASSWORD = {u: p for u, p, *_r in DEMO_ACCOUNTS}["project"]
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


class Browser:
    """Cookies, CSRF tokens and redirects: just enough of a browser for form posts."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as response:
            return response.read().decode()

    def post(self, path: str, form_page: str, data: dict) -> str:
        token = CSRF.search(self.get(form_page)).group(1)
        body = urllib.parse.urlencode({"csrf_token": token, **data}).encode()
        with self.opener.open(urllib.request.Request(self.base + path, data=body, method="POST"), timeout=60) as r:
            return r.read().decode()


def _page_when(b: Browser, path: str, marker: str) -> str:
    def probe():
        page = b.get(path)
        return page if marker in page else None

    return _poll(probe, f"{marker} on {path}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = start_stack(tmp_path_factory.mktemp("exit"))
    yield s
    s.stop()


def test_exit_through_the_pages_and_the_worker_process(stack):
    services = stack.services
    with services.Session() as session:
        project_id = session.scalar(select(Project.id).order_by(Project.id).limit(1))
    from shiming.seed_workforce import seed_workforce

    seed_workforce(services, project_id, workers=2, month=MONTH)
    with services.Session() as session:
        first, second = session.scalars(select(ProjectWorker.id).where(ProjectWorker.project_id == project_id)
                                        .order_by(ProjectWorker.id)).all()
        person = session.get(Worker, session.get(ProjectWorker, first).worker_id)
        name, id_number = person.name, wf.id_number_of(services.cipher, person)
    line_id = open_month_with_line(services, project_id, first)

    b = Browser(stack.web_url)
    b.post("/login", "/login", {"username": "project", "password": PASSWORD})
    page = f"/project/workers/{first}"
    b.post(f"{page}/exit", page, {"reason": "合同期满"})
    waiting = _page_when(b, page, 'data-exit-state="waiting"')
    assert 'data-status="exiting"' in waiting and 'data-unpaid-lines="1"' in waiting and id_number not in waiting

    set_line(services, line_id, WageLineStatus.PAID)
    b.post(f"{page}/exit/recheck", page, {})
    done = _page_when(b, page, 'data-status="exited"')
    assert 'id="exited"' in done
    with services.Session() as session:
        [revocation] = session.scalars(select(SiteAccessRevocation).where(
            SiteAccessRevocation.project_worker_id == first)).all()
        assert revocation.workflow_id == f"worker-exit-{first}"

    # the second worker's exit (a line still pending) is withdrawn by its requester from the page
    with services.Session.begin() as session:
        line = session.get(WageLine, line_id)
        session.add(WageLine(run_id=line.run_id, seq=2, worker_id=session.get(ProjectWorker, second).worker_id,
                             gross_fen=500_000, net_fen=480_000, status=WageLineStatus.PENDING))
    other = f"/project/workers/{second}"
    b.post(f"{other}/exit", other, {"reason": "调往其他项目"})
    _page_when(b, other, 'data-exit-state="waiting"')
    b.post(f"{other}/exit/cancel", other, {"reason": "留用"})
    assert 'data-status="active"' in b.get(other)

    # Temporal keeps ids only, and those encrypted
    async def raw_history():
        from temporalio.client import Client

        client = await Client.connect(stack.temporal_address)  # no codec: what the server stores
        return (await client.get_workflow_handle(f"worker-exit-{first}").fetch_history()).to_json()

    raw = run_in_thread(raw_history)
    assert name not in raw and id_number not in raw and "YmluYXJ5L2VuY3J5cHRlZA==" in raw
