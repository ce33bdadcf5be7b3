"""/quote and /news, autocomplete, help, and how the service answers failures."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from bot.app import command_options
from bot.catalog import Catalog
from bot.chat.memory import MemoryChat
from bot.commands import CommandService
from bot.config import BotConfig
from bot.domain.errors import StoreError
from bot.domain.models import ChannelRef, Story, Subscription
from bot.domain.rules import SymbolDirectory
from bot.domain.timeutil import ManualClock
from bot.market.memory import blank_png
from bot.store import SqlStore

from .conftest import Chat, MemoryCharts, MemoryQuotes, Newsroom, discord_ctx, rendered, slack_ctx

# ---------------------------------------------------------------- /quote


async def test_quote_one_ticker(chat: Chat, news: Newsroom, quotes: MemoryQuotes) -> None:
    await news.publish("Amazon opens a new region", tickers=["AMZN"], age=timedelta(hours=5))
    await news.publish("Amazon wins cloud deal", tickers=["AMZN"], source="Bloomberg", age=timedelta(hours=2))
    await news.publish("Amazon cuts prices", tickers=["AMZN"], age=timedelta(minutes=12))
    await news.publish("Microsoft earnings", tickers=["MSFT"])
    reply = await chat("/quote amzn")
    assert not reply.private and not reply.error
    assert reply in chat.channel_sees()
    assert quotes.calls == [("AMZN",)]
    assert rendered(reply) == "\n".join(
        [
            "Quote: AMZN",
            "AMZN $181.20 −0.82% pre-market",
            "Amazon cuts prices",
            "https://news.example.com/3",
            "AMZN · Reuters · 12 min ago",
            "Amazon wins cloud deal",
            "https://news.example.com/2",
            "AMZN · Bloomberg · 2 h ago",
            "[AMZN.png]",
        ]
    )
    assert reply.attachments[0].data == blank_png()
    assert reply.attachments[0].content_type == "image/png"


async def test_quote_several_tickers_has_no_chart(chat: Chat, news: Newsroom, charts: MemoryCharts) -> None:
    await news.publish("Microsoft earnings beat", tickers=["MSFT"])
    reply = await chat("/quote AMZN, MSFT")
    assert [q.symbol for q in reply.quotes] == ["AMZN", "MSFT"]
    assert [(i.text, i.detail) for i in reply.items] == [
        ("Microsoft earnings beat", "MSFT · Reuters · 12 min ago")
    ]
    assert reply.attachments == ()
    assert charts.calls == []


async def test_quote_unknown_symbol_suggests(chat: Chat) -> None:
    reply = await chat("/quote NVDIA")
    assert not reply.error
    assert reply.quotes[0].price is None
    assert "NVDIA price unavailable" in rendered(reply)
    assert reply.text.startswith("No price for NVDIA. Did you mean NVDA")


async def test_quote_service_down_still_answers(chat: Chat, news: Newsroom, quotes: MemoryQuotes) -> None:
    await news.publish("Amazon wins cloud deal", tickers=["AMZN"])
    quotes.down()
    reply = await chat("/quote AMZN MSFT")
    assert not reply.error
    assert (
        reply.text
        == "Prices are not available right now (the quote service did not answer); headlines below."
    )
    assert [quote.price for quote in reply.quotes] == [None, None]
    assert reply.items[0].text == "Amazon wins cloud deal"


async def test_chart_failure_never_fails_the_reply(chat: Chat, charts: MemoryCharts) -> None:
    charts.down()
    reply = await chat("/quote AMZN")
    assert not reply.error and reply.attachments == ()
    assert reply.quotes[0].price == 181.20
    assert reply.text == "The chart is not available right now."


def hanging_quotes(clock: ManualClock) -> MemoryQuotes:
    """A quote service whose network blackholes: it never answers."""
    quotes = MemoryQuotes(clock)
    quotes.gate = asyncio.Event()
    return quotes


class HangingCharts:
    async def chart(self, symbol: str) -> bytes:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_hanging_sources_are_cut_off(
    sqlite_store: SqlStore,
    catalog: Catalog,
    directory: SymbolDirectory,
    config: BotConfig,
    clock: ManualClock,
) -> None:
    cfg = config.model_copy(update={"market": config.market.model_copy(update={"quote_timeout": 0.05})})
    service = CommandService(
        sqlite_store, catalog, hanging_quotes(clock), HangingCharts(), directory, command_options(cfg), clock
    )
    service.market.chart_timeout = 0.1  # the default (8 s or more) is for real renderers
    reply = await service.handle(slack_ctx(), "quote", "AMZN")
    assert not reply.error
    assert (
        reply.text
        == "Prices are not available right now (the quote service did not answer); headlines below."
    )
    assert reply.attachments == ()


async def test_quote_without_a_chart_source(
    sqlite_store: SqlStore,
    catalog: Catalog,
    quotes: MemoryQuotes,
    directory: SymbolDirectory,
    config: BotConfig,
    clock: ManualClock,
) -> None:
    service = CommandService(sqlite_store, catalog, quotes, None, directory, command_options(config), clock)
    reply = await service.handle(discord_ctx(), "quote", "AMZN")
    assert reply.attachments == () and reply.text == ""


async def test_quote_usage_errors(chat: Chat) -> None:
    reply = await chat("/quote")
    assert reply.error and reply.private
    assert reply.text == "/quote AMZN [MSFT ...] needs at least one ticker, e.g. /quote NVDA."
    assert {f.label: f.value for f in reply.fields}["Usage"].startswith(
        "/quote AMZN [MSFT ...] - price, change and session"
    )
    reply = await chat(
        "/quote "
        + " ".join(["AMZN", "MSFT", "NVDA", "AMD", "TSLA", "AAPL", "GOOGL", "META", "NFLX", "IBM", "ORCL"])
    )
    assert reply.text == "That is 11 tickers; /quote takes at most 10 at once."
    reply = await chat("/quote 12345")
    assert reply.text.startswith("'12345' is not a ticker symbol")
    assert chat.channel_sees() == []


# ---------------------------------------------------------------- /news


async def _newsroom(news: Newsroom, count: int) -> list[Story]:
    out = []
    for i in range(count):
        out.append(
            await news.publish(f"Tesla story {i}", tickers=["TSLA"], age=timedelta(minutes=10 * (count - i)))
        )
    await news.publish("Ford story", tickers=["F"])
    return out


async def test_news_newest_first(chat: Chat, news: Newsroom) -> None:
    await _newsroom(news, 7)
    reply = await chat("/news $tsla")
    assert not reply.private and not reply.error
    assert reply.title == "Latest news on TSLA"
    assert [i.text for i in reply.items] == [f"Tesla story {i}" for i in (6, 5, 4, 3, 2)]
    assert reply.items[0].detail == "Reuters · 10 min ago"
    assert reply.items[0].link == "https://news.example.com/7"
    reply = await chat("/news TSLA 2")
    assert [i.text for i in reply.items] == ["Tesla story 6", "Tesla story 5"]


async def test_news_count_is_clamped(chat: Chat, news: Newsroom) -> None:
    await _newsroom(news, 22)
    reply = await chat("/news TSLA 50")
    assert reply.text == "Showing 20, the most /news shows at once (you asked for 50)."
    assert len(reply.items) == 20


async def test_news_nothing_yet(chat: Chat) -> None:
    reply = await chat("/news TSLA")
    assert reply.private and not reply.error
    assert reply.text == "No stories mentioning TSLA yet. New ones arrive as the feeds are polled."
    reply = await chat("/news NVDIA")
    assert "Did you mean NVDA" in reply.text


async def test_news_usage_errors(chat: Chat) -> None:
    for line, text in (
        ("/news", "/news AMZN [N] needs a ticker, e.g. /news AMZN."),
        (
            "/news TSLA -3",
            "'-3' is not a number of stories: write a whole number from 1 to 20, e.g. /news AMZN 10.",
        ),
        ("/news TSLA 3 4", "Unexpected '4' after the command: it is /news AMZN [N]."),
    ):
        reply = await chat(line)
        assert reply.error and reply.private and reply.text == text


# ---------------------------------------------------------------- help and failures


async def test_help(chat: Chat) -> None:
    reply = await chat("/watch")
    assert reply.private and not reply.error and reply.title == "How to use /watch"
    forms = [i.text for i in reply.items]
    assert forms[0] == "/watch list [TEXT]" and "/watch mute 2h|30m|1d [NAME]" in forms and len(forms) == 16
    assert reply.text.startswith("Items: NVDA or $NVDA (a ticker)")
    reply = await chat("/watch help subscribe")
    assert [(i.text, i.detail) for i in reply.items] == [
        (
            "/watch subscribe NAME [OPTIONS]",
            "alerts from NAME in this channel, with options: quiet 22:00-06:00, max 10/h, min-move 2%, "
            "sessions pre-market,regular, threads on|off, briefing premarket|off. "
            "Example: /watch subscribe cloud-china quiet 22:00-06:00 max 10/h briefing premarket",
        )
    ]
    reply = await chat("/watch help news")
    assert reply.title == "How to use /news" and "default 5, at most 20" in reply.items[0].detail
    assert chat.channel_sees() == []


async def test_unknown_subcommand(chat: Chat) -> None:
    reply = await chat("/watch subscibe cloud-china")
    assert reply.error and reply.private
    assert reply.text == "/watch has no command 'subscibe'. Did you mean /watch subscribe? Try /watch help."


async def test_unclosed_quote(chat: Chat) -> None:
    reply = await chat('/watch create chips "export control')
    assert reply.error and reply.private
    assert reply.text.startswith('the quote " at character 14 is never closed')


async def test_too_long(chat: Chat) -> None:
    text = "create chips " + "cloud " * 1000
    reply = await chat("/watch " + text)
    assert reply.error and reply.text.startswith(
        f"That is {len(text):,} characters; a command takes at most 4,000."
    )


class BrokenStore(SqlStore):
    """The real store whose database went away (what a dropped PostgreSQL looks like to us)."""

    async def stories(
        self, *, since: datetime | None = None, ticker: str | None = None, limit: int = 50
    ) -> list[Story]:
        raise StoreError(
            "the database is unreachable; check MARKETBOT_DATABASE_URL and that the server is up"
        )

    async def list_subscriptions(
        self, *, channel: ChannelRef | None = None, watchlist: str | None = None, scope: str | None = None
    ) -> list[Subscription]:
        raise RuntimeError("connection reset by peer")


async def test_store_failures_answer_privately(
    sqlite_store: SqlStore,
    catalog: Catalog,
    quotes: MemoryQuotes,
    directory: SymbolDirectory,
    config: BotConfig,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = BrokenStore(sqlite_store.engine)
    service = CommandService(broken, catalog, quotes, None, directory, command_options(config), clock)
    chat = Chat(service, MemoryChat("slack"), slack_ctx())
    reply = await chat("/news AMZN")
    assert reply.error and reply.private
    assert reply.text == "the database is unreachable; check MARKETBOT_DATABASE_URL and that the server is up"
    reply = await chat("/watch subscriptions")
    assert reply.error and reply.private
    assert reply.text.startswith("Something went wrong on my side while answering that; nothing was changed.")
    assert "Traceback" not in rendered(reply)
    assert "/watch 'subscriptions' failed for slack:U1" in caplog.text  # logged once, for the admin


# ---------------------------------------------------------------- autocomplete


async def test_complete_watchlists(service: CommandService, chat: Chat) -> None:
    await chat("/watch create china-tech BABA")
    await chat("/watch create other AMD", workspace="T0002", channel=slack_ctx(team="T0002").channel)
    ctx = slack_ctx()
    assert await service.complete(ctx, "watchlist", "") == ["china-tech", "chips-policy", "cloud-china"]
    assert await service.complete(ctx, "watchlist", "ch") == ["china-tech", "chips-policy", "cloud-china"]
    assert await service.complete(ctx, "watchlist", "CHINA") == ["china-tech", "cloud-china"]
    assert await service.complete(ctx, "watchlist", "zzz") == []


async def test_complete_tickers(service: CommandService) -> None:
    ctx = discord_ctx()
    found = await service.complete(ctx, "ticker", "nvd")
    assert found[0] == "NVDA"
    assert (await service.complete(ctx, "ticker", "$AMZN"))[0] == "AMZN"
    assert "NVDA" in await service.complete(ctx, "ticker", "Nvid")  # by company name
    assert len(await service.complete(ctx, "ticker", "A")) == 25
    assert len(await service.complete(ctx, "ticker", "")) == 25
    assert await service.complete(ctx, "ticker", "\x00“”" * 100) == []
