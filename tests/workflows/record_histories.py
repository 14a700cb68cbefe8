"""Record the histories that test_replay.py replays: `.venv/bin/python -m tests.workflows.record_histories`.

Runs representative registration cases with the real worker and activities (a throw-away SQLite
database) and writes each history to tests/workflows/histories/registration_<case>.json,
overwriting a file of the same name. When the workflow changes on purpose, first rename the files
recorded under the old code (registration_<case>_v1.json) and keep them: cases that started under
that code may still be running and must still replay.
"""
from __future__ import annotations

import asyncio
import gc
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Awaitable, Callable

from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from domain.processes.registration import Decision
from shiming.temporal import temporal_cli, temporal_test_server
from tests.helpers.services import make_services
from tests.helpers.workflow_env import RegistrationCase, RegistrationHarness, as_utc, registration_harness, wait_for

HISTORIES = Path(__file__).parent / "histories"
REASON = "施工合同金额与盖章扫描件不一致"


async def expect_refusal(action: Awaitable, error_type: str) -> None:
    try:
        await action
    except WorkflowUpdateFailedError as exc:
        assert exc.cause.type == error_type, exc.cause
    else:
        raise AssertionError(f"expected a {error_type} refusal")


async def return_resubmit_approve(h: RegistrationHarness) -> RegistrationCase:
    case = await h.start_case()
    await case.open_task()
    await case.claim("reviewer")
    await case.decide("reviewer", Decision.RETURN, REASON)
    correction_id, base_revision = case.save_correction(name="青秀区测试安置房项目（二期）")
    await case.resubmit(correction_id, base_revision)
    await case.open_task(round=2)
    await case.claim("reviewer2")
    await case.decide("reviewer2", Decision.APPROVE)
    await case.result()
    return case


async def reject(h: RegistrationHarness) -> RegistrationCase:
    case = await h.start_case()
    await case.open_task()
    await case.claim("reviewer")
    await case.decide("reviewer", Decision.REJECT, REASON)
    await case.result()
    return case


async def refused_updates(h: RegistrationHarness) -> RegistrationCase:
    case = await h.start_case()
    await case.open_task()
    await expect_refusal(case.decide("reviewer", Decision.APPROVE), "NotClaimed")
    await case.claim("reviewer")
    await expect_refusal(case.claim("reviewer2"), "AlreadyClaimed")
    await expect_refusal(case.decide("reviewer2", Decision.APPROVE), "NotClaimant")
    await case.unclaim("reviewer")
    await case.claim("reviewer2")
    await expect_refusal(case.decide("reviewer2", Decision.REJECT), "ReasonRequired")
    await case.decide("reviewer2", Decision.APPROVE)
    await case.result()
    return case


async def claim_refused_then_approved(h: RegistrationHarness) -> RegistrationCase:
    """The claim's activity refuses an account the database does not know: the case stays in the
    queue (patch `registration-claim-refusal-keeps-unclaimed`) and a real reviewer claims it."""
    from workflows.registration import ClaimInput, ProjectRegistrationWorkflow

    case = await h.start_case()
    task = await case.open_task()
    try:
        await case.handle.execute_update(ProjectRegistrationWorkflow.claim, ClaimInput(999_999, task.id))
    except WorkflowUpdateFailedError as exc:
        assert exc.cause.cause.type == "UnknownActor", exc.cause
    else:
        raise AssertionError("an unknown account claimed the case")
    await case.claim("reviewer")
    await case.decide("reviewer", Decision.APPROVE)
    await case.result()
    return case


async def cancelled(h: RegistrationHarness) -> RegistrationCase:
    case = await h.start_case()
    await case.open_task()
    await case.claim("reviewer")
    await case.handle.cancel()
    try:
        await case.result()
    except WorkflowFailureError:
        pass
    else:
        raise AssertionError("the cancelled case completed")
    return case


async def overdue_escalated_then_approved(h: RegistrationHarness) -> RegistrationCase:
    """Time-skipping server: nobody claims the case until after its escalation."""
    case = await h.start_case()
    task = await case.open_task()
    await h.skip_to(as_utc(task.due_at) + timedelta(minutes=1))
    await wait_for(lambda: _flag(case, "reminded"), "the reminder")
    await h.skip_to(as_utc(task.escalate_at) + timedelta(minutes=1))
    await wait_for(lambda: _flag(case, "escalated"), "the escalation")
    await case.claim("reviewer")
    await case.decide("reviewer", Decision.APPROVE)
    await case.result()
    return case


async def _flag(case: RegistrationCase, name: str) -> bool:
    return getattr(await case.status(), name)


Scenario = Callable[[RegistrationHarness], Awaitable[RegistrationCase]]

DEV_SERVER: dict[str, Scenario] = {
    "return_resubmit_approve": return_resubmit_approve,
    "reject": reject,
    "refused_updates": refused_updates,
    "cancelled": cancelled,
    "claim_refused_then_approved": claim_refused_then_approved,
}
TIME_SKIPPING: dict[str, Scenario] = {
    "overdue_escalated_then_approved": overdue_escalated_then_approved,
}


async def record(env: WorkflowEnvironment, scenarios: dict[str, Scenario], home: Path) -> None:
    services = make_services(home)
    try:
        async with registration_harness(env, services) as harness:
            for name, scenario in scenarios.items():
                case = await scenario(harness)
                path = HISTORIES / f"registration_{name}.json"
                path.write_text((await case.handle.fetch_history()).to_json() + "\n")
                print(f"wrote {path}")
    finally:
        services.engine.dispose()


async def main() -> None:
    HISTORIES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        async with await WorkflowEnvironment.start_local(dev_server_existing_path=temporal_cli()) as env:
            await record(env, DEV_SERVER, Path(tmp) / "dev")
        async with await WorkflowEnvironment.start_time_skipping(
                test_server_existing_path=temporal_test_server()) as env:
            await record(env, TIME_SKIPPING, Path(tmp) / "skipping")


if __name__ == "__main__":
    asyncio.run(main())
    gc.collect()  # see tests/workflows/conftest.py: let the SDK's threads settle before exit
