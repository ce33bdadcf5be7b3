"""compose.yaml scales: `docker compose up --scale bot=3` must not collide on host ports or state.

No container engine runs here, so this reads the file the way compose does and checks what would
break a scaled service: a fixed host port, a container name, a volume every replica writes to.
"""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))


def test_the_bot_service_is_named_bot_and_runs_on_postgres() -> None:
    services = _compose()["services"]
    assert "bot" in services, "README documents `docker compose up --scale bot=3`"
    bot = services["bot"]
    assert bot["environment"]["MARKETBOT_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_three_replicas_get_distinct_loopback_ports() -> None:
    bot = _compose()["services"]["bot"]
    assert "container_name" not in bot, "a fixed container name cannot be scaled"
    for port in bot.get("ports", []):
        host, _, container = str(port).rpartition(":")
        assert container == "8080"
        address, _, host_ports = host.rpartition(":")
        assert address == "127.0.0.1", "metrics and health stay on loopback"
        low, _, high = host_ports.partition("-")
        assert high, f"a single host port ({port}) makes the second replica fail to start"
        assert int(high) - int(low) + 1 >= 3


def test_replicas_share_no_writable_volume() -> None:
    bot = _compose()["services"]["bot"]
    for volume in bot.get("volumes", []):
        _source, _, rest = str(volume).partition(":")
        assert rest.endswith(":ro"), f"{volume}: replicas would share a writable volume"


def test_the_readme_documents_scaling() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docker compose up -d --scale bot=3" in readme
