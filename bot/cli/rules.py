"""``marketbot match`` and ``marketbot explain``: test watchlists before subscribing a channel.

``match`` reads stories as JSON lines (``{"id", "title", "summary", "link", "published"}``;
the summary may be HTML) and writes one JSON line per story with every ticker it mentions
and the watchlists it matches. A malformed line is reported on stderr with its line number
and skipped; the others are still matched, and the exit status is then 1.

``explain WATCHLIST TEXT`` says why a text does or does not match (exit status 0: it
matches, 1: it does not, 2: bad config or unknown watchlist, like grep), including which name
variant named a ticker and why a candidate was not read as one.

Both use the company names the running bot uses: the bundled index plus the SEC and quote
names in the store (``marketbot symbols``).
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import IO, Annotated, Any, Final

import typer

from bot.cli.common import EXIT_FAILURE, EXIT_USAGE, ConfigOption, fail, load
from bot.cli.symbols import directory_for
from bot.config import BotConfig
from bot.domain.errors import ValidationError
from bot.domain.rules import Matcher, SymbolDirectory, compile_matcher


def build_matcher(cfg: BotConfig, directory: SymbolDirectory | None = None) -> Matcher:
    """The matcher for the config's watchlists, with its symbol directory and aliases
    (the bundled index when no directory is given)."""
    if directory is None:
        from bot.app.tools import bundled_directory

        directory = bundled_directory(cfg)
    return compile_matcher(cfg.domain_watchlists(), directory, cfg.aliases)


def _warn(cfg: BotConfig, directory: SymbolDirectory) -> None:
    from bot.app.tools import config_warnings

    for warning in config_warnings(cfg, directory):
        typer.echo(f"marketbot: warning: {warning}", err=True)


def story_line(matcher: Matcher, story: dict[str, Any]) -> dict[str, Any]:
    """The output object for one input story."""
    result = matcher.match(story["title"], story.get("summary") or "")
    return {
        "id": story.get("id"),
        "tickers": list(result.tickers),
        "watchlists": [
            {"name": m.watchlist, "tickers": list(m.tickers), "terms": list(m.terms)} for m in result.matches
        ],
    }


@functools.lru_cache(maxsize=100_000)
def _json_text(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


class _Heads(dict[str, str]):
    """The start of a watchlist's object in the output, up to its name, after the ", " that
    separates it from the one before, by name (see _heads_of)."""

    def __missing__(self, name: str) -> str:
        head = f', {{"name": {_json_text(name)}'
        if len(self) < 100_000:
            self[name] = head
        return head


class _Tails(dict[tuple[tuple[str, ...], tuple[str, ...]], str]):
    """The rest of a watchlist's object, after its name, by the ``(tickers, terms)`` it shows:
    stories list the same few combinations again and again."""

    def __missing__(self, shown: tuple[tuple[str, ...], tuple[str, ...]]) -> str:
        tickers, terms = shown
        enc = _json_text
        tail = f', "tickers": [{", ".join(map(enc, tickers))}], "terms": [{", ".join(map(enc, terms))}]}}'
        if len(self) < 100_000:
            self[shown] = tail
        return tail


_json_head: Final = _Heads()
_json_tail: Final = _Tails()


@functools.lru_cache(maxsize=4)
def _heads_of(matcher: Matcher) -> list[str]:
    """Each slot's head (see Matcher.slot_names): one list read per matching watchlist."""
    return list(map(_json_head.__getitem__, matcher.slot_names))


def story_json(matcher: Matcher, story: dict[str, Any]) -> str:
    """``json.dumps(story_line(matcher, story), ensure_ascii=False)``, written directly: a story
    can match thousands of watchlists, and building a Match, a dict and two lists for each
    costs more than the matching."""
    result = matcher.match(story["title"], story.get("summary") or "")
    slots, which, parts = result.slot_listing()
    tails = list(map(_json_tail.__getitem__, parts))
    # each watchlist's head (with the ", " before it), then its tail, joined once
    pieces: list[str] = [""] * (2 * len(slots))
    pieces[::2] = map(_heads_of(matcher).__getitem__, slots)
    pieces[1::2] = map(tails.__getitem__, which)
    return (
        f'{{"id": {json.dumps(story.get("id"), ensure_ascii=False)}, '
        f'"tickers": [{", ".join(map(_json_text, result.tickers))}], '
        f'"watchlists": [{"".join(pieces)[2:]}]}}'
    )


