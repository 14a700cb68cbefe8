"""Face templates are sealed at rest with the PII cipher and bound to their worker's row."""
from __future__ import annotations

import os

import pytest

from domain.face import FaceRefusal, FaceRefused, decrypt_template, encrypt_template
from domain.pii import PiiCipher

CIPHER = PiiCipher(bytes.fromhex("11" * 32))
TEMPLATE = os.urandom(2048)          # 512 float32


def test_template_encryption_round_trip():
    token = encrypt_template(CIPHER, TEMPLATE, "worker-42")
    assert decrypt_template(CIPHER, token, "worker-42") == TEMPLATE
    assert TEMPLATE.hex() not in token and encrypt_template(CIPHER, TEMPLATE, "worker-42") != token


@pytest.mark.parametrize("change", ["other row", "other key", "tampered", "not a token"])
def test_template_does_not_decrypt_for_another_row_key_or_after_tampering(change):
    token = encrypt_template(CIPHER, TEMPLATE, "worker-42")
    cipher, row = CIPHER, "worker-42"
    if change == "other row":
        row = "worker-43"
    elif change == "other key":
        cipher = PiiCipher(bytes.fromhex("22" * 32))
    elif change == "not a token":
        token = "v0:" + token[3:]
    else:
        token = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(FaceRefused) as caught:
        decrypt_template(cipher, token, row)
    assert caught.value.code == FaceRefusal.TEMPLATE_INVALID
