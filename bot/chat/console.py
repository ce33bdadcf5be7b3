"""The console as a chat platform: alerts printed to the terminal, or one JSON object per line.

Human output uses rich (colours on a TTY only); feed text is printed as plain ``Text`` so it
can never inject rich markup or terminal escapes. Logs go to stderr, alerts to stdout.
"""

from __future__ import annotations

import itertools
import json
import sys
from typing import IO, Any

from rich.console import Console
from rich.text import Text

from bot.domain.codec import dt_out
from bot.domain.format import format_pct, session_label
from bot.domain.models import Alert, ChannelRef, MessageRef, Reply
from bot.domain.text import strip_control
from bot.domain.timeutil import SystemClock
from bot.domain.view import AlertView, alert_view, quote_view
from bot.ports import Clock


def alert_json(alert: Alert) -> dict[str, Any]:
    """The documented ``--json`` shape of a delivered alert (price fields null when unavailable)."""
    return {
        "channel": str(alert.channel),
        "watchlist": alert.watchlist,
        "watchlists": list(alert.watchlist_names),
        "title": alert.title,
        "link": alert.link,
        "source": alert.source,
        "published": dt_out(alert.published_at),
        "summary": alert.summary,
        "terms": list(alert.terms),
        "tickers": [
            {
                "symbol": t.symbol,
                "price": t.quote.price if t.quote else None,
                "change_pct": round(t.quote.change_pct, 4)
                if t.quote and t.quote.change_pct is not None
                else None,
                "session": session_label(t.quote.session) or None if t.quote else None,
            }
            for t in alert.tickers
        ],
        "kind": alert.kind,
    }


