"""Configuration: ``config/bot.yaml`` validated with pydantic, secrets from the environment.

This module is the only reader of ``os.environ``. ``load_settings`` validates once, at
start-up, and raises ``ConfigError`` whose message names the file, the line, the key path
(``watchlists[2].keywords[0]``) and what to fix.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError

from bot.domain.errors import ConfigError, ValidationError
from bot.domain.models import (
    ChannelRef,
    QuietHours,
    SubscriptionOptions,
    TradingSession,
    Watchlist,
)
from bot.domain.rules import (
    SymbolDirectory,
    TermKind,
    canonical_symbol,
    parse_query,
    parse_term,
    symbol_form,
)
from bot.domain.rules.query import SYMBOL_RE
from bot.domain.timeutil import as_utc, parse_duration

DEFAULT_CONFIG = Path("config/bot.yaml")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/marketbot.db"
WATCHLIST_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def _seconds(value: Any) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    try:
        return parse_duration(value).total_seconds()
    except ValidationError as exc:
        raise ValueError(str(exc)) from None


Seconds = Annotated[float, BeforeValidator(_seconds)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class FeedConfig(_Model):
    """A news feed to poll."""

    name: str = Field(min_length=1, max_length=200)
    url: str
    interval: Seconds = Field(default=120, ge=30)
    enabled: bool = True
    backfill: int = Field(default=0, ge=0, le=100)

    @field_validator("url")
    @classmethod
    def _http_only(cls, v: str) -> str:
        if not re.match(r"^https?://[^\s/]+", v, re.I):
            raise ValueError("must be an http:// or https:// URL")
        return v


class YahooNewsConfig(_Model):
    """Yahoo Finance ticker news through yfinance (``Ticker.news``)."""

    enabled: bool = False
    interval: Seconds = Field(default=300, ge=60)


def _symbol(value: Any) -> str:
    if type(value) is str:
        sym = _symbol_of(value)
        if sym is not None:
            return sym
    elif not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError(f"{value!r} is not a ticker symbol")
    sym = _symbol_of(str(value))
    if sym is None:
        raise ValueError(
            f"{value!r} is not a ticker symbol: use 1-6 letters or digits with an optional "
            "exchange suffix, e.g. NVDA, BRK-B, SHOP.TO"
        )
    return sym


# 10,000 watchlists name the same few thousand symbols and terms over and over: each is checked once
@functools.lru_cache(maxsize=1 << 16)
def _symbol_of(text: str) -> str | None:
    sym = symbol_form(text)
    return sym if SYMBOL_RE.match(sym) else None


_WORD = re.compile(r"\w")


def _term(value: str) -> str:
    if not _WORD.search(value):
        raise ValueError(f"{value!r} is empty or only punctuation; write a word or a phrase")
    return value


_GOOD_TERMS: set[str] = set()  # rule terms already accepted (a set lookup per repeat)


def _rule_term(value: str) -> str:
    """A keyword or exclude term the rule engine accepts (word, phrase, word*, =word, $SYM)."""
    if value in _GOOD_TERMS:
        return value
    _term(value)
    problem = _rule_term_problem(value)
    if problem is not None:
        raise ValueError(problem)
    if len(_GOOD_TERMS) >= 1 << 16:
        _GOOD_TERMS.clear()
    _GOOD_TERMS.add(value)
    return value


@functools.lru_cache(maxsize=1 << 16)
def _rule_term_problem(value: str) -> str | None:
    try:
        parse_term(value)
    except ValidationError as exc:
        return str(exc)
    return None


class WatchlistConfig(_Model):
    """A watchlist: tickers and keywords, or one boolean query."""

    name: str
    tickers: list[Annotated[str, BeforeValidator(_symbol)]] = Field(default_factory=list)
    keywords: list[Annotated[str, AfterValidator(_rule_term)]] = Field(default_factory=list)
    exclude: list[Annotated[str, AfterValidator(_rule_term)]] = Field(default_factory=list)
    match: Literal["any", "all"] | None = None
    query: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not WATCHLIST_NAME.match(v):
            raise ValueError("use 1-32 letters, digits, '-' or '_' (e.g. cloud-china)")
        return v

    @field_validator("query")
    @classmethod
    def _query(cls, v: str | None) -> str | None:
        if v is not None and v.strip():
            try:
                parse_query(v)
            except ValidationError as exc:
                raise ValueError(str(exc)) from None
        return v

    @model_validator(mode="after")
    def _match_all(self) -> WatchlistConfig:
        if self.query is None and self.match == "all" and (self.tickers or self.keywords):
            missing = "keywords" if not self.keywords else ("tickers" if not self.tickers else "")
            if missing:
                raise ValueError(
                    f"match: all means a ticker AND a keyword, but there are no {missing}; "
                    f"add {missing} or use match: any"
                )
        return self

    @model_validator(mode="after")
    def _shape(self) -> WatchlistConfig:
        if self.query is not None:
            mixed = [k for k in ("tickers", "keywords") if getattr(self, k)]
            if self.match is not None:
                mixed.append("match")
            if mixed:
                raise ValueError(
                    f"'query' replaces {', '.join(mixed)}: put everything in the query "
                    "(e.g. '($AMZN OR $MSFT) AND cloud') or drop the query"
                )
            if not self.query.strip():
                raise ValueError("'query' is empty")
        elif not self.tickers and not self.keywords:
            raise ValueError("a watchlist needs tickers, keywords or a query")
        return self

    def to_domain(self) -> Watchlist:
        return Watchlist(
            name=self.name,
            scope="config",
            tickers=tuple(dict.fromkeys(self.tickers)),
            keywords=tuple(self.keywords),
            exclude=tuple(self.exclude),
            match=self.match or "any",
            query=self.query,
        )


def parse_quiet_hours(value: Any) -> Any:
    """``22:00-06:00`` as QuietHours; ValueError with a message that says what to write."""
    if value is None or isinstance(value, QuietHours):
        return value
    m = re.match(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$", str(value))
    if not m:
        raise ValueError("write quiet hours as HH:MM-HH:MM, e.g. 22:00-06:00")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ValueError("hours are 00-23 and minutes 00-59, e.g. 22:00-06:00")
    if (h1, m1) == (h2, m2):
        raise ValueError("quiet hours start and end at the same time")
    return QuietHours(time(h1, m1), time(h2, m2))


def parse_session(value: Any) -> Any:
    """A trading session from a word (``pre``, ``after-hours``...); ValueError when it is none."""
    if isinstance(value, TradingSession):
        return value
    text = str(value).strip().lower().replace("_", "-")
    aliases = {
        "pre": "pre-market",
        "premarket": "pre-market",
        "pre-market": "pre-market",
        "regular": "regular",
        "rth": "regular",
        "post": "after hours",
        "after-hours": "after hours",
        "after hours": "after hours",
        "afterhours": "after hours",
        "post-market": "after hours",
        "closed": "closed",
    }
    if text not in aliases:
        raise ValueError("sessions are pre-market, regular, after-hours or closed")
    return TradingSession(aliases[text])


class SubscriptionConfig(_Model):
    """A channel subscribed to a watchlist, with delivery options."""

    watchlist: str
    channel: str
    quiet_hours: Annotated[QuietHours | None, BeforeValidator(parse_quiet_hours)] = None
    max_per_hour: int | None = Field(default=None, ge=1, le=3600)
    min_move_pct: float | None = Field(default=None, ge=0, le=100)
    sessions: list[Annotated[TradingSession, BeforeValidator(parse_session)]] = Field(default_factory=list)
    mute_until: datetime | None = None
    threads: bool = True
    briefing: Literal["none", "premarket"] = "none"

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    @field_validator("channel")
    @classmethod
    def _channel(cls, v: str) -> str:
        try:
            ChannelRef.parse(v)
        except ValidationError as exc:
            raise ValueError(str(exc)) from None
        return v.strip()

    @property
    def channel_ref(self) -> ChannelRef:
        return ChannelRef.parse(self.channel)

    def options(self) -> SubscriptionOptions:
        return SubscriptionOptions(
            quiet_hours=self.quiet_hours,
            max_per_hour=self.max_per_hour,
            min_move_pct=self.min_move_pct,
            sessions=tuple(self.sessions),
            mute_until=as_utc(self.mute_until) if self.mute_until else None,
            threads=self.threads,
            briefing=self.briefing,
        )


class IngestConfig(_Model):
    """How feeds are fetched, parsed, deduplicated and clustered."""

    user_agent: str | None = None
    connect_timeout: Seconds = Field(default=10, gt=0, le=120)
    total_timeout: Seconds = Field(default=30, gt=0, le=600)
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=10_000, le=100 * 1024 * 1024)
    max_redirects: int = Field(default=5, ge=0, le=10)
    per_host_limit: int = Field(default=2, ge=1, le=50)
    global_limit: int = Field(default=100, ge=1, le=2000)
    max_failures: int = Field(default=10, ge=1, le=1000)
    max_age: Seconds = Field(default=24 * 3600, ge=60)
    summary_chars: int = Field(default=280, ge=80, le=4000)
    cluster_threshold: float = Field(default=90, ge=50, le=100)
    cluster_window: Seconds = Field(default=48 * 3600, ge=3600)
    ticker_feed_interval: Seconds = Field(default=300, ge=30)
    fetch_articles: bool = False
    # the operator's contact address, sent in the User-Agent where a source asks for one
    # (SEC's fair-access policy: "Company Name admin@example.com")
    contact: str | None = None

    @field_validator("contact")
    @classmethod
    def _contact(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        if not re.search(r"[^@\s]+@[^@\s]+\.[^@\s]+", v) or any(ord(ch) < 32 for ch in v):
            raise ValueError(
                f"{v!r} has no e-mail address; write who runs this bot and how to reach them, "
                "e.g. 'Acme Research ops@acme.example'"
            )
        return v.strip()


SEC_DIRECTORY_URL = "https://www.sec.gov/files/company_tickers.json"


def _directory_url(value: Any) -> Any:
    if value is False or value is None:
        return None
    if value is True:
        raise ValueError(
            f"write the URL of an SEC-shaped company_tickers.json (default {SEC_DIRECTORY_URL}) or false"
        )
    return value


class SymbolsConfig(_Model):
    """Where company names come from: SEC's list of issuers (daily at most) and the quote
    source's names for watched tickers (weekly at most)."""

    directory_url: Annotated[str | None, BeforeValidator(_directory_url)] = SEC_DIRECTORY_URL
    directory_interval: Seconds = Field(default=24 * 3600, ge=3600)
    quote_names: bool = True
    quote_names_interval: Seconds = Field(default=7 * 24 * 3600, ge=3600)

    @field_validator("directory_url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^\s/]+", v, re.I):
            raise ValueError("must be an http:// or https:// URL, or false to turn the directory off")
        return v