def _parse_line(line: str) -> dict[str, Any]:
    try:
        story = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(story, dict):
        raise ValueError('expected a JSON object such as {"id": "1", "title": "...", "summary": "..."}')
    title = story.get("title")
    if not isinstance(title, str):
        raise ValueError('"title" is missing or not a string')
    summary = story.get("summary")
    if summary is not None and not isinstance(summary, str):
        raise ValueError('"summary" must be a string')
    ident = story.get("id")
    if ident is not None and (isinstance(ident, bool) or not isinstance(ident, str | int)):
        raise ValueError('"id" must be a string or a number')
    return story


def run_match(matcher: Matcher, source: IO[str], out: IO[str], *, flush: bool = False) -> int:
    """Match every line of ``source``; return the number of malformed lines."""
    bad = 0
    for number, line in enumerate(source, start=1):
        if not line.strip():
            continue
        try:
            story = _parse_line(line)
        except ValueError as exc:
            bad += 1
            typer.echo(f"marketbot: error: line {number}: {exc}; skipped", err=True)
            continue
        out.write(story_json(matcher, story) + "\n")
        if flush:
            out.flush()
    return bad


def register(app: typer.Typer) -> None:
    """Add ``match`` and ``explain``."""

    @app.command("match")
    def match_cmd(
        config: ConfigOption = None,
        input_path: Annotated[
            str | None,
            typer.Option(
                "--input",
                "-i",
                help="Stories as JSON lines ({id, title, summary, link, published}); '-' or omitted: stdin.",
                show_default=False,
            ),
        ] = None,
    ) -> None:
        """Match stories against the config's watchlists: one JSON line out per story in."""
        env, cfg = load(config)
        directory = directory_for(env, cfg)
        _warn(cfg, directory)
        matcher = build_matcher(cfg, directory)
        if input_path in (None, "-"):
            bad = run_match(matcher, sys.stdin, sys.stdout, flush=True)
        else:
            path = Path(input_path)
            try:
                with path.open(encoding="utf-8") as source:
                    bad = run_match(matcher, source, sys.stdout)
            except FileNotFoundError:
                fail(f"{path}: no such file; pass a JSON-lines file or '-' for stdin", EXIT_USAGE)
            except (OSError, UnicodeDecodeError) as exc:
                fail(f"{path}: cannot read: {exc}", EXIT_USAGE)
        if bad:
            fail(f"{bad} malformed line{'s' if bad != 1 else ''} skipped", EXIT_FAILURE)

    @app.command("explain")
    def explain_cmd(
        watchlist: Annotated[str, typer.Argument(help="Watchlist name from the config.")],
        text: Annotated[
            str,
            typer.Argument(help="A headline; after a blank line or newline, the summary. '-' reads stdin."),
        ],
        config: ConfigOption = None,
        summary: Annotated[
            str, typer.Option("--summary", "-s", help="The story summary (may be HTML).")
        ] = "",
    ) -> None:
        """Show why a text does or does not match a watchlist (exit 0: match, 1: no match)."""
        env, cfg = load(config)
        directory = directory_for(env, cfg)
        _warn(cfg, directory)
        matcher = build_matcher(cfg, directory)
        if text == "-":
            text = sys.stdin.read()
        title, _, rest = text.strip().partition("\n")
        body = "\n".join(x for x in (rest.strip(), summary) if x)
        try:
            explanation = matcher.explain(watchlist, "config", title, body)
        except ValidationError as exc:
            fail(str(exc), EXIT_USAGE)
        typer.echo(str(explanation))
        if not explanation.matched:
            raise typer.Exit(EXIT_FAILURE)
