"""Alerts and replies as Slack Block Kit: escaped, linked only to http(s), trimmed to Slack's limits.

Pure functions (no SDK, no I/O) so every limit and every escape is unit-testable. Feed text
can never produce ``<!channel>``, ``<!here>``, ``<@U…>``, ``<#C…>`` or ``<!subteam^…>``: ``&``,
``<`` and ``>`` are escaped, bare ``@channel``/``@here``/``@everyone`` get a word joiner, and every
mrkdwn object is ``verbatim`` so Slack does not auto-parse mentions or channel names.
Rendering never fails: text that does not fit is trimmed with an ellipsis.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from bot.domain.models import Alert, Quote, Reply, TickerLine
from bot.domain.text import strip_control
from bot.domain.view import AlertView, EntryView, PriceView, alert_view, price_view, ticker_view

# Slack's documented limits (https://docs.slack.dev/reference/block-kit/blocks)
MAX_BLOCKS = 50
SECTION_TEXT = 3000
FIELD_TEXT = 2000
MAX_FIELDS = 10
HEADER_TEXT = 150
CONTEXT_ELEMENTS = 10
MAX_MESSAGE_TEXT = 40_000
FALLBACK_TEXT = 3000  # the notification text: long enough to read, far below 40,000
MAX_URL = 3000

ELLIPSIS = "…"
WORD_JOINER = "\u2060"
_MASS_MENTION = re.compile(r"(?<![\w@])@(channel|here|everyone|group)\b", re.IGNORECASE)
_URL_SAFE = "/:?#[]@!$&'()*+,;=%-._~"

Block = dict[str, Any]


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """What chat.postMessage / chat.update / response_url get: fallback ``text`` and ``blocks``."""

    text: str
    blocks: tuple[Block, ...]

    def payload(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": list(self.blocks)}


# ---------------------------------------------------------------- escaping


def escape(text: str) -> str:
    """Escape plain text for mrkdwn: ``&``, ``<``, ``>`` as entities; no mass mentions; no controls."""
    text = strip_control(text).replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MASS_MENTION.sub(lambda m: "@" + WORD_JOINER + m.group(1), text)


def plain(text: str, limit: int) -> str:
    """Text for a ``plain_text`` object (not parsed by Slack): controls dropped, one line, trimmed."""
    text = " ".join(strip_control(text).split())
    return clip_plain(text, limit)


def clip_plain(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + ELLIPSIS


def clip(text: str, limit: int) -> str:
    """Trim escaped mrkdwn to ``limit`` characters without cutting a ``<link|label>`` or an entity."""
    if len(text) <= limit:
        return text
    head = text[: max(0, limit - 1)]
    lt = head.rfind("<")
    if lt != -1 and head.rfind(">") < lt:
        head = head[:lt]
    amp = head.rfind("&")
    if amp != -1 and ";" not in head[amp:]:
        head = head[:amp]
    return head.rstrip() + ELLIPSIS


def safe_url(url: str) -> str | None:
    """The URL ready for ``<url|label>``, or None when it is not a plain http(s) link.

    ``|``, ``<``, ``>``, spaces and non-ASCII are percent-encoded so the URL cannot end the link
    early or smuggle markup; ``&`` becomes ``&amp;`` as Slack requires.
    """
    url = strip_control(url).strip()
    if not url or len(url) > MAX_URL:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    quoted = quote(url, safe=_URL_SAFE)
    if len(quoted) > MAX_URL:
        return None
    return quoted.replace("&", "&amp;")


def link(url: str, label: str) -> str:
    """``<url|label>`` for http(s) URLs; just the escaped label otherwise (``javascript:`` stays text)."""
    shown = escape(" ".join(label.split()))
    target = safe_url(url)
    if target is None:
        return shown
    return f"<{target}|{shown}>" if shown else f"<{target}>"


# ---------------------------------------------------------------- block builders


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def plain_text(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": False}


def header(text: str) -> Block | None:
    shown = plain(text, HEADER_TEXT)
    return {"type": "header", "text": plain_text(shown)} if shown else None


def section(text: str) -> Block | None:
    text = clip(text.strip(), SECTION_TEXT)
    return {"type": "section", "text": mrkdwn(text)} if text else None


def context(parts: Iterable[str]) -> Block | None:
    elements = [mrkdwn(clip(p, SECTION_TEXT)) for p in parts if p.strip()]
    if not elements:
        return None
    if len(elements) > CONTEXT_ELEMENTS:
        rest = " · ".join(e["text"] for e in elements[CONTEXT_ELEMENTS - 1 :])
        elements = [*elements[: CONTEXT_ELEMENTS - 1], mrkdwn(clip(rest, SECTION_TEXT))]
    return {"type": "context", "elements": elements}


def field_sections(fields: Sequence[str]) -> list[Block]:
    """Section blocks of at most 10 fields of at most 2,000 characters each."""
    out: list[Block] = []
    cleaned = [clip(f, FIELD_TEXT) for f in fields if f.strip()]
    for i in range(0, len(cleaned), MAX_FIELDS):
        out.append({"type": "section", "fields": [mrkdwn(f) for f in cleaned[i : i + MAX_FIELDS]]})
    return out


def text_sections(lines: Sequence[str], *, limit: int = SECTION_TEXT) -> list[Block]:
    """Pack escaped lines into as few sections as fit Slack's 3,000-character limit."""
    out: list[Block] = []
    chunk: list[str] = []
    size = 0
    for line in lines:
        line = clip(line, limit)
        extra = len(line) + (1 if chunk else 0)
        if chunk and size + extra > limit:
            out.append({"type": "section", "text": mrkdwn("\n".join(chunk))})
            chunk, size = [], 0
            extra = len(line)
        chunk.append(line)
        size += extra
    if chunk:
        out.append({"type": "section", "text": mrkdwn("\n".join(chunk))})
    return out


