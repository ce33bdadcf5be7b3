"""Briefings are sent once across restarts and processes, on a SQLite file and on PostgreSQL.

Each "process" opens its own store on the same database (a restart is closing one and opening
the next); the last test runs two real OS processes that race for the same briefing.
Time is a ManualClock shared with the Yahoo fake; the briefing is due at 08:30 New York
with a 30-minute grace window.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import date
from pathlib import Path

import pytest

from bot.delivery.briefing import briefing_key
from bot.domain.models import Alert, SubscriptionOptions
from bot.domain.records import SubscriptionSpec
from bot.domain.timeutil import ManualClock
from bot.store import open_store
from tests.fakes.yahoo_server import YahooFake
from tests.unit.delivery.market_world import SLACK_A, WATCHLISTS, close_world, et, make_world

pytestmark = pytest.mark.filterwarnings(r"ignore:.*inplace keyword:DeprecationWarning")

WED = date(2026, 11, 25)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(et("2026-11-25 08:30"))


@pytest.fixture
async def fake(clock: ManualClock) -> AsyncIterator[YahooFake]:
    async with YahooFake(clock=clock) as server:
        server.set_day("AMZN", date(2026, 11, 24), close=200.0)
        server.set_day("AMZN", WED, pre=206.0)
        yield server


class Process:
    """One bot process's briefing side: its own store connection, services, chat and dispatcher."""

    def __init__(self, url: str, clock: ManualClock, fake: YahooFake, cache: Path) -> None:
        self.url, self.clock, self.fake, self.cache = url, clock, fake, cache

    async def start(self, *, catch_up: bool = True) -> tuple[int, list[Alert], dict[str, int]]:
        """Start (running the start-up catch-up), deliver what is due, stop: what the channel got."""
        async with open_store(self.url) as store:
            world = await make_world(store, self.clock, self.fake, self.cache)
            try:
                queued = await world.briefings.catch_up() if catch_up else await world.briefings.run_due()
                sent = await world.deliver()
                return queued, sent, dict(world.briefings.stats)
            finally:
                await close_world(world)


async def subscribe(url: str) -> int:
    async with open_store(url) as store:
        sub = await store.add_subscription(
            SubscriptionSpec("cloud-china", SLACK_A, SubscriptionOptions(briefing="premarket"))
        )
        return sub.id


async def outbox_rows(url: str, key: str) -> int:
    async with open_store(url) as store:
        held = await store.held_entries()
        stats = await store.channel_stats()
        sent = await store.sent_ref(key)
    return (1 if sent else 0) + sum(1 for e in held if e.key == key) + sum(s.queued for s in stats.values())


async def test_sent_at_08_30_and_not_again_after_a_restart(
    database_url: str, clock: ManualClock, fake: YahooFake, yf_cache: Path
) -> None:
    sub_id = await subscribe(database_url)
    bot = Process(database_url, clock, fake, yf_cache)
    queued, sent, _ = await bot.start(catch_up=False)  # the cron job at 08:30
    assert queued == 1
    assert [(a.kind, a.late) for a in sent] == [("briefing", False)]
    clock.set(et("2026-11-25 08:40"))  # restarted ten minutes later
    queued, sent, _ = await bot.start()
    assert (queued, sent) == (0, [])
    assert await outbox_rows(database_url, briefing_key(WED, sub_id)) == 1


async def test_missed_by_a_restart_inside_the_grace_window_is_sent_once(
    database_url: str, clock: ManualClock, fake: YahooFake, yf_cache: Path
) -> None:
    await subscribe(database_url)
    bot = Process(database_url, clock, fake, yf_cache)
    clock.set(et("2026-11-25 08:50"))  # down at 08:30, back at 08:50
    queued, sent, stats = await bot.start()
    assert queued == 1
    assert [a.kind for a in sent] == ["briefing"]
    assert sent[0].late
    assert sent[0].note.startswith("Sent 20m late: scheduled for 08:30 EST, sent at 08:50 EST.")
    assert sent[0].tickers[0].quote is not None and sent[0].tickers[0].quote.session is not None
    assert sent[0].tickers[0].quote.session.value == "pre-market"
    assert stats["late"] == 1
    for text in ("2026-11-25 08:55", "2026-11-25 08:59"):
        clock.set(et(text))
        assert (await bot.start())[:2] == (0, [])


