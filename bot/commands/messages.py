"""Every user-facing text of /quote, /news and /watch, in one place so wording stays consistent.

All text is plain (no Slack or Discord markup): adapters render and escape it. Errors say
what to fix and show an example; usage texts are short enough for a phone screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

from bot.domain.timeutil import format_age, format_duration

# ---------------------------------------------------------------- usage

ITEMS_HELP: Final = (
    "NVDA or $NVDA (a ticker), cloud (a word; also matches clouds), "
    '"export control" (a phrase), chip* (words starting with chip), =cloud (this exact form), '
    "-podcast (exclude stories with it). $XYZ adds a symbol I do not know yet."
)
ITEMS_LINE: Final = f"Items: {ITEMS_HELP}"

# The usage texts, (form, what it does) per command and subcommand, are derived from the spec
# (``bot.commands.spec.usage_table``): ``USAGE``, ``WATCH_SUBCOMMANDS`` and ``FEED_SUBCOMMANDS``
# are read from it on first use (the spec's parsers import this module, so not at import).
_FROM_SPEC: Final = ("USAGE", "WATCH_SUBCOMMANDS", "FEED_SUBCOMMANDS")


def __getattr__(name: str) -> Any:
    if name in _FROM_SPEC:
        from bot.commands import spec

        value = spec.usage_table() if name == "USAGE" else getattr(spec, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _usage(key: str) -> tuple[str, str]:
    from bot.commands import spec

    return spec.usage_table()[key]


def help_title(command: str) -> str:
    return f"How to use /{command}"


HELP_TITLE: Final = help_title("watch")
QUOTE_HELP_TITLE: Final = help_title("quote")
NEWS_HELP_TITLE: Final = help_title("news")
FEED_HELP_TITLE: Final = help_title("feed")
ERROR_TITLE: Final = "That did not work"
DENIED_TITLE: Final = "Not allowed"


def usage_line(
    key: str, *, max_quote: int = 10, default_news: int = 5, max_news: int = 20
) -> tuple[str, str]:
    """The (form, description) usage pair for a command or /watch subcommand."""
    form, what = _usage(key)
    return form, what.format(max_quote=max_quote, default_news=default_news, max_news=max_news)


# ---------------------------------------------------------------- what the command runner answers

STARTING: Final = "marketbot is still starting up; try again in a minute."
NEEDS_MANAGE: Final = (
    "Changing watchlists and subscriptions needs the Manage Channels permission in this server. "
    "Ask someone who has it, or a server admin can grant it to your role."
)
OUT_OF_DATE: Final = (
    "This command's definition is out of date in Discord; marketbot updates it when it restarts. "
    "Try again in a minute."
)
FAILED_SOMEHOW: Final = "Something went wrong running that command; the error was logged for the bot's admin."


def took_too_long(command: str) -> str:
    return f"/{command} took too long to answer; try again in a minute."


def failed(command: str) -> str:
    return f"Something went wrong running /{command}; the error was logged for the bot's admin."


# ---------------------------------------------------------------- input errors

TOO_LONG = "That is {length:,} characters; a command takes at most {limit:,}. Split it into several commands."


def no_command(command: str, names: Sequence[str]) -> str:
    """An unknown command: the ones there are (``/quote, /news, /watch or /feed``)."""
    listed = (
        ", ".join(f"/{n}" for n in names[:-1]) + f" or /{names[-1]}" if len(names) > 1 else f"/{names[0]}"
    )
    return f"Unknown command /{command}: use {listed}."


UNEXPECTED = (
    "Something went wrong on my side while answering that; nothing was changed. "
    "Please try again in a minute, and tell the bot's admin if it keeps happening."
)


def unknown_subcommand(word: str, suggestion: str | None) -> str:
    hint = f" Did you mean /watch {suggestion}?" if suggestion else ""
    return f"/watch has no command {word!r}.{hint} Try /watch help."


def missing(what: str, key: str) -> str:
    return needs(key, what)


def needs(key: str, what: str) -> str:
    """``FORM needs WHAT.``: a required argument is missing (``key`` names the usage)."""
    return needs_form(_usage(key)[0], what)


def needs_form(form: str, what: str) -> str:
    return f"{form} needs {what}" + ("" if what.endswith(".") else ".")


def extra_arguments(key: str, extra: Sequence[str]) -> str:
    return extra_arguments_form(_usage(key)[0], extra)


def extra_arguments_form(form: str, extra: Sequence[str]) -> str:
    shown = " ".join(extra)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"Unexpected {shown!r} after the command: it is {form}."


def bad_name(name: str) -> str:
    shown = name if len(name) <= 40 else name[:37] + "..."
    why = "is too long" if len(name) > 32 else "has characters other than letters, digits, - and _"
    return f"Watchlist name {shown!r} {why}: use 1-32 letters, digits, '-' or '_', e.g. cloud-china."


def bad_symbol(text: str) -> str:
    shown = text if len(text) <= 20 else text[:17] + "..."
    return f"{shown!r} is not a ticker symbol: use letters and digits with an optional suffix, e.g. NVDA, BRK-B, SHOP.TO."


def too_many_symbols(count: int, limit: int) -> str:
    return f"That is {count} tickers; /quote takes at most {limit} at once."


def bad_count(text: str, limit: int) -> str:
    return f"{text!r} is not a number of stories: write a whole number from 1 to {limit}, e.g. /news AMZN 10."


def count_clamped(asked: int, limit: int) -> str:
    return f"Showing {limit}, the most /news shows at once (you asked for {asked})."


def bad_duration(text: str) -> str:
    return f"{text!r} is not a duration: write e.g. 30m, 2h or 1d."


def duration_needs_unit(text: str) -> str:
    return f"{text!r} needs a unit: write {text}m for minutes, {text}h for hours or {text}d for days."


def duration_out_of_range(text: str, low: timedelta, high: timedelta) -> str:
    return f"Mute for {text}? Choose between {format_duration(low)} and {format_duration(high)}."


def empty_query() -> str:
    return "The query is empty. Example: /watch query chips '($NVDA OR $AMD) AND \"export control\"'"


def bad_query(error: str) -> str:
    return f"The query has a problem: {error}. Quote the whole query in single quotes, as in /watch query NAME '$NVDA AND chips'."


# ---------------------------------------------------------------- watchlists


def no_watchlist(name: str, suggestions: Sequence[str]) -> str:
    hint = f" Did you mean {', '.join(suggestions)}?" if suggestions else ""
    return f"There is no watchlist named {name!r} here.{hint} /watch list shows them all."


def already_exists(name: str, read_only: bool) -> str:
    if read_only:
        return f"{name!r} is already a watchlist from the config file; choose another name."
    return f"There is already a watchlist named {name!r} here; use /watch add {name} ITEMS... to change it."


def read_only(name: str) -> str:
    return (
        f"{name!r} comes from the bot's config file, so it cannot be changed from chat: ask the bot's "
        "admin to edit config/bot.yaml. You can still subscribe this channel to it, or create your own "
        "with /watch create."
    )


def too_many_watchlists(limit: int) -> str:
    return (
        f"This workspace already has {limit} watchlists, the most allowed (commands.max_watchlists in "
        "the config). Delete one with /watch delete NAME first."
    )


def too_many_items(name: str, count: int, limit: int) -> str:
    return (
        f"{name!r} would have {count} items; a watchlist holds at most {limit} (commands.max_items in the "
        "config). Remove some first or split it into two watchlists."
    )


def no_items(key: str) -> str:
    form, _ = _usage(key)
    return f"{form} needs at least one ticker or keyword. {ITEMS_LINE}"


def uses_query(name: str) -> str:
    return (
        f"{name!r} matches with a query, so it has no ticker or keyword list to change: set a new "
        f"query with /watch query {name} '<query>'."
    )


def term_too_long(shown: str, limit: int) -> str:
    return f"{shown[:30]}... is longer than {limit} characters; a keyword or phrase should be a few words."


def more_problems(count: int) -> str:
    return f"... and {count} more."


def item_problems_title(count: int) -> str:
    return (
        "Nothing was changed: one item needs fixing"
        if count == 1
        else f"Nothing was changed: {count} items need fixing"
    )


def unknown_symbol(symbol: str, suggestions: Sequence[str]) -> str:
    near = f"did you mean {' or '.join(suggestions)}? " if suggestions else ""
    return f'{symbol} is not a symbol I know: {near}Write ${symbol} to add it anyway, or "{symbol}" in quotes for a keyword.'


def not_in_watchlist(name: str) -> str:
    return f"not in {name}"


def nothing_removed(name: str) -> str:
    return f"None of those are in {name!r}; /watch show {name} lists what is."


def emptied(name: str) -> str:
    return (
        f"That would leave {name!r} with no tickers or keywords. Keep at least one, or delete it with "
        f"/watch delete {name}."
    )


def watchlist_kept(name: str) -> str:
    return f"Nothing new: everything is already in {name}."


# readings of items, echoed after create/add/remove
def read_ticker(symbol: str, company: str | None) -> str:
    return f"ticker {symbol}" + (f" ({company})" if company else "")


def read_unknown_ticker(symbol: str, suggestions: Sequence[str]) -> str:
    near = f"; nearest known: {', '.join(suggestions)}" if suggestions else ""
    return f"ticker {symbol}, not in the symbol directory (added as you asked{near})"


READ_WORD = "keyword {term} (whole word; also matches other forms such as plurals)"
READ_PHRASE = 'phrase "{term}" (these words in a row)'
READ_PREFIX = "prefix {term} (any word starting with {stem})"
READ_EXACT = "exact word {term} (only this form)"
READ_TICKER_TERM = "ticker {term}"


def read_exclude(reading: str) -> str:
    return f"exclude: {reading} (a story containing it never matches)"


def hint_stoplisted(symbol: str) -> str:
    return f"read as a keyword because {symbol} is a common word or acronym; write ${symbol} for the ticker"


def hint_lowercase_symbol(symbol: str) -> str:
    return f"read as a keyword; for the ticker write {symbol} or ${symbol}"


def hint_company(company: str, symbol: str) -> str:
    return f"tip: ${symbol} watches {company} by ticker and by name"


def already_there(reading: str) -> str:
    return f"{reading}, already in the watchlist"


def created(name: str, count: int) -> str:
    return f"Created watchlist {name} with {count} item{'s' if count != 1 else ''}. Subscribe this channel with /watch subscribe {name}."


def added(name: str, count: int) -> str:
    return f"Added {count} item{'s' if count != 1 else ''} to {name}."


def removed(name: str, count: int) -> str:
    return f"Removed {count} item{'s' if count != 1 else ''} from {name}."


def deleted(name: str, subscriptions: int) -> str:
    subs = (
        f" and its {subscriptions} subscription{'s' if subscriptions != 1 else ''}" if subscriptions else ""
    )
    return f"Deleted watchlist {name}{subs}."


def query_set(name: str, created_now: bool, replaced: int) -> str:
    head = f"Created watchlist {name} with a query" if created_now else f"{name} now matches with this query"
    tail = (
        f"; it replaces its {replaced} ticker and keyword item{'s' if replaced != 1 else ''}"
        if replaced
        else ""
    )
    return f"{head}{tail}. Try it with /watch test {name}."


def edits_apply() -> str:
    return "Changes apply from the next poll."


# ---------------------------------------------------------------- subscriptions


def subscribed(name: str, briefing: bool) -> str:
    extra = " and the pre-market briefing on trading days" if briefing else ""
    return f"This channel now gets alerts from {name}{extra}."


def already_subscribed(name: str, briefing: bool) -> str:
    state = "with" if briefing else "without"
    return f"This channel is already subscribed to {name} ({state} the pre-market briefing)."


def subscribed_with(name: str, options: str) -> str:
    return f"This channel now gets alerts from {name} with {options}."


def options_changed(name: str, changes: str) -> str:
    return f"Changed {name} in this channel: {changes}."


def options_kept(name: str) -> str:
    return f"Nothing changed: {name} in this channel already has those options."


def options_title(name: str) -> str:
    return f"Options of {name} in this channel"


def config_options(name: str) -> str:
    return (
        f"This channel's subscription to {name} comes from the bot's config file, so its options are "
        "set there: ask the bot's admin to edit config/bot.yaml (you can mute it meanwhile with /watch mute 1d)."
    )


def held_alerts(count: int) -> str:
    return f"{count} held alert{'s' if count != 1 else ''}"


def queued_alerts(count: int) -> str:
    return f"{count} queued"


def failed_alerts(count: int) -> str:
    return f"{count} failed"


def briefing_changed(name: str, briefing: bool) -> str:
    return f"The pre-market briefing for {name} is now {'on' if briefing else 'off'} in this channel."


def unsubscribed(name: str) -> str:
    return f"This channel no longer gets alerts from {name}."


def not_subscribed(name: str) -> str:
    return f"This channel is not subscribed to {name!r}; /watch subscriptions shows what it is."


def config_subscription(name: str) -> str:
    return (
        f"This channel's subscription to {name} comes from the bot's config file: ask the bot's admin to "
        "remove it there (you can mute it meanwhile with /watch mute 1d)."
    )


def no_subscriptions() -> str:
    return "This channel has no subscriptions. Try /watch list, then /watch subscribe NAME."


MUTED_TITLE = "Muted"
UNMUTED_TITLE = "Unmuted"


def muted(until_text: str, count: int, name: str | None) -> str:
    what = name if name else f"{count} subscription{'s' if count != 1 else ''}"
    return f"Muted {what} in this channel until {until_text}. Alerts meanwhile are held, not lost; /watch unmute ends it."


def unmuted(count: int, name: str | None) -> str:
    what = name if name else f"{count} subscription{'s' if count != 1 else ''}"
    return f"Unmuted {what} in this channel."


def not_muted() -> str:
    return "Nothing is muted in this channel."


# ---------------------------------------------------------------- permissions

DENIED_RESTRICTED = (
    "Only admins can change watchlists and subscriptions in this workspace (commands.restrict_to_admins "
    "in the config). Ask a workspace admin or one of the bot's admins."
)
DENIED_DISCORD = (
    "Changing watchlists and subscriptions needs the Manage Channels permission in this server. "
    "Ask a moderator, or use /watch list, show and test, which anyone can."
)


def denied_not_creator(name: str) -> str:
    return (
        f"Only the creator of {name!r}, workspace admins and the bot's admins can change or delete it. "
        "You can make your own copy with /watch create."
    )


# ---------------------------------------------------------------- quote and news

QUOTE_TITLE = "Quotes"
NO_HEADLINES = "no recent headlines"
CHART_UNAVAILABLE = "The chart is not available right now."
PRICES_UNAVAILABLE = "Prices are not available right now (the quote service did not answer); headlines below."


def quote_title(symbols: Sequence[str]) -> str:
    return f"Quote: {symbols[0]}" if len(symbols) == 1 else f"Quotes: {', '.join(symbols)}"


def price_unavailable(symbol: str, suggestions: Sequence[str]) -> str:
    near = f" Did you mean {' or '.join(suggestions)}?" if suggestions else ""
    return f"No price for {symbol}.{near}"


def news_title(symbol: str) -> str:
    return f"Latest news on {symbol}"


def no_news(symbol: str, suggestions: Sequence[str]) -> str:
    near = f" Did you mean {' or '.join(suggestions)}?" if suggestions else ""
    return f"No stories mentioning {symbol} yet.{near} New ones arrive as the feeds are polled."


# ---------------------------------------------------------------- listings

LIST_TITLE = "Watchlists"
LIST_EMPTY = 'There are no watchlists yet. Create one: /watch create cloud-china AMZN MSFT "export control"'


def list_none_containing(text: str) -> str:
    return f"No watchlist name here contains {text!r}. /watch list shows them all."


def list_shown(shown: int, total: int, contains: str | None) -> str:
    which = f"watchlists containing {contains!r}" if contains else "watchlists"
    return (
        f"Showing {shown} of {total:,} {which}, those subscribed here first: "
        "/watch list TEXT narrows the list, /watch show NAME shows one."
    )


FROM_CONFIG = "from the config file (read-only here)"
SUBSCRIBED_HERE = "subscribed here"
SUBSCRIPTIONS_TITLE = "Subscriptions of this channel"


def made_by(user: str) -> str:
    return f"made in chat by {user}" if user else "made in chat"


def summary_counts(tickers: int, keywords: int, exclude: int) -> str:
    parts = []
    if tickers:
        parts.append(f"{tickers} ticker{'s' if tickers != 1 else ''}")
    if keywords:
        parts.append(f"{keywords} keyword{'s' if keywords != 1 else ''}")
    if exclude:
        parts.append(f"{exclude} excluded")
    return ", ".join(parts) or "empty"


def show_title(name: str) -> str:
    return f"Watchlist {name}"


NONE = "none"
THIS_CHANNEL = "this channel"
BROKEN = "broken"


def elsewhere(count: int) -> str:
    return f"and {count} channel{'s' if count != 1 else ''} elsewhere"


def muted_until(text: str) -> str:
    return f"muted until {text}"


# ---------------------------------------------------------------- test

TEST_WINDOW = timedelta(hours=24)
TEST_SHOWN = 10


def test_title(name: str) -> str:
    return f"Test of {name}: the last 24 hours"


def test_summary(matched: int, total: int, shown: int) -> str:
    if total == 0:
        return "No stories arrived in the last 24 hours, so there is nothing to test against yet."
    if matched == 0:
        return (
            f"None of the {total} stories of the last 24 hours would have matched. Try broader keywords "
            '(cloud instead of "cloud computing"), a prefix (chip*), or more tickers.'
        )
    more = f" (showing the newest {shown})" if shown < matched else ""
    return f"{matched} of {total} stories of the last 24 hours would have matched{more}."


def why(tickers: Sequence[str], terms: Sequence[str]) -> str:
    parts = []
    if tickers:
        parts.append("tickers " + ", ".join(tickers))
    if terms:
        parts.append("terms " + ", ".join(terms))
    return "matched " + "; ".join(parts) if parts else "matched"


# ---------------------------------------------------------------- /feed

FEED_ADDED_TITLE = "Feed added"
FEED_REMOVED_TITLE = "Feed removed"
FEED_LIST_TITLE = "Feeds of this workspace"
FEED_NOT_ADDED_TITLE = "Feed not added"
FEED_TEST_FAILED_TITLE = "That is not a feed I can poll"
DENIED_FEEDS = (
    "Only admins can manage feeds: Slack workspace admins and owners, the bot's configured admins, "
    "or in Discord members with the Manage Server permission."
)
FEED_LIST_EMPTY = "No feeds added here yet. Add one: /feed add https://example.com/markets.rss"
FEED_NEVER_POLLED = "not polled yet (within a minute or so)"


def unknown_feed_subcommand(word: str, suggestion: str | None) -> str:
    hint = f" Did you mean /feed {suggestion}?" if suggestion else ""
    return f"/feed has no command {word!r}.{hint} Try /feed help."


def bad_feed_url(shown: str) -> str:
    return f"{shown!r} is not a feed URL: write one that starts with http:// or https://, e.g. https://example.com/rss"


def bad_feed_name(shown: str, limit: int) -> str:
    return f"{shown!r} cannot be a feed name: use 1 to {limit} characters, letters, digits, spaces and - _ . & ( )"


def bad_interval(text: str) -> str:
    return f"{text!r} is not an interval: write every 5m, every 30m or every 2h"


def interval_out_of_range(text: str, low: str, high: str) -> str:
    return f"every {text} is out of range: a chat feed is polled every {low} at the most often, {high} at the least"


def feed_not_added(reason: str) -> str:
    return f"Not added: {reason}"


def feed_name_taken(name: str) -> str:
    return f"This workspace already has a feed called {name!r}: pick another name with name NAME, or /feed remove {name} first."


def feed_url_taken(url: str, name: str) -> str:
    return f"This workspace already polls {url} (as {name!r}); nothing was added."


def feed_limit(limit: int) -> str:
    return f"This workspace has {limit} feeds, the limit: /feed remove one first (see /feed list)."


def no_such_feed(name: str, names: Sequence[str]) -> str:
    if not names:
        return f"There is no feed called {name!r} here (none were added here yet)."
    shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
    return f"There is no feed called {name!r} here. Feeds: {shown}."


def _items(n: int) -> str:
    return "no items yet" if n == 0 else "1 item" if n == 1 else f"{n} items"


def feed_added(name: str, url: str, every: str, items: int) -> str:
    return (
        f"{name} ({url}) is polled every {every}; it has {_items(items) if items else 'no items yet'}"
        f"{' now' if items else ''}. "
        "New ones reach matching watchlists."
    )


def feed_removed(name: str, url: str) -> str:
    return f"{name} ({url}) is no longer polled. Stories it already brought in stay."


def feed_test_summary(title: str, items: int, shown: int) -> str:
    if items == 0:
        return f"{title}: a valid feed with no items yet; new ones will be polled (nothing was added)."
    newest = "below" if items == 1 else f"the {shown} newest below"
    return f"{title}: {_items(items)}, {newest} (nothing was added)."


def would_match(names: Sequence[str]) -> str:
    return "would match " + ", ".join(names) if names else "matches no watchlist here"


def feed_count(n: int, limit: int) -> str:
    return f"{n} of {limit} feeds"


# ---------------------------------------------------------------- /watch status

STATUS_TITLE = "Status of this workspace"
STATUS_SHOWN = 40
NO_ALERT_YET = "no alert sent yet"


def last_alert(when: str, at: datetime, now: datetime) -> str:
    return f"last alert {when} ({format_age(at, now)})"


def status_summary(
    *, feeds: int, failing: int, subscriptions: int, channels: int, queued: int, held: int, tz: str
) -> str:
    feed_part = f"{feeds} feed{'s' if feeds != 1 else ''} added here" + (
        f" ({failing} failing)" if failing else ""
    )
    subs_part = f"{subscriptions} subscription{'s' if subscriptions != 1 else ''} in {channels} channel{'s' if channels != 1 else ''}"
    queue_part = f"{queued} alert{'s' if queued != 1 else ''} queued, {held} held"
    return f"{feed_part} · {subs_part} · {queue_part}. Times in {tz}."


def status_more(n: int) -> str:
    return f"{n} more lines not shown: see /feed list and /watch subscriptions in each channel."


# ---------------------------------------------------------------- any command's arguments (from the spec)


def unknown_subcommand_of(command: str, word: str, suggestion: str | None) -> str:
    hint = f" Did you mean /{command} {suggestion}?" if suggestion else ""
    return f"/{command} has no command {word!r}.{hint} Try /{command} help."


def _cut(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def not_a_choice(name: str, text: str, allowed: Sequence[str]) -> str:
    return f"{name} is {_cut(text)!r}: write one of {', '.join(allowed)}."


def not_on_off(name: str, text: str) -> str:
    return f"{name} is {_cut(text)!r}: write on or off."


def not_a_number(name: str, text: str, low: int, high: int | None) -> str:
    upto = f" to {high}" if high is not None else " or more"
    return f"{name} is {_cut(text)!r}: write a whole number from {low}{upto}."


def bad_length(name: str, text: str, low: int, high: int | None) -> str:
    upto = f" to {high}" if high is not None else " or more"
    return f"{name} is {_cut(text)!r}: write {low}{upto} characters."