def fit(blocks: Sequence[Block | None]) -> tuple[Block, ...]:
    """Drop empty blocks and keep at most 50; a last context line says how much was left out."""
    real = [b for b in blocks if b is not None]
    if len(real) <= MAX_BLOCKS:
        return tuple(real)
    kept = real[: MAX_BLOCKS - 1]
    note = context(
        [f"_{len(real) - len(kept)} more parts not shown (Slack allows {MAX_BLOCKS} per message)_"]
    )
    assert note is not None
    return (*kept, note)


def fallback(text: str) -> str:
    """The top-level ``text`` (notifications, screen readers): escaped mrkdwn, trimmed."""
    return clip(escape(" ".join(text.split())), FALLBACK_TEXT) or " "


# ---------------------------------------------------------------- prices


def quote_field(symbol: str, quote: Quote | None, *, name: str | None = None) -> str:
    """One ticker as a field: ``*AMZN*  $185.20`` over ``▲ +1.26% · pre-market``."""
    return _price_field(price_view(symbol, quote, name=name or ""))


def _price_field(view: PriceView) -> str:
    head = f"*{escape(view.symbol)}*"
    if view.name:
        head += f" {escape(view.name)}"
    if not view.available:
        return f"{head}\n{escape(view.unavailable)}"
    head += f"  {escape(view.price)}"
    move = [f"{view.arrow} {view.move}"] if view.move else []
    if view.session:
        move.append(view.session)
    return f"{head}\n{' · '.join(move)}" if move else head


def ticker_field(line: TickerLine) -> str:
    return _price_field(ticker_view(line))


# ---------------------------------------------------------------- alerts


def _entry_line(entry: EntryView) -> str:
    line = "• " + (link(entry.link, entry.title) or escape(entry.link))
    meta = [escape(m) for m in (entry.source, entry.age, " ".join(entry.tickers)) if m]
    if meta:
        line += " — " + " · ".join(meta)
    return line


def _context_line(view: AlertView) -> str:
    parts = [escape(p) for p in (view.source, view.age) if p]
    if view.watchlist_names:
        label = "watchlist" if len(view.watchlist_names) == 1 else "watchlists"
        parts.append(f"{label} " + ", ".join(f"*{escape(n)}*" for n in view.watchlist_names))
    if view.late:
        parts.append(f"_{view.late}_")
    return " · ".join(parts)


