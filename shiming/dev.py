"""`shiming dev`: migrations, demo data, then Temporal dev server + worker + web on loopback."""
from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from domain.files import READABLE, write_atomic
from domain.services import Services
from domain.settings import Settings
from shiming.db import migrate
from shiming.processes import ProcessGroup, http_ok, port_open, shiming_argv, temporal_argv, wait_for
from bank_connectors.keys import load_or_create_keys
from bank_connectors.signing import public_hex
from shiming.seed import seed_demo
from shiming.seed_payroll import seed_payroll_demo


def bank_home_for(platform_home: Path) -> Path:
    """The reference bank's own home: $SHIMING_BANK_HOME, else a sibling of the platform's data
    directory (var → var-bank). Never inside SHIMING_HOME: the bank's ledger holds full card numbers."""
    platform_home = Path(platform_home).resolve()
    home = Path(os.environ.get("SHIMING_BANK_HOME") or platform_home.parent / f"{platform_home.name}-bank").resolve()
    if home == platform_home or platform_home in home.parents:
        raise ValueError(f"the bank's home {home} must not be inside the platform's SHIMING_HOME {platform_home}")
    return home


def pin_bank_keys(bank_keys_file: Path, pinned: Path) -> None:
    """The operator's step, done by the dev supervisor: copy the bank's public key file to where the
    platform's processes read it (SHIMING_BANK_KEYS_FILE). The platform never fetches keys itself."""
    pinned.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(pinned, Path(bank_keys_file).read_bytes(), READABLE)


def run_dev(web_port: int = 5000, temporal_port: int = 7233, ui_port: int = 8233, bank_port: int = 8700) -> int:
    settings = Settings.from_env()
    home = settings.home
    (home / "logs").mkdir(parents=True, exist_ok=True)
    for port in (web_port, temporal_port, ui_port, bank_port):
        if port_open(port):
            print(f"port {port} is already in use: is another `shiming dev` running?", file=sys.stderr)
            return 1
    migrate(settings.database_url)
    services = Services.build(settings)
    logins = seed_demo(services)
    try:
        bank_home = bank_home_for(home)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 1
    logins += seed_payroll_demo(services, bank_home / "ledger.json")
    pinned_keys = Path(settings.bank_keys_file) if settings.bank_keys_file else home / "bank-keys.json"
    bank_argv = _bank_argv(home, bank_home, bank_port, web_port)
    env = _child_env(settings, pinned_keys, web_port, temporal_port, ui_port, bank_port)
    group = ProcessGroup()
    stopping = False

    def on_signal(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        temporal = group.start("temporal", temporal_argv(temporal_port, ui_port, home / "temporal.db"), env,
                               home / "logs" / "temporal.log")
        wait_for(lambda: port_open(temporal_port), 60, "Temporal dev server", temporal)
        _start_bank(group, bank_argv, env, bank_home, bank_port, None if settings.bank_keys_file else pinned_keys)
        group.start("worker", shiming_argv("worker"), env, None)
        web = group.start("web", shiming_argv("web", "--port", str(web_port)), env, home / "logs" / "web.log")
        wait_for(lambda: http_ok(f"http://127.0.0.1:{web_port}/login"), 60, "web app", web)
        print(_banner(web_port, ui_port, logins, bank_home, bank_port), flush=True)
        return _supervise(group, lambda: stopping)
    except (TimeoutError, RuntimeError) as exc:
        print(f"start-up failed: {exc} (logs under {home / 'logs'})", file=sys.stderr)
        return 1
    finally:
        print("stopping…", flush=True)
        group.stop_all()
        print("all processes stopped", flush=True)


def _bank_argv(home: Path, bank_home: Path, bank_port: int, web_port: int) -> list[str]:
    """The reference bank's command line: its own home and ledger, the platform's public key, the
    platform's statement callback, and where to write its public key file."""
    platform_key = public_hex(load_or_create_keys(home / "platform_keys").signing.public_key())
    return shiming_argv(
        "bank", "--home", str(bank_home), "--port", str(bank_port), "--ledger", str(bank_home / "ledger.json"),
        "--platform-key", platform_key, "--callback-url", f"http://127.0.0.1:{web_port}/api/bank/statements",
        "--keys-out", str(bank_home / "public-keys.json"))


def _child_env(settings: Settings, pinned_keys: Path, web_port: int, temporal_port: int, ui_port: int,
               bank_port: int) -> dict[str, str]:
    """The environment of every child process: this one's, with the loopback addresses and the pinned keys."""
    env = dict(os.environ)
    env.update(
        SHIMING_HOME=str(settings.home),
        SHIMING_DATABASE_URL=settings.database_url,
        SHIMING_TEMPORAL_ADDRESS=f"127.0.0.1:{temporal_port}",
        SHIMING_TEMPORAL_UI_URL=f"http://127.0.0.1:{ui_port}",
        SHIMING_PUBLIC_URL=f"http://127.0.0.1:{web_port}",
        SHIMING_BANK_URL=f"http://127.0.0.1:{bank_port}",
        SHIMING_BANK_KEYS_FILE=str(pinned_keys),
        PYTHONUNBUFFERED="1",
    )
    return env


def _start_bank(group: ProcessGroup, argv: list[str], env: dict[str, str], bank_home: Path, bank_port: int,
                pin_to: Path | None) -> None:
    """Start the reference bank and wait for it; then pin its public keys at `pin_to`, unless the
    operator pinned them (None)."""
    os.close(os.open(bank_home / "bank.log", os.O_WRONLY | os.O_CREAT, 0o600))  # the bank's files: 0600
    bank = group.start("bank", argv, env, bank_home / "bank.log")
    wait_for(lambda: http_ok(f"http://127.0.0.1:{bank_port}/api/v1/health"), 60, "reference bank", bank)
    if pin_to is not None:  # keys pinned by the operator are left alone
        pin_bank_keys(bank_home / "public-keys.json", pin_to)


def _supervise(group: ProcessGroup, stopping) -> int:
    """Until `stopping()` (Ctrl-C or SIGTERM): 0; as soon as a process exits on its own: 1."""
    while not stopping():
        exited = group.first_exited()
        if exited:
            print(f"{exited[0]} exited with code {exited[1]}; stopping everything", file=sys.stderr)
            return 1
        time.sleep(0.5)
    return 0


def _banner(web_port: int, ui_port: int, logins: list[tuple[str, str, str]], bank_home: Path,
            bank_port: int = 8700) -> str:
    lines = [
        "",
        "shiming is running (Ctrl-C stops everything):",
        f"  web app      http://127.0.0.1:{web_port}/",
        f"  apply        http://127.0.0.1:{web_port}/register/",
        f"  Temporal UI  http://127.0.0.1:{ui_port}/",
        f"  reference bank http://127.0.0.1:{bank_port}/ (its own home, ledger and log: {bank_home})",
        "  demo logins (role, username, password):",
    ]
    lines += [f"    {role:16} {user:14} {pw}" for user, pw, role in logins]
    lines.append("  SMS messages (e.g. new project credentials) are printed by the worker to this console.")
    return "\n".join(lines)
