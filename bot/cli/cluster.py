"""``marketbot status``: the replicas sharing this database, what each holds, the outbox backlog.

Read-only; run it beside the bot (on PostgreSQL, from any host that reaches the database).
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from bot.cli.common import EXIT_USAGE, ConfigOption, fail, load, text_table
from bot.domain.errors import BotError, StoreError


def render(status: dict[str, Any]) -> str:
    """The status as text: replicas, leases, outbox."""
    out: list[str] = []
    replicas = status["replicas"]
    if replicas:
        rows = [
            (
                r["id"],
                "alive" if r["alive"] else "DEAD",
                f"{r['heartbeat_age_s']:.0f}s ago",
                str(r["feeds_claimed"]),
                ",".join(r["roles"]) or "-",
                r["version"],
            )
            for r in replicas
        ]
        out.append(text_table(("REPLICA", "STATE", "HEARTBEAT", "FEEDS POLLING", "ROLES", "VERSION"), rows))
    else:
        out.append("no replica is running (none has sent a heartbeat)")
    leader = status["gateway_leader"]
    out.append(f"Discord gateway: {'held by ' + leader if leader else 'no leader'}")
    leases = [lease for lease in status["leases"] if lease["expires_in_s"] > 0]
    if leases:
        out.append(
            text_table(
                ("LEASE", "HOLDER", "EXPIRES IN"),
                [(lease["name"], lease["holder"], f"{lease['expires_in_s']:.0f}s") for lease in leases],
            )
        )
    outbox = status["outbox"]
    if outbox:
        parts = [
            f"{name} {v['rows']}"
            + (f" (oldest due {v['oldest_due_age_s']:.0f}s ago)" if v["oldest_due_age_s"] else "")
            for name, v in sorted(outbox.items())
        ]
        out.append("outbox: " + ", ".join(parts))
    else:
        out.append("outbox: empty")
    return "\n".join(out)


def register(app: typer.Typer) -> None:
    """Add this area's subcommands to the main app."""

    @app.command()
    def status(
        config: ConfigOption = None,
        json_output: Annotated[bool, typer.Option("--json", help="One JSON object instead of text.")] = False,
    ) -> None:
        """Replicas sharing the database (heartbeats, feeds each is polling), leases, gateway leader, outbox."""
        from bot.app import cluster_status

        env, _cfg = load(config)
        try:
            result = asyncio.run(cluster_status(env))
        except StoreError as exc:
            fail(str(exc), EXIT_USAGE)
        except BotError as exc:
            fail(str(exc))
        typer.echo(json.dumps(result, indent=2) if json_output else render(result))
