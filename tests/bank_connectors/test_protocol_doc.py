"""docs/bank-protocol.md: its worked example opens with its keys, so the page and the code agree."""
from __future__ import annotations

import re
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bank_connectors.signing import canonical_json, public_hex
from bank_connectors.wagefile import open_envelope, open_wage_file, verify_statement

DOC = (Path(__file__).resolve().parents[2] / "docs" / "bank-protocol.md").read_text(encoding="utf-8")
PLATFORM = Ed25519PrivateKey.from_private_bytes(bytes(range(0x00, 0x20)))
BANK_ENCRYPTION = X25519PrivateKey.from_private_bytes(bytes(range(0x20, 0x40)))
BANK_SIGNING = Ed25519PrivateKey.from_private_bytes(bytes(range(0xa0, 0xc0)))


def _block(info: str) -> bytes:
    match = re.search(r"```" + re.escape(info) + r"\n(.*?)```", DOC, re.S)
    assert match, f"no ```{info} block in the protocol document"
    return match.group(1).encode("utf-8")


def test_documented_public_keys_belong_to_the_documented_private_keys():
    for key in (PLATFORM.public_key(), BANK_ENCRYPTION.public_key(), BANK_SIGNING.public_key()):
        assert public_hex(key) in DOC


def test_documented_envelope_opens_to_the_documented_plaintext():
    envelope = _block("json envelope-example")
    batch_id, plaintext = open_envelope(envelope, bank_private_key=BANK_ENCRYPTION,
                                        platform_public_key=PLATFORM.public_key())
    assert plaintext == _block("jsonl")
    header, lines, digest = open_wage_file(envelope, bank_private_key=BANK_ENCRYPTION,
                                           platform_public_key=PLATFORM.public_key())
    assert (header.batch_id, header.total_fen, len(lines)) == (batch_id, 700_100, 2)
    assert digest in DOC and str(len(plaintext)) + " bytes" in DOC


def test_documented_statement_verifies_with_the_documented_bank_key():
    stmt = verify_statement(_block("json statement-example"), BANK_SIGNING.public_key())
    assert [(line.status, line.code) for line in stmt.lines] == [("paid", ""), ("failed", "CARD_CLOSED")]
    assert canonical_json({"a": "中", "b": [1, "\n"]}) == '{"a":"中","b":[1,"\\n"]}'.encode("utf-8")
