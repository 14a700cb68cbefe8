"""What the database already holds for a roster's rows, the checks against it, and the batched writes."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Iterator, Optional

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from ..models import BankCard, ProjectWorker, Worker, utcnow
from ..pii import PiiCipher
from ..processes.worker_exit import EngagementStatus
from ..rules import birth_date_of, gender_of, mask_card_number
from ..workforce import CARD_NUMBER, ID_NUMBER, PHONE
from .checks import RosterRow
from .sheet import RowError

_CHUNK = 500  # values per IN (...) list


@dataclass
class Existing:
    """What the database already holds for the file's rows (read before anything is written)."""

    workers: dict[str, tuple[int, str, Optional[str]]]  # id hash -> (worker id, name, phone hash)
    card_owner: dict[str, int]  # hash of a file's card that is someone's current card -> worker id


def load_existing(session: Session, rows: list[RosterRow]) -> Existing:
    workers = {}
    for chunk in _chunks([r.id_hash for r in rows]):
        for worker_id, digest, name, phone_digest in session.execute(
            select(Worker.id, Worker.id_number_hash, Worker.name, Worker.phone_hash)
            .where(Worker.id_number_hash.in_(chunk))
        ):
            workers[digest] = (worker_id, name, phone_digest)
    card_owner = {}
    for chunk in _chunks([r.card_hash for r in rows if r.card_hash]):
        for digest, worker_id in session.execute(
            select(BankCard.card_number_hash, BankCard.worker_id)
            .where(BankCard.card_number_hash.in_(chunk), BankCard.is_current.is_(True))
        ):
            card_owner[digest] = worker_id
    return Existing(workers=workers, card_owner=card_owner)


def check_against_database(rows: list[RosterRow], existing: Existing) -> list[RowError]:
    errors = []
    for r in rows:
        known = existing.workers.get(r.id_hash)
        if known is not None and known[1] != r.name:
            errors.append(RowError(r.row, "name", "name_mismatch", r.name))
        owner = existing.card_owner.get(r.card_hash) if r.card_hash else None
        if owner is not None and (known is None or known[0] != owner):
            errors.append(RowError(r.row, "card_number", "in_use", mask_card_number(r.card_number)))
    return errors


def write(session: Session, cipher: PiiCipher, project_id: int, rows: list[RosterRow],
           existing: Existing) -> tuple[int, int]:
    now = utcnow()
    new_workers = [r for r in rows if r.id_hash not in existing.workers]
    if new_workers:
        session.execute(insert(Worker), [{
            "name": r.name,
            "id_number_enc": cipher.encrypt(r.id_number, ID_NUMBER),
            "id_number_hash": r.id_hash,
            "gender": gender_of(r.id_number),
            "birth_date": birth_date_of(r.id_number),
            "phone_enc": cipher.encrypt(r.phone, PHONE) if r.phone else None,
            "phone_hash": cipher.lookup_hash(r.phone, PHONE) if r.phone else None,
            "created_at": now,
        } for r in new_workers])
    worker_ids = {digest: known[0] for digest, known in existing.workers.items()}
    for chunk in _chunks([r.id_hash for r in new_workers]):
        worker_ids.update(session.execute(
            select(Worker.id_number_hash, Worker.id).where(Worker.id_number_hash.in_(chunk))).all())

    phone_changes = []
    for r in rows:
        known = existing.workers.get(r.id_hash)
        if known is not None and r.phone and cipher.lookup_hash(r.phone, PHONE) != known[2]:
            phone_changes.append({"id": known[0], "phone_enc": cipher.encrypt(r.phone, PHONE),
                                  "phone_hash": cipher.lookup_hash(r.phone, PHONE)})
    if phone_changes:
        session.execute(update(Worker), phone_changes)

    enrolled = dict(session.execute(
        select(ProjectWorker.worker_id, ProjectWorker.id).where(ProjectWorker.project_id == project_id)).all())
    fresh, changed = [], []
    for r in rows:
        values = {"team_id": r.team_id, "company_id": r.company_id, "trade": r.trade,
                  "daily_rate_fen": r.daily_rate_fen, "entry_date": r.entry_date}
        worker_id = worker_ids[r.id_hash]
        if worker_id in enrolled:
            changed.append({"id": enrolled[worker_id], **values})
        else:
            fresh.append({"project_id": project_id, "worker_id": worker_id, "status": EngagementStatus.ACTIVE,
                          "created_at": now, **values})
    if fresh:
        session.execute(insert(ProjectWorker), fresh)
    if changed:
        session.execute(update(ProjectWorker), changed)

    _write_cards(session, cipher, [r for r in rows if r.card_number], worker_ids, now)
    return len(fresh), len(changed)


def _write_cards(session: Session, cipher: PiiCipher, rows: list[RosterRow], worker_ids: dict[str, int],
                 now: datetime) -> None:
    current: dict[int, tuple[int, str, str]] = {}  # worker id -> (card id, hash, bank name)
    for chunk in _chunks([worker_ids[r.id_hash] for r in rows]):
        for card_id, worker_id, digest, bank_name in session.execute(
            select(BankCard.id, BankCard.worker_id, BankCard.card_number_hash, BankCard.bank_name)
            .where(BankCard.worker_id.in_(chunk), BankCard.is_current.is_(True))
        ):
            current[worker_id] = (card_id, digest, bank_name)
    retire, rename, add = [], [], []
    for r in rows:
        worker_id = worker_ids[r.id_hash]
        card = current.get(worker_id)
        if card is not None and card[1] == r.card_hash:
            if card[2] != r.bank_name:
                rename.append({"id": card[0], "bank_name": r.bank_name})
            continue
        if card is not None:
            retire.append({"id": card[0], "is_current": False, "replaced_at": now})
        add.append({
            "worker_id": worker_id, "bank_name": r.bank_name,
            "card_number_enc": cipher.encrypt(r.card_number, CARD_NUMBER), "card_number_hash": r.card_hash,
            "last4": r.card_number[-4:], "is_current": True, "created_at": now,
        })
    for batch in (retire, rename):
        if batch:
            session.execute(update(BankCard), batch)
    if add:
        session.execute(insert(BankCard), add)


def _chunks(values: Iterable, size: int = _CHUNK) -> Iterator[list]:
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start:start + size]
