"""Settings read from the environment, one object shared by every process.

In development and tests, secrets that are not configured are generated once and kept under
the data directory (`var/`). A production start without configured secrets refuses to run.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(RuntimeError):
    pass


MIN_AUDIT_RETENTION_DAYS = 180  # SEC-3


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def _whole(name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(_env(name, str(default)))
    except ValueError:
        raise ConfigError(f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be from {low} to {high}")
    return value


def _secret(home: Path, env_name: str, filename: str, production: bool) -> str:
    value = _env(env_name)
    if value:
        return value
    if production:
        raise ConfigError(f"{env_name} must be set in production")
    path = home / filename
    if path.exists():
        return path.read_text().strip()
    home.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def _hex_key(value, env_name: str) -> bytes:
    """A key given as hex (from the environment or a key file) or already as bytes (an override)."""
    try:
        return bytes.fromhex(value) if isinstance(value, str) else value
    except ValueError:
        raise ConfigError(f"{env_name} must be hex (64 hex digits)") from None


def _payload_keys(value) -> tuple:
    """SHIMING_PAYLOAD_KEY: comma-separated AES-256 keys in hex (or an override's sequence of bytes)."""
    try:
        keys = tuple(bytes.fromhex(k.strip()) for k in value.split(",") if k.strip()) \
            if isinstance(value, str) else tuple(value)
    except ValueError:
        raise ConfigError("SHIMING_PAYLOAD_KEY must be hex keys (64 hex digits), comma-separated") from None
    if not keys or any(len(k) != 32 for k in keys):
        raise ConfigError("SHIMING_PAYLOAD_KEY: each key must be 64 hex digits (AES-256)")
    return keys


def _retention_days(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError("SHIMING_AUDIT_RETENTION_DAYS must be a whole number of days") from None


def _without_trailing_slash(url: str) -> str:
    return url.rstrip("/")


# the settings read straight from the environment: (variable, field, parser, default when unset)
FROM_ENVIRONMENT = (
    ("SHIMING_AUDIT_RETENTION_DAYS", "audit_retention_days", _retention_days, "180"),
    ("SHIMING_TEMPORAL_ADDRESS", "temporal_address", str, "127.0.0.1:7233"),
    ("SHIMING_TEMPORAL_NAMESPACE", "temporal_namespace", str, "default"),
    ("SHIMING_TASK_QUEUE", "task_queue", str, "shiming"),
    ("SHIMING_TEMPORAL_UI_URL", "temporal_ui_url", str, "http://127.0.0.1:8233"),
    ("SHIMING_PUBLIC_URL", "public_url", str, "http://127.0.0.1:5000"),
    ("SHIMING_HOLIDAYS", "holidays", str, ""),
    ("SHIMING_EXTRA_WORKDAYS", "extra_workdays", str, ""),
    ("SHIMING_NOTIFY_TRANSPORT", "notify_transport", str, "console"),
    ("SHIMING_BANK_URL", "bank_url", str, "http://127.0.0.1:8700"),
    ("SHIMING_BANK_EXCHANGE_DIR", "bank_exchange_dir", str, ""),
    ("SHIMING_BANK_KEYS_FILE", "bank_keys_file", str, ""),
    ("SHIMING_AGENT_URL", "agent_url", _without_trailing_slash, "http://127.0.0.1:18765"),
    ("SHIMING_RATE_LIMIT_STORAGE_URI", "rate_limit_storage_uri", str, "memory://"),
)


@dataclass
class Settings:
    env: str
    home: Path
    database_url: str
    secret_key: str
    pii_key: bytes
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "shiming"
    temporal_ui_url: str = "http://127.0.0.1:8233"
    public_url: str = "http://127.0.0.1:5000"
    holidays: str = ""
    extra_workdays: str = ""
    review_due_working_days: int = 3
    upload_max_bytes: int = 10 * 1024 * 1024
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12  # a session ends this long after its login, however busy
    rate_limit_storage_uri: str = "memory://"  # Flask-Limiter storage; e.g. redis://host:6379 for several web processes
    lockout_threshold: int = 5
    lockout_window_minutes: int = 15
    notify_transport: str = "console"
    bank_url: str = "http://127.0.0.1:8700"
    bank_exchange_dir: str = ""  # set: talk to the bank through an exchange folder pair instead of HTTP
    # the bank's public keys, provisioned out of band (docs/signing.md, "Bank keys"): never fetched
    bank_keys_file: str = ""
    # the device agent on the user's own PC (devices/agent/), which pages call from the browser
    agent_url: str = "http://127.0.0.1:18765"
    # Temporal payload encryption (shiming/temporal.py): the first key encrypts, all decrypt (rotation)
    payload_keys: tuple = ()
    audit_key: bytes = b""  # SEC-3: HMAC key of the audit hash chain (domain/audit/)
    audit_retention_days: int = 180  # SEC-3: audit rows are kept at least this long; never below 180
    # BEY-9 anti-fraud flags (domain/fraud_rules.py): a team's correction ratio above this per cent,
    # a face-match score below this per mille (read from the environment when not given)
    fraud_correction_ratio_pct: int = field(
        default_factory=lambda: _whole("SHIMING_FRAUD_CORRECTION_RATIO_PCT", 10, 0, 100))
    fraud_low_match_score: int = field(default_factory=lambda: _whole("SHIMING_FRAUD_LOW_MATCH_SCORE", 700, 0, 1000))
    extra: dict = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def blob_dir(self) -> Path:
        return self.home / "blobs"

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        env = overrides.pop("env", None) or _env("SHIMING_ENV", "development")
        home = Path(overrides.pop("home", None) or _env("SHIMING_HOME", "var")).resolve()
        production = env == "production"
        database_url = overrides.pop("database_url", None) or _env(
            "SHIMING_DATABASE_URL", f"sqlite:///{home / 'shiming.db'}"
        )
        secret_key = overrides.pop("secret_key", None) or _secret(
            home, "SHIMING_SECRET_KEY", "secret_key", production
        )
        pii_key = _hex_key(overrides.pop("pii_key", None) or _secret(home, "SHIMING_PII_KEY", "pii_key", production),
                           "SHIMING_PII_KEY")
        audit_key = _hex_key(overrides.pop("audit_key", None)
                             or _secret(home, "SHIMING_AUDIT_KEY", "audit_key", production), "SHIMING_AUDIT_KEY")
        if len(audit_key) < 16:
            raise ConfigError("SHIMING_AUDIT_KEY is too short (64 hex digits expected)")
        values = {name: parse(_env(variable, default)) for variable, name, parse, default in FROM_ENVIRONMENT}
        payload_keys = _payload_keys(overrides.pop("payload_keys", None) or _secret(
            home, "SHIMING_PAYLOAD_KEY", "payload_key", production))
        values.update(env=env, home=home, database_url=database_url, secret_key=secret_key, pii_key=pii_key,
                      payload_keys=payload_keys, audit_key=audit_key)
        values.update(overrides)
        settings = cls(**values)
        if production and len(settings.secret_key) < 32:
            raise ConfigError("SHIMING_SECRET_KEY is too short for production")
        if settings.audit_retention_days < MIN_AUDIT_RETENTION_DAYS:
            raise ConfigError(f"audit retention must be at least {MIN_AUDIT_RETENTION_DAYS} days "
                              f"(SHIMING_AUDIT_RETENTION_DAYS={settings.audit_retention_days})")
        return settings
