"""Pre-market briefings with a controlled clock, the real calendar and quotes from the Yahoo fake.

Days: a normal Wednesday (2026-11-25), Thanksgiving (2026-11-26, NYSE closed), the early close
the day after (2026-11-27, 13:00), a weekend, and the daylight-saving change (2027-03-14/15).
What is asserted is what a channel sees: which messages arrive, their lines and their order.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from bot.delivery.briefing import briefing_key, fold_stories
from bot.domain.models import Alert, QuietHours, TradingSession
from bot.domain.timeutil import ManualClock
from bot.domain.view import ticker_view
from bot.scheduler import Scheduler, trigger_of
from bot.store import SqlStore
from tests.fakes.yahoo import NO_TRADES, YahooFake
from tests.support.factories import story
from tests.support.wait import wait_until
from tests.unit.delivery.market_world import SLACK_A, SLACK_B, World, close_world, config, et, make_world

pytestmark = pytest.mark.filterwarnings(r"ignore:.*inplace keyword:DeprecationWarning")

WED = date(2026, 11, 25)
TUE = date(2026, 11, 24)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(et("2026-11-25 08:30"))


@pytest.fixture
async def fake(clock: ManualClock) -> AsyncIterator[YahooFake]:
    async with YahooFake(clock=clock) as server:
        # Tuesday's closes and Wednesday's pre-market trades: AMZN +3%, MSFT -1%, NVDA untraded
        server.set_day("AMZN", TUE, close=200.0, volume=41_200_000)
        server.set_day("MSFT", TUE, close=400.0, volume=18_000_000)
        server.set_day("NVDA", TUE, close=150.0, volume=250_000_000)
        server.set_day("AMZN", WED, pre=206.0)
        server.set_day("MSFT", WED, pre=396.0)
        server.set_day("NVDA", WED, pre=NO_TRADES)
        yield server


def lines(alert: Alert) -> list[str]:
    return [ticker_view(t).line(with_arrow=False) for t in alert.tickers]


# ---------------------------------------------------------------- a normal day


async def test_normal_day_one_briefing_sorted_by_premarket_move(world: World) -> None:
    sub = await world.subscribe("cloud-china", briefing="premarket")
    await world.subscribe("chips", SLACK_B)  # no briefing asked for here
    await world.add_stories(
        story(
            "Amazon cloud unit signs $5 billion deal", at=et("2026-11-25 07:10"), also=["Bloomberg", "CNBC"]
        ),
        story("Microsoft expands cloud regions in Asia", at=et("2026-11-24 18:05")),
        story("Export control rules tightened for AI chips", at=et("2026-11-25 06:00"), source="FT"),
        story("Amazon cloud unit signs 5 billion dollar deal", at=et("2026-11-25 07:40"), source="WSJ"),
        story("Microsoft cloud outage hits Azure customers", at=et("2026-11-24 15:30")),  # before the close
        story("Semiconductor stocks slip in Asia", at=et("2026-11-25 05:00")),  # the chips watchlist only
    )
    assert await world.briefings.run_due() == 1
    sent = await world.deliver()
    assert [a.kind for a in sent] == ["briefing"]
    brief = sent[0]
    assert brief.channel == SLACK_A
    assert brief.title == "Pre-market briefing: cloud-china, Wed 25 Nov"
    assert brief.key == briefing_key(WED, sub.id)
    assert not brief.late
    # tickers by the size of their pre-market move; the untraded one unchanged; no price last
    assert lines(brief) == [
        "AMZN $206.00 +3.00% pre-market",
        "MSFT $396.00 −1.00% pre-market",
        "NVDA $150.00 0.00% pre-market",
        "ZZZZ price unavailable",
    ]
    assert all(t.quote is None or t.quote.session is TradingSession.PRE for t in brief.tickers)
    note = brief.note.split("\n")
    assert note[0] == "NYSE opens at 09:30 EST."
    assert "No pre-market trades yet (unchanged from the close): NVDA." in note
    assert any(n.startswith("No price for ZZZZ: no such symbol on Yahoo Finance") for n in note)
    assert "Last session volume: AMZN 41.2M, MSFT 18.0M, NVDA 250.0M." in note
    assert note[-1] == "3 matching stories since the close on Tue 24 Nov 16:00 EST."
    # one line per event: the WSJ copy is folded into the first report; the widest-carried first
    assert [(e.title, e.source) for e in brief.entries] == [
        ("Amazon cloud unit signs $5 billion deal", "Reuters +3 more"),
        ("Export control rules tightened for AI chips", "FT"),
        ("Microsoft expands cloud regions in Asia", "Reuters"),
    ]
    assert brief.entries[0].tickers == ("AMZN",)


async def test_sent_once_per_day_however_often_it_runs(world: World, clock: ManualClock) -> None:
    await world.subscribe("cloud-china", briefing="premarket")
    assert await world.briefings.run_due() == 1
    for minutes in (0, 1, 10, 29):
        clock.set(et("2026-11-25 08:30") + timedelta(minutes=minutes))
        assert await world.briefings.run_due() == 0
    await world.deliver()
    assert len(world.sent("briefing")) == 1


async def test_not_yet_and_outside_the_window(world: World, clock: ManualClock) -> None:
    await world.subscribe("cloud-china", briefing="premarket")
    clock.set(et("2026-11-25 08:29"))
    assert await world.briefings.run_due() == 0
    clock.set(et("2026-11-25 09:01"))  # 31 minutes late: outside the 30 min grace window
    assert await world.briefings.run_due() == 0
    await world.deliver()
    assert world.sent() == []


async def test_top_stories_are_capped_and_say_so(world: World) -> None:
    await world.subscribe("cloud-china", briefing="premarket")
    await world.add_stories(
        *(
            story(title, at=et("2026-11-25 06:00") + timedelta(minutes=i))
            for i, title in enumerate(
                [
                    "Cloud spending forecast raised by Gartner",
                    "Microsoft wins Pentagon cloud contract",
                    "Amazon opens cloud region in Mexico",
                    "Oracle cloud revenue beats estimates",
                    "Export control probe widens to software",
                    "Cloud gaming service shuts down",
                    "Sovereign cloud rules agreed in Brussels",
                ]
            )
        )
    )
    await world.briefings.run_due()
    brief = (await world.deliver())[0]
    assert len(brief.entries) == 5
    assert brief.entries[0].title == "Sovereign cloud rules agreed in Brussels"  # newest first on a tie
    assert (
        brief.note.split("\n")[-1] == "Top 5 of 7 matching stories since the close on Tue 24 Nov 16:00 EST."
    )


async def test_no_stories_says_so(world: World) -> None:
    await world.subscribe("cloud-china", briefing="premarket")
    await world.briefings.run_due()
    brief = (await world.deliver())[0]
    assert brief.entries == ()
    assert brief.note.split("\n")[-1] == "No matching stories since the close on Tue 24 Nov 16:00 EST."


async def test_each_subscribed_channel_gets_its_own(world: World) -> None:
    a = await world.subscribe("cloud-china", briefing="premarket")
    b = await world.subscribe("chips", SLACK_B, briefing="premarket")
    assert await world.briefings.run_due() == 2
    await world.deliver()
    assert [x.title for x in world.sent("briefing", SLACK_A)] == [
        "Pre-market briefing: cloud-china, Wed 25 Nov"
    ]
    chips = world.sent("briefing", SLACK_B)
    assert [x.title for x in chips] == ["Pre-market briefing: chips, Wed 25 Nov"]
    assert lines(chips[0]) == ["NVDA $150.00 0.00% pre-market"]
    assert {x.key for x in world.sent("briefing")} == {briefing_key(WED, a.id), briefing_key(WED, b.id)}


# ---------------------------------------------------------------- closed days


async def test_thanksgiving_no_briefing_with_the_reason(world: World, clock: ManualClock) -> None:
    sub = await world.subscribe("cloud-china", briefing="premarket")
    at = et("2026-11-26 08:30")
    clock.set(at)
    assert await world.briefings.run_due() == 0
    plan = await world.briefings.prepare(sub, at)
    assert plan.alert is None
    assert plan.reason == "NYSE is closed on 2026-11-26 (Thanksgiving Day)"
    assert await world.briefings.build(sub, at) is None
    assert world.briefings.stats["skipped_closed"] == 1
    await world.deliver()
    assert world.sent() == []
    assert world.fake.count("/v7/finance/quote") == 0  # no quotes asked for on a holiday


async def test_weekend_no_briefing(world: World, clock: ManualClock) -> None:
    sub = await world.subscribe("cloud-china", briefing="premarket")
    for text, weekday in (("2026-11-28 08:30", "Saturday"), ("2026-11-29 08:30", "Sunday")):
        clock.set(et(text))
        assert await world.briefings.run_due() == 0
        assert (await world.briefings.prepare(sub, et(text))).reason == (
            f"NYSE is closed on {text[:10]} ({weekday})"
        )
    await world.deliver()
    assert world.sent() == []


async def test_after_the_open_no_briefing(world: World) -> None:
    sub = await world.subscribe("cloud-china", briefing="premarket")
    plan = await world.briefings.prepare(sub, et("2026-11-25 09:45"))
    assert plan.alert is None
    assert plan.reason == (
        "NYSE opened at 09:30 EST on 2026-11-25: the pre-market briefing goes out before the open"
    )


async def test_early_close_day_after_the_holiday(world: World, clock: ManualClock, fake: YahooFake) -> None:
    fake.set_day("AMZN", WED, close=210.0)
    fake.set_day("AMZN", date(2026, 11, 27), pre=199.5)  # -5% against Wednesday's close
    await world.subscribe("cloud-china", briefing="premarket")
    await world.add_stories(
        story("Amazon cloud price cuts announced", at=et("2026-11-26 12:00")),  # on the holiday: in
        story("Microsoft cloud guidance raised", at=et("2026-11-25 15:00")),  # before Wednesday's close: out
    )
    clock.set(et("2026-11-27 08:30"))
    assert await world.briefings.run_due() == 1
    brief = (await world.deliver())[0]
    assert brief.title == "Pre-market briefing: cloud-china, Fri 27 Nov"
    assert lines(brief)[0] == "AMZN $199.50 −5.00% pre-market"
    note = brief.note.split("\n")
    assert note[0] == "NYSE opens at 09:30 EST and closes early at 13:00 EST."
    assert note[-1] == (
        "1 matching story since the close on Wed 25 Nov 16:00 EST "
        "(NYSE was closed on Thu 26 Nov for Thanksgiving Day)."
    )
    assert [e.title for e in brief.entries] == ["Amazon cloud price cuts announced"]


async def test_monday_after_the_early_close_counts_from_13_00(world: World, clock: ManualClock) -> None:
    sub = await world.subscribe("cloud-china", briefing="premarket")
    await world.add_stories(
        story("Amazon cloud event recap", at=et("2026-11-27 12:30")),  # before Friday's 13:00 close: out
        story("Microsoft cloud deal over the weekend", at=et("2026-11-29 10:00")),
    )
    plan = await world.briefings.prepare(sub, et("2026-11-30 08:30"))
    assert plan.alert is not None
    assert plan.since == et("2026-11-27 13:00")
    assert plan.alert.note.split("\n")[-1] == "1 matching story since the close on Fri 27 Nov 13:00 EST."
    assert [e.title for e in plan.alert.entries] == ["Microsoft cloud deal over the weekend"]


# ---------------------------------------------------------------- scheduling and daylight saving


def test_cron_trigger_keeps_08_30_new_york_across_the_dst_change(world: World) -> None:
    trigger = trigger_of(world.briefings.jobs()[0])
    fires = []
    current = trigger.get_next_fire_time(None, et("2027-03-11 12:00"))
    for _ in range(5):
        fires.append(current)
        current = trigger.get_next_fire_time(current, current + timedelta(seconds=1))
    assert [f.astimezone(UTC).strftime("%m-%d %H:%M") for f in fires] == [
        "03-12 13:30",  # 08:30 EST
        "03-13 13:30",
        "03-14 12:30",  # daylight saving starts: 08:30 EDT
        "03-15 12:30",
        "03-16 12:30",
    ]


async def test_dst_week_briefs_on_trading_days_at_08_30_local(world: World, clock: ManualClock) -> None:
    await world.subscribe("cloud-china", briefing="premarket")
    trigger = trigger_of(world.briefings.jobs()[0])
    fire = trigger.get_next_fire_time(None, et("2027-03-11 12:00"))
    for _ in range(4):  # Fri 12, Sat 13, Sun 14 (DST starts), Mon 15
        clock.set(fire)
        await world.briefings.run_due()
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    sent = await world.deliver()
    assert [a.title for a in sent] == [
        "Pre-market briefing: cloud-china, Fri 12 Mar",
        "Pre-market briefing: cloud-china, Mon 15 Mar",
    ]
    assert sent[0].note.split("\n")[0] == "NYSE opens at 09:30 EST."
    assert sent[1].note.split("\n")[0] == "NYSE opens at 09:30 EDT."
    assert (
        sent[1].note.split("\n")[-1].startswith("No matching stories since the close on Fri 12 Mar 16:00 EST")
    )
    assert all(t.quote is None or t.quote.session is TradingSession.PRE for t in sent[1].tickers)


async def test_schedule_adds_cron_check_and_catch_up_jobs(world: World) -> None:
    scheduler = Scheduler(tz=world.cfg.tz)
    scheduler.add_all(world.briefings.jobs())
    assert scheduler.names() == {"briefing:premarket", "briefing:check", "briefing:catch-up"}
    premarket = scheduler.get("briefing:premarket")
    assert premarket is not None
    cron = premarket.trigger
    assert str(cron.timezone) == "America/New_York"
    assert {f.name: str(f) for f in cron.fields}["hour"] == "8"
    assert {f.name: str(f) for f in cron.fields}["minute"] == "30"


async def test_catch_up_job_runs_when_the_scheduler_starts(world: World, clock: ManualClock) -> None:
    import asyncio

    await world.subscribe("cloud-china", briefing="premarket")
    clock.set(et("2026-11-25 08:45"))  # the bot starts 15 minutes after the briefing time
    queued = asyncio.Event()
    world.briefings._on_queued = queued.set
    scheduler = Scheduler(tz=world.cfg.tz)
    scheduler.add_all(world.briefings.jobs())
    scheduler.start()
    try:
        await wait_until(queued.is_set, what="the start-up catch-up queueing the briefing")
    finally:
        scheduler.shutdown()
    sent = await world.deliver()
    assert [a.kind for a in sent] == ["briefing"]
    assert sent[0].late
    assert sent[0].note.split("\n")[0] == "Sent 15m late: scheduled for 08:30 EST, sent at 08:45 EST."


def test_a_time_after_the_open_is_warned_about(world: World, caplog: pytest.LogCaptureFixture) -> None:
    from bot.delivery.briefing import BriefingService

    cfg = config(briefing='{time: "10:00"}')
    service = BriefingService(
        world.store, world.catalog, world.quotes, world.calendar, cfg.briefing, world.clock, tz=cfg.tz
    )
    with caplog.at_level(logging.WARNING, logger="bot.delivery.briefing"):
        service.jobs()
    assert "briefing.time 10:00 (America/New_York) is not before NYSE opens (09:30 EST)" in caplog.text


# ---------------------------------------------------------------- quiet hours and mutes


async def test_quiet_hours_hold_the_briefing_until_they_end(world: World, clock: ManualClock) -> None:
    await world.subscribe(
        "cloud-china", briefing="premarket", quiet_hours=QuietHours(time(22, 0), time(9, 0))
    )
    assert await world.briefings.run_due() == 1
    assert await world.deliver() == []  # held, not sent
    assert world.briefings.stats["held"] == 1
    clock.set(et("2026-11-25 08:59"))
    await world.releaser.run_once()
    assert await world.deliver() == []
    clock.set(et("2026-11-25 09:00"))
    await world.releaser.run_once()
    sent = await world.deliver()
    assert [a.kind for a in sent] == ["briefing"]
    assert sent[0].late
    assert sent[0].note.endswith("Held during quiet hours (22:00-09:00).")
    assert lines(sent[0])[0] == "AMZN $206.00 +3.00% pre-market"  # the prices of 08:30, as labelled
    clock.set(et("2026-11-25 09:10"))
    assert await world.briefings.run_due() == 0  # never a second one


async def test_muted_and_stale_briefing_is_dropped_visibly(
    sqlite_store: SqlStore,
    clock: ManualClock,
    fake: YahooFake,
    yf_cache: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    w = await make_world(
        sqlite_store,
        clock,
        fake,
        yf_cache,
        cfg=config(delivery="{held: drop-stale, stale_after: 2h, quote_wait: 1, late_price_wait: 0}"),
    )
    try:
        await w.subscribe(
            "cloud-china", briefing="premarket", mute_until=et("2026-11-25 12:00").astimezone(UTC)
        )
        assert await w.briefings.run_due() == 1
        assert await w.deliver() == []
        clock.set(et("2026-11-25 12:00"))
        with caplog.at_level(logging.WARNING, logger="bot.delivery.digests"):
            await w.releaser.run_once()
        assert await w.deliver() == []
        assert w.releaser.stats["dropped_stale"] == 1
        assert "dropped 1 stale held alerts" in caplog.text
        assert await w.briefings.run_due() == 0
    finally:
        await close_world(w)


# ---------------------------------------------------------------- story folding (pure)


def test_fold_keeps_distinct_events_apart_and_merges_copies() -> None:
    at = datetime(2026, 11, 25, 12, tzinfo=UTC)
    a = story("Fed cuts rates by 25 basis points in surprise move", at=at)
    b = story("Fed cuts rates by 50 basis points in surprise move", at=at + timedelta(minutes=1))
    c = story(
        "UPDATE 2-Fed cuts rates by 25 basis points in surprise move",
        at=at + timedelta(minutes=5),
        source="AP",
    )
    d = story("Totally different headline about oil", at=at, link=a.link)  # same URL: same event
    folded = fold_stories([(a, ("X",)), (b, ()), (c, ("Y",)), (d, ())])
    assert [(s.story.id, s.outlets, s.tickers, s.folded) for s in folded] == [
        (a.id, ["Reuters", "AP"], ["X", "Y"], 2),
        (b.id, ["Reuters"], [], 0),
    ]
