"""Words for the USB-key login and registration pages (ACC-3): the server's refusals and the
device agent's error codes (devices/agent/app.py), translated here, shown by the page's script."""
from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _

from domain.usb_key import KeyLoginRefusal, UsbKeyRefusal

from ..core import services


def key_refusal_message(code: KeyLoginRefusal) -> str:
    if code == KeyLoginRefusal.CHALLENGE_EXPIRED:
        return _("The USB key login took too long and its challenge expired. Please try again.")
    if code == KeyLoginRefusal.CHALLENGE_USED:
        return _("This USB key signature was already used. Please sign in again with the key.")
    if code == KeyLoginRefusal.CHALLENGE_UNKNOWN:
        return _("The USB key signature does not belong to this login page. Reload the page and try again.")
    if code == KeyLoginRefusal.KEY_TAKEN:
        return _("This USB key is already registered to another account.")
    if code == KeyLoginRefusal.LOCKED:
        return _("Too many failed attempts. Login is locked for %(minutes)s minutes.",
                 minutes=services().settings.lockout_window_minutes)
    if code == KeyLoginRefusal.INACTIVE:
        return _("This account is disabled.")
    return _("Invalid username or USB key.")


def agent_messages() -> dict[str, str]:
    """What the page says for each answer of the device agent (`kind.code`), and when the agent
    cannot be reached at all."""
    not_paired = _("This browser is not paired with the device agent. Enter the pairing code shown by "
                   "\"shiming agent pair\" on this PC.")
    no_key = _("No USB key is connected. Plug in the enterprise USB key and try again.")
    return {
        # a stopped agent and one that refuses this origin (no CORS headers) look alike to the script
        "agent_not_running": _("The device agent cannot be reached: start it on this PC (\"shiming agent\", "
                               "with this platform's address as its origin) and try again."),
        "agent_failed": _("The device agent could not sign with the USB key. Try again."),
        "server_failed": _("The server did not issue a login challenge. Reload the page and try again."),
        "agent.not_paired": not_paired,
        "agent.bad_token": _("The pairing code is wrong or outdated. Enter the current pairing code of the "
                             "device agent."),
        f"usb_key.{UsbKeyRefusal.NO_READER}": no_key,
        f"usb_key.{UsbKeyRefusal.NO_CARD}": no_key,
        f"usb_key.{UsbKeyRefusal.READER_NOT_FOUND}": no_key,
        f"usb_key.{UsbKeyRefusal.CARD_REMOVED}": _("The USB key was removed while it was in use. Plug it in and "
                                                   "try again."),
        f"usb_key.{UsbKeyRefusal.NOT_A_USB_KEY}": _("The connected key is not a shiming enterprise USB key."),
    }


def agent_csp(response):
    """The page's security policy, allowing its script to call the device agent (and nothing else)."""
    from ..security import CSP

    response.headers["Content-Security-Policy"] = f"{CSP}; connect-src 'self' {services().settings.agent_url}"
    return response


def agent_url() -> str:
    return current_app.extensions["shiming"]["services"].settings.agent_url
