"""Alert composition: a story, its match and quotes become a platform-neutral ``Alert``.

Pure functions (no I/O). Every alert leaves through ``escape.clean_alert``, so renderers get
one-line titles, no control characters and only http(s) links (see ``bot.delivery.escape``).

Idempotency keys (the outbox sends each key at most once):

* ``story:<story_id>:ch:<platform>:<channel>`` — the alert for a story in a channel: one per
  (story, channel), however many of the channel's subscriptions matched it (it names all of
  their watchlists). Rows queued before this key existed have ``story:<story_id>:sub:<id>``
  (``story_key``); the pipeline checks both, so an upgrade never re-sends a story;
* ``followup:<story_id>:sub:<subscription_id>:<n>`` — the n-th "also reported by" reply (from 0);
  the pipeline queues it as ``followup:<story_id>:<channel>:after:<previous reply's row id>``, so
  that only one reply can follow another in a channel;
* ``digest:sub:<subscription_id>:<first id>-<last id>`` — held alerts folded into one message;
* ``late:<key>`` — a single held alert delivered late, as itself;
* ``edit:<key>`` — a late-price edit of the message sent for ``<key>`` (see the dispatcher).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.delivery.escape import clean_alert, one_line
from bot.domain.models import (
    Alert,
    ChannelRef,
    DigestEntry,
    Match,
    QuietHours,
    Quote,
    Story,
    StorySource,
    Subscription,
    TickerLine,
)

EDIT_PREFIX = "edit:"
DIGEST_MAX_ENTRIES = 20


def channel_story_key(story_id: str, channel: ChannelRef) -> str:
    """The key of a story's alert in a channel (one message per story and channel)."""
    return f"story:{story_id}:ch:{channel}"


def story_key(story_id: str, subscription_id: int) -> str:
    """The key story alerts had when they were queued per subscription (before ``channel_story_key``)."""
    return f"story:{story_id}:sub:{subscription_id}"


def merge_matches(matches: Sequence[Match]) -> Match:
    """One match for several watchlists that matched a story in one channel: the first one's
    name and scope, the union of matched tickers, terms and hits (in order)."""
    first = matches[0]
    return dataclasses.replace(
        first,
        tickers=tuple(dict.fromkeys(t for m in matches for t in m.tickers)),
        terms=tuple(dict.fromkeys(t for m in matches for t in m.terms)),
        hits=tuple(dict.fromkeys(h for m in matches for h in m.hits)),
    )


def followup_key(story_id: str, subscription_id: int, sequence: int) -> str:
    return f"followup:{story_id}:sub:{subscription_id}:{sequence}"


def edit_key(key: str) -> str:
    """The key of the row that edits the message sent for ``key`` (late prices)."""
    return f"{EDIT_PREFIX}{key}"


def edited_key(key: str) -> str | None:
    """The original key an ``edit:`` row edits, or None for an ordinary row."""
    return key[len(EDIT_PREFIX) :] if key.startswith(EDIT_PREFIX) else None


# ---------------------------------------------------------------- tickers


def order_tickers(
    *,
    matched: Sequence[str],
    watchlist_tickers: Collection[str],
    detected: Sequence[str],
    limit: int,
) -> tuple[TickerLine, ...]:
    """Ticker lines for an alert: the watchlist's tickers first, then other detected ones.

    ``matched`` are the watchlist tickers the match found (in the match's order); detected
    tickers that are also in the watchlist follow them; every other detected ticker after.
    At most ``limit`` lines; prices are filled in later by ``with_quotes``.
    """
    ordered: dict[str, bool] = {}
    for sym in matched:
        ordered.setdefault(sym, True)
    for sym in detected:
        if sym in watchlist_tickers:
            ordered.setdefault(sym, True)
    for sym in detected:
        ordered.setdefault(sym, False)
    return tuple(TickerLine(sym, None, mine) for sym, mine in list(ordered.items())[: max(limit, 0)])


def with_quotes(alert: Alert, quotes: Mapping[str, Quote]) -> Alert:
    """The alert with each ticker line's quote set from ``quotes`` (unavailable prices stay None)."""
    lines = []
    for line in alert.tickers:
        q = quotes.get(line.symbol)
        lines.append(dataclasses.replace(line, quote=q if q is not None and q.available else line.quote))
    return dataclasses.replace(alert, tickers=tuple(lines))


def missing_prices(alert: Alert) -> tuple[str, ...]:
    """Symbols of the alert's ticker lines that have no price yet."""
    return tuple(t.symbol for t in alert.tickers if t.quote is None or not t.quote.available)


def largest_move(symbols: Sequence[str], quotes: Mapping[str, Quote]) -> float | None:
    """The largest absolute change % among ``symbols`` with a known move (None: none known)."""
    moves = [
        abs(q.change_pct)
        for s in symbols
        if (q := quotes.get(s)) is not None and q.available and q.change_pct is not None
    ]
    return max(moves) if moves else None


# ---------------------------------------------------------------- story alerts