class MarketConfig(_Model):
    """Quotes, sessions and charts."""

    exchange: str = "XNYS"
    quote_timeout: Seconds = Field(default=4.0, gt=0, le=60)
    cache_ttl: Seconds = Field(default=60, ge=1, le=3600)
    active_cache_ttl: Seconds = Field(default=15, ge=1, le=3600)
    breaker_failures: int = Field(default=5, ge=1, le=100)
    breaker_reset: Seconds = Field(default=60, ge=1, le=3600)
    chart_theme: Literal["dark", "light"] = "dark"  # charts carry their own background either way


class DeliveryConfig(_Model):
    """Outbox, retries, follow-ups and alert shape."""

    max_retry: Seconds = Field(default=24 * 3600, ge=60)
    lease: Seconds = Field(default=60, ge=5, le=3600)
    followup_interval: Seconds = Field(default=600, ge=0)
    max_tickers: int = Field(default=4, ge=0, le=10)
    quote_wait: Seconds = Field(default=4.0, ge=0, le=60)
    stale_after: Seconds = Field(default=12 * 3600, ge=60)
    held: Literal["deliver", "drop-stale"] = "deliver"
    # dispatcher: sends in flight, claimed alerts waiting for their channel's rate budget,
    # how often to look for due alerts, one send's deadline, retry backoff (full jitter)
    concurrency: int = Field(default=32, ge=1, le=1000)
    max_claimed: int = Field(default=256, ge=1, le=10000)
    poll_interval: Seconds = Field(default=1.0, gt=0, le=60)
    send_timeout: Seconds = Field(default=30, gt=0, le=300)
    retry_base: Seconds = Field(default=2, gt=0, le=600)
    retry_cap: Seconds = Field(default=900, ge=1, le=24 * 3600)
    # sends in flight at SIGTERM get this long; everything else stops at once (Docker waits 10 s)
    shutdown_grace: Seconds = Field(default=5, ge=0, le=300)
    # a price that misses quote_wait still edits the alert if it arrives within late_price_wait
    late_price_wait: Seconds = Field(default=60, ge=0, le=600)
    digest_max_entries: int = Field(default=20, ge=1, le=50)


