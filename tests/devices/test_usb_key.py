"""The enterprise USB key through the real PC/SC stack: pcscd + vpcd + a virtual key card."""
from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devices.usb_key import PcscUsbKey, UsbKey, get_public_key_apdu, select_apdu, sign_apdu
from domain import usb_key
from domain.usb_key import UsbKeyError, UsbKeyRefusal, verify_login_signature
from tests.helpers.virtual_card import VirtualIdCard, VirtualUsbKey
from tests.helpers.identities import SAMPLE, block_of
from tests.helpers.pcsc import SLOT_0, SLOT_1


@pytest.fixture
def key_card(pcscd, insert_card):
    """A virtual USB key with a fresh Ed25519 key pair in slot 1."""
    return insert_card(VirtualUsbKey(pcscd.port + 1, Ed25519PrivateKey.generate()))


def test_the_key_signs_a_challenge_that_its_public_key_verifies(key_card):
    key = PcscUsbKey(SLOT_1)
    public_key = key.public_key()
    assert public_key == key_card.public_key_bytes()
    challenge = os.urandom(32)
    signature = key.sign(challenge)
    assert verify_login_signature(public_key, challenge, signature)
    assert [a[:2] for a in key_card.apdus] == [b"\x00\xA4", b"\x80\x10", b"\x00\xA4", b"\x80\x20"]


def test_another_keys_signature_does_not_verify(key_card):
    challenge = os.urandom(32)
    signature = PcscUsbKey(SLOT_1).sign(challenge)
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    assert not verify_login_signature(other, challenge, signature)


def test_a_different_keys_signature_does_not_verify_against_the_registered_key(pcscd, insert_card, key_card):
    registered = PcscUsbKey(SLOT_1).public_key()
    insert_card(VirtualUsbKey(pcscd.port + 1, Ed25519PrivateKey.generate()))  # another enterprise's key
    challenge = os.urandom(32)
    assert PcscUsbKey(SLOT_1).public_key() != registered
    assert not verify_login_signature(registered, challenge, PcscUsbKey(SLOT_1).sign(challenge))


def test_a_signature_is_bound_to_its_challenge(key_card):
    key = PcscUsbKey(SLOT_1)
    challenge = os.urandom(32)
    signature = key.sign(challenge)
    assert not verify_login_signature(key.public_key(), os.urandom(32), signature)
    tampered = bytes([signature[0] ^ 1]) + signature[1:]
    assert not verify_login_signature(key.public_key(), challenge, tampered)


def test_the_card_signs_only_the_context_prefixed_challenge(key_card):
    """A raw Ed25519 check of the bare challenge fails: the key is no general signing oracle."""
    challenge = os.urandom(32)
    signature = PcscUsbKey(SLOT_1).sign(challenge)
    public = key_card.private_key.public_key()
    public.verify(signature, usb_key.CONTEXT + challenge)
    with pytest.raises(Exception):
        public.verify(signature, challenge)


def test_without_a_reader_name_the_card_with_the_applet_is_used(pcscd, insert_card, key_card):
    insert_card(VirtualIdCard(pcscd.port, block_of(SAMPLE)))  # slot 0: the ID card
    assert PcscUsbKey().public_key() == key_card.public_key_bytes()


@pytest.mark.parametrize("size", [0, 15, 129])
def test_a_challenge_of_the_wrong_size_is_refused_before_the_card(size):
    with pytest.raises(UsbKeyError) as caught:
        sign_apdu(b"x" * size)
    assert caught.value.code is UsbKeyRefusal.BAD_CHALLENGE


def test_no_key_gives_a_clear_error(pcscd):
    with pytest.raises(UsbKeyError) as caught:
        PcscUsbKey(SLOT_1).public_key()
    assert caught.value.code is UsbKeyRefusal.NO_CARD
    assert "plug in the enterprise USB key" in caught.value.message


def test_a_card_without_the_applet_is_not_a_usb_key(pcscd, insert_card):
    insert_card(VirtualIdCard(pcscd.port, block_of(SAMPLE)))
    with pytest.raises(UsbKeyError) as caught:
        PcscUsbKey(SLOT_0).sign(os.urandom(32))
    assert caught.value.code is UsbKeyRefusal.NOT_A_USB_KEY


def test_a_key_removed_while_signing_gives_a_clear_error(key_card):
    key_card.remove_on(lambda apdu: apdu[:2] == b"\x80\x20")
    with pytest.raises(UsbKeyError) as caught:
        PcscUsbKey(SLOT_1).sign(os.urandom(32))
    assert caught.value.code is UsbKeyRefusal.CARD_REMOVED


def test_the_apdus_are_the_documented_ones():
    assert select_apdu().hex(" ").upper() == "00 A4 04 00 09 F0 73 68 69 6D 69 6E 67 01"
    assert get_public_key_apdu().hex(" ").upper() == "80 10 00 00 00"
    assert sign_apdu(b"\x01" * 16)[:5].hex(" ").upper() == "80 20 00 00 10"
    assert isinstance(PcscUsbKey(), UsbKey)


@pytest.mark.parametrize("public_key, signature", [(b"", b""), (b"\x00" * 31, b"\x00" * 64), (b"\x00" * 32, b"short")])
def test_malformed_keys_and_signatures_never_verify(public_key, signature):
    assert not verify_login_signature(public_key, b"c" * 32, signature)
