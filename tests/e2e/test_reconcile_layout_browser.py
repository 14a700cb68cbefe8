"""The reconcile table stays readable at 1366 px when a line has failed (issue 8 point 7).

The web app (with the web tests' fake process bridge: only the page's layout matters here) is
served on a loopback port; Chromium opens the run page at 1366x768 with a failed line, whose row
carries the settle form and the bank's reason. Nothing may overflow the page or be cut off.
"""
from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from domain.models import WageLine
from tests.helpers.browser import login
from tests.helpers.wage_scenario import lines_after_statement, open_wage_run
from tests.helpers.web_app import _seeded_template, bridge, platform, services  # noqa: F401 - fixtures
from web import create_app

pytestmark = [pytest.mark.browser]


@pytest.fixture
def web_url(services, bridge):  # noqa: F811
    app = create_app(services, bridge, {"TESTING": True, "WTF_CSRF_ENABLED": False})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


# the page, the table against its panel, any cell or control reaching past the panel, and the
# short facts of the failed line (number, name, card, amount, status) broken over several lines
LAYOUT = """() => {
  const table = document.querySelector('#line-table');
  const panel = table.closest('section');
  const box = panel.getBoundingClientRect();
  const cut = [...table.querySelectorAll('th, td, textarea, input, button, summary')]
    .filter(el => el.getBoundingClientRect().right > box.right + 0.5)
    .map(el => el.tagName + (el.id ? '#' + el.id : ''));
  const lines = el => { const r = document.createRange(); r.selectNodeContents(el);
    return new Set([...r.getClientRects()].map(rect => Math.round(rect.top))).size; };
  const failed = table.querySelector('tr[data-status=failed]');
  const broken = [...failed.querySelectorAll('td')].slice(0, 5).filter(td => lines(td) > 1).map(td => td.textContent);
  return {page: document.documentElement.scrollWidth, viewport: window.innerWidth,
          table: table.scrollWidth, panel: panel.clientWidth, cut, broken};
}"""


def _check(page, shot):
    page.locator("#step-reconcile").screenshot(path=str(shot))
    found = page.evaluate(LAYOUT)
    assert found["page"] <= found["viewport"] == 1366, found
    assert found["table"] <= found["panel"], found
    assert not found["cut"], found
    assert not found["broken"], found


def test_the_reconcile_table_fits_1366_px_with_a_failed_line(browser, services, platform, web_url, tmp_path):  # noqa: F811
    run = open_wage_run(services, platform)
    lines = lines_after_statement(services, run["id"])
    failed = next(line for line in lines if line["status"] == "failed")
    with services.Session.begin() as db:  # what the reference bank answers for a closed card
        line = db.get(WageLine, failed["id"])
        line.failure_code, line.failure_reason = "CARD_CLOSED", "the card is closed"
    ctx = browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = ctx.new_page()
    login(page, web_url, "payroll_a", "Login2026x")
    for lang in ("zh_CN", "en"):
        page.goto(f"{web_url}/lang/{lang}")
        page.goto(f"{web_url}/payroll/run/{run['id']}?lines=all")
        assert page.locator("#line-table tr[data-status=failed] .settle-form").count() == 1
        _check(page, tmp_path / f"reconcile-1366-{lang}.png")
        page.click(f"#open-settle-{failed['id']}")  # the settle form, opened in its row
        assert page.locator(f"#settle-reason-{failed['id']}").is_visible()
        _check(page, tmp_path / f"reconcile-1366-{lang}-settle.png")
    ctx.close()
