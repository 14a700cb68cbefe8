"""Find full ID, bank-card, phone and account numbers where they must not be (SEC-1 sweep)."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Iterable

from sqlalchemy import select

from domain import scope
from domain.models import BankCard, Project, RegistrationApplication, WageAccount, Worker


def known_pii(services) -> dict[str, str]:
    """Every full number the database holds (decrypted), mapped to its kind."""
    cipher = services.cipher
    found: dict[str, str] = {}
    with scope.unscoped(), services.Session() as db:
        for w in db.scalars(select(Worker)):
            found[cipher.decrypt(w.id_number_enc, "id_number")] = "id_number"
            if w.phone_enc:
                found[cipher.decrypt(w.phone_enc, "phone")] = "phone"
        for c in db.scalars(select(BankCard)):
            found[cipher.decrypt(c.card_number_enc, "card_number")] = "card_number"
        for model in (Project, RegistrationApplication):
            for row in db.scalars(select(model)):
                found[cipher.decrypt(row.contact_phone_enc, "phone")] = "phone"
        for a in db.scalars(select(WageAccount)):
            try:
                found[cipher.decrypt(a.account_number_enc, "account_number")] = "account_number"
            except Exception:  # noqa: BLE001 - test rows with a placeholder
                pass
    return {k: v for k, v in found.items() if k and len(k) >= 11}


def texts_of(body: bytes) -> Iterable[str]:
    """The text of a response or file: itself, and every member of a zip container (xlsx, docx)."""
    yield body.decode("utf-8", "replace")
    if body[:2] == b"PK":
        try:
            with zipfile.ZipFile(io.BytesIO(body)) as z:
                for name in z.namelist():
                    yield z.read(name).decode("utf-8", "replace")
        except zipfile.BadZipFile:
            pass


def leaks(body: bytes | str, known: dict[str, str]) -> list[str]:
    data = body.encode() if isinstance(body, str) else body
    out = []
    for text in texts_of(data):
        for number, kind in known.items():
            if number in text:
                out.append(f"{kind} …{number[-4:]}")
    return out


def sweep_files(paths: Iterable[Path], known: dict[str, str]) -> dict[str, list[str]]:
    found = {}
    for path in paths:
        if path.is_file():
            hits = leaks(path.read_bytes(), known)
            if hits:
                found[str(path)] = hits
    return found


def home_files(home: Path) -> list[Path]:
    """Every file under a data directory (SHIMING_HOME): databases and their -wal files, blobs, keys,
    logs, the Temporal dev server's database; nothing is left out by name."""
    return sorted(p for p in Path(home).rglob("*") if p.is_file() and not p.is_symlink())


def sweep_home(home: Path, known: dict[str, str]) -> dict[str, list[str]]:
    """Full ID, card, phone and account numbers found in any file under `home`, by path."""
    files = home_files(home)
    if not files:
        raise AssertionError(f"nothing to sweep under {home}")
    return sweep_files(files, known)
