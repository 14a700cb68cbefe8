"""Worker wiring: which workflows and activities run on which task queue."""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker


from activities.account_binding import AccountBindingActivities
from activities.attendance_correction import CorrectionActivities
from activities.enrolment import EnrolmentActivities
from activities.refusal import is_business_refusal
from activities.registration import RegistrationActivities
from activities.wage_run import WageRunActivities
from activities.worker_exit import WorkerExitActivities
from pathlib import Path

from temporalio.service import RPCError, RPCStatusCode

from bank_connectors.exchange import FileExchangeConnector
from bank_connectors.http import HttpBankConnector
from bank_connectors.intake import intake_statement
from bank_connectors.keys import BankKeysError, PinnedKeysFile, load_or_create_keys
from bank_connectors.wagefile import StatementError
from domain import notify
from domain.services import Services
from workflows.account_binding import WageAccountBindingWorkflow
from workflows.attendance_correction import AttendanceCorrectionWorkflow
from workflows.enrolment import EnrolmentWorkflow
from workflows.registration import ProjectRegistrationWorkflow
from workflows.wage_run import WageRunWorkflow
from domain.processes.wage_run import StatementArrived
from workflows.worker_exit import WorkerExitWorkflow

log = logging.getLogger("shiming.worker")

WORKFLOWS = [ProjectRegistrationWorkflow, WageRunWorkflow, WorkerExitWorkflow, WageAccountBindingWorkflow,
             EnrolmentWorkflow, AttendanceCorrectionWorkflow]


def platform_keys(services: Services):
    """The platform's own key pairs (Ed25519 signs wage files), kept under the data directory."""
    return load_or_create_keys(services.settings.home / "platform_keys")


def pinned_bank_keys(services: Services) -> PinnedKeysFile:
    """The bank's keys as provisioned out of band (SHIMING_BANK_KEYS_FILE), re-read when the file
    changes. Never fetched from the bank's address or read from the exchange folder."""
    return PinnedKeysFile(services.settings.bank_keys_file or None)


def exchange_connector(services: Services, bank_keys: PinnedKeysFile | None = None) -> FileExchangeConnector | None:
    folder = services.settings.bank_exchange_dir
    if not folder:
        return None
    return FileExchangeConnector(Path(folder), bank_keys=bank_keys or pinned_bank_keys(services))


def wage_run_activities(services: Services) -> WageRunActivities:
    keys = pinned_bank_keys(services)
    exchange = exchange_connector(services, keys)
    connector = exchange if exchange is not None else HttpBankConnector(services.settings.bank_url)
    return WageRunActivities(services, connector, platform_keys(services).signing, keys)


def take_statement_file(services: Services, connector: FileExchangeConnector, keys: PinnedKeysFile,
                        name: str, body: bytes):
    """Intake of one file from incoming/: the IntakeResult, or None when the file was refused — then it
    is audited and moved to incoming/rejected/, so it never blocks the files after it. Any other
    error (the database, say) leaves the file where it is, to be taken again next round."""
    pinned = keys()  # BankKeysError: nothing is judged without pinned keys; the file waits for the operator
    try:
        return intake_statement(services, body, pinned, "exchange")
    except StatementError as exc:  # any bytes at all end here or in a result (wagefile.verify_statement)
        log.warning("refused statement file %s: %s (audited, moved to incoming/rejected/)", name, exc.code)
    connector.reject(name)
    return None


async def watch_exchange_forever(client: Client, services: Services, connector: FileExchangeConnector,
                                 interval: float = 1.0) -> None:
    """The incoming side of the exchange folder: each statement file is verified with the pinned keys,
    checked against its batch and stored once, signals its wage run, and only then is acknowledged
    (moved to incoming/acked/). A refused file is moved to incoming/rejected/; one file's trouble never
    holds up the next."""
    keys = pinned_bank_keys(services) if connector.bank_keys is None else connector.bank_keys
    while True:
        try:
            files = await asyncio.to_thread(connector.poll_statement_files)
        except Exception:  # noqa: BLE001 - keep watching; the failure is logged and retried
            log.exception("exchange folder could not be read")
            files = []
        for name, body in files:
            try:
                result = await asyncio.to_thread(take_statement_file, services, connector, keys, name, body)
                if result is None:
                    continue
                try:
                    await client.get_workflow_handle(result.workflow_id).signal(
                        WageRunWorkflow.statement_arrived, StatementArrived(result.statement_id))
                except RPCError as exc:
                    if exc.status != RPCStatusCode.NOT_FOUND:  # NOT_FOUND: the run has completed
                        raise
                await asyncio.to_thread(connector.ack, name)
            except BankKeysError as exc:
                log.error("statement file %s waits: %s", name, exc)
            except Exception:  # noqa: BLE001 - this file is retried next round; the others go on
                log.exception("statement file %s: will retry", name)
        await asyncio.sleep(interval)


def all_activities(services: Services) -> list:
    wage_run = wage_run_activities(services)  # the account binding asks the same bank connector
    return (RegistrationActivities(services).all() + wage_run.all()
            + WorkerExitActivities(services).all()
            + AccountBindingActivities(services, wage_run.connector).all()
            + EnrolmentActivities(services).all() + CorrectionActivities(services).all())


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
