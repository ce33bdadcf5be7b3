"""Which feeds are polled: config feeds, ticker-feed templates per watched ticker, the shipped config."""

from __future__ import annotations

from pathlib import Path

from bot.app import feed_options, feed_specs
from bot.config import load_config, parse_config
from bot.domain.models import Watchlist
from bot.ingest.sources import all_feeds, expand_template, feed_id, watched_tickers

CONFIG = """
feeds:
  - name: SEC press releases
    url: https://www.sec.gov/news/pressreleases.rss
    interval: 300
  - name: Off for now
    url: https://example.com/off.xml
    enabled: false
    backfill: 3
ticker_feeds:
  - "https://feeds.finance.yahoo.com/rss/2.0/headline?s={ticker}&region=US&lang=en-US"
watchlists:
  - name: cloud
    tickers: [AMZN, MSFT]
    keywords: [cloud]
  - name: chips
    query: '($NVDA OR $AMD) AND "export control"'
ingest:
  ticker_feed_interval: 10m
"""


def test_config_feeds_and_ticker_feeds_for_every_watched_ticker() -> None:
    cfg = parse_config(CONFIG)
    feeds = all_feeds(feed_options(cfg), cfg.domain_watchlists())
    config_feeds = [f for f in feeds if f.spec.origin == "config"]
    assert [(f.spec.name, f.spec.interval, f.spec.enabled, f.spec.backfill) for f in config_feeds] == [
        ("SEC press releases", 300, True, 0),
        ("Off for now", 120, False, 3),
    ]
    tickers = {f.ticker: f.spec for f in feeds if f.spec.origin == "ticker"}
    assert sorted(tickers) == ["AMD", "AMZN", "MSFT", "NVDA"]
    assert (
        tickers["NVDA"].url == "https://feeds.finance.yahoo.com/rss/2.0/headline?s=NVDA&region=US&lang=en-US"
    )
    assert tickers["NVDA"].interval == 600 and tickers["NVDA"].trusted
    assert tickers["NVDA"].name == "NVDA news (finance.yahoo.com)"


def test_adding_a_ticker_to_any_watchlist_adds_its_feed() -> None:
    cfg = parse_config(CONFIG)
    chat = Watchlist(name="mine", scope="slack:T1", tickers=("BRK.B", "SHOP.TO"))
    ids = {f.id for f in all_feeds(feed_options(cfg), [*cfg.domain_watchlists(), chat])}
    assert feed_id(expand_template(cfg.ticker_feeds[0], "BRK.B"), "ticker", "BRK.B") in ids
    assert len(ids) == 2 + 6


def test_symbols_are_url_encoded_and_ids_are_stable() -> None:
    assert expand_template("https://x.test/?s={ticker}", "^GSPC") == "https://x.test/?s=%5EGSPC"
    assert expand_template("https://x.test/{ticker}/rss", "BRK-B") == "https://x.test/BRK-B/rss"
    assert feed_id("https://a.test/feed") == feed_id(" https://a.test/feed ")
    assert feed_id("https://a.test/feed") != feed_id("https://a.test/feed2")


def test_query_tickers_are_watched() -> None:
    wl = Watchlist(name="q", query="($NVDA OR $amd) AND NOT $TSLA AND price$")
    assert watched_tickers([wl]) == ["AMD", "NVDA", "TSLA"]


def test_the_shipped_config_is_valid_and_its_feeds_are_https() -> None:
    cfg = load_config(Path(__file__).resolve().parents[3] / "config" / "bot.yaml")
    specs = feed_specs(cfg)
    config_specs = [s for s in specs if s.origin == "config"]
    assert 4 <= len(config_specs) <= 15
    assert all(s.url.startswith("https://") for s in config_specs)
    assert len({s.id for s in specs}) == len(specs)
