"""No test module imports from another test module: code shared by tests lives in tests/helpers/
(docs/architecture.md, "Tests"). Every file under tests/ is parsed, every import read (also those
inside functions, and relative ones); an import of `tests.X` where X is not `helpers` fails.
Fixtures of a conftest.py reach the tests through pytest, never through an import.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"


def _package_of(path: Path) -> list[str]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return parts if path.name == "__init__.py" else parts[:-1]


def test_module_imports(source: str, path: Path) -> list[str]:
    """What `source` (the file at `path`) imports from the tests package outside tests.helpers:
    `import tests.x` as `tests.x`, `from tests.x import y` (or its relative form) as `tests.x.y`."""
    package = _package_of(path)
    found = []
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                above = package[:len(package) - (node.level - 1)]
                base = ".".join(above + ([node.module] if node.module else []))
            targets = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            if parts[0] == "tests" and parts[1:2] != ["helpers"]:
                found.append(target)
    return found


test_module_imports.__test__ = False  # a checker, not a test


def _violations() -> list[str]:
    rows = []
    for path in sorted(TESTS.rglob("*.py")):
        for target in test_module_imports(path.read_text(encoding="utf-8"), path):
            rows.append(f"{path.relative_to(ROOT)} imports {target}")
    return rows


def test_no_test_module_imports_another_test_module():
    violations = _violations()
    assert not violations, "shared test code belongs in tests/helpers/:\n" + "\n".join(violations)


HERE = TESTS / "web" / "test_example.py"


@pytest.mark.parametrize("source, expected", [
    ("from tests.web.conftest import login\n", ["tests.web.conftest.login"]),
    ("from tests.e2e.test_wage_run_processes import stack  # noqa: F401\n", ["tests.e2e.test_wage_run_processes.stack"]),
    ("import tests.devices.virtual_card\n", ["tests.devices.virtual_card"]),
    ("from tests.web import test_payroll\n", ["tests.web.test_payroll"]),
    ("from tests import conftest\n", ["tests.conftest"]),
    ("def f():\n    from tests.web.test_i18n import extracted_messages\n", ["tests.web.test_i18n.extracted_messages"]),
    ("from .conftest import services\n", ["tests.web.conftest.services"]),
    ("from ..e2e.conftest import browser\n", ["tests.e2e.conftest.browser"]),
    ("import tests\n", ["tests"]),
    ("from . import test_access\n", ["tests.web.test_access"]),
    ("from tests.helpers.wage_scenario import signed_step\n", []),
    ("from tests.helpers import enrolment as h\n", []),
    ("import tests.helpers.stack\n", []),
    ("from ..helpers.stack import start_stack\n", []),
    ("from domain.models import Account\nimport web.tests_of_nothing\n", []),
])
def test_the_checker_finds_every_form_of_a_cross_test_import(source, expected):
    assert test_module_imports(source, HERE) == expected
