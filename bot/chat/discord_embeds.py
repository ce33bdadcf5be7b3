"""Alerts and replies as Discord embeds: escaped, linked only to http(s), trimmed to Discord's limits.

Pure functions on plain dicts in Discord's JSON shape (no SDK, no I/O), so every limit and
every escape is unit-testable; the adapter turns them into ``discord.Embed`` objects.

Feed text can never ping or inject markup: markdown characters are backslash-escaped,
``@everyone``/``@here`` and ``<@…>``, ``<@&…>``, ``<#…>``, ``<t:…>``, ``</…>`` get a
zero-width space so neither the client nor Discord's mention parser sees them (they still
read the same), masked links only come from us and only to http(s) URLs. Embeds never
notify anyone, and the adapter also sends ``allowed_mentions`` with nothing allowed.
Rendering never fails: what does not fit is trimmed with an ellipsis or "… and N more".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from bot.delivery.escape import one_line, safe_link
from bot.domain.models import Alert, Attachment, Quote, Reply, TickerLine
from bot.domain.text import strip_control
from bot.domain.view import AlertView, EntryView, PriceView, alert_view, price_view

# Discord's documented limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits)
TITLE: Final = 256
DESCRIPTION: Final = 4096
FIELDS: Final = 25
FIELD_NAME: Final = 256
FIELD_VALUE: Final = 1024
FOOTER: Final = 2048
AUTHOR: Final = 256
EMBED_TOTAL: Final = 6000
EMBEDS_PER_MESSAGE: Final = 10
CONTENT: Final = 2000
FILES_PER_MESSAGE: Final = 10

# Colours: the move's direction at a glance.
UP_COLOUR: Final = 0x2ECC71
DOWN_COLOUR: Final = 0xE74C3C
FLAT_COLOUR: Final = 0x95A5A6
INFO_COLOUR: Final = 0x5865F2
ERROR_COLOUR: Final = 0xED4245

ELLIPSIS: Final = "…"
ZWSP: Final = "\u200b"
_MIN_DESCRIPTION: Final = 200  # fields are dropped before the description shrinks below this

# a bare URL as Discord's client autolinks it (its url rule: https?://[^\s<]+[^<.,:;"')\]\s]);
# the text rule stops before any "word:", so a URL links even right after a letter
_URL: Final = re.compile(r"https?://[^\s<]+", re.IGNORECASE)
_URL_TAIL: Final = "<.,:;\"')]"
_MASS: Final = re.compile(r"@(everyone|here)", re.IGNORECASE)
# a line start that Discord would render as a heading, subtext, quote or list item
_LINE_START: Final = re.compile(r"^(\s*)(#{1,3}\s|-#\s|>|[-*+]\s|\d+[.)]\s)")
# "]" needs no escape once every "[" is escaped, and must not get one: after a bare URL the
# backslash would become part of the link
_ALWAYS: Final = frozenset("\\*_~`|[")


@dataclass(frozen=True, slots=True)
class DiscordMessage:
    """What a send or an edit carries: optional content, embed dicts and files."""

    content: str | None = None
    embeds: tuple[dict[str, Any], ...] = ()
    attachments: tuple[Attachment, ...] = ()
    ephemeral: bool = False


# ---------------------------------------------------------------- escaping


def _escape_text(text: str) -> list[str]:
    """Units of escaped text (never split when trimming): one per source character."""
    units: list[str] = []
    for lineno, line in enumerate(text.split("\n")):
        if lineno:
            units.append("\n")
        start = _LINE_START.match(line)
        guard = -1
        if start:  # escape the character that makes the block: '#', '-', '>', '*', '+' or the '.'
            lead = start.group(1)
            token = start.group(2)
            guard = len(lead) + (len(token.rstrip()) - 1 if token[0].isdigit() else 0)
        i = 0
        while i < len(line):
            c = line[i]
            mass = _MASS.match(line, i) if c == "@" else None
            if mass:
                units.append("@" + ZWSP + mass.group(1))
                i = mass.end()
                continue
            if c == "<":
                # no backslash: right after a bare URL it would become part of the link
                units.append("<" + ZWSP)
            elif c in _ALWAYS or c == ">" or i == guard:
                units.append("\\" + c)
            else:
                units.append(c)
            i += 1
    return units


def _units(text: str) -> list[str]:
    """Escaped units of ``text``; bare http(s) URLs stay whole and unescaped, as Discord shows them.

    Discord autolinks a bare URL and renders no markdown inside it, so a backslash there would
    show. A URL cannot hold ``<`` or spaces; ``@everyone``/``@here`` inside one still get a
    zero-width space.
    """
    out: list[str] = []
    pos = 0
    for m in _URL.finditer(text):
        url = m.group(0).rstrip(_URL_TAIL)
        out += _escape_text(text[pos : m.start()])
        out.append(_MASS.sub(lambda x: "@" + ZWSP + x.group(1), url))
        pos = m.start() + len(url)
    out += _escape_text(text[pos:])
    return out


def _join_within(units: Sequence[str], limit: int) -> str:
    total = sum(len(u) for u in units)
    if total <= limit:
        return "".join(units)
    if limit <= len(ELLIPSIS):
        return ELLIPSIS[:limit] if limit > 0 else ""
    kept: list[str] = []
    size = 0
    for u in units:
        if size + len(u) > limit - len(ELLIPSIS):
            break
        kept.append(u)
        size += len(u)
    # prefer a word boundary when one is near
    for back in range(len(kept) - 1, int(len(kept) * 0.7), -1):
        if kept[back] in (" ", "\n"):
            kept = kept[:back]
            break
    return "".join(kept).rstrip() + ELLIPSIS


def escape(text: str, limit: int = DESCRIPTION) -> str:
    """Escape plain text for Discord markdown (content, descriptions, titles, field names and values).

    Control characters are dropped, markdown is made literal, mentions are neutralised, and
    the result is trimmed to ``limit`` characters without splitting an escape.
    """
    return _join_within(_units(strip_control(text or "")), limit)


def escape_line(text: str, limit: int) -> str:
    """``escape`` for one-line places (titles, field names): newlines become spaces."""
    return _join_within(_units(one_line(text or "")), limit)


def plain(text: str, limit: int) -> str:
    """Text for places Discord shows verbatim (footers, author names): one line, trimmed."""
    text = one_line(text or "")
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)].rstrip() + ELLIPSIS


def masked_link(label: str, url: str | None, limit: int = 512) -> str:
    """``[label](url)`` when ``url`` is a safe http(s) URL; otherwise just the escaped label."""
    shown = escape_line(label, limit)
    target = safe_link(url) if url else None
    if not target or not shown:
        return shown
    # safe_link percent-encodes () [] <> and spaces, so the URL cannot end the link early;
    # a "]" in the label would end it early
    return f"[{shown.replace(']', chr(92) + ']')}]({target})"


def filename(name: str, index: int = 0) -> str:
    """An attachment name Discord accepts and ``attachment://`` can reference (ASCII, no spaces)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name or "").strip("._") or f"file{index}"
    return stem[-100:]