class BriefingConfig(_Model):
    """Pre-market briefing time and limits."""

    time: str = "08:30"
    grace: Seconds = Field(default=1800, ge=0, le=6 * 3600)
    max_stories: int = Field(default=10, ge=1, le=50)

    @field_validator("time")
    @classmethod
    def _time(cls, v: str) -> str:
        m = re.match(r"^(\d{1,2}):(\d{2})$", v)
        if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
            raise ValueError("write the briefing time as HH:MM, e.g. 08:30")
        return f"{int(m.group(1)):02d}:{m.group(2)}"


class MoveAlertsConfig(_Model):
    """Price-move alerts for tickers in subscribed watchlists.

    ``watchlists`` limits them to the subscriptions of these watchlists (case-insensitive;
    empty: every subscribed watchlist). A subscription's ``min_move_pct`` also raises the
    smallest threshold its channel is alerted for, and its ``sessions`` apply too.
    """

    thresholds: list[float] = Field(default_factory=list)
    sessions: list[Annotated[TradingSession, BeforeValidator(parse_session)]] = Field(
        default_factory=lambda: [TradingSession.PRE]
    )
    interval: Seconds = Field(default=60, ge=15)
    watchlists: list[str] = Field(default_factory=list)

    @field_validator("thresholds")
    @classmethod
    def _positive(cls, v: list[float]) -> list[float]:
        if any(t <= 0 or t > 100 for t in v):
            raise ValueError("thresholds are percentages between 0 and 100, e.g. [3, 5, 10]")
        return sorted(set(v))

    @field_validator("sessions")
    @classmethod
    def _trading_sessions(cls, v: list[TradingSession]) -> list[TradingSession]:
        if TradingSession.CLOSED in v:
            raise ValueError(
                "move alerts watch trading sessions: use pre-market, regular and/or after-hours "
                "(nothing trades while the market is closed)"
            )
        return list(dict.fromkeys(v))


class CommandsConfig(_Model):
    """Who may change what from chat, and limits."""

    restrict_to_admins: bool = False
    max_items: int = Field(default=100, ge=1, le=1000)
    max_watchlists: int = Field(default=50, ge=1, le=10000)


class ChatFeedsConfig(_Model):
    """Feeds added from chat (``/feed add``): always fetched through the SSRF guard.

    ``allow_networks`` opens listed private networks for intranet feeds (default none: only
    public addresses); nothing else private is ever fetched for a chat feed.
    """

    allow_networks: list[str] = Field(default_factory=list)
    limit_per_workspace: int = Field(default=50, ge=1, le=1000)
    min_interval: Seconds = Field(default=300, ge=30, le=86400)

    @field_validator("allow_networks")
    @classmethod
    def _networks(cls, v: list[str]) -> list[str]:
        out: list[str] = []
        for raw in v:
            try:
                net = ipaddress.ip_network(str(raw).strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"{raw!r} is not a network: write an address range like 10.20.0.0/16 or fd00:12::/32"
                ) from None
            if net.prefixlen == 0:
                raise ValueError(f"{raw!r} would open every address: list the intranet's own range")
            out.append(str(net))
        return list(dict.fromkeys(out))


