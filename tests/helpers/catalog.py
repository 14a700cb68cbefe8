"""The web package's messages as Babel extracts them, and its Chinese catalog (tests/web/test_i18n.py,
test_plain_language.py)."""
from __future__ import annotations

from pathlib import Path

from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

import web

WEB = Path(web.__file__).parent
PO = WEB / "translations" / "zh_CN" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
# as in web/babel.cfg's instructions; `_lp` / lazy_pgettext take a message context first
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "_lp": ((1, "c"), 2), "lazy_pgettext": ((1, "c"), 2)}


def extracted_messages() -> set[tuple[str, str | None]]:
    """(msgid, message context) of every message of the web package."""
    with open(WEB / "babel.cfg", encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    ids = set()
    for _filename, _lineno, message, _comments, context in extract_from_dir(
            str(WEB), method_map, options_map, keywords=KEYWORDS):
        ids.update((m, context) for m in (message if isinstance(message, tuple) else (message,)))
    return {(i, c) for i, c in ids if i}


def extracted_msgids() -> set[str]:
    return {i for i, _context in extracted_messages()}


def po_catalog():
    with open(PO, "rb") as fh:
        return read_po(fh, locale="zh_CN")
