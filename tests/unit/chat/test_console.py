"""The console adapter: readable alerts, the documented JSON shape, no terminal injection."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial

from bot.chat.console import ConsoleChat
from bot.domain.models import ChannelRef, Reply, ReplyItem, TickerLine
from tests.support.factories import news_alert, quote

CONSOLE = ChannelRef("console", "console")
T = datetime(2026, 11, 25, 13, 0, tzinfo=UTC)


alert = partial(
    news_alert,
    channel=CONSOLE,
    key="story:1:sub:1",
    title="Amazon, Microsoft fall on cloud curbs",
    link="https://news.example/a",
    published_at=T,
    summary="The US plans to restrict cloud services for Chinese AI developers.",
    tickers=(
        TickerLine("AMZN", quote("AMZN", 181.2, -0.8156, previous_close=182.69, change=-1.49, as_of=T)),
        TickerLine("MSFT", None),
    ),
    story_id=None,
)


async def test_json_mode_prints_the_documented_object_per_alert() -> None:
    out = io.StringIO()
    chat = ConsoleChat(json_mode=True, stream=out)
    await chat.send(alert(), target=CONSOLE)
    (line,) = out.getvalue().splitlines()
    obj = json.loads(line)
    assert set(obj) >= {
        "channel",
        "watchlist",
        "title",
        "link",
        "source",
        "published",
        "summary",
        "terms",
        "tickers",
    }
    assert obj["published"] == "2026-11-25T13:00:00+00:00"
    assert obj["tickers"] == [
        {"symbol": "AMZN", "price": 181.2, "change_pct": -0.8156, "session": "pre-market"},
        {"symbol": "MSFT", "price": None, "change_pct": None, "session": None},
    ]


async def test_human_mode_is_readable_and_escapes_nothing_into_the_terminal() -> None:
    out = io.StringIO()
    chat = ConsoleChat(stream=out, color=False)
    hostile = "Stocks \x1b[2J\x1b[31mcrash[/] [bold]now[/bold]\u202e"
    ref = await chat.send(alert(title=hostile), target=CONSOLE)
    text = out.getvalue()
    assert "\x1b" not in text and "\u202e" not in text
    assert "[bold]now[/bold]" in text  # rich markup from a feed is printed, not interpreted
    assert "AMZN $181.20 ▼ −0.82% pre-market" in text
    assert "MSFT price unavailable" in text
    assert "Reuters" in text and "matched: cloud" in text
    await chat.edit(ref, alert())
    assert f"(updated #{ref.id})" in out.getvalue()
    await chat.send(
        Reply(title="Watchlists", items=(ReplyItem("cloud-china", detail="AMZN, MSFT"),)), target=CONSOLE
    )
    assert "• cloud-china" in out.getvalue()


async def test_a_story_for_several_watchlists_names_each() -> None:
    out = io.StringIO()
    chat = ConsoleChat(json_mode=True, stream=out)
    several = replace(alert(), watchlists=("cloud-china", "chips"))
    await chat.send(several, target=CONSOLE)
    await chat.send(alert(), target=CONSOLE)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert (first["watchlist"], first["watchlists"]) == ("cloud-china", ["cloud-china", "chips"])
    assert second["watchlists"] == ["cloud-china"]
    human = io.StringIO()
    await ConsoleChat(stream=human, color=False).send(several, target=CONSOLE)
    assert "cloud-china, chips → console" in human.getvalue()