class WebConfig(_Model):
    """The bot's HTTP server: health, metrics and Slack HTTP mode."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    enabled: bool = True


def _notify(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return value


def _notify_channel(value: str) -> str:
    try:
        ref = ChannelRef.parse(value)
    except ValidationError as exc:
        raise ValueError(str(exc)) from None
    return str(ref)


def _move_alerts(value: Any) -> Any:
    if isinstance(value, list):
        return {"thresholds": value}
    return value


class BotConfig(_Model):
    """The whole of ``config/bot.yaml``."""

    timezone: str = "America/New_York"
    admins: list[str] = Field(default_factory=list)
    feeds: list[FeedConfig] = Field(default_factory=list)
    ticker_feeds: list[str] = Field(default_factory=list)
    yahoo_news: YahooNewsConfig = YahooNewsConfig()
    watchlists: list[WatchlistConfig] = Field(default_factory=list)
    aliases: dict[str, list[str]] = Field(default_factory=dict)
    symbols: SymbolsConfig = SymbolsConfig()
    subscriptions: list[SubscriptionConfig] = Field(default_factory=list)
    ingest: IngestConfig = IngestConfig()
    market: MarketConfig = MarketConfig()
    delivery: DeliveryConfig = DeliveryConfig()
    briefing: BriefingConfig = BriefingConfig()
    move_alerts: Annotated[MoveAlertsConfig, BeforeValidator(_move_alerts)] = MoveAlertsConfig()
    commands: CommandsConfig = CommandsConfig()
    chat_feeds: ChatFeedsConfig = ChatFeedsConfig()
    web: WebConfig = WebConfig()
    # the operators' channel for notices (a subscription broke, a feed was disabled, a platform
    # paused, and when each recovers); a list names fallbacks on other platforms, used while the
    # first one's platform is paused
    notify: Annotated[list[Annotated[str, AfterValidator(_notify_channel)]], BeforeValidator(_notify)] = (
        Field(default_factory=list, max_length=3)
    )
    # items, stories, their sources, markers and finished outbox rows older than this are purged
    # (items a feed still serves are kept, so they never come back as new)
    retention: Seconds = 30 * 86400

    @field_validator("retention")
    @classmethod
    def _retention(cls, v: float) -> float:
        if not 2 * 86400 <= v <= 3650 * 86400:
            raise ValueError("keep at least 2 days and at most 10 years, e.g. retention: 30d")
        return v

    @field_validator("notify")
    @classmethod
    def _one_per_platform(cls, v: list[str]) -> list[str]:
        platforms = [ChannelRef.parse(c).platform for c in v]
        if len(set(platforms)) != len(platforms):
            raise ValueError(
                "name at most one channel per platform: the first is used, the others only while its "
                "platform is paused (e.g. [slack:C0123ABCD, discord:112233445566778899])"
            )
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}; use an IANA name such as America/New_York") from None
        return v

    @field_validator("ticker_feeds")
    @classmethod
    def _templates(cls, v: list[str]) -> list[str]:
        for i, url in enumerate(v):
            if "{ticker}" not in url:
                raise ValueError(f"item {i} has no {{ticker}} placeholder to fill with each symbol")
            if not re.match(r"^https?://", url, re.I):
                raise ValueError(f"item {i} must be an http:// or https:// URL")
        return v

    @field_validator("aliases", mode="before")
    @classmethod
    def _aliases(cls, v: Any) -> Any:
        if isinstance(v, dict):
            out: dict[str, Any] = {}
            for k, names in v.items():
                sym = symbol_form(str(k))
                if not SYMBOL_RE.match(sym):
                    raise ValueError(f"{k!r} is not a ticker symbol")
                out[sym] = [names] if isinstance(names, str) else names
            return out
        return v

    @field_validator("aliases")
    @classmethod
    def _alias_names(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for sym, names in v.items():
            for name in names:
                if not re.search(r"[^\W_]", name):
                    raise ValueError(
                        f"{sym}: alias {name!r} has no letters or digits; write a company name such as Alibaba"
                    )
        return v

    @field_validator("admins")
    @classmethod
    def _admins(cls, v: list[str]) -> list[str]:
        for a in v:
            if not re.match(r"^(slack|discord):\S+$", a):
                raise ValueError(f"{a!r}: write admins as slack:U0123ABCD or discord:112233445566778899")
        return v

    @model_validator(mode="after")
    def _retention_window(self) -> BotConfig:
        if self.retention <= self.ingest.cluster_window:
            raise _PathError(
                ("retention",),
                f"retention ({self.retention / 86400:g} days) must be longer than ingest.cluster_window "
                f"({self.ingest.cluster_window / 3600:g} h): stories still being clustered would be purged",
            )
        return self

    @model_validator(mode="after")
    def _cross(self) -> BotConfig:
        names = [w.name for w in self.watchlists]
        seen: set[str] = set()
        for i, n in enumerate(names):
            if n.lower() in seen:
                raise _PathError(
                    ("watchlists", i, "name"), f"duplicate watchlist name {n!r}; names must be unique"
                )
            seen.add(n.lower())
        by_name = {w.name for w in self.watchlists}
        for i, s in enumerate(self.subscriptions):
            if s.watchlist not in by_name:
                hint = difflib.get_close_matches(s.watchlist, list(by_name), n=1)
                fix = (
                    f"did you mean {hint[0]!r}?"
                    if hint
                    else (
                        f"known watchlists: {', '.join(sorted(by_name))}"
                        if by_name
                        else "no watchlists are defined"
                    )
                )
                raise _PathError(
                    ("subscriptions", i, "watchlist"), f"unknown watchlist {s.watchlist!r}; {fix}"
                )
        pairs: set[tuple[str, str]] = set()
        for i, s in enumerate(self.subscriptions):
            pair = (s.watchlist, str(s.channel_ref))
            if pair in pairs:
                raise _PathError(("subscriptions", i), f"{pair[1]} is subscribed to {pair[0]!r} twice")
            pairs.add(pair)
        urls: set[str] = set()
        for i, f in enumerate(self.feeds):
            if f.url in urls:
                raise _PathError(("feeds", i, "url"), f"feed URL {f.url} is listed twice")
            urls.add(f.url)
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def domain_watchlists(self) -> list[Watchlist]:
        return [w.to_domain() for w in self.watchlists]


def watchlist_warnings(config: BotConfig, directory: SymbolDirectory) -> list[str]:
    """Warnings about a valid config: tickers the symbol directory does not know.

    They are accepted (small caps, new listings) and matched by cashtag, exchange-qualified
    and bare forms; the warning names the nearest known symbols in case of a typo.
    Call it with ``bot.market.symbols.load_directory(config.aliases)``.
    """
    out: list[str] = []
    seen: set[tuple[str, str]] = set()
    # the same symbols and terms recur across thousands of watchlists: each is looked at once
    canonical: dict[str, str] = {}
    term_symbols: dict[str, str | None] = {}
    known: dict[str, bool] = {}

    def canonical_of(ticker: str) -> str:
        found = canonical.get(ticker)
        if found is None:
            found = canonical[ticker] = canonical_symbol(ticker)
        return found

    def symbol_of_term(text: str) -> str | None:
        if text not in term_symbols:
            term = parse_term(text)
            term_symbols[text] = term.symbol if term.kind is TermKind.TICKER else None
        return term_symbols[text]

    for i, w in enumerate(config.watchlists):
        # (field, index in it, symbol); the path is spelled out only for a warning
        found: list[tuple[str, int | None, str]] = [
            ("tickers", j, canonical_of(t)) for j, t in enumerate(w.tickers)
        ]
        for field, texts in (("keywords", w.keywords), ("exclude", w.exclude)):
            for j, text in enumerate(texts):
                symbol = symbol_of_term(text)
                if symbol is not None:
                    found.append((field, j, symbol))
        if w.query:
            for term in parse_query(w.query).terms:
                if term.kind is TermKind.TICKER:
                    found.append(("query", None, term.symbol))
        for field, at, symbol in found:
            present = known.get(symbol)
            if present is None:
                present = known[symbol] = symbol in directory
            if present:
                continue
            path = f"watchlists[{i}].{field}" if at is None else f"watchlists[{i}].{field}[{at}]"
            if (path, symbol) in seen:
                continue
            seen.add((path, symbol))
            near = directory.suggest(symbol)
            hint = f"did you mean {', '.join(near)}? " if near else ""
            out.append(
                f"{path}: {symbol} is not in the symbol directory; {hint}it is still matched as "
                f"${symbol}, exchange-qualified (NYSE: {symbol}) and bare {symbol}; add it to "
                "aliases: with the company's name to match the name too"
            )
    return out


class _PathError(ValueError):
    """A cross-field error that knows its own key path."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


