"""No status of a process that has its module in domain/processes/ is a string literal elsewhere
(issue 9): a comparison of a `status`/`state`/`outcome`/`decision` with a literal of its
vocabulary, in the application's Python or in a template, fails here. Compare with the enum
(`RegistrationStatus.RETURNED`; templates have the enums as globals, web/__init__.py).
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

from domain.processes import account_binding, attendance_correction, registration, wage_run, worker_exit

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("domain", "web", "activities", "workflows", "bank_connectors", "devices", "shiming")
VOCABULARY = {member.value for enum in (
    registration.RegistrationStatus, registration.Decision, account_binding.AccountStatus,
    account_binding.UnboundReason, account_binding.BindingStatus, worker_exit.EngagementStatus,
    worker_exit.ExitState, wage_run.Step, wage_run.WageRunStatus, wage_run.WageLineStatus, wage_run.BatchStatus,
    attendance_correction.CorrectionStatus, attendance_correction.CorrectionDecision)
    for member in enum}
SUBJECTS = ("status", "state", "outcome", "decision")
# (file, value) known exceptions, each with its reason
ALLOWED = {
    # the reference bank is another party: its ledger's accounts are "open", its batches "settled" in
    # its own words (bank_connectors/reference_bank/), not the platform's wage-run vocabulary
    ("bank_connectors/reference_bank/bank.py", "open"),
    ("bank_connectors/reference_bank/ledger.py", "open"),
    ("bank_connectors/reference_bank/bank.py", "settled"),
    # issue 9: domain/wage_table.py is being rewritten (XlsxWriter) by another change at the same time;
    # its roster check `status == "exited"` becomes EngagementStatus.EXITED with it
    ("domain/wage_table.py", "exited"),
}
_TEMPLATE_COMPARE = re.compile(r"""\b\w*(?:status|state|outcome|decision)\b\s*(?:==|!=|\bin\b|\bnot in\b)\s*\(?\s*(['"][^)%}]*)""")
_LITERAL = re.compile(r"""['"]([a-z_A-Z]+)['"]""")


def _subject(node: ast.expr) -> bool:
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else ""
    return name.lstrip("_").endswith(SUBJECTS)


def _literals(node: ast.expr) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return set().union(*(_literals(e) for e in node.elts)) if node.elts else set()
    return set()


def _python_literals() -> list[tuple[str, int, str]]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = str(path.relative_to(ROOT))
            if rel.startswith("domain/processes/"):
                continue
            found += _literals_in(path.read_text(encoding="utf-8"), rel)
    return found


def _literals_in(source: str, rel: str) -> list[tuple[str, int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Compare):
            continue
        sides = [node.left, *node.comparators]
        if any(_subject(side) for side in sides):
            for value in set().union(*(_literals(side) for side in sides)) & VOCABULARY:
                found.append((rel, node.lineno, value))
    return found


def _template_literals() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted((ROOT / "web").rglob("*.html")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in _TEMPLATE_COMPARE.finditer(line):
                for value in set(_LITERAL.findall(match.group(1))) & VOCABULARY:
                    found.append((str(path.relative_to(ROOT)), number, value))
    return found


def test_no_process_status_is_compared_with_a_literal_in_python():
    assert [f for f in _python_literals() if (f[0], f[2]) not in ALLOWED] == []


def test_no_process_status_is_compared_with_a_literal_in_templates():
    assert [f for f in _template_literals() if (f[0], f[2]) not in ALLOWED] == []


def test_the_checks_find_a_literal_comparison(tmp_path):
    """The two scanners see what they judge (a Python comparison, and a template line)."""
    source = 'if run.status == "cancelled" or line.status in ("paid", "x"):\n    pass\n'
    assert sorted(f[2] for f in _literals_in(source, "x.py")) == ["cancelled", "paid"]
    line = "{% if app.status in ('returned', 'rejected') %}"
    assert {v for m in _TEMPLATE_COMPARE.finditer(line) for v in _LITERAL.findall(m.group(1))} == {"returned", "rejected"}
