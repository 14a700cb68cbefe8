"""`shiming` command line: dev | worker | web | bank | agent | terminal | migrate | seed | verify-run | audit | bench."""
from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import sys

from domain.services import Services
from domain.settings import ConfigError, Settings
from shiming import terminal


def _services() -> Services:
    return Services.build(Settings.from_env())


def cmd_migrate(args) -> int:
    from shiming.db import migrate

    migrate(Settings.from_env().database_url)
    print("database is at the latest schema")
    return 0


def cmd_seed(args) -> int:
    from shiming.seed import seed_demo
    from shiming.seed_payroll import seed_payroll_demo

    services = _services()
    from shiming.dev import bank_home_for

    ledger = bank_home_for(services.settings.home) / "ledger.json"
    logins = seed_demo(services) + seed_payroll_demo(services, ledger)
    print(f"the reference bank's ledger: {ledger} (start it with `shiming bank --ledger {ledger}`)")
    for username, password, role in logins:
        print(f"{role:16} {username:14} {password}")
    return 0


def cmd_worker(args) -> int:
    from shiming.temporal import connect
    from shiming.worker import run_worker

    services = _services()

    async def main() -> None:
        client = await connect(services.settings)
        await run_worker(client, services)

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    return 0


def cmd_web(args) -> int:
    from shiming.webapp import build_web_app

    app = build_web_app(_services())
    # what start-up built lives as long as the process: kept out of every garbage collection, so a
    # collection walks only what requests make (a terminal's 500-punch batch is many small objects)
    gc.freeze()
    app.run(host=args.host, port=args.port, threaded=True, use_reloader=False)
    return 0


def cmd_dev(args) -> int:
    from shiming.dev import run_dev

    return run_dev(web_port=args.port, temporal_port=args.temporal_port, ui_port=args.ui_port,
                   bank_port=args.bank_port)


def cmd_bank(args) -> int:
    from pathlib import Path

    from bank_connectors.reference_bank import run_bank

    try:
        return run_bank(home=Path(args.home), host=args.host, port=args.port, callback_url=args.callback_url,
                        exchange_dir=Path(args.exchange_dir) if args.exchange_dir else None,
                        ledger=Path(args.ledger) if args.ledger else None, platform_keys=args.platform_key,
                        retry_cap=args.retry_cap, pay_delay=args.pay_delay,
                        keys_out=Path(args.keys_out) if args.keys_out else None, key_id=args.key_id)
    except (ValueError, OSError) as exc:
        print(f"bank: {exc}", file=sys.stderr)
        return 2


def cmd_agent(args) -> int:
    """The local device agent (devices/agent/): `shiming agent pair`, then `shiming agent --origin …`."""
    from pathlib import Path

    from devices import agent

    config_path = Path(args.config) if args.config else agent.default_config_path()
    if args.agent_command == "pair":
        token = agent.pair(config_path)
        print(f"paired; the pairing code (enter it once on the platform's page in this PC's browser):\n\n  {token}\n\n"
              f"its hash is kept in {config_path}; pairing again replaces it")
        return 0
    origins = args.origin or [o for o in os.environ.get("SHIMING_AGENT_ORIGINS", "").split(",") if o.strip()]
    camera = args.camera if args.camera is not None else os.environ.get("SHIMING_AGENT_CAMERA", "0")
    try:
        config = agent.AgentConfig(tuple(origins), agent.load_token_digest(config_path))
        server = agent.make_server(agent.create_agent_app(config, agent.pcsc_devices(
            camera, args.id_reader or os.environ.get("SHIMING_AGENT_ID_READER") or None,
            args.key_reader or os.environ.get("SHIMING_AGENT_KEY_READER") or None,
            args.card_reader_class or os.environ.get("SHIMING_AGENT_CARD_READER") or None)), args.host, args.port)
    except (agent.AgentConfigError, OSError) as exc:
        print(f"agent: {exc}", file=sys.stderr)
        return 2
    print(f"device agent on http://{args.host}:{server.server_port} for {', '.join(config.origins)}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def cmd_verify_run(args) -> int:
    from shiming.verify_run import format_report, verify_run

    try:
        report = verify_run(_services(), args.run)
    except LookupError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(format_report(report))
    return 0 if report.ok else 1


def cmd_audit_verify(args) -> int:
    from domain import audit

    services = _services()
    with services.Session() as session:
        report = audit.verify(session, services.settings.audit_key)
    print(report.format())
    return 0 if report.ok else 1


def cmd_audit_prune(args) -> int:
    from domain import audit

    services = _services()
    days = services.settings.audit_retention_days
    try:
        with services.Session.begin() as session:
            result = audit.prune(session, services.settings.audit_key, days, dry_run=args.dry_run)
    except audit.AuditChainError as exc:
        print(f"audit prune: {exc}", file=sys.stderr)
        return 1
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb} {result.removed} audit rows older than {days} days (before {result.cutoff:%Y-%m-%d %H:%M} UTC)")
    return 0


def cmd_bench(args) -> int:
    from benchmarks import run_benchmark

    return run_benchmark(args.name, args.rest)


