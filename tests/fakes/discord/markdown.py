"""What a user sees: message markdown rendered as the Discord client shows it."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass
class Rendered:
    """What Discord's client shows for a piece of markdown, simplified to what tests need."""

    text: str
    mentions: list[str]
    links: list[tuple[str, str]]
    formatted: bool


def render_markdown(source: str) -> Rendered:
    """Render Discord markdown the way the client displays it: escapes hidden, mentions and links found.

    ``text`` is what a reader sees (backslash escapes and zero-width spaces removed);
    ``mentions`` are highlighted mention pills (``<@1>``, ``<@&2>``, ``<#3>``, ``@everyone``);
    ``links`` are masked links ``[label](url)``; ``formatted`` is any live markdown
    (bold, italics, strikes, spoilers, code, headings, quotes, lists).
    """
    out: list[str] = []
    mentions: list[str] = []
    links: list[tuple[str, str]] = []
    formatted = False
    i, n = 0, len(source)
    line_start = True
    while i < n:
        c = source[i]
        if c == "\\" and i + 1 < n and not source[i + 1].isalnum() and not source[i + 1].isspace():
            out.append(source[i + 1])
            i += 2
            line_start = False
            continue
        if c == "\u200b":
            i += 1
            continue
        if line_start:
            m = re.match(r"(#{1,3} |-# |> |>>> |[-*] |\d+\. )", source[i:])
            if m:
                formatted = True
        if c in "hH":  # the text rule stops before any "word:", so a URL can start anywhere
            m = re.match(r"https?://[^\s<]+[^<.,:;\"'\]\s]", source[i:], re.IGNORECASE)
            if m:  # a bare URL is shown as a link to itself; markdown inside it is not parsed
                out.append(m.group(0).replace("\u200b", ""))
                i += m.end()
                line_start = False
                continue
        if c == "[":
            m = re.match(r"\[((?:\\.|[^\]\\\n])+)\]\((https?://[^)\s]+)\)", source[i:])
            if m:
                label = render_markdown(m.group(1))
                links.append((label.text, m.group(2)))
                mentions += label.mentions
                formatted = formatted or label.formatted
                out.append(label.text)
                i += m.end()
                line_start = False
                continue
        if c in "<@":
            m = re.match(
                r"<(@!?|@&|#)(\d+)>|<t:\d+(:[tTdDfFR])?>|<a?:\w+:\d+>|</[\w -]+:\d+>|@(everyone|here)\b",
                source[i:],
            )
            if m:
                mentions.append(m.group(0))
                out.append(m.group(0))
                i += m.end()
                line_start = False
                continue
        if c in "*_~|`":
            two = source[i : i + 2]
            if (two in ("**", "__", "~~", "||") and two in source[i + 2 :]) or (
                c in "*_`" and c in source[i + 1 :]
            ):
                closing = source.find(two if two in ("**", "__", "~~", "||") else c, i + len(two))
                if closing > i + 1 and source[closing - 1] != "\\":
                    formatted = True
        out.append(c)
        line_start = c == "\n"
        i += 1
    return Rendered(text="".join(out), mentions=mentions, links=links, formatted=formatted)
