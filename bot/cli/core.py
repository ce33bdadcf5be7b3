"""Core commands: run, check, db upgrade, health, --version."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

import bot
from bot.cli.common import EXIT_FAILURE, EXIT_USAGE, ConfigOption, fail, load
from bot.config import BotConfig, Env
from bot.domain.errors import BotError, ConfigError, StoreError

if TYPE_CHECKING:
    from bot.app.tools import DrainReport, PollReport

T = TypeVar("T")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"marketbot {bot.__version__}")
        raise typer.Exit()


def summary(env: Env, cfg: BotConfig) -> list[str]:
    """What ``marketbot check`` prints about a valid configuration."""
    from bot.app import config_warnings, feed_specs

    specs = feed_specs(cfg)
    lines = [f"config: {env.config_path} is valid", f"timezone: {cfg.timezone}"]
    by_origin: dict[str, int] = {}
    for spec in specs:
        by_origin[spec.origin] = by_origin.get(spec.origin, 0) + 1
    lines.append(
        f"feeds: {len(cfg.feeds)} configured"
        + (f", {by_origin.get('ticker', 0)} per-ticker" if cfg.ticker_feeds else "")
        + (", Yahoo ticker news on" if cfg.yahoo_news.enabled else "")
    )
    for f in cfg.feeds:
        state = "" if f.enabled else " (disabled)"
        lines.append(f"  - {f.name}: {f.url} every {int(f.interval)} s{state}")
    lines.append(f"watchlists: {len(cfg.watchlists)}")
    for w in cfg.watchlists:
        if w.query:
            lines.append(f"  - {w.name}: query {w.query}")
        else:
            parts = []
            if w.tickers:
                parts.append("tickers " + ", ".join(w.tickers))
            if w.keywords:
                parts.append("keywords " + ", ".join(repr(k) if " " in k else k for k in w.keywords))
            if w.exclude:
                parts.append("exclude " + ", ".join(w.exclude))
            lines.append(f"  - {w.name}: {'; '.join(parts)} (match {w.match or 'any'})")
    lines.append(f"subscriptions: {len(cfg.subscriptions)}")
    for s in cfg.subscriptions:
        opts: list[str] = []
        if s.quiet_hours:
            opts.append(f"quiet {s.quiet_hours}")
        if s.max_per_hour:
            opts.append(f"max {s.max_per_hour}/h")
        if s.min_move_pct:
            opts.append(f"min move {s.min_move_pct}%")
        if s.sessions:
            opts.append("sessions " + ", ".join(x.value for x in s.sessions))
        if s.briefing != "none":
            opts.append(f"briefing {s.briefing}")
        lines.append(f"  - {s.watchlist} → {s.channel}" + (f" ({', '.join(opts)})" if opts else ""))
    opened = ", ".join(cfg.chat_feeds.allow_networks) or "public addresses only"
    lines.append(
        f"chat feeds (/feed): up to {cfg.chat_feeds.limit_per_workspace} per workspace, "
        f"polled every {int(cfg.chat_feeds.min_interval)} s or slower; fetched from {opened}"
    )
    chat: list[str] = []
    if env.slack_bot_token:
        mode = (
            "Socket Mode"
            if env.slack_app_token
            else ("HTTP mode" if env.slack_signing_secret else "send-only")
        )
        chat.append(f"Slack ({mode})")
    if env.discord_bot_token:
        chat.append(
            "Discord"
            + (f" (commands synced to {len(env.discord_guild_ids)} guilds)" if env.discord_guild_ids else "")
        )
    lines.append(
        "chat: " + (", ".join(chat) if chat else "console only (no SLACK_BOT_TOKEN or DISCORD_BOT_TOKEN set)")
    )
    platforms = {s.channel_ref.platform for s in cfg.subscriptions}
    for platform, token in (("slack", env.slack_bot_token), ("discord", env.discord_bot_token)):
        if platform in platforms and not token:
            lines.append(
                f"warning: subscriptions to {platform} channels are configured but {platform.upper()}_BOT_TOKEN "
                "is not set; their alerts wait in the outbox"
            )
    lines.extend(f"warning: {w}" for w in config_warnings(cfg))
    return lines


def poll_summary(report: PollReport, drained: DrainReport) -> dict[str, Any]:
    """What ``poll --once --json`` reports on stderr: the poll (every feed, skipped ones with why
    and until when) and the deliveries."""
    out = report.to_dict()
    out["delivery"] = {
        "sent": drained.sent,
        "edited": drained.edited,
        "retried": drained.retried,
        "failed": drained.failed,
        "dropped": drained.dropped,
    }
    return out


def poll_summary_lines(report: PollReport, drained: DrainReport) -> list[str]:
    """What ``poll --once`` prints on stderr: one summary line, then each skipped feed."""
    skipped = report.skipped
    polled = len(report.feeds) - len(skipped)
    lines = [
        f"polled {polled} feeds: {report.count('200')} changed, {report.count('304')} not modified, "
        f"{report.failed} failed; {report.new_items} new items, {len(report.stories)} new stories; "
        f"{drained.sent} alerts sent, {drained.retried} to retry, {drained.failed} failed"
    ]
    if skipped:
        forcible = any(f.skipped and f.skipped.startswith(("backing off", "disabled")) for f in skipped)
        hint = " (--force polls the disabled and backing-off ones anyway)" if forcible else ""
        lines.append(f"skipped {len(skipped)} feeds{hint}:")
        for f in skipped:
            until = ""
            if f.next_poll_at is not None and f.skipped and f.skipped.startswith(("backing off", "not due")):
                until = f"; next poll at {f.next_poll_at.isoformat(timespec='seconds')}"
            lines.append(f"  {f.name}: {f.skipped}{until}")
    return lines


def _run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the bot's event loop; configuration and database problems exit 2, other BotErrors 1.

    Ctrl-C before the bot installed its own signal handlers exits quietly (status 130).
    """
    try:
        return asyncio.run(main())
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except (StoreError, ConfigError) as exc:
        fail(str(exc), EXIT_USAGE)
    except BotError as exc:
        fail(str(exc), EXIT_FAILURE)


