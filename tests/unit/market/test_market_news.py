"""Yahoo ticker news through yfinance's Ticker.news, against the fake's /xhr/ncp endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain.errors import SourceError
from bot.domain.timeutil import ManualClock
from bot.market.news import YahooNewsSource, item_from_yahoo
from tests.fakes.yahoo import Article, YahooFake


@pytest.fixture
async def news(fake: YahooFake, clock: ManualClock, yf_cache: Path) -> AsyncIterator[YahooNewsSource]:
    # a generous deadline: only test_hanging_news_times_out is about it (with a Yahoo that never answers)
    src = YahooNewsSource(["AAPL", "amzn"], yahoo_url=fake.url, clock=clock, cache_dir=yf_cache, timeout=30.0)
    try:
        yield src
    finally:
        await src.aclose()


async def test_stories_become_plain_news_items(
    fake: YahooFake, news: YahooNewsSource, clock: ManualClock
) -> None:
    items = await news.fetch()
    assert news.id == "yahoo:news"
    assert len(items) == 4  # two stories per ticker, the ad left out
    first = items[0]
    assert first.feed_id == "yahoo:news"
    assert first.title == "Apple Inc. shares move as analysts weigh outlook & guidance"  # entity decoded
    assert first.source == "Reuters"
    assert first.link.startswith("https://www.reuters.com/markets/aapl-outlook-2026/?utm_source=")
    assert (
        first.canonical_url == "https://www.reuters.com/markets/aapl-outlook-2026/"
    )  # no utm_*, no #fragment
    assert first.summary == "Analysts at several banks updated their views on Apple Inc.."
    assert first.published_at == clock.now() - timedelta(minutes=45)
    hosted = next(i for i in items if i.source == "Yahoo Finance")
    assert hosted.link.startswith("https://finance.yahoo.com/news/")
    assert hosted.summary == "A preview of the week's events."
    assert [i.published_at for i in items] == sorted((i.published_at for i in items), reverse=True)
    assert fake.count("/xhr/ncp") == 2


async def test_each_poll_asks_again(fake: YahooFake, news: YahooNewsSource, clock: ManualClock) -> None:
    await news.fetch()
    fake.news["AAPL"].insert(
        0,
        Article(
            "Apple unveils a thing", "<b>Big</b> news.", published=clock.now(), url="https://example.com/a"
        ),
    )
    items = await news.fetch()
    assert items[0].title == "Apple unveils a thing" and items[0].summary == "Big news."
    assert fake.count("/xhr/ncp") == 4


async def test_one_failing_ticker_does_not_sink_the_rest(fake: YahooFake, news: YahooNewsSource) -> None:
    fake.fail("news", "garbage", times=1)  # Yahoo's "Will be right back" page for one ticker
    items = await news.fetch()
    assert len(items) == 2


async def test_every_ticker_failing_raises(fake: YahooFake, news: YahooNewsSource) -> None:
    fake.fail("news", "garbage")
    with pytest.raises(SourceError, match=r"Yahoo Finance news failed for every ticker .*says it is down"):
        await news.fetch()


async def test_hanging_news_times_out(fake: YahooFake, clock: ManualClock, yf_cache: Path) -> None:
    fake.fail("news", "hang")
    src = YahooNewsSource(["AAPL"], yahoo_url=fake.url, clock=clock, cache_dir=yf_cache, timeout=0.5)
    with pytest.raises(SourceError, match=r"AAPL: Yahoo Finance did not answer within 0\.5s"):
        await src.fetch()
    fake.clear_failures()
    await src.aclose()


async def test_tickers_can_change_between_polls(fake: YahooFake, clock: ManualClock, yf_cache: Path) -> None:
    watched = ["MSFT"]
    src = YahooNewsSource(lambda: watched, yahoo_url=fake.url, clock=clock, cache_dir=yf_cache)
    assert {i.title for i in await src.fetch()} == {
        "Microsoft Corporation shares move as analysts weigh outlook & guidance",
        "What to watch for MSFT this week",
    }
    watched.append("NVDA")
    assert len(await src.fetch()) == 4
    watched.clear()
    assert await src.fetch() == []
    await src.aclose()


def test_older_flat_shape_and_junk(clock: ManualClock) -> None:
    now = clock.now()
    flat = {
        "uuid": "abc-123",
        "title": "Old &quot;style&quot; item",
        "publisher": "MarketWatch",
        "link": "https://www.marketwatch.com/story/x?fbclid=1&id=7",
        "providerPublishTime": int((now - timedelta(hours=1)).timestamp()),
    }
    item = item_from_yahoo(flat, feed_id="yahoo:news", fetched_at=now)
    assert item is not None
    assert (item.id, item.title, item.source) == ("abc-123", 'Old "style" item', "MarketWatch")
    assert item.canonical_url == "https://www.marketwatch.com/story/x?id=7"
    assert item.published_at == now - timedelta(hours=1)
    assert item_from_yahoo({"id": "x", "ad": [{"a": 1}]}, feed_id="f", fetched_at=now) is None
    assert item_from_yahoo({"content": {"title": "no link"}}, feed_id="f", fetched_at=now) is None
    future = {
        "content": {
            "id": "z",
            "title": "T",
            "canonicalUrl": {"url": "https://x.test/"},
            "pubDate": "2099-01-01T00:00:00Z",
        }
    }
    late = item_from_yahoo(future, feed_id="f", fetched_at=now)
    assert late is not None and late.published_at == now