@dataclass(frozen=True)
class Env:
    """Settings from the environment (and ``.env``): secrets and deployment choices."""

    config_path: Path
    database_url: str
    slack_bot_token: SecretStr | None
    slack_app_token: SecretStr | None
    slack_signing_secret: SecretStr | None
    slack_api_url: str | None
    discord_bot_token: SecretStr | None
    discord_api_url: str | None
    discord_gateway_url: str | None
    discord_guild_ids: tuple[int, ...]
    log_format: Literal["text", "json"]
    log_level: str
    yahoo_url: str | None = None  # MARKETBOT_YAHOO_URL: send every Yahoo Finance request here instead
    web_host: str | None = None
    web_port: int | None = None
    now: datetime | None = None  # MARKETBOT_NOW: pretend it is this time (demos, reproducing, tests)
    discord_application_id: int | None = None  # DISCORD_APPLICATION_ID: for `marketbot discord invite`

    @property
    def platforms(self) -> list[str]:
        """Chat platforms with credentials; the console when there are none."""
        out = []
        if self.slack_bot_token:
            out.append("slack")
        if self.discord_bot_token:
            out.append("discord")
        return out or ["console"]


def _secret(environ: Mapping[str, str], key: str) -> SecretStr | None:
    value = environ.get(key, "").strip()
    return SecretStr(value) if value else None


