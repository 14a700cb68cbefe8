"""Worker wiring: which workflows and activities run on which task queue."""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from temporalio.client import Client
from temporalio.worker import Worker

import functools

from activities.registration import RegistrationActivities
from activities.wage_run import WageRunActivities
from bank_connectors.http import HttpBankConnector, fetch_bank_keys
from bank_connectors.keys import load_or_create_keys
from domain import notify
from domain.services import Services
from workflows.registration import ProjectRegistrationWorkflow
from workflows.wage_run import WageRunWorkflow

log = logging.getLogger("shiming.worker")

WORKFLOWS = [ProjectRegistrationWorkflow, WageRunWorkflow]


def platform_keys(services: Services):
    """The platform's own key pairs (Ed25519 signs wage files), kept under the data directory."""
    return load_or_create_keys(services.settings.home / "platform_keys")


def wage_run_activities(services: Services) -> WageRunActivities:
    url = services.settings.bank_url
    return WageRunActivities(services, HttpBankConnector(url), platform_keys(services).signing,
                             functools.cache(lambda: fetch_bank_keys(url)))


def all_activities(services: Services) -> list:
    return RegistrationActivities(services).all() + wage_run_activities(services).all()


def build_worker(client: Client, services: Services, executor: ThreadPoolExecutor, task_queue: str | None = None) -> Worker:
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
        try:
            log.info("worker polling task queue %s", services.settings.task_queue)
            await worker.run()
        finally:
            dispatcher.cancel()
