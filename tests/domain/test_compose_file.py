"""docker-compose.temporal.yml: the production-like Temporal cluster (Temporal on MySQL 8 + UI)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import yaml  # noqa: E402 - pyyaml is in the test extras

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.temporal.yml"
INTERPOLATION = re.compile(r"^\$\{(?P<name>[A-Z0-9_]+):\?[^}]+\}$")  # required variable, no default


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def published(service: dict) -> dict[str, str]:
    """Container port -> the published host part ("[ip:]port")."""
    result = {}
    for spec in service.get("ports", []):
        host, _, container = str(spec).rpartition(":")
        result[container] = host
    return result


def test_file_defines_exactly_the_three_services(compose):
    assert set(compose["services"]) == {"mysql", "temporal", "temporal-ui"}


@pytest.mark.parametrize(
    "service, image",
    [("mysql", "mysql:8"), ("temporal", "temporalio/auto-setup:"), ("temporal-ui", "temporalio/ui:")],
)
def test_images_are_the_expected_ones_and_pinned(compose, service, image):
    ref = compose["services"][service]["image"]
    assert ref.startswith(image)
    tag = ref.rsplit(":", 1)[1]
    assert tag != "latest" and re.match(r"^\d+(\.\d+)*$", tag), ref


def test_mysql_keeps_its_data_in_a_named_volume(compose):
    mysql = compose["services"]["mysql"]
    volume_names = set(compose["volumes"])
    mounts = [str(v).split(":") for v in mysql["volumes"]]
    assert [m for m in mounts if m[0] in volume_names and m[1] == "/var/lib/mysql"]


def test_mysql_has_a_healthcheck_and_no_public_port(compose):
    mysql = compose["services"]["mysql"]
    check = mysql["healthcheck"]
    assert check["test"][0] in ("CMD", "CMD-SHELL") and "mysqladmin ping" in " ".join(check["test"][1:])
    assert check["retries"] > 0
    assert "ports" not in mysql


def test_temporal_persists_to_mysql8(compose):
    env = environment(compose["services"]["temporal"])
    assert env["DB"] == "mysql8"
    assert env["MYSQL_SEEDS"] == "mysql"
    assert env["DB_PORT"] == "3306"
    assert env["MYSQL_USER"] == "root"
    assert env["DBNAME"] != env["VISIBILITY_DBNAME"]


def test_database_password_is_required_and_shared_never_written_down(compose):
    mysql_pw = environment(compose["services"]["mysql"])["MYSQL_ROOT_PASSWORD"]
    temporal_pw = environment(compose["services"]["temporal"])["MYSQL_PWD"]
    assert INTERPOLATION.match(mysql_pw) and INTERPOLATION.match(temporal_pw)
    assert INTERPOLATION.match(mysql_pw)["name"] == INTERPOLATION.match(temporal_pw)["name"]


def test_temporal_waits_for_a_healthy_mysql_and_serves_7233(compose):
    temporal = compose["services"]["temporal"]
    assert temporal["depends_on"]["mysql"]["condition"] == "service_healthy"
    assert published(temporal)["7233"].endswith("7233")
    assert "healthcheck" in temporal


def test_ui_talks_to_temporal_and_serves_8080(compose):
    ui = compose["services"]["temporal-ui"]
    assert environment(ui)["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert published(ui)["8080"].endswith("8080")
    assert ui["depends_on"]["temporal"]["condition"] == "service_healthy"


# Keys of the Compose Specification (compose-spec/compose-spec, schema/compose-spec.json) that this
# file may use; a misspelt key (`depends-on`, `start-period`) fails here rather than at deploy time.
TOP_LEVEL_KEYS = {"name", "services", "volumes", "networks", "secrets", "configs"}
SERVICE_KEYS = {"image", "restart", "environment", "command", "volumes", "healthcheck", "depends_on", "ports",
                "networks", "container_name", "hostname", "labels", "logging", "secrets", "configs"}
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "start_interval", "disable"}


def test_only_compose_specification_keys_are_used(compose):
    assert set(compose) <= TOP_LEVEL_KEYS
    for name, service in compose["services"].items():
        assert set(service) <= SERVICE_KEYS, name
        assert set(service.get("healthcheck", {})) <= HEALTHCHECK_KEYS, name
        env = service.get("environment", {})
        assert all(isinstance(v, (str, int, float, bool, type(None))) for v in env.values()), name


def test_depends_on_refers_to_defined_services(compose):
    for service in compose["services"].values():
        assert set(service.get("depends_on", {})) <= set(compose["services"])

# `docker compose config` would check the file too, but this machine class has no compose plugin
# and no engine; the structural checks above stand in for it.
