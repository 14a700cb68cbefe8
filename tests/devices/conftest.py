"""Fixtures for the device tests: one real pcscd + vpcd per session, virtual cards per test."""
from __future__ import annotations

import time

import pytest

from tests.helpers.pcsc import SLOT_0, SLOT_1, Pcscd, PcscdError, free_port_pair, wait_card_state

PRESENCE_POLL_SETTLE = 1.0


@pytest.fixture(scope="session")
def pcscd(tmp_path_factory):
    """pcscd with a vpcd reader of two slots: slot 0 (`pcscd.port`) for the ID card, slot 1 for the
    USB key. Fails (never skips) when pcscd or vpcd is missing or another pcscd is running."""
    daemon = Pcscd(tmp_path_factory.mktemp("pcscd"), free_port_pair())
    problem = None
    try:
        daemon.start()
    except PcscdError as exc:
        problem = str(exc)
    if problem:
        pytest.fail(problem, pytrace=False)
    yield daemon
    daemon.stop()


@pytest.fixture
def insert_card(pcscd):
    """insert_card(card) puts a virtual card (built on `pcscd.port` or `pcscd.port + 1`) into its
    slot and waits until PC/SC sees it; a card already in that slot is taken out first. Every card
    is removed after the test."""
    inserted = []

    def take_out(card, reader):
        card.remove()
        wait_card_state(reader, present=False)
        # pcscd notices a card gone only at its next presence poll (every 0.4 s); a card inserted
        # before then would look to it as if the old one had never left.
        time.sleep(PRESENCE_POLL_SETTLE)

    def insert(card):
        reader = SLOT_0 if card.port == pcscd.port else SLOT_1
        for old, old_reader in inserted:
            if old_reader == reader and not old.taken_out:
                take_out(old, reader)
                old.taken_out = True
        card.taken_out = False
        card.insert()
        inserted.append((card, reader))
        wait_card_state(reader, present=True)
        return card

    yield insert
    for card, reader in inserted:
        if not card.taken_out:
            card.remove()
            wait_card_state(reader, present=False)
            if card.pulled_mid_exchange:
                time.sleep(PRESENCE_POLL_SETTLE)