def load_env(environ: Mapping[str, str] | None = None, *, dotenv: Path | None = Path(".env")) -> Env:
    """Read the environment (plus ``.env`` if present, without overriding real variables)."""
    merged: dict[str, str] = {}
    if dotenv is not None and dotenv.is_file():
        from dotenv import dotenv_values

        merged.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
    merged.update(os.environ if environ is None else environ)
    guild_ids: list[int] = []
    for part in re.split(r"[,\s]+", merged.get("DISCORD_GUILD_IDS", "").strip()):
        if not part:
            continue
        if not part.isdigit():
            raise ConfigError(
                f"environment: DISCORD_GUILD_IDS: {part!r} is not a guild id; "
                "write comma-separated numeric ids, e.g. 112233445566778899,998877665544332211"
            )
        guild_ids.append(int(part))
    discord_app = merged.get("DISCORD_APPLICATION_ID", "").strip()
    if discord_app and not discord_app.isdigit():
        raise ConfigError(
            f"environment: DISCORD_APPLICATION_ID={discord_app!r} is not an application id; copy the "
            "Application ID (a number) from the Developer Portal's General Information page, or unset it"
        )
    yahoo_url = merged.get("MARKETBOT_YAHOO_URL", "").strip() or None
    if yahoo_url is not None and not re.match(r"^https?://[^\s/]+", yahoo_url, re.I):
        raise ConfigError(
            f"environment: MARKETBOT_YAHOO_URL={yahoo_url!r} is not an http(s) URL; "
            "write the base URL of a Yahoo-shaped server, e.g. http://127.0.0.1:8765, or unset it"
        )
    fmt = merged.get("MARKETBOT_LOG_FORMAT", "text").strip().lower() or "text"
    if fmt not in ("text", "json"):
        raise ConfigError(f"environment: MARKETBOT_LOG_FORMAT={fmt!r}; use text or json")
    web_port = merged.get("MARKETBOT_WEB_PORT", "").strip()
    if web_port and not (web_port.isdigit() and int(web_port) <= 65535):
        raise ConfigError(
            f"environment: MARKETBOT_WEB_PORT={web_port!r}; use a port number such as 8080 (0: any free port)"
        )
    now = None
    now_text = merged.get("MARKETBOT_NOW", "").strip()
    if now_text:
        try:
            now = as_utc(datetime.fromisoformat(now_text.replace("Z", "+00:00")))
        except ValueError:
            raise ConfigError(
                f"environment: MARKETBOT_NOW={now_text!r} is not an ISO time; write e.g. 2026-11-25T08:10:00-05:00"
            ) from None
    return Env(
        now=now,
        web_host=merged.get("MARKETBOT_WEB_HOST") or None,
        web_port=int(web_port) if web_port else None,
        config_path=Path(merged.get("MARKETBOT_CONFIG") or DEFAULT_CONFIG),
        database_url=merged.get("MARKETBOT_DATABASE_URL") or DEFAULT_DATABASE_URL,
        slack_bot_token=_secret(merged, "SLACK_BOT_TOKEN"),
        slack_app_token=_secret(merged, "SLACK_APP_TOKEN"),
        slack_signing_secret=_secret(merged, "SLACK_SIGNING_SECRET"),
        slack_api_url=merged.get("SLACK_API_URL") or None,
        discord_bot_token=_secret(merged, "DISCORD_BOT_TOKEN"),
        discord_api_url=merged.get("DISCORD_API_URL") or None,
        discord_gateway_url=merged.get("DISCORD_GATEWAY_URL") or None,
        discord_guild_ids=tuple(guild_ids),
        discord_application_id=int(discord_app) if discord_app else None,
        log_format=fmt,  # type: ignore[arg-type]
        log_level=(merged.get("MARKETBOT_LOG_LEVEL") or "INFO").upper(),
        yahoo_url=yahoo_url,
    )


# ---------------------------------------------------------------- loading and errors


def _format_path(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


# libyaml's C parser when PyYAML was built with it (about 10x faster than the pure-Python one)
_SAFE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


_STR_TAG: Final = "tag:yaml.org,2002:str"
_SEQ_TAG: Final = "tag:yaml.org,2002:seq"
_MAP_TAG: Final = "tag:yaml.org,2002:map"
_MERGE_TAG: Final = "tag:yaml.org,2002:merge"


class _Shared(Exception):
    """An anchor used twice (or a merge key): built by PyYAML's own constructor instead."""


def _load_yaml(text: str) -> Any:
    """The YAML document as Python data, as ``yaml.safe_load`` gives it, in a fraction of the time.

    libyaml (when present) parses; plain strings, lists and mappings, nearly all of a config,
    are built here, and every other scalar (numbers, booleans, dates, null) by PyYAML's safe
    constructor. A document with aliases or merge keys goes to PyYAML's constructor whole.
    """
    fast = _fast_yaml(text)
    if fast is not _UNSUPPORTED:
        return fast
    loader = _SAFE_LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        try:
            return _build(node, loader, set())
        except _Shared:
            return loader.construct_document(node)
    finally:
        loader.dispose()


# ---------------------------------------------------------------- the common subset, parsed fast
# Even libyaml builds a Python node (and resolves its tag in Python) for every scalar: about
# 1.5 s for 10,000 watchlists. Configs are nearly always plain block YAML: indented ``key:
# value`` lines, ``- `` items, one-line quoted strings and ``[a, b]`` lists. That subset is read
# here, line by line, and gives exactly what ``yaml.safe_load`` gives (plain scalars are typed
# by PyYAML's own resolver and constructor); anything else, an error included, returns
# ``_UNSUPPORTED`` and the whole document goes to PyYAML.

_UNSUPPORTED: Final = object()


class _NotSubset(Exception):
    """The document leaves the subset: PyYAML reads it instead."""


# what PyYAML's reader refuses, and what the subset leaves to it (tabs, CR, BOM, NEL, ...)
_OUTSIDE_TEXT = re.compile("[^\n\x20-\x7e\xa0-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")
_KEY_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_.-]*):(?: +(.*))?$")
_DOUBLE = re.compile(r'"([^"\\]*)"(?: +#.*)?$')
_SINGLE = re.compile(r"'((?:[^']|'')*)'(?: +#.*)?$")
_FLOW_ITEM = re.compile(r""" *(?:"([^"\\]*)"|'((?:[^']|'')*)'|([^,\[\]{}"'#]*?)) *([,\]])""")
_FLOW_EMPTY = re.compile(r"\[ *\](?: +#.*)?$")
# the two commonest lists, read in one match: [NVDA, BRK-B, SHOP.TO] and ["a b", "c"]
_FLOW_PLAINS = re.compile(r"\[([A-Za-z0-9][A-Za-z0-9.-]*(?:, [A-Za-z0-9][A-Za-z0-9.-]*)*)\]$")
_FLOW_DOUBLES = re.compile(r'\[("[^"\\]*"(?:, "[^"\\]*")*)\]$')
_COMMENT = re.compile(r" +#")
# first characters of the plain scalars PyYAML may read as something else than a string
_TYPED_START = frozenset(k for k in yaml.SafeLoader.yaml_implicit_resolvers if k)
_PLAIN_START_BAD = frozenset("?:,[]{}#&*!|>'\"%@`")
_PLAIN_TAGS: Final = frozenset(
    f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "timestamp")
)


