"""The whole platform inside the test's process, on the real dev server: one worker runs every
workflow with its real activities over the test's database, and the web app talks to the server
through the real TemporalBridge. The bank is an exchange folder nobody answers (a submitted batch
stays in flight, an account check stays unanswered). Flask calls run on a thread (`get`, `post`:
`asyncio.to_thread`), so the worker on the test's event loop keeps answering."""
from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from uuid import uuid4

from sqlalchemy import select
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.worker import Worker

from activities.account_binding import AccountBindingActivities
from activities.enrolment import EnrolmentActivities
from activities.registration import RegistrationActivities
from activities.wage_run import WageRunActivities
from activities.worker_exit import WorkerExitActivities
from bank_connectors.exchange import FileExchangeConnector
from bank_connectors.keys import load_or_create_keys
from domain.models import Account, WageRun
from shiming.temporal import data_converter
from shiming.worker import WORKFLOWS
from tests.helpers.services import make_settings
from tests.helpers.stack import TEST_PAYLOAD_KEY
from tests.helpers.workflow_env import wait_for
from web import create_app
from web.security import LAST_SEEN
from web.temporal_bridge import TemporalBridge


@dataclass
class Platform:
    client: Client
    task_queue: str
    services: object
    app: object
    started: list = field(default_factory=list)

    async def start(self, run, arg, workflow_id: str, task_queue: str | None = None) -> WorkflowHandle:
        handle = await self.client.start_workflow(run, arg, id=workflow_id, task_queue=task_queue or self.task_queue)
        self.started.append(handle)
        return handle

    async def terminate_running(self) -> None:
        """Ids repeat across tests (fresh databases): leave no process running on the shared dev server."""
        for handle in self.started + [self.client.get_workflow_handle(i) for i in self.opened_elsewhere()]:
            try:
                if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                    await handle.terminate("test finished")
            except Exception:  # noqa: BLE001 - never started
                pass

    def opened_elsewhere(self) -> list[str]:
        """Processes the pages started (a month opened again)."""
        with self.services.Session() as db:
            return list(db.scalars(select(WageRun.workflow_id)))

    def page(self, username: str):
        """A test client logged in as `username`, in English."""
        web = self.app.test_client()
        with self.services.Session() as db:
            account = db.scalar(select(Account.id).where(Account.username == username))
        with web.session_transaction() as sess:
            sess["_user_id"] = str(account)
            sess["_fresh"] = True
            sess[LAST_SEEN] = int(time.time())
        web.get("/lang/en")
        return web


@asynccontextmanager
async def platform(env, services, tmp_path, registration=None, worker_exit=None):
    exchange = FileExchangeConnector(tmp_path / "exchange", timeout=0.3, poll_interval=0.05)
    bank = load_or_create_keys(tmp_path / "bank_keys")
    wage = WageRunActivities(services, exchange, load_or_create_keys(tmp_path / "platform_keys").signing,
                             bank.public)
    activities = ((registration or RegistrationActivities(services)).all() + wage.all()
                  + (worker_exit or WorkerExitActivities(services)).all()
                  + AccountBindingActivities(services, exchange).all()
                  + EnrolmentActivities(services).all())
    task_queue = f"tq-{uuid4()}"
    # payloads encrypted with the test stacks' key, as in production (docs/payload-encryption.md)
    converter = data_converter(make_settings(services.settings.home, payload_keys=TEST_PAYLOAD_KEY))
    client = Client(**{**env.client.config(), "data_converter": converter})
    target, namespace = env.client.service_client.config.target_host, env.client.namespace
    bridge = TemporalBridge(target, namespace, task_queue,
                            connect=lambda: Client.connect(target, namespace=namespace, data_converter=converter))
    app = create_app(services, bridge, {"TESTING": True, "WTF_CSRF_ENABLED": False})
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=activities,
                          activity_executor=executor):
            p = Platform(client, task_queue, services, app)
            try:
                yield p
            finally:
                await p.terminate_running()


async def get(web, url: str) -> str:
    response = await asyncio.to_thread(web.get, url, follow_redirects=True)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


async def post(web, url: str, data: dict, status: int = 200) -> str:
    response = await asyncio.to_thread(web.post, url, data=data, follow_redirects=True)
    assert response.status_code == status, url
    return response.get_data(as_text=True)


async def closed_as(handle: WorkflowHandle, status: WorkflowExecutionStatus) -> None:
    async def probe():
        return (await handle.describe()).status == status
    await wait_for(probe, f"{handle.id} to be {status.name}")