async def test_missed_outside_the_grace_window_is_never_sent_and_says_so(
    database_url: str,
    clock: ManualClock,
    fake: YahooFake,
    yf_cache: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await subscribe(database_url)
    bot = Process(database_url, clock, fake, yf_cache)
    clock.set(et("2026-11-25 09:05"))  # 35 minutes late, still before the open
    with caplog.at_level(logging.WARNING, logger="bot.delivery.briefing"):
        queued, sent, stats = await bot.start()
    assert (queued, sent) == (0, [])
    assert stats["missed"] == 1
    assert (
        "the pre-market briefing for slack:C0AAAAAAAA (cloud-china) on 2026-11-25 was not sent: it was due "
        "at 08:30 EST and it is now 09:05 EST, past the 30m grace window (briefing.grace)"
    ) in caplog.text
    clock.set(et("2026-11-25 09:20"))
    assert (await bot.start())[:2] == (0, [])
    assert fake.count("/v7/finance/quote") == 0  # it was not even built


async def test_a_start_before_the_briefing_time_reports_nothing_missed(
    database_url: str,
    clock: ManualClock,
    fake: YahooFake,
    yf_cache: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await subscribe(database_url)
    clock.set(et("2026-11-25 08:29"))  # yesterday's window is long gone: not news
    with caplog.at_level(logging.WARNING, logger="bot.delivery.briefing"):
        queued, sent, stats = await Process(database_url, clock, fake, yf_cache).start()
    assert (queued, sent, stats.get("missed", 0)) == (0, [], 0)
    assert "was not sent" not in caplog.text


async def test_a_holiday_restart_reports_nothing_missed(
    database_url: str, clock: ManualClock, fake: YahooFake, yf_cache: Path
) -> None:
    await subscribe(database_url)
    clock.set(et("2026-11-26 09:05"))
    queued, sent, stats = await Process(database_url, clock, fake, yf_cache).start()
    assert (queued, sent, stats.get("missed", 0)) == (0, [], 0)


async def test_two_processes_at_the_same_moment_queue_it_once(
    database_url: str, clock: ManualClock, fake: YahooFake, yf_cache: Path
) -> None:
    sub_id = await subscribe(database_url)
    async with AsyncExitStack() as stack:
        worlds = []
        for _ in range(2):  # opened one after the other (migrations), then racing
            store = await stack.enter_async_context(open_store(database_url))
            world = await make_world(store, clock, fake, yf_cache)
            stack.push_async_callback(close_world, world)
            worlds.append(world)
        queued = await asyncio.gather(*(w.briefings.run_due() for w in worlds))
        sent = [a for w in worlds for a in await w.deliver()]
    assert sorted(queued) == [0, 1]
    assert [a.kind for a in sent] == ["briefing"]
    assert await outbox_rows(database_url, briefing_key(WED, sub_id)) == 1


WORKER = r"""
import asyncio, sys
from datetime import datetime
from pathlib import Path
from bot.catalog import Catalog
from bot.config import parse_config
from bot.delivery.briefing import BriefingService
from bot.domain.timeutil import ManualClock
from bot.market.quotes import YahooQuoteSource
from bot.market.sessions import ExchangeCalendar
from bot.market.symbols import load_directory
from bot.store import open_store

async def main(url, yahoo, at, cache):
    cfg = parse_config(sys.stdin.readline().replace("\\n", "\n"))
    clock = ManualClock(datetime.fromisoformat(at))
    calendar = ExchangeCalendar(cfg.market.exchange)
    async with open_store(url) as store:
        catalog = Catalog(store=store, config_watchlists=cfg.domain_watchlists(), directory=load_directory())
        await catalog.reload()
        async with YahooQuoteSource(cfg.market, calendar, yahoo_url=yahoo, clock=clock, cache_dir=Path(cache)) as q:
            service = BriefingService(store, catalog, q, calendar, cfg.briefing, clock, tz=cfg.tz)
            print("ready", flush=True)
            sys.stdin.readline()  # the go signal: both processes start their catch-up together
            print(await service.catch_up(), flush=True)

asyncio.run(main(*sys.argv[1:]))
"""


async def test_two_os_processes_racing_queue_it_once(
    database_url: str, clock: ManualClock, fake: YahooFake, tmp_path: Path
) -> None:
    sub_id = await subscribe(database_url)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = []
    for n in range(2):
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WORKER,
            database_url,
            fake.url,
            et("2026-11-25 08:31").isoformat(),
            str(tmp_path / f"cache{n}"),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=str(tmp_path),
            env=env,
        )
        assert proc.stdin is not None
        cfg_text = (WATCHLISTS + "briefing: {time: '08:30', grace: 30m}\n").replace("\n", "\\n")
        proc.stdin.write(cfg_text.encode() + b"\n")
        await proc.stdin.drain()
        procs.append(proc)
    try:
        for proc in procs:
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), timeout=120)
            if line.strip() != b"ready":
                assert proc.stderr is not None
                pytest.fail(f"worker did not start: {line!r} {(await proc.stderr.read()).decode()[-2000:]}")
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
        outputs = [await asyncio.wait_for(proc.communicate(), timeout=120) for proc in procs]
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert [p.returncode for p in procs] == [0, 0], [o[1].decode()[-2000:] for o in outputs]
    assert sorted(o[0].decode().strip() for o in outputs) == ["0", "1"]
    assert await outbox_rows(database_url, briefing_key(WED, sub_id)) == 1