# ---------------------------------------------------------------- embed building


@dataclass
class EmbedDraft:
    """An embed being built; ``build`` makes it fit Discord's limits, whatever went in."""

    title: str = ""  # escaped
    url: str | None = None
    color: int | None = None
    timestamp: datetime | None = None
    author: str = ""  # plain
    footer: str = ""  # plain
    fields: list[tuple[str, str, bool]] = field(default_factory=list)  # escaped
    image: str | None = None
    description: Callable[[int], str] | None = None

    def add_field(self, name: str, value: str, *, inline: bool = True) -> None:
        name = name.strip() or "\u200b"
        value = value.strip() or "—"
        self.fields.append((name[:FIELD_NAME], value[:FIELD_VALUE], inline))

    def build(self) -> dict[str, Any]:
        fields = list(self.fields)
        if len(fields) > FIELDS:
            hidden = len(fields) - (FIELDS - 1)
            fields = [*fields[: FIELDS - 1], ("…", f"and {hidden} more", False)]
        fixed = len(self.title) + len(self.author) + len(self.footer)

        def used() -> int:
            return fixed + sum(len(n) + len(v) for n, v, _ in fields)

        while fields and used() > EMBED_TOTAL - (_MIN_DESCRIPTION if self.description else 0):
            fields.pop()
        budget = max(0, min(DESCRIPTION, EMBED_TOTAL - used()))
        out: dict[str, Any] = {"type": "rich"}
        if self.title:
            out["title"] = self.title
            if self.url:
                out["url"] = self.url
        description = self.description(budget) if self.description and budget else ""
        if description.strip():
            out["description"] = description
        if self.color is not None:
            out["color"] = self.color
        if self.timestamp is not None:
            ts = self.timestamp if self.timestamp.tzinfo else self.timestamp.replace(tzinfo=UTC)
            out["timestamp"] = ts.astimezone(UTC).isoformat()
        if self.author:
            out["author"] = {"name": self.author}
        if self.footer:
            out["footer"] = {"text": self.footer}
        if fields:
            out["fields"] = [{"name": n, "value": v, "inline": i} for n, v, i in fields]
        if self.image:
            out["image"] = {"url": self.image}
        if len(out) == 1:  # nothing at all: Discord refuses an empty embed
            out["description"] = "—"
        return out


