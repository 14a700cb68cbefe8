"""OPS-3: every message of the web package has a Chinese translation, the compiled catalog is
current, and pages are Chinese by default with English one click away."""
from __future__ import annotations

from tests.helpers.catalog import MO, PO, extracted_messages, extracted_msgids, po_catalog


def test_the_extraction_finds_the_web_messages():
    ids = extracted_msgids()
    assert len(ids) > 150
    assert "Task inbox" in ids  # a template
    assert "A reason is required." in ids  # a form (lazy_gettext)
    assert "%(actor)s claimed the case" in ids  # a Python module


def test_every_message_has_a_chinese_translation():
    catalog = po_catalog()
    missing = sorted((i, c or "") for i, c in extracted_messages()
                     if not (catalog.get(i, c) and catalog.get(i, c).string))
    assert not missing, f"{len(missing)} messages without a zh_CN translation, e.g. {missing[:10]}"
    fuzzy = sorted(m.id for m in catalog if m.id and m.fuzzy)
    assert not fuzzy, f"fuzzy translations: {fuzzy[:10]}"


def test_placeholders_survive_translation():
    import re

    for m in po_catalog():
        if m.id and m.string:
            assert set(re.findall(r"%\(\w+\)s", m.id)) == set(re.findall(r"%\(\w+\)s", m.string)), m.id


def test_the_served_catalog_is_the_po():
    """The web compiles messages.po when it loads it: every entry is served as written, so no
    compiled file can go stale (and nothing depends on the Babel version of a .mo header)."""
    from babel import Locale

    from web.i18n import load_catalog

    served = load_catalog(Locale.parse("zh_CN"))
    entries = [m for m in po_catalog() if m.id and m.string and not isinstance(m.id, tuple)]
    assert len(entries) > 150
    for m in entries:
        if m.context:
            assert served.pgettext(m.context, m.id) == m.string, (m.context, m.id)
        else:
            assert served.gettext(m.id) == m.string, m.id
    assert not MO.exists(), "no compiled catalog is shipped: web/i18n.py compiles the .po at load"


def test_pages_are_chinese_by_default_and_english_after_the_switch(client):
    page = client.get("/login").get_data(as_text=True)
    assert "登录" in page and 'lang="zh-CN"' in page and ">Log in<" not in page
    response = client.get("/lang/en?next=/login")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    page = client.get("/login").get_data(as_text=True)
    assert ">Log in<" in page and 'lang="en"' in page
    client.get("/lang/zh_CN")
    assert "登录" in client.get("/login").get_data(as_text=True)
    assert client.get("/lang/fr").status_code == 404


def test_the_language_switch_is_in_the_layout(client):
    page = client.get("/register/").get_data(as_text=True)
    assert 'id="language-switch"' in page and "/lang/en?next=/register/" in page
    assert '<strong class="lang-current" id="lang-zh_CN">' in page and '<a id="lang-en"' in page


def _entries(text: str) -> list[tuple[str | None, str]]:
    """(msgctxt, msgid) of every entry as written in the .po, continuation lines joined."""
    entries = []
    for block in text.split("\n\n"):
        fields, current = {}, None
        for line in block.splitlines():
            if line.startswith("#"):
                continue
            for key in ("msgctxt", "msgid_plural", "msgid", "msgstr"):
                if line.startswith(key + " ") or line.startswith(key + "["):
                    current = key
                    fields[key] = line.split(" ", 1)[1]
                    break
            else:
                if line.startswith('"') and current in ("msgctxt", "msgid"):
                    fields[current] += line
        if "msgid" in fields:
            entries.append((fields.get("msgctxt"), fields["msgid"]))
    return entries


def test_no_message_is_in_the_catalog_twice():
    """Babel's reader keeps the last of two entries with one msgid: the first translation is lost
    without a word (seen when two branches added the same message)."""
    entries = _entries(PO.read_text(encoding="utf-8"))
    assert len(entries) > 100
    seen, twice = set(), []
    for entry in entries:
        if entry in seen:
            twice.append(entry)
        seen.add(entry)
    assert twice == []
