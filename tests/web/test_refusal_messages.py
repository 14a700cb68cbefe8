"""Every refusal code a process can answer has its own message on the page that asks (issue 8, point 2).

The codes are read from the source: every `refuse(..., "Code")` (workflows/guards.py; an activity's
`_refuse`) / `refusal(..., "Code")` in workflows/ and activities/, and the domain codes an activity passes through; a code written as a
member of its process's vocabulary (`Refusal.NOT_CLAIMED`, domain/processes/) counts as its value. Each must be in a
table the page of that process asks (web/*), so no person ever reads only "the process refused
this action". A code added later without a message fails here.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from flask_babel import force_locale

from domain.processes import account_binding, enrolment, registration, wage_run, worker_exit
from web.refusals import (
    ACCEPT_REFUSALS,
    CORRECTION_REFUSALS,
    ENROLMENT_REFUSALS,
    EXIT_ERRORS,
    EXIT_REFUSALS,
    PAYROLL_REFUSALS,
    REFUSALS,
)

ROOT = Path(__file__).resolve().parents[2]

# process → (its workflow and activity modules, the domain functions whose codes its activities pass on,
# the message tables of the pages that send its updates, asked in this order before REFUSALS)
PROCESSES = {
    "registration": (("workflows/registration.py", "activities/registration.py"),
                     (("domain/registration.py", "apply_correction"),), (CORRECTION_REFUSALS,)),
    "wage_run": (("workflows/wage_run.py", "activities/wage_run.py", "activities/wage_file.py"), (),
                 (PAYROLL_REFUSALS,)),
    "account_binding": (("workflows/account_binding.py", "activities/account_binding.py"), (),
                        (ACCEPT_REFUSALS, PAYROLL_REFUSALS)),
    "worker_exit": (("workflows/worker_exit.py", "activities/worker_exit.py"),
                    (("domain/worker_exit.py", "cancel_exit"), ("domain/worker_exit.py", "finish_exit")),
                    (EXIT_REFUSALS, EXIT_ERRORS)),
    "enrolment": (("workflows/enrolment.py", "activities/enrolment.py"), (), (ENROLMENT_REFUSALS,)),
}
RAISERS = {"refuse", "_refuse", "refusal", "ApplicationError"}  # guards.refuse; an activity's _refuse
# the refusal vocabulary of each process that has its module in domain/processes/ (the aliases its code uses)
VOCABULARY = {"registration": registration.Refusal, "account_binding": account_binding.Refusal,
              "worker_exit": worker_exit.Refusal, "wage_run": wage_run.Refusal, "enrolment": enrolment.Refusal}
VOCABULARY_NAMES = {"Refusal", "R", "RegistrationRefusal"}
DOMAIN_ERRORS = {"RegistrationError", "WorkerExitError"}


def _name(func: ast.expr) -> str:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _code(node: ast.expr, process: str):
    """The code a literal or a vocabulary member (`Refusal.BUSY`) names, else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in VOCABULARY_NAMES:
        return VOCABULARY[process][node.attr].value  # a KeyError: the code is not in the vocabulary
    return None


def refusal_codes(path: str, process: str) -> set[str]:
    codes = set()
    for node in ast.walk(ast.parse((ROOT / path).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and _name(node.func) in RAISERS:
            for kw in node.keywords:
                if kw.arg == "type" and _code(kw.value, process) is not None:
                    codes.add(_code(kw.value, process))
            if _name(node.func) != "ApplicationError" and len(node.args) >= 2 \
                    and _code(node.args[1], process) is not None:
                codes.add(_code(node.args[1], process))
    return codes


def domain_codes(path: str, function: str, process: str) -> set[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    body = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == function)
    codes = set()
    for node in ast.walk(body):
        if isinstance(node, ast.Call) and _name(node.func) in DOMAIN_ERRORS and node.args \
                and _code(node.args[0], process) is not None:
            codes.add(_code(node.args[0], process))
        if isinstance(node, ast.Call) and _name(node.func) == "_reason":  # worker_exit's reason check
            codes |= domain_codes(path, "_reason", process)
    return codes


CASES = sorted((process, code) for process, (modules, passed_on, _tables) in PROCESSES.items()
               for code in set().union(*(refusal_codes(m, process) for m in modules),
                                       *(domain_codes(p, f, process) for p, f in passed_on)))


def test_the_source_has_refusal_codes_to_check():
    codes = {code for _p, code in CASES}
    assert {"WageTableInvalid", "MissingCard", "EmptyBatch", "BankRefused", "SignatureRefused", "NotClaimed",
            "NotRequester", "not_exiting", "stale_correction", "NotProjectSpecialist"} <= codes


@pytest.mark.parametrize("process, code", CASES)
def test_every_refusal_code_has_its_own_message(app, process, code):
    tables = PROCESSES[process][2]
    table = next((t for t in (*tables, REFUSALS) if code in t), None)
    assert table is not None, f"{process}: no message for the refusal code {code}"
    with app.test_request_context(), force_locale("zh_CN"):
        message, generic = str(table[code]), str(REFUSALS["Refused"])
    with app.test_request_context(), force_locale("en"):
        english = str(table[code])
    assert message != generic, f"{process}: {code} has only the generic message"
    assert message != english, f"{process}: the message of {code} is not translated to zh_CN"
