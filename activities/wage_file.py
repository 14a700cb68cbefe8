"""The wage file of one batch (docs/bank-protocol.md): the run's open lines, each to its worker's
current card, encoded, sealed for the bank and signed by the platform, stored with its batch rows.

The lines are read and written as plain rows, not ORM objects: a batch holds thousands of lines.
"""
from __future__ import annotations

import hashlib

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from activities.refusal import refusal
from bank_connectors.wagefile import WageFileHeader, WageFileLine, encode_wage_file, seal_wage_file
from domain import wage_run as wr
from domain import wage_table as wt
from domain import workforce
from domain.models import BankBatch, BankBatchLine, BankCard, Project, WageAccount, WageLine, WageRun, Worker
from domain.pii import PiiCipher
from domain.processes.wage_run import BatchInfo, BatchStatus, batch_id_for
from domain.processes.wage_run import Refusal as R
from domain.services import Services

LINE, WORKER, CARD = WageLine.__table__, Worker.__table__, BankCard.__table__


def batch_info(batch: BankBatch) -> BatchInfo:
    return BatchInfo(batch.batch_id, batch.version, batch.plaintext_sha256, batch.line_count, batch.total_fen,
                     batch.file_id)


def refuse_unpayable(session: Session, run_id: int, wanted: str) -> None:
    """Refuse a batch of the run's `wanted` lines that could not be built: no such line
    (`EmptyBatch`), or a worker without a current bank card (`MissingCard`, with the line numbers)."""
    seqs = list(session.scalars(select(LINE.c.seq).where(LINE.c.run_id == run_id, LINE.c.status == wanted)
                                .order_by(LINE.c.seq)))
    if not seqs:
        raise refusal("no lines to pay in this batch", R.EMPTY_BATCH)
    carded = select(CARD.c.worker_id).where(CARD.c.is_current.is_(True))
    missing = list(session.scalars(select(LINE.c.seq).where(
        LINE.c.run_id == run_id, LINE.c.status == wanted, LINE.c.worker_id.not_in(carded))
        .order_by(LINE.c.seq)))
    if missing:
        raise refusal(f"{len(missing)} worker(s) have no bank card", R.MISSING_CARD, missing[:50])


def refuse_same_failed_card(session: Session, run_id: int, confirmed: set[int]) -> None:
    """A re-issue is never sent to the card the bank refused (`SameFailedCard`), unless the bank
    now confirms the card in the worker's name (`confirmed` line ids)."""
    stuck = [line for line in wr.lines_on_failed_card(session, run_id) if line.line_id not in confirmed]
    if stuck:
        raise refusal(f"{len(stuck)} failed line(s) would be re-issued to the card that failed",
                      R.SAME_FAILED_CARD, [line.seq for line in stuck[:50]])


def lines_to_pay(session: Session, cipher: PiiCipher, run_id: int,
                 wanted: str) -> tuple[list[WageFileLine], list[dict]]:
    """The wage file's lines from the run's `wanted` lines, each to its worker's current card, and
    for each the mark to note on its wage line (b_id: line, b_card: card, b_seq: file seq).
    Refused `EmptyBatch` without a line, `MissingCard` (with the line numbers) without a card."""
    chosen = (LINE.c.run_id == run_id) & (LINE.c.status == wanted)
    rows = session.execute(
        select(LINE.c.id, LINE.c.seq, LINE.c.worker_id, LINE.c.net_fen, LINE.c.remark,
               LINE.c.back_pay_month, WORKER.c.name, WORKER.c.id_number_enc)
        .join(WORKER, WORKER.c.id == LINE.c.worker_id).where(chosen).order_by(LINE.c.seq)).all()
    if not rows:
        raise refusal("no lines to pay in this batch", R.EMPTY_BATCH)
    cards = _current_cards(session, select(LINE.c.worker_id).where(chosen))
    file_lines, missing, marks = [], [], []
    for line_id, seq, worker_id, net_fen, remark, back_pay_month, name, id_number_enc in rows:
        card = cards.get(worker_id)
        if card is None:
            missing.append(seq)
            continue
        card_id, number_enc, bank_name = card
        file_lines.append(WageFileLine(
            seq=len(file_lines) + 1, worker_name=name, id_number=cipher.decrypt(id_number_enc, workforce.ID_NUMBER),
            card_number=cipher.decrypt(number_enc, workforce.CARD_NUMBER), bank_name=bank_name,
            amount_fen=net_fen, remark=wt.bank_remark(remark, back_pay_month)))
        marks.append({"b_id": line_id, "b_card": card_id, "b_seq": len(file_lines)})
    if missing:
        raise refusal(f"{len(missing)} worker(s) have no bank card", R.MISSING_CARD, missing[:50])
    return file_lines, marks


def _current_cards(session: Session, worker_ids) -> dict[int, tuple[int, str, str]]:
    """worker id -> (card id, encrypted number, bank name) of its current card; the newest wins,
    as in workforce.current_card."""
    cards = {}
    for worker_id, card_id, number_enc, bank_name in session.execute(
            select(CARD.c.worker_id, CARD.c.id, CARD.c.card_number_enc, CARD.c.bank_name)
            .where(CARD.c.is_current.is_(True), CARD.c.worker_id.in_(worker_ids))
            .order_by(CARD.c.id)):
        cards[worker_id] = (card_id, number_enc, bank_name)
    return cards


def store_batch(session: Session, services: Services, run: WageRun, version: int, file_lines: list[WageFileLine],
                marks: list[dict], *, platform_key, bank_key) -> BankBatch:
    """Note each line's batch, card and file seq; seal and store the wage file; add the batch and its lines."""
    session.execute(update(LINE).where(LINE.c.id == bindparam("b_id"))
                    .values(batch_version=version, card_id=bindparam("b_card"), file_seq=bindparam("b_seq")), marks)
    batch_id = batch_id_for(run.id, version)
    header = _header(session, services.cipher, run, batch_id, file_lines)
    plaintext = encode_wage_file(header, file_lines)
    envelope = seal_wage_file(plaintext, batch_id=batch_id, platform_signing_key=platform_key,
                              bank_public_key=bank_key)
    stored = services.blobs.store(session, envelope, "application/json", f"{batch_id}.wage.json")
    batch = BankBatch(run_id=run.id, version=version, batch_id=batch_id, file_id=stored.id,
                      plaintext_sha256=hashlib.sha256(plaintext).hexdigest(), line_count=header.line_count,
                      total_fen=header.total_fen, status=BatchStatus.BUILT)
    session.add(batch)
    session.flush()
    session.execute(insert(BankBatchLine.__table__), [
        {"batch_id": batch.id, "line_id": mark["b_id"], "file_seq": mark["b_seq"], "card_id": mark["b_card"],
         "amount_fen": line.amount_fen} for mark, line in zip(marks, file_lines)])
    return batch


def _header(session: Session, cipher: PiiCipher, run: WageRun, batch_id: str,
            file_lines: list[WageFileLine]) -> WageFileHeader:
    """The wage file's header: the payer is the run's wage account, the totals those of `file_lines`."""
    project = session.get(Project, run.project_id)
    account = session.get(WageAccount, run.wage_account_id)
    return WageFileHeader(
        batch_id=batch_id, payer_account=cipher.decrypt(account.account_number_enc, "account_number"),
        payer_name=account.account_name, project_code=project.code, month=run.month,
        line_count=len(file_lines), total_fen=sum(x.amount_fen for x in file_lines))
