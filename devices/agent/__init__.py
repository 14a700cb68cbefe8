"""The local device agent on the enrolment / enterprise PC (`shiming agent`; docs/devices.md, "Device agent").

A browser cannot reach PC/SC or a camera, so the platform's pages ask this small HTTP service on
the same PC: read the ID card, capture a live face, have the USB key sign a login challenge.

Contract:
- Loopback only: `serve` refuses any address that is not a loopback address, and every request
  must name a loopback host in `Host` (a DNS-rebinding page cannot reach it under another name).
- Origin: only the configured platform origin(s) may call (`--origin`, SHIMING_AGENT_ORIGINS).
  CORS headers are sent for that origin only; a preflight (OPTIONS) is answered for it; a request
  with any other Origin, or with none, is refused with 403 `origin_refused`.
- Pairing: `shiming agent pair` draws a random token, keeps only its SHA-256 in the agent's
  config file (mode 0600) and prints the token once; the operator types it into the platform's
  page once (kept in that browser's storage for the platform origin). Every request but a
  preflight carries it in `X-Shiming-Agent-Token` (or `Authorization: Bearer`); it is compared in
  constant time; missing or wrong is 401. Nothing a caller sends at run time changes what is trusted.
- JSON in and out. A refusal is `{"error": {"kind", "code", "message"}}`: `kind` is `agent`,
  `id_card`, `face` or `usb_key`, `code` one of that kind's refusal codes (domain.id_card.IdCardRefusal,
  domain.face.FaceRefusal, domain.usb_key.UsbKeyRefusal), `message` English detail; the platform
  shows its own translation of the code.

Endpoints:
    GET  /status          which devices are there: {"card_reader", "usb_key_reader", "camera"}
    POST /id-card/read    {} -> {"identity": {...}}: the checked identity, the full ID number included
    POST /face/capture    {"challenge": ["turn_left", ...]} -> template, quality, liveness
    POST /usb-key/sign    {"challenge": base64} -> {"signature", "public_key"} (base64)

Device calls block; the server is threaded and each device is used by one request at a time.
Logs name the ID number masked only, never the name, the template or the token.

One module per concern (config: pairing, origins, loopback, the devices driven; app: the guard,
the endpoints and the server); this package exports their public names.
"""
from .config import (
    AgentConfigError,
    AgentConfig,
    AgentDevices,
    default_config_path,
    token_digest,
    pair,
    load_token_digest,
    normalise_origin,
    check_loopback,
    load_card_reader,
    pcsc_devices,
)
from .app import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    TOKEN_HEADER,
    MAX_BODY,
    AgentError,
    create_agent_app,
    make_server,
)

__all__ = [
    "AgentConfigError", "AgentConfig", "AgentDevices", "default_config_path", "token_digest", "pair",
    "load_token_digest", "normalise_origin", "check_loopback", "load_card_reader", "pcsc_devices",
    "DEFAULT_HOST", "DEFAULT_PORT", "TOKEN_HEADER", "MAX_BODY", "AgentError", "create_agent_app",
    "make_server",
]