def embed_size(embed: dict[str, Any]) -> int:
    """The characters Discord counts towards the 6,000 per-message total."""
    n = len(embed.get("title", "")) + len(embed.get("description", ""))
    n += len((embed.get("footer") or {}).get("text", "")) + len((embed.get("author") or {}).get("name", ""))
    return n + sum(len(f.get("name", "")) + len(f.get("value", "")) for f in embed.get("fields", []))


def _lines(lines: Sequence[str], *, head: str = "") -> Callable[[int], str]:
    """A description of whole lines within a budget, ending "… and N more" when cut."""

    def render(budget: int) -> str:
        out = [head] if head else []
        size = len(head)
        for i, line in enumerate(lines):
            extra = len(line) + (1 if out else 0)
            rest = len(lines) - i
            more = f"{ELLIPSIS} and {rest} more"
            reserve = len(more) + 1 if rest > 1 else 0
            if size + extra + reserve > budget:
                if size + len(more) + 1 <= budget:
                    out.append(more)
                elif not out:
                    out.append(_join_within(list(line), budget))
                break
            out.append(line)
            size += extra
        return "\n".join(out)

    return render


def _text(text: str) -> Callable[[int], str]:
    units = _units(strip_control(text))
    return lambda budget: _join_within(units, budget)


# ---------------------------------------------------------------- prices


def _move_colour(quotes: Sequence[Quote | None]) -> int:
    for q in quotes:
        if q is not None and q.price is not None and q.change_pct is not None:
            if round(q.change_pct, 2) > 0:
                return UP_COLOUR
            if round(q.change_pct, 2) < 0:
                return DOWN_COLOUR
            return FLAT_COLOUR
    return FLAT_COLOUR


def _alert_colour(tickers: Sequence[TickerLine]) -> int:
    mine = [t.quote for t in tickers if t.in_watchlist]
    others = [t.quote for t in tickers if not t.in_watchlist]
    return _move_colour([*mine, *others])


def quote_field(symbol: str, quote: Quote | None, *, name: str | None = None) -> tuple[str, str]:
    """A ticker as an embed field: ``▲ AMZN`` over ``$185.20 · +1.26% · pre-market``."""
    return _price_field(price_view(symbol, quote, name=name or ""))


def _price_field(view: PriceView) -> tuple[str, str]:
    head = view.symbol if not view.name else f"{view.symbol} · {view.name}"
    if not view.available:
        return escape_line(head, FIELD_NAME), escape(view.unavailable, FIELD_VALUE)
    if view.arrow:
        head = f"{view.arrow} {head}"
    parts = [p for p in (view.price, view.move, view.session) if p]
    return escape_line(head, FIELD_NAME), escape(" · ".join(parts), FIELD_VALUE)


# ---------------------------------------------------------------- alerts


def _footer(*parts: str) -> str:
    return plain(" · ".join(p for p in (one_line(x) for x in parts) if p), FOOTER)


def _entry_line(entry: EntryView) -> str:
    line = "• " + (masked_link(entry.title, entry.link) or escape_line(entry.link, 300))
    meta = [escape_line(entry.source, 100)] if entry.source else []
    if entry.tickers:
        meta.append(escape_line(" ".join(entry.tickers), 100))
    if entry.published_at is not None:
        ts = entry.published_at if entry.published_at.tzinfo else entry.published_at.replace(tzinfo=UTC)
        meta.append(f"<t:{int(ts.timestamp())}:R>")  # Discord shows "12 minutes ago" in each reader's time
    if meta:
        line += " — " + " · ".join(meta)
    return line


