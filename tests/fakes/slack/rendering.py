"""What a user sees: a message's mrkdwn and blocks rendered as Slack clients show them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# ---------------------------------------------------------------- what a user sees

_SPECIAL = re.compile(r"<([^<>]*)>")
_BARE_MASS = re.compile(r"(?<![\w@])@(channel|here|everyone)\b")
_ENTITIES = {"&amp;": "&", "&lt;": "<", "&gt;": ">"}
_ENTITY = re.compile("&amp;|&lt;|&gt;")


@dataclass(frozen=True)
class Rendered:
    """mrkdwn as a Slack client shows it: display text, who gets pinged, and the links."""

    text: str
    pings: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()


def _unescape(text: str) -> str:
    """Slack decodes exactly three entities for display: ``&amp;``, ``&lt;``, ``&gt;`` (one pass)."""
    return _ENTITY.sub(lambda m: _ENTITIES[m.group(0)], text)


def render_mrkdwn(text: str, *, parse_bare_mentions: bool = False) -> Rendered:
    """Render Slack markup: ``<!here>`` pings, ``<@U1>`` mentions, ``<url|label>`` links, entities.

    ``parse_bare_mentions`` models non-verbatim text (``verbatim: false`` or ``link_names``),
    where Slack may turn a bare ``@channel`` into a real mass mention.
    """
    pings: list[str] = []
    links: list[tuple[str, str]] = []
    out: list[str] = []
    pos = 0
    for m in _SPECIAL.finditer(text):
        out.append(_unescape(text[pos : m.start()]))
        pos = m.end()
        target, _, label = m.group(1).partition("|")
        if target.startswith("!"):
            name = target[1:]
            if name.startswith("subteam^"):
                pings.append(f"subteam:{name[8:]}")
                out.append("@" + _unescape(label or name[8:]))
            elif name.startswith("date^"):
                out.append(_unescape(label or name))
            else:
                pings.append(name)
                out.append("@" + name)
        elif target.startswith("@"):
            pings.append(f"user:{target[1:]}")
            out.append("@" + _unescape(label or target[1:]))
        elif target.startswith("#"):
            out.append("#" + _unescape(label or target[1:]))
        else:
            url = _unescape(target)
            shown = _unescape(label) if label else url
            links.append((url, shown))
            out.append(shown)
    out.append(_unescape(text[pos:]))
    shown_text = "".join(out)
    if parse_bare_mentions:
        pings.extend(m.group(1) for m in _BARE_MASS.finditer(shown_text))
    return Rendered(shown_text, tuple(pings), tuple(links))


def _text_of(obj: Any, *, bare: bool) -> Rendered:
    if not isinstance(obj, dict):
        return Rendered("")
    text = str(obj.get("text", ""))
    if obj.get("type") == "plain_text":
        return Rendered(text)
    return render_mrkdwn(text, parse_bare_mentions=bare or not obj.get("verbatim", False))


def render_blocks(blocks: list[dict[str, Any]], *, link_names: bool = False) -> Rendered:
    """Render message blocks to the text a user reads, with pings and links."""
    parts: list[Rendered] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("section", "header"):
            if "text" in block:
                parts.append(_text_of(block["text"], bare=link_names))
            for f in block.get("fields", []):
                parts.append(_text_of(f, bare=link_names))
        elif kind == "context":
            row = [
                _text_of(el, bare=link_names) for el in block.get("elements", []) if el.get("type") != "image"
            ]
            parts.append(
                Rendered(
                    "  ".join(r.text for r in row),
                    tuple(p for r in row for p in r.pings),
                    tuple(lk for r in row for lk in r.links),
                )
            )
        elif kind == "image":
            parts.append(Rendered(f"[image: {block.get('alt_text', '')}]"))
        elif kind == "divider":
            parts.append(Rendered("---"))
        elif kind == "markdown":
            parts.append(render_mrkdwn(str(block.get("text", "")), parse_bare_mentions=link_names))
    return Rendered(
        "\n".join(p.text for p in parts),
        tuple(x for p in parts for x in p.pings),
        tuple(x for p in parts for x in p.links),
    )