def _add_run_commands(sub) -> None:
    """migrate, seed, worker, web, dev: set the platform up and run its processes."""
    sub.add_parser("migrate", help="upgrade the database to the latest schema").set_defaults(func=cmd_migrate)
    sub.add_parser("seed", help="create demo data (idempotent)").set_defaults(func=cmd_seed)
    sub.add_parser("worker", help="run a Temporal worker").set_defaults(func=cmd_worker)
    p = sub.add_parser("web", help="run the web app")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.set_defaults(func=cmd_web)
    p = sub.add_parser("dev", help="start everything on loopback with demo data")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--temporal-port", type=int, default=7233)
    p.add_argument("--ui-port", type=int, default=8233)
    p.add_argument("--bank-port", type=int, default=8700, help="the reference bank's port")
    p.set_defaults(func=cmd_dev)


def _add_bank_command(sub) -> None:
    """bank: the reference bank, a separate party with its own ledger and keys."""
    p = sub.add_parser("bank", help="run the reference bank (a separate party with its own ledger and keys)")
    p.add_argument("--home", default=os.environ.get("SHIMING_BANK_HOME") or "var-bank",
                   help="the bank's own data directory (database, ledger, key pairs; mode 0700): never inside "
                        "the platform's SHIMING_HOME (default $SHIMING_BANK_HOME or var-bank)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8700)
    p.add_argument("--callback-url", help="the platform's statement callback (POST, retried until 2xx)")
    p.add_argument("--exchange-dir", help="also serve the file-exchange channel in DIR/outgoing, DIR/incoming")
    p.add_argument("--ledger", help="JSON file with accounts, cards and platform_keys to load at start")
    p.add_argument("--platform-key", action="append", default=[],
                   help="accept wage files signed by this Ed25519 key (64 hex digits or a file); repeatable")
    p.add_argument("--retry-cap", type=float, default=5.0, help="longest wait between callback attempts, s")
    p.add_argument("--pay-delay", type=float, default=0.0, help="seconds spent paying each line (demos)")
    p.add_argument("--keys-out", help="write the bank's public key file here at start, for the platform to pin "
                                      "(SHIMING_BANK_KEYS_FILE)")
    p.add_argument("--key-id", help="the key id in that file (default: the start of the signing key)")
    p.set_defaults(func=cmd_bank)


def _add_agent_command(sub) -> None:
    """agent: the local device agent of an enrolment / enterprise PC."""
    p = sub.add_parser("agent", help="run the local device agent of an enrolment / enterprise PC (loopback only)")
    p.add_argument("agent_command", nargs="?", choices=["run", "pair"], default="run",
                   help="pair: draw a new pairing code for the platform's page; run (default): serve")
    p.add_argument("--config", help="the agent's config file (default $SHIMING_AGENT_HOME/agent.json or "
                                     "~/.config/shiming/agent.json)")
    p.add_argument("--host", default="127.0.0.1", help="a loopback address (127.0.0.1 or ::1) only")
    p.add_argument("--port", type=int, default=18765)
    p.add_argument("--origin", action="append", default=[],
                   help="the platform's origin allowed to call the agent, e.g. https://shiming.example; "
                        "repeatable (default $SHIMING_AGENT_ORIGINS, comma-separated)")
    p.add_argument("--camera", help="camera index, video file or rtsp:// URL (default $SHIMING_AGENT_CAMERA or 0)")
    p.add_argument("--id-reader", help="the ID card reader's PC/SC name (default: any reader with an ID card)")
    p.add_argument("--key-reader", help="the USB key's PC/SC reader name (default: any reader with the key)")
    p.add_argument("--card-reader-class", help="a vendor-SDK CardReader, package.module:ClassName, instead of "
                                               "PC/SC (default $SHIMING_AGENT_CARD_READER)")
    p.set_defaults(func=cmd_agent)


def _add_check_commands(sub) -> None:
    """verify-run, audit verify | prune, bench."""
    p = sub.add_parser("verify-run", help="check a wage run's signature chain and sums")
    p.add_argument("run", help="run id or workflow id (wage-run-<project>-<YYYY-MM>)")
    p.set_defaults(func=cmd_verify_run)
    p = sub.add_parser("audit", help="check or prune the tamper-evident audit log (docs/audit.md)")
    audit_sub = p.add_subparsers(dest="audit_command", required=True)
    audit_sub.add_parser("verify", help="walk the hash chain; exit 1 naming each changed, inserted or deleted row"
                         ).set_defaults(func=cmd_audit_verify)
    p = audit_sub.add_parser("prune", help="remove rows older than SHIMING_AUDIT_RETENTION_DAYS (at least 180)")
    p.add_argument("--dry-run", action="store_true", help="only count the rows that would be removed")
    p.set_defaults(func=cmd_audit_prune)
    p = sub.add_parser("bench", help="run a benchmark; prints one JSON line")
    p.add_argument("name")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shiming", description="shiming real-name and wage platform")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_run_commands(sub)
    _add_bank_command(sub)
    _add_agent_command(sub)
    _add_check_commands(sub)
    terminal.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
