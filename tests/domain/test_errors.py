"""Every error a caller tells apart by its code is a `CodedError`, and keeps its message and its
other fields (the message is logged and some callers show `str(exc)` codes)."""
from __future__ import annotations

import pytest

from bank_connectors.wagefile import StatementError, WageFileError
from devices.agent import AgentError
from domain.accounts import AccountError
from domain.errors import CodedError
from domain.face import MESSAGES as FACE_MESSAGES, FaceRefusal, FaceRefused
from domain.id_card import IdCardError, IdCardRefusal
from domain.money import MoneyError
from domain.registration import RegistrationError
from domain.signing import SecurityPasswordError, SignatureError
from domain.uploads import UploadError
from domain.usb_key import KeyLoginRefusal, UsbKeyError, UsbKeyRefusal
from domain.usb_key_login import KeyLoginError
from domain.wage_account import WageAccountError
from domain.wage_run import WageRunError
from domain.wage_table import WageTableError
from domain.worker_exit import WorkerExitError
from web.temporal_bridge import ProcessRefused

CASES = [
    (AccountError("username_taken"), "username_taken", "username_taken"),
    (WageAccountError("bad_bank"), "bad_bank", "bad_bank"),
    (WageRunError("not_found"), "not_found", "not_found"),
    (WorkerExitError("not_found"), "not_found", "not_found"),
    (RegistrationError("bad_state"), "bad_state", "bad_state"),
    (RegistrationError("bad_state", "Application 3 is not pending"), "bad_state", "Application 3 is not pending"),
    (SignatureError("bad_signature"), "bad_signature", "bad_signature"),
    (SignatureError("wrong_actor", "step sheet"), "wrong_actor", "wrong_actor: step sheet"),
    (SecurityPasswordError("wrong", 2), "wrong", "wrong (2 attempts left)"),
    (SecurityPasswordError("not_set"), "not_set", "not_set"),
    (UploadError("too_large"), "too_large", "too_large"),
    (WageTableError("over_cap"), "over_cap", "over_cap"),
    (MoneyError("too_many_decimals"), "too_many_decimals", "too_many_decimals"),
    (WageFileError("bad_signature"), "bad_signature", "bad_signature"),
    (WageFileError("malformed", "line 3"), "malformed", "malformed: line 3"),
    (StatementError("malformed", "no lines"), "malformed", "malformed: no lines"),
    (KeyLoginError(KeyLoginRefusal.CHALLENGE_USED), KeyLoginRefusal.CHALLENGE_USED, "challenge_used"),
    (KeyLoginError("key_taken", "user 4"), KeyLoginRefusal.KEY_TAKEN, "key_taken: user 4"),
    (AgentError(422, "id_card", "no_card", "No card"), "no_card", "id_card/no_card: No card"),
    (ProcessRefused("stale_step", "The step changed", case="wage-run-1"), "stale_step", "The step changed"),
    (ProcessRefused("stale_step"), "stale_step", "stale_step"),
]


@pytest.mark.parametrize(("error", "code", "message"), CASES, ids=lambda v: type(v).__name__ if isinstance(v, Exception) else None)
def test_a_coded_error_keeps_its_code_and_message(error, code, message):
    assert isinstance(error, CodedError)
    assert error.code == code and type(error.code) is type(code)
    assert str(error) == message and error.args == (message,)


def test_value_errors_stay_value_errors():
    for cls in (UploadError, WageTableError, MoneyError, WageFileError, StatementError):
        assert issubclass(cls, ValueError) and issubclass(cls, CodedError)


def test_device_refusals_keep_their_vocabulary_and_english_message():
    usb = UsbKeyError("no_card")
    assert usb.code is UsbKeyRefusal.NO_CARD and usb.detail == "" and str(usb) == f"no_card: {usb.message}"
    card = IdCardError(IdCardRefusal.RESIDENCE_PERMIT, masked_id_number="1101**********1234")
    assert card.code is IdCardRefusal.RESIDENCE_PERMIT and card.masked_id_number == "1101**********1234"
    assert str(card) == f"residence_permit: {card.message}"
    face = FaceRefused("model_file_missing", "/x/model.onnx")
    assert face.code is FaceRefusal.MODEL_FILE_MISSING and face.detail == "/x/model.onnx"
    assert face.message == FACE_MESSAGES[FaceRefusal.MODEL_FILE_MISSING].format(detail="/x/model.onnx")
    assert str(face) == f"model_file_missing: {face.message}"
    for error in (usb, card, face):
        assert isinstance(error, CodedError)


def test_security_password_error_keeps_its_fields():
    error = SecurityPasswordError("weak", problems=("too_short",))
    assert error.problems == ("too_short",) and error.remaining_attempts is None and error.locked_until is None
