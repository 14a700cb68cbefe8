"""Project account: a worker's payroll card replaced, checked through the bank connector first."""
from __future__ import annotations

import logging
import uuid
from typing import Optional

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from bank_connectors.protocol import CARD, CLOSED, NAME_MISMATCH, NOT_FOUND, AccountCheck, BankUnavailable
from domain import audit, scope
from domain import workforce as wf
from domain.models import Account, BankCard, Worker
from domain.rules import card_number_problems, mask_card_number, normalize_card_number

from ..core import bank_connector, remote_addr, services
from .. import i18n
from ..security import rate_limit, verify_reauth
from .forms import CardForm

from .routes import _back, _engagement, _only_project_account, bp

log = logging.getLogger("shiming.web.project")

CARD_ERRORS = {
    "format": _l("A card number has 12 to 19 digits."),
    "check_digit": _l("The card number is wrong (check digit)."),
    "in_use": _l("This card is already the payroll card of another worker."),
    "same": _l("This card is already the worker's current card."),
    "bank_unavailable": _l("The bank could not be reached to check this card. Nothing was changed; "
                           "please try again later."),
}

# the bank's answer to the card check (bank_connectors/protocol.py, kind "card"), in the words the
# reconciliation uses for a line the bank did not pay (web/i18n.py BANK_FAILURES)
CARD_CHECK_REFUSALS = {
    NOT_FOUND: i18n.BANK_FAILURES["CARD_UNKNOWN"],
    CLOSED: i18n.BANK_FAILURES["CARD_CLOSED"],
    NAME_MISMATCH: i18n.BANK_FAILURES["NAME_MISMATCH"],
}
CARD_CHECK_OTHER = i18n.BANK_FAILURE_OTHER



# ---- card replacement ---------------------------------------------------------------------------


@bp.route("/workers/<int:pw_id>/card", methods=["GET", "POST"])
@rate_limit("card_binding")
def card(pw_id: int):
    _only_project_account()
    context = _card_page(pw_id)
    form = CardForm()

    def again(status: int = 422):
        form.card_number.raw_data, form.card_number.data = [], ""  # a card number is never echoed
        return render_template("project/card.html", form=form, **context), status

    if request.method == "GET" or not form.validate_on_submit():
        return again(422 if request.method == "POST" else 200)
    card_number = normalize_card_number(form.card_number.data)
    problems = card_number_problems(card_number)
    if problems:
        form.card_number.errors = [str(CARD_ERRORS[problems[0]])]
        return again()
    # the login password again (counts toward the login lockout; a lockout ends the session)
    if not verify_reauth(form.password.data, "bank_card"):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"))
        form.password.errors = [_("Wrong password.")]
        return again()
    digest = wf.card_number_hash(services().cipher, card_number)
    with services().Session() as db:
        person = db.get(Worker, _engagement(db, pw_id).worker_id)
        code, worker_id, holder = _card_conflict(db, person, digest), person.id, person.name
    if code is None:
        # the bank checks the card (exists, open, the worker's name) before it is stored: no batch
        # ever uses a card the bank would refuse. Nothing is written before its answer.
        code = _bank_card_check(worker_id, holder, card_number, digest)
    if code is None:
        code = _replace_card(pw_id, form.bank_name.data, card_number, digest)
    if code is not None:
        form.card_number.errors = [_card_message(code)]
        return again()
    flash(_("The payroll card was replaced."), "success")
    return _back(pw_id)


def _card_page(pw_id: int) -> dict:
    """The page's worker: name and current card, masked (a 404 outside the account's scope)."""
    with services().Session() as db:
        pw = _engagement(db, pw_id)
        person = db.get(Worker, pw.worker_id)
        current = wf.current_card(db, person.id)
        return {"pw_id": pw.id, "name": person.name,
                "current": mask_card_number(current.last4) if current else "",
                "current_bank": current.bank_name if current else ""}


def _replace_card(pw_id: int, bank_name: str, card_number: str, digest: str) -> Optional[str]:
    """Store the checked card as the worker's current one, audited; a conflict code instead when
    another worker took it meanwhile (nothing written)."""
    with services().Session.begin() as db:
        pw = _engagement(db, pw_id)
        person = db.get(Worker, pw.worker_id)
        code = _card_conflict(db, person, digest)  # taken meanwhile by another worker?
        if code is not None:
            return code
        old = wf.current_card(db, person.id)
        old_masked = mask_card_number(old.last4) if old else ""
        new = wf.set_card(db, services().cipher, person, bank_name, card_number)
        account = db.get(Account, current_user.id)
        audit.record(db, actor_id=account.id, actor_name=account.display_name, action="worker.card_replace",
                     target_type="project_worker", target_id=pw.id, remote_addr=remote_addr(),
                     detail={"old_card": old_masked, "new_card": mask_card_number(new.last4),
                             "bank_name": new.bank_name, "worker_id": person.id, "bank_check": "ok"})
    return None


def _card_conflict(db, person: Worker, digest: str) -> Optional[str]:
    """`in_use` (another worker's current card), `same` (already this worker's) or None."""
    with scope.unscoped():  # a card is one worker's, whichever project they work on
        owner = db.scalar(select(BankCard.worker_id).where(BankCard.card_number_hash == digest,
                                                           BankCard.is_current.is_(True),
                                                           BankCard.worker_id != person.id).limit(1))
    if owner is not None:
        return "in_use"
    old = wf.current_card(db, person.id)
    return "same" if old is not None and old.card_number_hash == digest else None


def _bank_card_check(worker_id: int, holder: str, card_number: str, digest: str) -> Optional[str]:
    """Ask the bank about the card: None when it is open under the worker's name, else the code
    shown (`bank:<code>`, or `bank_unavailable`). Logged with codes only, never the number."""
    check = AccountCheck(account_number=card_number, account_name=holder, kind=CARD,
                         idempotency_key=f"card-{worker_id}-{digest[:16]}-{uuid.uuid4().hex[:12]}")
    try:
        result = bank_connector().validate_account(check)
    except BankUnavailable:
        log.warning("card check for worker %s: the bank is unavailable", worker_id)
        return "bank_unavailable"
    if result.ok:
        log.info("card check for worker %s: ok", worker_id)
        return None
    log.info("card check for worker %s: refused %s", worker_id, result.code)
    return f"bank:{result.code}"


def _card_message(code: str) -> str:
    if code.startswith("bank:"):
        reason = CARD_CHECK_REFUSALS.get(code[5:], CARD_CHECK_OTHER)
        return _("The bank refused this card: %(reason)s Nothing was changed.", reason=str(reason))
    return str(CARD_ERRORS[code])