class ConsoleChat:
    """A ChatAdapter that prints. ``json_mode`` prints one JSON object per alert on stdout."""

    platform = "console"
    channel_rate = (1000, 1.0)

    def __init__(
        self,
        *,
        json_mode: bool = False,
        stream: IO[str] | None = None,
        color: bool | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.json_mode = json_mode
        self._clock = clock or SystemClock()  # the bot's clock: ages agree with MARKETBOT_NOW
        self._stream = stream or sys.stdout
        self._console = Console(
            file=self._stream,
            force_terminal=color,
            no_color=color is False,
            highlight=False,
            soft_wrap=True,
        )
        self._ids = itertools.count(1)

    async def send(
        self, message: Alert | Reply, *, target: ChannelRef, thread: MessageRef | None = None
    ) -> MessageRef:
        ref = MessageRef(target, str(next(self._ids)), thread.id if thread else None)
        if self.json_mode:
            if isinstance(message, Alert):
                self._stream.write(json.dumps(alert_json(message), ensure_ascii=False) + "\n")
            else:
                self._stream.write(json.dumps(_reply_json(message), ensure_ascii=False) + "\n")
            self._stream.flush()
        else:
            self._console.print(self._render(message, ref=ref, thread=thread))
        return ref

    async def edit(self, ref: MessageRef, message: Alert | Reply) -> None:
        if self.json_mode:
            payload = alert_json(message) if isinstance(message, Alert) else _reply_json(message)
            payload["edit_of"] = ref.id
            self._stream.write(json.dumps(payload, ensure_ascii=False) + "\n")
            self._stream.flush()
            return
        self._console.print(self._render(message, ref=ref, thread=None, edited=True))

    async def aclose(self) -> None:
        self._stream.flush()

    def status(self) -> dict[str, Any]:
        """Always connected: the console is this process's own output."""
        return {"platform": "console", "connected": True, "mode": "json" if self.json_mode else "text"}

    # ------------------------------------------------------------ rendering

    def _render(
        self, message: Alert | Reply, *, ref: MessageRef, thread: MessageRef | None, edited: bool = False
    ) -> Text:
        if isinstance(message, Reply):
            return _render_reply(message)
        return _render_alert(
            alert_view(message, now=self._clock.now()), ref=ref, thread=thread, edited=edited
        )


def _clean(text: str) -> str:
    return strip_control(text).strip()


_STYLE = {"up": "green", "down": "red"}


def _render_alert(a: AlertView, *, ref: MessageRef, thread: MessageRef | None, edited: bool) -> Text:
    out = Text()
    head = {
        "story": "ALERT",
        "followup": "ALSO",
        "digest": "DIGEST",
        "briefing": "BRIEFING",
        "move": "MOVE",
        "notice": "NOTICE",
    }[a.kind]
    out.append(f"[{head}] ", style="bold reverse" if a.kind in ("story", "move") else "bold")
    out.append(f"{', '.join(a.watchlist_names)} → {ref.channel}", style="dim")
    if thread:
        out.append(f"  (reply to #{thread.id})", style="dim")
    if edited:
        out.append(f"  (updated #{ref.id})", style="dim")
    if a.late:
        out.append(f"  ({a.late})", style="yellow")
    out.append("\n")
    if a.kind == "followup":
        if a.title:
            out.append(a.title, style="bold")
            out.append("\n")
        out.append(a.also_reported(), style="italic")
        out.append("\n")
        for o in a.outlets:
            out.append(f"  • {o.outlet}")
            if o.link:
                out.append(f" {_clean(o.link)}", style="blue")
            out.append("\n")
        if a.extra_note():
            out.append(_clean(a.extra_note()), style="italic")
            out.append("\n")
        return out
    if a.title:
        out.append(a.title, style="bold")
        out.append("\n")
    if a.link:
        out.append(_clean(a.link), style="underline blue")
        out.append("\n")
    meta = [m for m in (a.source, a.age) if m]
    if meta:
        out.append(" · ".join(meta), style="dim")
        out.append("\n")
    if a.summary:
        out.append(_clean(a.summary))
        out.append("\n")
    for p in a.prices:
        out.append("  " + p.line(), style=_STYLE.get(p.direction, ""))
        out.append("\n")
    for e in a.entries:
        out.append("  • " + e.title)
        extra = [m for m in (e.source, e.age, " ".join(e.tickers)) if m]
        if extra:
            out.append(f" ({' · '.join(extra)})", style="dim")
        if e.link:
            out.append(f" {_clean(e.link)}", style="blue")
        out.append("\n")
    if a.note:
        out.append(_clean(a.note), style="italic")
        out.append("\n")
    if a.matched:
        out.append("matched: " + ", ".join(a.matched), style="dim")
        out.append("\n")
    return out


def reply_text(r: Reply) -> str:
    """A Reply as plain text (the CLI prints command replies with it)."""
    return _render_reply(r).plain


def reply_json(r: Reply) -> dict[str, Any]:
    """A Reply as one JSON-ready object."""
    return _reply_json(r)


def _render_reply(r: Reply) -> Text:
    out = Text()
    if r.title:
        out.append(_clean(r.title), style="bold red" if r.error else "bold")
        out.append("\n")
    if r.text:
        out.append(_clean(r.text))
        out.append("\n")
    for q in r.quotes:
        view = quote_view(q)
        out.append("  " + view.line(), style=_STYLE.get(view.direction, ""))
        out.append("\n")
    for f in r.fields:
        out.append(f"  {_clean(f.label)}: ", style="bold")
        out.append(_clean(f.value))
        out.append("\n")
    for item in r.items:
        out.append("  • " + _clean(item.text))
        if item.link:
            out.append(f" {_clean(item.link)}", style="blue")
        if item.detail:
            out.append(f"\n    {_clean(item.detail)}", style="dim")
        out.append("\n")
    for att in r.attachments:
        out.append(f"  [attachment {att.filename}, {len(att.data)} bytes]", style="dim")
        out.append("\n")
    return out


def _reply_json(r: Reply) -> dict[str, Any]:
    return {
        "reply": True,
        "title": r.title,
        "text": r.text,
        "private": r.private,
        "error": r.error,
        "items": [{"text": i.text, "link": i.link, "detail": i.detail} for i in r.items],
        "fields": [{"label": f.label, "value": f.value} for f in r.fields],
        "quotes": [
            {
                "symbol": q.symbol,
                "price": q.price,
                "change_pct": q.change_pct,
                "session": session_label(q.session) or None,
                "change": format_pct(q.change_pct) if q.change_pct is not None else None,
            }
            for q in r.quotes
        ],
        "attachments": [{"filename": a.filename, "bytes": len(a.data)} for a in r.attachments],
    }
