"""Arrows point down only (../shared/DESIGN.md, docs/architecture.md): each rule parses the
imports of the application packages (every `import`, also those inside functions) and fails on
any import that runs up.

- domain/processes/ (one I/O-free module per process) imports the standard library, its sibling
  modules and `temporalio.exceptions` only: no SQLAlchemy, Flask or Temporal client/activity;
- domain imports no other application package;
- web imports no activities and nothing of shiming (the composition root passes in what it needs),
  and takes from workflows only the workflow classes (their update/query methods come with them);
- activities, bank_connectors and devices import no web, shiming or workflows;
- workflows take from activities only the activity classes and from domain only domain/processes.

Known exceptions are listed in ALLOWED with the reason; a new upward import fails.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("domain", "web", "activities", "workflows", "bank_connectors", "devices", "shiming")
STDLIB = set(sys.stdlib_module_names) | {"__future__"}

# (importing module, imported module, name or "") that break a rule today. Each entry says why.
ALLOWED: set[tuple[str, str, str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, str]]:
    """(imported module, name) for every import in the file; name "" for `import x`."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                # `from . import audit` names a module (or a package): count it as one
                sub = f"{target}.{alias.name}"
                where = ROOT / Path(*sub.split("."))
                is_module = not node.module and (where.with_suffix(".py").exists() or (where / "__init__.py").exists())
                found.append((sub, "") if is_module else (target, alias.name))
    return found


def _all_imports() -> list[tuple[str, str, str]]:
    rows = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rows += [(_module_name(path), target, name) for target, name in _imports(path)]
    return rows


IMPORTS = _all_imports()


def _top(module: str) -> str:
    return module.split(".")[0]


def _is_within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _violations(check) -> list[str]:
    return sorted(f"{src} imports {target}{'.' + name if name else ''}"
                  for src, target, name in IMPORTS
                  if check(src, target, name) and (src, target, name) not in ALLOWED)


def test_process_modules_import_only_the_standard_library_and_each_other():
    def upward(src, target, _name):
        if not _is_within(src, "domain.processes"):
            return False
        return not (_top(target) in STDLIB or _is_within(target, "domain.processes")
                    or target == "temporalio.exceptions")
    assert _violations(upward) == []


def test_domain_imports_no_other_application_package():
    assert _violations(lambda src, target, _n: _is_within(src, "domain") and _top(target) in PACKAGES
                       and _top(target) != "domain") == []


def test_web_imports_no_activities_and_nothing_of_shiming():
    assert _violations(lambda src, target, _n: _is_within(src, "web")
                       and _top(target) in ("activities", "shiming")) == []


def test_web_takes_only_workflow_classes_from_workflows():
    assert _violations(lambda src, target, name: _is_within(src, "web") and _top(target) == "workflows"
                       and not name.endswith("Workflow")) == []


@pytest.mark.parametrize("package", ["activities", "bank_connectors", "devices"])
def test_outside_facing_packages_import_no_web_shiming_or_workflows(package):
    assert _violations(lambda src, target, _n: _is_within(src, package)
                       and _top(target) in ("web", "shiming", "workflows")) == []


def test_workflows_take_activity_classes_and_process_modules_only():
    def upward(src, target, name):
        if not _is_within(src, "workflows"):
            return False
        if _top(target) == "activities":
            return not name.endswith("Activities")
        if _top(target) == "domain":
            return not _is_within(target, "domain.processes")
        return _top(target) in PACKAGES and _top(target) != "workflows"
    assert _violations(upward) == []


def test_the_rules_see_the_imports():
    """The parser finds what the rules judge: a known downward import and a known allowed one."""
    assert ("workflows.registration", "domain.processes.registration", "RegistrationStatus") in IMPORTS
    assert ("domain.worker_exit", "domain.audit", "") in IMPORTS  # `from . import audit`
    assert all(entry in IMPORTS for entry in ALLOWED), sorted(set(ALLOWED) - set(IMPORTS))
