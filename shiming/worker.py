"""Worker wiring: which workflows and activities run on which task queue."""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

import functools

from activities.account_binding import AccountBindingActivities
from activities.refusal import is_business_refusal
from activities.registration import RegistrationActivities
from activities.wage_run import WageRunActivities
from activities.worker_exit import WorkerExitActivities
from pathlib import Path

from temporalio.service import RPCError, RPCStatusCode

from bank_connectors.exchange import FileExchangeConnector
from bank_connectors.http import HttpBankConnector, fetch_bank_keys
from bank_connectors.intake import intake_statement
from bank_connectors.protocol import BankUnavailable
from bank_connectors.wagefile import StatementError
from bank_connectors.keys import load_or_create_keys
from domain import notify
from domain.services import Services
from workflows.account_binding import WageAccountBindingWorkflow
from workflows.registration import ProjectRegistrationWorkflow
from workflows.wage_run import StatementArrived, WageRunWorkflow
from workflows.worker_exit import WorkerExitWorkflow

log = logging.getLogger("shiming.worker")

WORKFLOWS = [ProjectRegistrationWorkflow, WageRunWorkflow, WorkerExitWorkflow, WageAccountBindingWorkflow]


def platform_keys(services: Services):
    """The platform's own key pairs (Ed25519 signs wage files), kept under the data directory."""
    return load_or_create_keys(services.settings.home / "platform_keys")


def exchange_connector(services: Services) -> FileExchangeConnector | None:
    folder = services.settings.bank_exchange_dir
    return FileExchangeConnector(Path(folder)) if folder else None


def _published_keys(connector: FileExchangeConnector):
    keys = connector.bank_keys()
    if keys is None:
        raise BankUnavailable("the bank has not published its keys in the exchange folder yet")
    return keys


def wage_run_activities(services: Services) -> WageRunActivities:
    exchange = exchange_connector(services)
    if exchange is not None:
        return WageRunActivities(services, exchange, platform_keys(services).signing,
                                 functools.cache(lambda: _published_keys(exchange)))
    url = services.settings.bank_url
    return WageRunActivities(services, HttpBankConnector(url), platform_keys(services).signing,
                             functools.cache(lambda: fetch_bank_keys(url)))


async def watch_exchange_forever(client: Client, services: Services, connector: FileExchangeConnector,
                                 interval: float = 1.0) -> None:
    """The incoming side of the exchange folder: statements are verified, stored once, signal their
    wage run, and only then are acknowledged (moved to incoming/acked/)."""
    while True:
        try:
            for name, body in await asyncio.to_thread(connector.poll_statement_files):
                keys = await asyncio.to_thread(_published_keys, connector)
                try:
                    result = await asyncio.to_thread(intake_statement, services, body, keys.signing, "exchange")
                except StatementError:
                    log.warning("refused statement file %s (audited)", name)
                    await asyncio.to_thread(connector.ack, name)  # keep it out of the loop; the audit row stays
                    continue
                try:
                    await client.get_workflow_handle(result.workflow_id).signal(
                        WageRunWorkflow.statement_arrived, StatementArrived(result.statement_id))
                except RPCError as exc:
                    if exc.status != RPCStatusCode.NOT_FOUND:  # NOT_FOUND: the run has completed
                        raise
                await asyncio.to_thread(connector.ack, name)
        except Exception:  # noqa: BLE001 - keep watching; the failure is logged and retried
            log.exception("exchange folder round failed")
        await asyncio.sleep(interval)


def all_activities(services: Services) -> list:
    wage_run = wage_run_activities(services)  # the account binding asks the same bank connector
    return (RegistrationActivities(services).all() + wage_run.all()
            + WorkerExitActivities(services).all()
            + AccountBindingActivities(services, wage_run.connector).all())


class OneLineRefusals(logging.Filter):
    """On the SDK's activity logger: a business refusal (a non-retryable ApplicationError with a
    code, activities/refusal.py) that reaches it at WARNING - one not raised through `refusal`,
    so not BENIGN - becomes one INFO line with the code and the case, without the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None or not is_business_refusal(exc) or record.levelno < logging.INFO:
            return True
        activity_info = getattr(record, "temporal_activity", None) or {}
        record.msg, record.args = "refused %s: case %s, %s", (
            exc.type, activity_info.get("workflow_id", "-"), activity_info.get("activity_type", "-"))
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        return True


def install_refusal_log_filter() -> None:
    logger = logging.getLogger("temporalio.activity")
    if not any(isinstance(f, OneLineRefusals) for f in logger.filters):
        logger.addFilter(OneLineRefusals())


def build_worker(client: Client, services: Services, executor: ThreadPoolExecutor, task_queue: str | None = None) -> Worker:
    install_refusal_log_filter()
    return Worker(
        client,
        task_queue=task_queue or services.settings.task_queue,
        workflows=WORKFLOWS,
        activities=all_activities(services),
        activity_executor=executor,
        max_concurrent_activities=16,
    )


def make_transport(services: Services) -> notify.Transport:
    if services.settings.notify_transport != "console":
        raise ValueError(f"unknown notification transport {services.settings.notify_transport!r}")
    return notify.ConsoleTransport()


async def deliver_notifications_forever(services: Services, interval: float = 1.0) -> None:
    transport = make_transport(services)
    while True:
        try:
            await asyncio.to_thread(notify.deliver_pending, services.Session, services.cipher, transport)
        except Exception:  # noqa: BLE001 - keep delivering; the failure is logged
            log.exception("notification delivery round failed")
        await asyncio.sleep(interval)


async def run_worker(client: Client, services: Services) -> None:
    with ThreadPoolExecutor(max_workers=16) as executor:
        worker = build_worker(client, services, executor)
        dispatcher = asyncio.create_task(deliver_notifications_forever(services))
        exchange = exchange_connector(services)
        watcher = asyncio.create_task(watch_exchange_forever(client, services, exchange)) if exchange else None
        try:
            log.info("worker polling task queue %s", services.settings.task_queue)
            await worker.run()
        finally:
            dispatcher.cancel()
            if watcher is not None:
                watcher.cancel()