class _Line:
    __slots__ = ("col", "dash", "key", "row", "value")

    def __init__(self, row: int, col: int, dash: bool, key: str | None, value: str | None) -> None:
        self.row, self.col, self.dash, self.key, self.value = row, col, dash, key, value


def _fast_yaml(text: str) -> Any:
    """``yaml.safe_load(text)`` for the block subset configs are written in, or ``_UNSUPPORTED``."""
    if _OUTSIDE_TEXT.search(text):
        return _UNSUPPORTED
    lines: list[_Line] = []
    for row, raw in enumerate(text.split("\n")):
        content = raw.lstrip(" ")
        if not content or content.startswith("#"):
            continue
        if content.rstrip(" ") != content.rstrip() or content.startswith(("---", "...", "%")):
            return _UNSUPPORTED
        col = len(raw) - len(content)
        content = content.rstrip(" ")
        while content == "-" or content.startswith("- "):
            lines.append(_Line(row, col, True, None, None))
            rest = content[1:].lstrip(" ")
            col += len(content) - len(rest)
            content = rest
            if not content or content.startswith("#"):
                break
        else:
            m = _KEY_LINE.match(content)
            if m:
                value = m.group(2)
                lines.append(
                    _Line(row, col, False, m.group(1), None if not value or value[0] == "#" else value)
                )
            else:
                lines.append(_Line(row, col, False, None, content))
    if not lines:
        return None
    parser = _SubsetParser(lines)
    try:
        out = parser.block(lines[0].col)
        if parser.i != len(lines):
            return _UNSUPPORTED
        return out
    except _NotSubset:
        return _UNSUPPORTED


class _SubsetParser:
    def __init__(self, lines: list[_Line]) -> None:
        self.lines = lines
        self.i = 0
        self._plain: dict[str, Any] = {}
        self._loader: Any = None

    def block(self, col: int) -> Any:
        first = self.lines[self.i]
        if first.col != col:
            raise _NotSubset
        if first.dash:
            return self.sequence(col)
        if first.key is not None:
            return self.mapping(col)
        raise _NotSubset  # a bare scalar where a block was expected

    def mapping(self, col: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        lines = self.lines
        while self.i < len(lines):
            line = lines[self.i]
            if line.col < col:
                break
            if line.col > col or line.key is None or line.dash:
                raise _NotSubset
            key = line.key
            if not isinstance(self.plain(key), str):  # e.g. ``on:`` or ``1:``: not a string key
                raise _NotSubset
            self.i += 1
            if line.value is not None:
                out[key] = self.value(line.value)
                self.no_deeper(col)
                continue
            nxt = lines[self.i] if self.i < len(lines) else None
            if nxt is not None and (nxt.col > col or (nxt.col == col and nxt.dash)):
                out[key] = self.block(nxt.col)
            else:
                out[key] = None
        return out

    def sequence(self, col: int) -> list[Any]:
        out: list[Any] = []
        lines = self.lines
        while self.i < len(lines):
            line = lines[self.i]
            if line.col < col:
                break
            if line.col > col or not line.dash:
                raise _NotSubset
            self.i += 1
            nxt = lines[self.i] if self.i < len(lines) else None
            if nxt is None or nxt.col <= col:
                out.append(None)
            elif nxt.row == line.row and not nxt.dash and nxt.key is None:
                assert nxt.value is not None
                self.i += 1
                out.append(self.value(nxt.value))
                self.no_deeper(col)
            else:
                out.append(self.block(nxt.col))
        return out

    def no_deeper(self, col: int) -> None:
        """After a one-line value nothing may be indented deeper (a continued scalar)."""
        if self.i < len(self.lines) and self.lines[self.i].col > col:
            raise _NotSubset

    def value(self, text: str) -> Any:
        first = text[0]
        if first == '"':
            m = _DOUBLE.match(text)
            if m is None:
                raise _NotSubset
            return m.group(1)
        if first == "'":
            m = _SINGLE.match(text)
            if m is None:
                raise _NotSubset
            return m.group(1).replace("''", "'")
        if first == "[":
            return self.flow(text)
        if text == "{}":
            return {}
        cut = text.find(" #")
        if cut >= 0:
            text = text[:cut].rstrip(" ")
        if ": " in text or text.endswith(":") or first in _PLAIN_START_BAD:
            raise _NotSubset
        if first == "-" and (len(text) == 1 or text[1] == " "):
            raise _NotSubset
        return self.plain(text)

    def flow(self, text: str) -> list[Any]:
        """A one-line ``[a, "b c", 'd']`` of scalars (nothing nested), then maybe a comment."""
        if _FLOW_EMPTY.match(text):
            return []
        m = _FLOW_PLAINS.match(text)
        if m is not None:
            return [self.plain(item) for item in m.group(1).split(", ")]
        m = _FLOW_DOUBLES.match(text)
        if m is not None:
            return m.group(1)[1:-1].split('", "')
        out: list[Any] = []
        pos, size, match = 1, len(text), _FLOW_ITEM.match
        while True:
            m = match(text, pos)
            if m is None:
                raise _NotSubset
            double, single, plain, sep = m.groups()
            if double is not None:
                out.append(double)
            elif single is not None:
                out.append(single.replace("''", "'"))
            else:
                if not plain or plain[0] in _PLAIN_START_BAD or ": " in plain or plain[-1] == ":":
                    raise _NotSubset
                if plain[0] == "-" and (len(plain) == 1 or plain[1] == " "):
                    raise _NotSubset
                out.append(self.plain(plain))
            pos = m.end()
            if sep == "]":
                break
        if pos < size and not _COMMENT.match(text, pos):
            raise _NotSubset
        return out

    def plain(self, text: str) -> Any:
        """A plain scalar typed as PyYAML types it (str, int, float, bool, null, timestamp)."""
        try:
            return self._plain[text]
        except KeyError:
            pass
        if text[0] not in _TYPED_START:
            self._plain[text] = text
            return text
        if self._loader is None:
            self._loader = yaml.SafeLoader("")
        tag = self._loader.resolve(yaml.ScalarNode, text, (True, False))
        if tag == _STR_TAG:
            value: Any = text
        elif tag in _PLAIN_TAGS:
            value = self._loader.construct_object(yaml.ScalarNode(tag, text), deep=True)
        else:
            raise _NotSubset
        self._plain[text] = value
        return value


def _build(node: yaml.Node, loader: Any, seen: set[int]) -> Any:
    tag = node.tag
    if isinstance(node, yaml.ScalarNode):
        return node.value if tag == _STR_TAG else loader.construct_object(node, deep=True)
    if id(node) in seen:
        raise _Shared
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode) and tag == _SEQ_TAG:
        return [_build(v, loader, seen) for v in node.value]
    if isinstance(node, yaml.MappingNode) and tag == _MAP_TAG:
        out: dict[Any, Any] = {}
        for k, v in node.value:
            if k.tag == _MERGE_TAG or not isinstance(k, yaml.ScalarNode):
                raise _Shared
            out[_build(k, loader, seen)] = _build(v, loader, seen)
        return out
    raise _Shared