def alert_embed(alert: Alert) -> dict[str, Any]:
    """Render an Alert (story, follow-up, digest, briefing or move) as one embed; never raises.

    Times are the embed's timestamp and ``<t:…:R>`` marks, which Discord shows in each reader's
    own time zone, so the view is taken without ages in words.
    """
    view = alert_view(alert, now=None)
    if view.kind == "followup":
        return _followup(view, alert)
    draft = EmbedDraft(timestamp=alert.published_at or alert.created_at)
    draft.title = escape_line(view.title, TITLE) if view.title else ""
    link = safe_link(view.link)
    if link and draft.title:
        draft.url = link
    if view.kind in ("digest", "briefing"):
        draft.color = INFO_COLOUR
        draft.timestamp = alert.created_at or alert.published_at
        head = escape(view.note, 1000) if view.note else ""
        draft.description = _lines([_entry_line(e) for e in view.entries], head=head)
        draft.footer = _footer(alert.watchlist)
    else:
        draft.color = _alert_colour(alert.tickers)
        body = view.summary
        if view.note:
            body = f"{body}\n\n{view.note}" if body else view.note
        draft.description = _text(body) if body else None
        draft.footer = _footer(view.source, ", ".join(view.watchlist_names), view.late)
    for p in view.prices:
        name, value = _price_field(p)
        draft.add_field(name, value)
    if view.matched:
        draft.add_field("Matched", escape(", ".join(view.matched), FIELD_VALUE), inline=False)
    if link and not draft.title:
        draft.description = draft.description or _text(view.link)
    return draft.build()


def _followup(view: AlertView, alert: Alert) -> dict[str, Any]:
    linked = [x for x in (masked_link(o.outlet, o.link, 200) for o in view.outlets) if x]
    text = view.also_reported(linked) if linked else escape(view.also_reported(), 1000)
    lines = [text]
    if linked and view.extra_note():
        lines.append(escape(view.extra_note(), 1000))
    draft = EmbedDraft(color=FLAT_COLOUR, timestamp=alert.created_at, footer=_footer(alert.watchlist))
    draft.description = _lines(lines)
    return draft.build()


def alert_message(alert: Alert) -> DiscordMessage:
    """The message for an alert: one embed, no content (nothing that could ping)."""
    return DiscordMessage(content=None, embeds=(alert_embed(alert),))


# ---------------------------------------------------------------- replies


def _item_line(text: str, url: str, detail: str) -> str:
    head = masked_link(text, url) if url else f"**{escape_line(text, 500)}**"
    line = "• " + (head or escape_line(url, 300))
    if detail.strip():
        line += "\n" + escape(detail, 1000)
    return line


def reply_message(reply: Reply) -> DiscordMessage:
    """Render a command Reply as content or an embed (with its chart as the embed image); never raises."""
    attachments = tuple(
        Attachment(filename=filename(a.filename, i), data=a.data, content_type=a.content_type, title=a.title)
        for i, a in enumerate(reply.attachments[:FILES_PER_MESSAGE])
    )
    simple = not (reply.title or reply.items or reply.fields or reply.quotes or attachments or reply.error)
    if simple:
        text = escape(reply.text or "", CONTENT) or "—"
        return DiscordMessage(content=text, ephemeral=reply.private)
    draft = EmbedDraft(color=ERROR_COLOUR if reply.error else INFO_COLOUR)
    title = reply.title or ("Something went wrong" if reply.error and not reply.text else "")
    draft.title = escape_line(("⚠️ " if reply.error else "") + title, TITLE) if title else ""
    lines: list[str] = []
    if reply.text.strip():
        lines.append(escape(reply.text, DESCRIPTION))
    lines += [_item_line(i.text, i.link, i.detail) for i in reply.items]
    if lines:
        draft.description = _lines(lines)
    for q in reply.quotes:
        name, value = quote_field(q.symbol, q, name=q.name)
        draft.add_field(name, value)
    for f in reply.fields:
        value = escape(f.value, FIELD_VALUE)
        draft.add_field(escape_line(f.label, FIELD_NAME), value, inline=len(f.value) <= 40)
    image = next((a for a in attachments if a.content_type.startswith("image/")), None)
    if image is not None:
        draft.image = f"attachment://{image.filename}"
    return DiscordMessage(
        content=None, embeds=(draft.build(),), attachments=attachments, ephemeral=reply.private
    )


def render(message: Alert | Reply) -> DiscordMessage:
    """The Discord message for an alert or a command reply."""
    return alert_message(message) if isinstance(message, Alert) else reply_message(message)


__all__ = [
    "DiscordMessage",
    "EmbedDraft",
    "alert_embed",
    "alert_message",
    "embed_size",
    "escape",
    "escape_line",
    "masked_link",
    "plain",
    "render",
    "reply_message",
]
