"""The device agent's configuration: what it trusts (the pairing token's hash, the platform
origins, loopback addresses only) and what it drives (the card reader, USB key, camera and face model)."""
from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional, Union
from urllib.parse import urlsplit


class AgentConfigError(ValueError):
    """The agent cannot start as configured (message for the operator)."""


def default_config_path() -> Path:
    home = os.environ.get("SHIMING_AGENT_HOME")
    base = Path(home) if home else Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "shiming"
    return base / "agent.json"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def pair(config_path: Path) -> str:
    """Draw a new pairing token, keep its hash in `config_path` (mode 0600; the folder 0700) and
    return the token, to be shown once. A new pairing replaces the old one: browsers holding the
    old token are refused from then on."""
    token = secrets.token_urlsafe(32)
    config_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = {"token_sha256": token_digest(token), "paired_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    tmp = config_path.with_name(config_path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    os.chmod(tmp, 0o600)
    os.replace(tmp, config_path)
    return token


def load_token_digest(config_path: Path) -> str:
    try:
        data = json.loads(config_path.read_text())
    except FileNotFoundError:
        raise AgentConfigError(f"the agent is not paired: run `shiming agent pair` first ({config_path} missing)") from None
    except (OSError, ValueError) as exc:
        raise AgentConfigError(f"the agent's config file {config_path} cannot be read: {exc}") from None
    if config_path.stat().st_mode & 0o077:
        raise AgentConfigError(f"{config_path} is readable by other users: chmod 600 it, or pair again")
    digest = data.get("token_sha256") if isinstance(data, dict) else None
    if not isinstance(digest, str) or len(digest) != 64:
        raise AgentConfigError(f"{config_path} holds no pairing: run `shiming agent pair`")
    return digest


def normalise_origin(origin: str) -> str:
    """`scheme://host[:port]` in lower case, as a browser sends it; AgentConfigError otherwise."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") \
            or parts.query or parts.fragment or parts.username or parts.password:
        raise AgentConfigError(f"not an origin (scheme://host[:port]): {origin!r}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    default = {"http": 80, "https": 443}[parts.scheme]
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme}://{host.lower()}{port}"


def check_loopback(host: str) -> str:
    """The address to bind, if it is a loopback one; AgentConfigError for anything else."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise AgentConfigError(f"the agent listens on a loopback address only, not {host!r}") from None
    if not address.is_loopback:
        raise AgentConfigError(f"the agent listens on a loopback address only (127.0.0.1 or ::1), not {host}")
    return str(address)


@dataclass
class AgentConfig:
    origins: tuple[str, ...]
    token_sha256: str

    def __post_init__(self):
        if not self.origins:
            raise AgentConfigError("no platform origin configured: pass --origin https://platform.example "
                                   "or set SHIMING_AGENT_ORIGINS")
        self.origins = tuple(normalise_origin(o) for o in self.origins)


@dataclass
class AgentDevices:
    """What the agent drives. `card_reader` and `usb_key` are objects of the `CardReader` and
    `UsbKey` protocols (PC/SC by default, a vendor backend alike); `camera` is a FrameSource spec
    (index, video file, stream URL); `model` builds the face model (once, on first use)."""

    card_reader: object
    usb_key: object
    camera: Union[int, str]
    model: Callable[[], object]
    card_reader_name: Optional[str] = None
    usb_key_reader_name: Optional[str] = None
    max_frames: int = 150
    locks: dict = field(default_factory=lambda: {k: threading.Lock() for k in ("card", "key", "camera", "model")})
    _model: object = field(default=None, init=False, repr=False)

    def face_model(self):
        with self.locks["model"]:
            if self._model is None:
                self._model = self.model()
            return self._model


def load_card_reader(spec: str):
    """A vendor-SDK `CardReader` named `package.module:ClassName` (docs/devices.md, "Plugging in a
    vendor SDK"), built without arguments; its own configuration is its business."""
    import importlib

    from devices.id_card_reader import CardReader

    module_name, _, class_name = spec.partition(":")
    try:
        reader = getattr(importlib.import_module(module_name), class_name)()
    except (ImportError, AttributeError, ValueError, TypeError) as exc:
        raise AgentConfigError(f"card reader class {spec!r} cannot be loaded: {exc}") from None
    if not isinstance(reader, CardReader):
        raise AgentConfigError(f"{spec} has no read_text_block(): not a CardReader")
    return reader


def pcsc_devices(camera: Union[int, str] = 0, card_reader_name: Optional[str] = None,
                 usb_key_reader_name: Optional[str] = None, card_reader_class: Optional[str] = None) -> AgentDevices:
    from devices.face_model import FacenetModel
    from devices.id_card_reader import PcscCardReader
    from devices.usb_key import PcscUsbKey

    card_reader = load_card_reader(card_reader_class) if card_reader_class else PcscCardReader(card_reader_name)
    return AgentDevices(card_reader, PcscUsbKey(usb_key_reader_name), camera, FacenetModel,
                        card_reader_name, usb_key_reader_name)