def _line_index(text: str) -> dict[tuple[str | int, ...], int]:
    """Map key paths to 1-based line numbers using the YAML node tree (only built to report
    an error: it parses the text a second time)."""
    index: dict[tuple[str | int, ...], int] = {}
    try:
        root = yaml.compose(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError:
        return index

    def walk(node: yaml.Node, path: tuple[str | int, ...]) -> None:
        index[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = k.value
                index[(*path, key)] = k.start_mark.line + 1
                walk(v, (*path, key))
                index[(*path, key)] = k.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                walk(v, (*path, i))

    if root is not None:
        walk(root, ())
    return index


def _model_fields(model: type[BaseModel], path: tuple[str | int, ...]) -> list[str]:
    """The field names allowed at ``path`` (for "did you mean")."""
    current: Any = model
    for part in path:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = current.model_fields.get(str(part))
        if field is None:
            return []
        current = _inner_model(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _inner_model(annotation: Any) -> Any:
    from typing import get_args

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def _describe(err: Mapping[str, Any], path: tuple[str | int, ...]) -> str:
    kind = err.get("type", "")
    msg = str(err.get("msg", "invalid value"))
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else "?"
        allowed = _model_fields(BotConfig, path[:-1])
        hint = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        if hint:
            return f"unknown key {key!r}; did you mean {hint[0]!r}?"
        return (
            f"unknown key {key!r}; allowed here: {', '.join(allowed)}" if allowed else f"unknown key {key!r}"
        )
    if kind == "missing":
        return "required key is missing"
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    value = err.get("input")
    if kind.endswith(("_type", "_parsing")):
        return f"{msg} (got {value!r})"
    return msg


def _error_path(err: Mapping[str, Any]) -> tuple[str | int, ...]:
    parts: list[str | int] = []
    for p in err.get("loc", ()):
        # pydantic adds validator/function names to union and annotated paths; keep real keys only
        if isinstance(p, str) and ("[" in p or p.startswith("function-")):
            continue
        parts.append(p)
    return tuple(parts)


def parse_config(text: str, *, source: str = "<config>") -> BotConfig:
    """Validate YAML text; raise ConfigError listing every problem with file:line and key path."""
    try:
        raw = _load_yaml(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            f"{where}: invalid YAML: {problem}. Check indentation and quoting around this line."
        ) from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: the top level must be a mapping of keys (timezone:, feeds:, watchlists: ...)"
        )
    try:
        return BotConfig.model_validate(raw)
    except PydanticValidationError as exc:
        lines = _line_index(text)
        problems = []
        for err in exc.errors():
            ctx = err.get("ctx") or {}
            inner = ctx.get("error")
            if isinstance(inner, _PathError):
                path, message = inner.path, inner.message
            else:
                path, message = _error_path(err), _describe(err, _error_path(err))
            line = None
            for n in range(len(path), -1, -1):
                if path[:n] in lines:
                    line = lines[path[:n]]
                    break
            where = f"{source}:{line}" if line else source
            problems.append(f"{where}: {_format_path(path)}: {message}")
        head = "configuration error" if len(problems) == 1 else f"{len(problems)} configuration errors"
        raise ConfigError(f"{head}:\n  " + "\n  ".join(dict.fromkeys(problems))) from None


def load_config(path: Path) -> BotConfig:
    """Read and validate a config file; every failure is a ConfigError saying what to fix."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found. Copy config/bot.yaml, or pass --config PATH "
            "(or set MARKETBOT_CONFIG)."
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory; pass the path of a YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc}") from None
    return parse_config(text, source=str(path))
