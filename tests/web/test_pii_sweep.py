"""SEC-1 sweep: with known ID, card, phone and account numbers in the database, crawl every page and
download every export as every role — no full number appears anywhere — and no log record carries
one. (Processes' log files and Temporal histories: tests/e2e/test_wage_run_processes.py.)"""
from __future__ import annotations

import logging
import re
from urllib.parse import urljoin, urlsplit

from tests.helpers.access import (  # noqa: F401 - fixtures: case, world
    ACCESS, PUBLIC, USER_OF_ROLE, allowed, case, object_kind, rules, world,
)
from tests.helpers.pii_sweep import known_pii, leaks
from tests.helpers.web_app import enter_session

LINK = re.compile(r'(?:href|action|src)="([^"#]+)"')
SKIP = ("/logout", "/lang/", "/static/")
MAX_PAGES = 400


def _fill(rule: str, values: dict) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([a-z_]+)>|<any\([^)]*\):([a-z_]+)>",
                  lambda m: str(values[m.group(1) or m.group(2)]), rule)


def _crawl(client, seeds: list[str]) -> dict[str, bytes]:
    seen, queue, bodies = set(), list(seeds), {}
    while queue and len(seen) < MAX_PAGES:
        url = queue.pop(0)
        if url in seen or url.startswith(SKIP):
            continue
        seen.add(url)
        response = client.get(url)
        if response.status_code != 200:
            continue
        body = response.get_data()
        bodies[url] = body
        if response.mimetype == "text/html":
            for link in LINK.findall(body.decode("utf-8", "replace")):
                target = urljoin(url, link.replace("&amp;", "&"))
                if not urlsplit(target).netloc and target.startswith("/") and target not in seen:
                    queue.append(target)
    return bodies


def test_no_page_or_export_shows_a_full_number_to_any_role(app, services, world, caplog):
    known = known_pii(services)
    kinds = set(known.values())
    assert {"id_number", "card_number", "phone"} <= kinds, kinds
    caplog.set_level(logging.DEBUG)
    problems, crawled = [], 0
    for role, username in [(None, None)] + sorted(USER_OF_ROLE.items()):
        client = app.test_client()
        if username:
            enter_session(client, services, username)
        seeds = ["/"]
        for rule in rules(app):
            if "GET" not in rule.methods or rule.rule.startswith(SKIP):
                continue
            entry = ACCESS[rule.rule]
            if role is None and entry != PUBLIC or role is not None and not allowed(entry, role):
                continue
            kind = object_kind(rule.rule) or "none"
            seeds.append(_fill(rule.rule, world(role, "in", kind)))
        bodies = _crawl(client, seeds)
        crawled += len(bodies)
        for url, body in bodies.items():
            hits = leaks(body, known)
            if hits:
                problems.append(f"{role or 'anonymous'} {url}: {hits}")
    assert crawled > 60, crawled
    for record in caplog.records:
        hits = leaks(record.getMessage(), known)
        if hits:
            problems.append(f"log {record.name}: {hits}")
    assert not problems, "\n".join(problems)


def test_the_home_sweep_reads_every_file_under_the_data_directory(tmp_path):
    """The sweep of SHIMING_HOME finds a full number wherever it is: a nested log, a SQLite database,
    a member of a zip container; and it finds nothing in a clean directory."""
    import sqlite3
    import zipfile

    from tests.helpers.pii_sweep import sweep_home

    card, id_number = "6222021234567890123", "45010219900101123X"
    known = {card: "card_number", id_number: "id_number"}
    home = tmp_path / "home"
    (home / "logs" / "old").mkdir(parents=True)
    (home / "logs" / "old" / "bank.log").write_text("nothing here\n")
    assert sweep_home(home, known) == {}
    (home / "logs" / "old" / "bank.log").write_text(f"paid card {card}\n")
    with sqlite3.connect(home / "ledger.db") as db:
        db.execute("CREATE TABLE card (number TEXT)")
        db.execute("INSERT INTO card VALUES (?)", (card,))
    with zipfile.ZipFile(home / "table.xlsx", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/sharedStrings.xml", f"<t>{id_number}</t>")
    found = sweep_home(home, known)
    assert set(found) == {str(home / "logs" / "old" / "bank.log"), str(home / "ledger.db"),
                          str(home / "table.xlsx")}, found
    assert found[str(home / "table.xlsx")] == [f"id_number …{id_number[-4:]}"]