def compose_story(
    story: Story,
    match: Match,
    channel: ChannelRef,
    *,
    watchlists: Sequence[str] = (),
    tickers: Sequence[TickerLine],
    quotes: Mapping[str, Quote],
    now: datetime,
    note: str = "",
) -> Alert:
    """The alert for a story in a channel (kind ``story``), naming every matched watchlist.

    ``match`` is the (merged, see ``merge_matches``) match; ``watchlists`` default to its one.
    Age is not baked in: renderers compute it from ``published_at`` when they render.
    """
    names = tuple(dict.fromkeys(watchlists)) or (match.watchlist,)
    alert = Alert(
        key=channel_story_key(story.id, channel),
        kind="story",
        channel=channel,
        watchlist=names[0],
        watchlists=names,
        title=story.title,
        link=story.canonical_url or story.link,
        source=story.source,
        published_at=story.published_at,
        summary=story.summary,
        tickers=tuple(tickers),
        terms=match.terms,
        story_id=story.id,
        note=note,
        created_at=now,
    )
    alert = clean_alert(with_quotes(alert, quotes))
    if not alert.link and story.link and story.link != story.canonical_url:
        alert = clean_alert(dataclasses.replace(alert, link=story.link))  # canonical one was not http(s)
    return alert


def compose_followup(
    story: Story,
    sources: Sequence[StorySource],
    subscription: Subscription,
    *,
    watchlist: str,
    sequence: int,
    thread_of: str | None,
    now: datetime,
    watchlists: Sequence[str] = (),
) -> Alert:
    """An "Also reported by A, B" reply to a story's alert (kind ``followup``).

    ``note`` holds the whole user-facing line; ``entries`` list each outlet with its link;
    ``thread_of`` is the story alert's message id when known (else the dispatcher finds it).
    """
    names = list(dict.fromkeys(one_line(s.source) for s in sources if one_line(s.source)))
    alert = Alert(
        key=followup_key(story.id, subscription.id, sequence),
        kind="followup",
        channel=subscription.channel,
        watchlist=watchlist,
        watchlists=tuple(watchlists),
        title=story.title,
        link=sources[0].link if sources else "",
        source=", ".join(names),
        published_at=story.published_at,
        entries=tuple(
            DigestEntry(title=story.title, link=s.link, source=s.source, published_at=s.seen_at)
            for s in sources
        ),
        story_id=story.id,
        note=f"Also reported by {_join(names)}",
        thread_of=thread_of,
        created_at=now,
    )
    return clean_alert(alert)


def _join(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


# ---------------------------------------------------------------- digests


def digest_entry(alert: Alert) -> DigestEntry:
    return DigestEntry(
        title=alert.title,
        link=alert.link,
        source=alert.source,
        published_at=alert.published_at,
        tickers=tuple(t.symbol for t in alert.tickers),
    )


def compose_digest(
    alerts: Sequence[Alert],
    subscription: Subscription,
    *,
    key: str,
    reason: str,
    now: datetime,
    max_entries: int = DIGEST_MAX_ENTRIES,
) -> Alert:
    """One message listing held alerts (kind ``digest``), oldest first, at most ``max_entries``.

    ``title`` says how many and for which watchlist, ``note`` why they were held (and how many
    more there were when the list is cut).
    """
    n = len(alerts)
    watchlist = alerts[0].watchlist if alerts else subscription.watchlist
    shown = alerts[:max_entries]
    note = reason
    if n > len(shown):
        note = f"{reason} Showing the first {len(shown)} of {n}."
    alert = Alert(
        key=key,
        kind="digest",
        channel=subscription.channel,
        watchlist=watchlist,
        title=f"{n} alert{'s' if n != 1 else ''} for {watchlist}",
        entries=tuple(digest_entry(a) for a in shown),
        note=note,
        late=True,
        created_at=now,
    )
    return clean_alert(alert)


def compose_late(alert: Alert, *, reason: str, now: datetime) -> Alert:
    """A single held alert delivered as itself when its hold ends, marked late."""
    note = f"{alert.note} {reason}".strip() if alert.note else reason
    return clean_alert(
        dataclasses.replace(alert, key=f"late:{alert.key}", late=True, note=note, created_at=now)
    )


# ---------------------------------------------------------------- quiet hours


def in_quiet_hours(quiet: QuietHours | None, now: datetime, tz: ZoneInfo) -> bool:
    """Whether ``now`` falls in the daily window (wrapping midnight when start > end)."""
    if quiet is None:
        return False
    t = now.astimezone(tz).time().replace(tzinfo=None)
    return _within(quiet.start, quiet.end, t)


def hold_reason(sub: Subscription, now: datetime, tz: ZoneInfo) -> str | None:
    """Why an alert for ``sub`` is held now (a mute or quiet hours), or None to send it."""
    opts = sub.options
    if opts.mute_until is not None and opts.mute_until > now:
        return f"muted until {opts.mute_until.astimezone(tz):%Y-%m-%d %H:%M %Z}"
    if in_quiet_hours(opts.quiet_hours, now, tz):
        return f"quiet hours {opts.quiet_hours}"
    return None


def _within(start: time, end: time, t: time) -> bool:
    if start < end:
        return start <= t < end
    return t >= start or t < end


def quiet_hours_end(quiet: QuietHours, now: datetime, tz: ZoneInfo) -> datetime:
    """When the quiet window containing ``now`` ends (the next ``end`` time, local wall clock)."""
    local = now.astimezone(tz)
    candidate = datetime.combine(local.date(), quiet.end, tzinfo=tz)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), quiet.end, tzinfo=tz)
    return candidate