def alert_message(alert: Alert, *, now: datetime, in_thread: bool = False) -> SlackMessage:
    """Render an Alert (story, follow-up, digest, briefing or move) as Block Kit; never raises.

    A follow-up posted outside its story's thread (threads off) repeats the headline.
    """
    view = alert_view(alert, now=now)
    if view.kind == "followup":
        return _followup(view, in_thread=in_thread)
    blocks: list[Block | None] = []
    if view.kind == "story":
        blocks.append(section(f"*{link(view.link, clip_plain(view.title, 500) or '(untitled)')}*"))
    else:
        blocks.append(header(view.title))
        if view.link and safe_url(view.link):
            blocks.append(section(link(view.link, "Open the story")))
    blocks.append(context([_context_line(view)]))
    if view.summary:
        blocks.append(section(escape(view.summary)))
    if view.note:
        blocks.extend(text_sections(escape(view.note).split("\n")))
    blocks.extend(field_sections([_price_field(p) for p in view.prices]))
    if view.entries:
        blocks.extend(text_sections([_entry_line(e) for e in view.entries]))
    if view.matched:
        blocks.append(context(["Matched: " + ", ".join(escape(t) for t in view.matched)]))
    return SlackMessage(fallback(view.notification()), fit(blocks))


def _followup(view: AlertView, *, in_thread: bool) -> SlackMessage:
    """ "Also reported by A and B" with each outlet linked; outside a thread, with the headline."""
    if view.outlets:
        text = view.also_reported([link(o.link, o.outlet) for o in view.outlets])
        if view.extra_note():
            text += "\n" + escape(view.extra_note())
    else:
        text = escape(view.also_reported())
    notify = view.also_reported()
    blocks: list[Block | None] = []
    if not in_thread and view.title:
        blocks.append(section(f"*{escape(clip_plain(view.title, 500))}*"))
        notify = f"{notify}: {view.title}"
    blocks.append(section(text))
    if view.late:
        blocks.append(context([_context_line(view)]))
    return SlackMessage(fallback(notify), fit(blocks))


# ---------------------------------------------------------------- replies


def _item_line(text: str, url: str, detail: str) -> str:
    line = "• " + (link(url, text) if url else escape(text))
    if detail:
        line += "\n      " + escape(detail).replace("\n", "\n      ")
    return line


def reply_message(reply: Reply) -> SlackMessage:
    """Render a command Reply (title, text, items, fields, quotes) as Block Kit; never raises."""
    blocks: list[Block | None] = []
    title = reply.title
    if reply.error and title:
        title = "⚠️ " + title
    if title:
        blocks.append(header(title))
    if reply.text:
        text = escape(reply.text)
        if reply.error and not title:
            text = "⚠️ " + text
        blocks.extend(text_sections(text.split("\n")))
    if reply.quotes:
        blocks.extend(field_sections([quote_field(q.symbol, q, name=q.name) for q in reply.quotes]))
    if reply.fields:
        blocks.extend(field_sections([f"*{escape(f.label)}*\n{escape(f.value)}" for f in reply.fields]))
    if reply.items:
        blocks.extend(text_sections([_item_line(i.text, i.link, i.detail) for i in reply.items]))
    if not any(b is not None for b in blocks):
        blocks.append(section("(nothing to show)"))
    summary = reply.title or reply.text
    if not summary and reply.items:
        summary = reply.items[0].text
    if not summary and reply.quotes:
        summary = ", ".join(q.symbol for q in reply.quotes)
    return SlackMessage(fallback(summary or "marketbot"), fit(blocks))


def text_only(message: SlackMessage) -> SlackMessage:
    """The same content as mrkdwn text without blocks: the last resort when Slack refuses the blocks."""
    lines: list[str] = []
    for block in message.blocks:
        if block.get("type") == "header":
            lines.append("*" + escape(block["text"]["text"]) + "*")
        for obj in [block.get("text"), *block.get("fields", ()), *block.get("elements", ())]:
            if isinstance(obj, dict) and obj.get("type") == "mrkdwn":
                lines.append(obj["text"])
    text = clip("\n".join(lines), MAX_MESSAGE_TEXT) or message.text
    return SlackMessage(text, ())
