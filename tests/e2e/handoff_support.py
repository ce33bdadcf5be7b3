"""Helpers for the crash and shutdown tests: a scene of loopback fakes, ``marketbot`` children
whose output is collected line by line, and waits on conditions (log lines, database rows,
requests a fake received) with generous deadlines — never on a fixed sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.store.db import upgrade
from tests.fakes.feed_host import FeedHost, entry, rss
from tests.fakes.slack import FakeSlack, Message
from tests.fakes.yahoo import YahooFake
from tests.support.wait import wait_until

DEADLINE = 90.0  # processes start, poll and restart: a hang guard
ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 25, 13, 10, tzinfo=UTC)  # a Wednesday, 08:10 in New York: pre-market
LATER = NOW + timedelta(minutes=3)  # the restart: every retry is due, every lease has expired
CHANNEL = "C0ALERTS01"
TITLE = "Amazon and Microsoft fall as US weighs cloud curbs for Chinese AI developers"
LINK = "https://wire.example/cloud-curbs"


class Frozen:
    """The Yahoo fake's clock: the bot's MARKETBOT_NOW."""

    def now(self) -> datetime:
        return NOW


class Child:
    """``python -m bot ARGS`` in a subprocess; stdout and stderr collected line by line."""

    def __init__(self, env: dict[str, str], cwd: Path, *args: str) -> None:
        self.env, self.cwd, self.args = env, cwd, args
        self.lines: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []

    async def start(self) -> Child:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            *self.args,
            env=self.env,
            cwd=self.cwd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [asyncio.create_task(self._read(s)) for s in (self.proc.stdout, self.proc.stderr)]
        return self

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            self.lines.append(line.decode("utf-8", "replace").rstrip())

    @property
    def output(self) -> str:
        return "\n".join(self.lines[-200:])

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def logged(self, pattern: str) -> bool:
        regex = re.compile(pattern)
        return any(regex.search(line) for line in self.lines)

    async def wait_log(self, pattern: str, *, timeout: float = DEADLINE) -> None:
        def seen() -> bool:
            if self.logged(pattern):
                return True
            if not self.running:
                raise AssertionError(f"marketbot exited before logging {pattern!r}:\n{self.output}")
            return False

        await wait_until(seen, what=f"a log line matching {pattern!r}", timeout=timeout)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(sig)

    async def wait(self, *, timeout: float = DEADLINE) -> int:
        assert self.proc is not None
        try:
            async with asyncio.timeout(timeout):
                code = await self.proc.wait()
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
            raise AssertionError(
                f"marketbot {' '.join(self.args)} did not exit in {timeout:g}s:\n{self.output}"
            ) from None
        await asyncio.gather(*self._readers, return_exceptions=True)
        return code

    async def kill(self) -> None:
        """SIGKILL: no handler, no clean-up, no flush — what an OOM kill or a power cut does."""
        self.signal(signal.SIGKILL)
        await self.wait()


@dataclass
class Scene:
    """A scratch directory, a database, and the feed host, Slack and Yahoo on loopback."""

    tmp: Path
    db: str
    host: FeedHost
    slack: FakeSlack
    yahoo: YahooFake
    mpl: Path
    bot_db: str | None = None  # the URL the bot uses, when not ``db`` (e.g. through a proxy)
    engine: AsyncEngine = field(init=False)

    def __post_init__(self) -> None:
        self.engine = create_async_engine(self.db)
        self.slack.add_channel(CHANNEL, "markets")
        # AMZN closed at 182.69 and trades at 178.00 pre-market: a 2.6 % move
        self.yahoo.set_day("AMZN", date(2026, 11, 24), close=182.69)
        self.yahoo.set_day("AMZN", date(2026, 11, 25), pre=178.00)

    def feed(self, path: str, *, title: str = TITLE, link: str = LINK) -> str:
        story = entry(title, link, guid=f"{path}:1", published=NOW - timedelta(minutes=5))
        return self.host.serve(path, rss([story], title=f"Feed {path}"), etag='"1"')

    def configure(
        self,
        feeds: list[tuple[str, str]],
        *,
        quote_wait: float = 30,
        min_move_pct: float | None = None,
        backfill: int = 1,
    ) -> None:
        subscription: dict[str, Any] = {"watchlist": "cloud-china", "channel": f"slack:{CHANNEL}"}
        if min_move_pct is not None:
            subscription["min_move_pct"] = min_move_pct
        config = {
            "timezone": "America/New_York",
            "feeds": [
                {"name": name, "url": url, "interval": 60, "backfill": backfill} for name, url in feeds
            ],
            "watchlists": [{"name": "cloud-china", "tickers": ["AMZN", "MSFT"], "keywords": ["cloud"]}],
            "subscriptions": [subscription],
            "market": {"quote_timeout": 30},
            "delivery": {"quote_wait": quote_wait, "late_price_wait": 60, "lease": 5},
            "web": {"enabled": False},
        }
        (self.tmp / "bot.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    def env(self, now: datetime = NOW) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SLACK_", "DISCORD_", "MARKETBOT_")) and k != "PYTHONSTARTUP"
        }
        env.update(
            PYTHONPATH=str(ROOT),
            MARKETBOT_DATABASE_URL=self.bot_db or self.db,
            MARKETBOT_CONFIG=str(self.tmp / "bot.yaml"),
            MARKETBOT_NOW=now.isoformat(),
            MARKETBOT_YAHOO_URL=self.yahoo.url,
            MARKETBOT_WEB_PORT="0",
            SLACK_BOT_TOKEN=self.slack.bot_token,
            SLACK_APP_TOKEN=self.slack.app_token,
            SLACK_API_URL=self.slack.api_url,
            MPLCONFIGDIR=str(self.mpl),
            XDG_CACHE_HOME=str(self.tmp / "cache"),
        )
        return env

    async def poll_once(self, now: datetime = NOW) -> Child:
        return await Child(self.env(now), self.tmp, "poll", "--once").start()

    async def count(self, sql: str) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(sa.text(sql))).scalar_one())

    def alerts(self) -> list[Message]:
        return [m for m in self.slack.messages(CHANNEL) if m.via == "api" and m.thread_ts is None]

    def replies(self) -> list[Message]:
        return [m for m in self.slack.messages(CHANNEL) if m.via == "api" and m.thread_ts is not None]

    async def assert_nothing_pending(self) -> None:
        """Every hand-off finished and every outbox row sent: nothing more can ever arrive."""
        assert await self.count("SELECT count(*) FROM handoffs") == 0
        assert await self.count("SELECT count(*) FROM outbox WHERE status <> 'sent'") == 0

    async def aclose(self) -> None:
        await self.engine.dispose()


@contextlib.asynccontextmanager
async def scene(tmp: Path, db: str, mpl: Path, *, bot_db: str | None = None) -> Any:
    async with FeedHost() as host, FakeSlack() as slack, YahooFake(clock=Frozen()) as yahoo:
        s = Scene(tmp, db, host, slack, yahoo, mpl, bot_db)
        await upgrade(s.engine)  # the test reads the tables before the first bot has started
        try:
            yield s
        finally:
            yahoo.clear_failures()
            await s.aclose()