def register(app: typer.Typer) -> None:
    """Add the core subcommands."""

    @app.callback()
    def _root(
        version: Annotated[
            bool,
            typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
        ] = False,
    ) -> None:
        """Market-news alerts for Slack and Discord."""

    @app.command()
    def run(
        config: ConfigOption = None,
        json_output: Annotated[
            bool, typer.Option("--json", help="Console alerts as one JSON object per line on stdout.")
        ] = False,
    ) -> None:
        """Run the bot until Ctrl-C: poll feeds, match, alert, answer commands."""
        from bot.app import run_bot

        env, cfg = load(config)
        _run(lambda: run_bot(env, cfg, console_json=json_output))

    @app.command()
    def poll(
        once: Annotated[bool, typer.Option("--once", help="Run one full cycle and exit.")] = False,
        json_output: Annotated[
            bool,
            typer.Option(
                "--json",
                help="Console deliveries as one JSON object per line on stdout; the summary as JSON on stderr.",
            ),
        ] = False,
        force: Annotated[
            bool,
            typer.Option("--force", help="With --once: also poll feeds that back off or are disabled."),
        ] = False,
        config: ConfigOption = None,
    ) -> None:
        """Fetch the feeds, match, store, queue and deliver (``--once``: one cycle, then exit).

        Like the running bot, ``--once`` leaves alone the feeds that are disabled or backing off
        (a server's Retry-After included) and says until when; ``--force`` polls them anyway.
        Without ``--once`` it keeps polling like ``marketbot run``.
        """
        from bot.app import poll_once, run_bot, secrets_of
        from bot.app.tools import setup_logging

        env, cfg = load(config)
        if not once:
            if force:
                fail("--force only applies to --once", EXIT_USAGE)
            _run(lambda: run_bot(env, cfg, console_json=json_output))
            return
        setup_logging(fmt=env.log_format, level=env.log_level, secrets=secrets_of(env))
        result = _run(lambda: poll_once(env, cfg, console_json=json_output, force=force))
        report, drained = result.poll, result.drain
        polled = len(report.feeds) - len(report.skipped)
        paused = {p.platform: p.reason for p in result.paused.values()}
        if json_output:
            typer.echo(json.dumps({"summary": {**poll_summary(report, drained), "paused": paused}}), err=True)
        else:
            for line in poll_summary_lines(report, drained):
                typer.echo(line, err=True)
            for platform, reason in paused.items():
                typer.echo(f"{platform} delivery is paused (its alerts stay queued): {reason}", err=True)
        if polled and report.failed == polled:
            fail(f"every feed failed ({report.failed}); see `marketbot feeds` for the reasons")
        if result.paused:
            fail(f"delivery to {', '.join(sorted(result.paused))} is paused; fix the token and run again")

    @app.command()
    def check(config: ConfigOption = None) -> None:
        """Validate the config and the database URL, and print a summary. Writes nothing."""
        from bot.app.tools import db_probe

        env, cfg = load(config)
        try:
            db = asyncio.run(db_probe(env))
        except StoreError as exc:
            fail(str(exc), EXIT_USAGE)
        for line in summary(env, cfg):
            typer.echo(line)
        typer.echo(f"database: {db}")

    db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
    app.add_typer(db_app, name="db")

    @db_app.command("upgrade")
    def db_upgrade(config: ConfigOption = None) -> None:
        """Apply database migrations (also done automatically at start-up)."""
        from bot.app.tools import db_upgrade, redact

        env, _cfg = load(config)
        try:
            before, after = asyncio.run(db_upgrade(env))
        except StoreError as exc:
            fail(str(exc), EXIT_USAGE)
        url = redact(env.database_url)
        if before == after:
            typer.echo(f"{url}: already at {after}")
        else:
            typer.echo(f"{url}: upgraded {before or 'empty'} → {after}")

    @app.command()
    def health(
        url: Annotated[str, typer.Option(help="Health endpoint of a running bot.")] = "",
        config: ConfigOption = None,
    ) -> None:
        """Ask a running bot for its health (exit 0 when healthy); used by the Docker HEALTHCHECK."""
        if not url:
            env, cfg = load(config)
            host = env.web_host or cfg.web.host
            host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
            url = f"http://{host}:{env.web_port or cfg.web.port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=4) as resp:
                body = json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raw = exc.read()[:20_000]
            try:
                report = json.loads(raw)
            except ValueError:
                report = None
            if not isinstance(report, dict):
                fail(f"{url}: unhealthy ({exc.code}): {raw[:500].decode('utf-8', 'replace')}")
            typer.echo(json.dumps(report))
            problems = [str(p) for p in report.get("problems") or []]
            database = (report.get("checks") or {}).get("database")
            if isinstance(database, str) and database != "ok":
                problems.insert(0, f"database {database}")
            fail(
                f"{url}: {report.get('status', 'unhealthy')}"
                + "".join(f"\n  - {p}" for p in problems or ["no details"])
            )
        except (urllib.error.URLError, OSError, ValueError) as exc:
            fail(f"{url}: no answer ({exc}); is `marketbot run` running with the web server enabled?")
        typer.echo(json.dumps(body))
