"""Canonical URLs, title normalisation and the story-cluster index.

A story is reported by many outlets and re-published by feeds that rewrite their GUIDs
and timestamps. Two items are the same story when their canonical URLs agree, or when
their normalised titles are near-identical (rapidfuzz) within a time window. The index
finds candidates through rare title tokens, so a new title is compared with a handful of
stored titles, never with all of them.
"""

from __future__ import annotations

import functools
import hashlib
import heapq
import math
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from rapidfuzz import fuzz, process

from bot.domain.rules.lexicon import ordinary_words

# Query parameters that identify a click, a campaign or a referrer, never the article.
_TRACKING_EXACT = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "li_fat_id",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "ncid",
        "cmpid",
        "soc_src",
        "soc_trk",
        "smid",
        "smtyp",
        "sr_share",
        "ocid",
        "taid",
        "guccounter",
        "guce_referrer",
        "guce_referrer_sig",
        "xtor",
        "at_medium",
        "at_campaign",
        "cid",
        "rss",
        "feedtype",
        "ref_src",
        "ref_url",
        "spm",
        "__twitter_impression",
    }
)
_TRACKING_PREFIXES = ("utm_", "hmb_", "pk_", "mtm_", "at_", "oly_", "vero_")
_DEFAULT_PORTS = {"http": 80, "https": 443}

_WORD = re.compile(r"[^\W_]+(?:['.&][^\W_]+)*", re.UNICODE)
_TITLE_PREFIX = re.compile(
    r"^\s*(?:(?:breaking|exclusive|update\s*\d*|updated|corrected|correction|refile|"
    r"watch|live|video|analysis|opinion)\s*[-:–—|]\s*)+",
    re.I,
)
# " - Reuters", " | CNBC", " — The Wall Street Journal": a short, capitalised outlet suffix.
_OUTLET_WORD = r"(?:The|the|of|on|[A-Z0-9][\w.&'’]*)"
_OUTLET_SUFFIX = re.compile(rf"\s+[-|–—]\s+{_OUTLET_WORD}(?:\s+{_OUTLET_WORD}){{0,4}}\s*$")
# "NEW YORK (Reuters) -", "(AP) —": a wire dateline in front of the headline.
_DATELINE = re.compile(
    r"^\s*(?:[A-Z][\w.']*(?:[ ,/]+[A-Z][\w.']*){0,3}\s*)?\([A-Z][\w .&']{0,30}\)\s*[-–—:]+\s*"
)
# a character every prefix, dateline and outlet suffix above contains
_DECORATION_MARK = re.compile("[-:|–—]")
# "U.S.", "U.K.", "E.U.": written "US", "UK", "EU" by other outlets.
_ABBREV = re.compile(r"\b(?:[A-Za-z]\.){2,}")
_TYPOGRAPHIC = str.maketrans({"‘": "'", "’": "'", "‛": "'", "“": '"', "”": '"', "–": "-", "—": "-"})

# Common words that say nothing about which story a title reports.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "from",
        "by",
        "with",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "has",
        "have",
        "had",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "after",
        "before",
        "over",
        "under",
        "into",
        "amid",
        "about",
        "says",
        "said",
        "say",
        "new",
        "will",
        "would",
        "could",
        "may",
        "might",
        "can",
        "up",
        "down",
        "out",
        "not",
        "no",
        "than",
        "vs",
        "via",
        "per",
        "how",
        "why",
        "what",
        "who",
        "when",
        "where",
    ]
)


def url_key(url: str) -> str:
    """A loose identity of a canonical URL for dedup: no scheme, no ``www.``, no trailing slash."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host.startswith("www."):
        host = host[4:]
    path = parts.path.rstrip("/")
    return f"{host}{path}?{parts.query}" if parts.query else f"{host}{path}"


def canonical_url(url: str, *, base: str | None = None) -> str:
    """The URL without tracking parameters, fragment or default port; host lower-cased.

    Remaining query parameters are sorted so that reordering does not make a new URL.
    Non-http(s) or unparsable input is returned stripped, unchanged otherwise.
    """
    url = url.strip()
    if not url:
        return ""
    if base and not re.match(r"^[a-z][a-z0-9+.-]*:", url, re.I):
        from urllib.parse import urljoin

        url = urljoin(base, url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return url
    host = parts.hostname.lower().rstrip(".")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    if parts.username:
        userinfo = parts.username + (f":{parts.password}" if parts.password else "")
        netloc = f"{userinfo}@{netloc}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    query.sort()
    path = quote(unquote(parts.path), safe="/:@!$&'()*+,;=-._~%") or "/"
    return urlunsplit((scheme, netloc, path, urlencode(query, doseq=True), ""))


def _is_tracking(name: str) -> bool:
    low = name.lower()
    return low in _TRACKING_EXACT or low.startswith(_TRACKING_PREFIXES)


def _no_dots(m: re.Match[str]) -> str:
    return m.group(0).replace(".", "")


def _nfkc(title: str) -> str:
    """NFKC with typographic quotes and dashes made ASCII (an ASCII title is its own NFKC form)."""
    if title.isascii():
        return title
    return unicodedata.normalize("NFKC", title).translate(_TYPOGRAPHIC)


def _clean_title(title: str) -> str:
    """A title without wire prefixes, datelines and outlet suffixes (case kept)."""
    text = _nfkc(title).strip()
    # each decoration has a dash, a colon or a bar (most titles have none: nothing to strip)
    if not _DECORATION_MARK.search(text):
        return text
    dateline = "(" in text
    for _ in range(2):  # "UPDATE 2-NEW YORK (Reuters) - ..." and the other order
        text = _TITLE_PREFIX.sub("", text)
        if dateline:
            text = _DATELINE.sub("", text)
    stripped = _OUTLET_SUFFIX.sub("", text)
    if len(stripped.split()) >= 3:  # keep titles that would be left almost empty
        text = stripped
    return text


@functools.lru_cache(maxsize=8192)
def normalize_title(title: str) -> str:
    """Lower-case words of a title without outlet decorations: wire prefixes ("UPDATE 2-",
    "EXCLUSIVE-", "BREAKING:"), datelines ("(Reuters) -"), outlet suffixes (" - Reuters",
    "| Reuters"); dotted abbreviations written plain ("U.S." → "us").

    Cached: ingest normalises a title for its summary (in a worker thread) and again for the
    story index (on the event loop), and the template check a third time."""
    text = _clean_title(title)
    if "." in text:
        text = _ABBREV.sub(_no_dots, text)
    return " ".join(_WORD.findall(text.lower()))


def _has_digit(word: str) -> bool:
    # most words are letters only: isalpha() answers those without a loop
    return not word.isalpha() and any(c.isdigit() for c in word)


_NO_WORDS: frozenset[str] = frozenset()


def title_tokens(normalized: str) -> frozenset[str]:
    """The informative words of a normalised title (stopwords and single letters dropped)."""
    return frozenset(w for w in normalized.split() if len(w) > 1 and w not in STOPWORDS)


def story_id_for(feed_id: str, item_id: str) -> str:
    """A story's id, derived from the item that founded it (stable and unique)."""
    return hashlib.sha256(f"story\x00{feed_id}\x00{item_id}".encode("utf-8", "surrogatepass")).hexdigest()[
        :32
    ]


@dataclass(frozen=True, slots=True)
class ClusterHit:
    """Why an item joined a story: the same URL, or a similar title with its score."""

    story_id: str
    reason: str  # "url" or "title"
    score: float = 100.0


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


# SEC form titles: "10-Q - ACME CORP (0000123456) (Filer)", "8-K - Current report", "SC 13G/A - ...".
_FORM_TITLE = re.compile(
    r"^\s*(?:(?:[A-Z]{1,4}[ -]?)?\d[\dA-Z]*(?:[-/][A-Z\d]+)*|FWP|CORRESP|UPLOAD|EFFECT|D(?:/A)?)\s+[-–—]\s+\S"
)
# Words of recurring titles that name no event: "Market update", "Morning briefing", "Stocks to watch".
_GENERIC = _wordset(
    """
    market markets update updates morning evening midday afternoon night overnight briefing brief
    briefs stocks stock shares watch watching daily weekly monthly digest news roundup round wrap
    recap premarket pre post movers mover today todays tonight week weeks weekend ahead top headlines
    headline summary report reports quarterly annual current live blog open opening close closing bell
    edition newsletter highlights outlook review wall street things know need key global us world
    business earnings calendar economic economy snapshot preview trading session sessions podcast
    video chart charts day days hour minute minutes five ten three big biggest latest first last look
    looking lookahead check scorecard watchlist ideas idea picks pick trade trades analyst analysts
    rating ratings upgrades downgrades upgrade downgrade early late mid gainers losers active most
    form filing filings statement statements changes change beneficial ownership securities section
    sections pursuant rule prospectus registration amendment amended proxy notice exempt offering
    higher lower mixed flat rise rises rising fall falls falling gain gains slip slips edge edges
    climb climbs drop drops rally rallies
    """
)
_MONTHS_DAYS = _wordset(
    """
    jan feb mar apr jun jul aug sep sept oct nov dec january february march april june july august
    september october november december mon tue wed thu fri sat sun monday tuesday wednesday thursday
    friday saturday sunday
    """
)
_NO_EVENT = _GENERIC | STOPWORDS | _MONTHS_DAYS
_UPPER_WORD = re.compile(r"\b[A-Z]{1,5}\b")

# Entity detection for clustering: the tickers a title names (the rules layer's detector).
Entities = Callable[[str], Iterable[str]]


def is_template_title(title: str, entities: Entities | None = None) -> bool:
    """Whether a title is a recurring template that names no event (it never clusters by title).

    SEC form titles ("10-Q - Quarterly report [Sections 13 or 15(d)]", "8-K - ACME CORP
    (0000123456) (Filer)") and titles made only of generic words, dates, numbers and listed
    tickers ("Market update", "Morning briefing", "Stocks to watch: XYZ, QRS").
    """
    text = _nfkc(title)
    return _is_template(title, text, normalize_title(text).split(), entities)


def _is_template(title: str, text: str, words: list[str], entities: Entities | None) -> bool:
    """``is_template_title`` of ``title`` (``text``: its ``_nfkc`` form; ``words``: its normalised words)."""
    if _FORM_TITLE.match(text):
        return True
    rest = {w for w in words if w not in _NO_EVENT and len(w) > 1 and not _has_digit(w)}
    if not rest:
        return True
    # what remains may be a ticker list ("Stocks to watch: XYZ, QRS"): all upper-case symbols
    # of at most five letters (a longer word, or one with other characters, is not one)
    if any(len(w) > 5 or not w.isalpha() for w in rest):
        return False
    upper = {m.group(0).lower() for m in _UPPER_WORD.finditer(text)}
    if not rest <= upper:
        return False
    return len(rest) >= 2 or (entities is not None and rest <= {e.lower() for e in entities(title)})


def _capitalised(title: str) -> frozenset[str]:
    """Normalised words a title writes with a capital letter (names, in a sentence-case title).

    In a title-case headline ("Acme Beats Estimates") capitals say nothing, so only words that
    are not ordinary English count there.
    """
    words = _WORD.findall(_ABBREV.sub(_no_dots, _clean_title(title)))
    caps = [w for w in words if w[:1].isupper()]
    long_words = [w for w in words if len(w) > 3]
    title_case = bool(long_words) and sum(1 for w in long_words if w[:1].isupper()) >= 0.6 * len(long_words)
    out = {w.lower() for w in caps}
    if title_case:
        ordinary = ordinary_words()
        out = {w for w in out if w not in ordinary and w not in STOPWORDS}
    return frozenset(out)


# (sorted words joined, the set of words, the informative words, the words with digits)
_TitleKey = tuple[str, frozenset[str], tuple[str, ...], frozenset[str]]


@dataclass(slots=True)
class _Entry:
    story_id: str
    title: str
    sorted_title: str  # normalised words in sorted order: ratio() on these is token_sort_ratio
    tokens: tuple[str, ...]  # title_tokens: distinct
    numbers: frozenset[str]  # "25", "q3", "2026": titles that differ in a number are different news
    url: str
    at: datetime  # published time: decides the window
    seen: datetime  # when it was indexed: decides when it is forgotten
    entities: frozenset[str] | None = None  # computed when first needed


class ClusterIndex:
    """Recent stories, indexed by URL and by title token, for near-duplicate lookup.

    Two items are one story when their canonical URLs agree, or when their normalised titles
    are near-identical AND they name the same entities (``entities``: the tickers the rules
    layer detects), within ``window`` of each other's PUBLISHED time. Titles naming no
    entity cluster only when neither is a template title (SEC forms, "Market update") and
    they differ in no capitalised name. Titles whose numbers differ ("cuts rates by 25 bps"
    and "by 50 bps") are never merged.

    ``find`` compares a title only with stories that share one of its rarest tokens (a
    prefix filter: near-identical titles share most of their words, so they share one of
    the few rarest), newest first and at most ``max_candidates`` of them. A title with
    numbers can only join a story with the same numbers: when fewer stories have those than
    the rarest tokens' buckets hold, the candidates are taken from them instead (in the same order, without
    walking the big buckets; the cap then counts only stories with those numbers). A lookup is therefore
    bounded however many stories the window holds. Entries are forgotten
    ``window`` after they were indexed (``prune``), whatever their published time.
    """

    def __init__(
        self,
        *,
        threshold: float = 90.0,
        window: timedelta = timedelta(hours=48),
        min_words: int = 5,
        max_candidates: int = 200,
        entities: Entities | None = None,
    ) -> None:
        self.threshold = threshold
        self.window = window
        self.min_words = min_words
        self.max_candidates = max_candidates
        self.entities = entities
        self._entries: dict[int, _Entry] = {}
        self._by_url: dict[str, list[int]] = {}
        self._by_token: dict[str, dict[int, None]] = {}  # insertion-ordered: newest last
        self._by_numbers: dict[frozenset[str], dict[int, None]] = {}  # titled entries with numbers
        self._by_title: dict[str, dict[int, None]] = {}  # titled entries by sorted title: copies
        self._by_story: dict[str, list[int]] = {}
        self._expiry: list[tuple[datetime, int]] = []
        self._next = 0
        self._last_url: tuple[str, str] | None = None
        self._last_key: tuple[str, _TitleKey] | None = None

    def __len__(self) -> int:
        return len(self._by_story)

    def __contains__(self, story_id: object) -> bool:
        return story_id in self._by_story

    def _title_key(self, title: str) -> _TitleKey:
        # ingest calls find() then add() with the same title: compute its key once
        if self._last_key is not None and self._last_key[0] == title:
            return self._last_key[1]
        key = self._compute_title_key(title)
        self._last_key = (title, key)
        return key

    def _url_key(self, url: str) -> str:
        # the same for the URL: find() then add()
        last = self._last_url
        if last is not None and last[0] == url:
            return last[1]
        key = url_key(url)
        self._last_url = (url, key)
        return key

    def _compute_title_key(self, title: str) -> _TitleKey:
        text = _nfkc(title)
        # normalize_title(title) is normalize_title(text): _clean_title takes the NFKC form first
        words = normalize_title(text).split()
        if len(words) < self.min_words or _is_template(title, text, words, self.entities):
            return "", _NO_WORDS, (), _NO_WORDS
        # the index keeps these sets for a window's stories: one copy of each word for them all
        words = [sys.intern(w) for w in words]
        word_set = frozenset(words)
        # title_tokens, as a tuple (the index only walks them: a third of a frozenset's size)
        tokens = tuple(w for w in word_set if len(w) > 1 and w not in STOPWORDS)
        digits = [w for w in words if _has_digit(w)]
        numbers = frozenset(digits) if digits else _NO_WORDS
        return " ".join(sorted(words)), word_set, tokens, numbers

    def add(
        self, story_id: str, *, title: str, canonical_url: str, at: datetime, seen: datetime | None = None
    ) -> None:
        """Index a story under its URL and title (call again for each extra copy's URL).

        ``at`` is the item's published time (the window is measured on it); ``seen`` when it
        was first seen (it is forgotten ``window`` after that; default ``at``).
        """
        sorted_title, _, tokens, numbers = self._title_key(title)
        key = self._url_key(canonical_url) if canonical_url else ""
        n = self._next
        self._next += 1
        seen = seen or at
        self._entries[n] = _Entry(story_id, title, sorted_title, tokens, numbers, key, at, seen)
        self._by_story.setdefault(story_id, []).append(n)
        if key:
            self._by_url.setdefault(key, []).append(n)
        for tok in tokens:
            self._by_token.setdefault(tok, {})[n] = None
        if tokens:
            self._by_title.setdefault(sorted_title, {})[n] = None
        if tokens and numbers:
            self._by_numbers.setdefault(numbers, {})[n] = None
        heapq.heappush(self._expiry, (seen, n))

    def find(self, *, title: str, canonical_url: str, at: datetime) -> ClusterHit | None:
        """The story this item belongs to, if any: same URL, else a near-identical title
        naming the same entities, published within the window of ``at``."""
        if canonical_url:
            for n in reversed(self._by_url.get(self._url_key(canonical_url), ())):
                if self._live(n, at):
                    return ClusterHit(self._entries[n].story_id, "url")
        sorted_title, words, tokens, numbers = self._title_key(title)
        if not tokens:
            return None
        entries = self._entries
        lo, hi = at - self.window, at + self.window
        mine: frozenset[str] | None = None
        copies = self._by_title.get(sorted_title)
        if copies:
            # the same title again (one story in many feeds: the common case): the newest copy
            # in the window is the one the ranking below puts first (only an identical title
            # scores 100, ties keep the walk's newest-first order), so try it without the walk
            for n in reversed(copies):
                entry = entries[n]
                if lo <= entry.at <= hi:
                    mine = self._entities_of(title)
                    if self._compatible(title, words, mine, entry):
                        return ClusterHit(entry.story_id, "title", 100.0)
                    break
        buckets = sorted((self._by_token[t] for t in tokens if t in self._by_token), key=len)
        # prefix filter: a title sharing >= 75% of the words shares one of the rarest few
        probe = max(1, len(tokens) - math.ceil(0.75 * len(tokens)) + 1)
        same = self._by_numbers.get(numbers) if numbers else None
        if numbers and same is None:
            return None  # no story has these numbers
        ids: list[int] = []
        if same is not None and len(same) < sum(len(b) for b in buckets[:probe]):
            # the stories with these numbers that share a rare token: ordered as the walk of
            # the buckets below would meet them (rarest bucket first, newest first)
            probed = buckets[:probe]
            order: list[tuple[int, int]] = []
            for n in same:
                for rank, bucket in enumerate(probed):
                    if n in bucket:
                        order.append((rank, -n))
                        break
            order.sort()
            ids = [-m for _, m in order[: self.max_candidates]]
        else:
            seen: set[int] = set()
            for bucket in buckets[:probe]:
                for n in reversed(bucket):
                    if n not in seen:
                        seen.add(n)
                        ids.append(n)
                        if len(ids) >= self.max_candidates:
                            break
                if len(ids) >= self.max_candidates:
                    break
        ids = [n for n in ids if (e := entries[n]).numbers == numbers and lo <= e.at <= hi]
        if not ids:
            return None
        ranked = process.extract(
            sorted_title,
            [entries[n].sorted_title for n in ids],
            scorer=fuzz.ratio,
            processor=None,
            score_cutoff=self.threshold,
            limit=None,
        )
        for _, score, pos in ranked:
            entry = entries[ids[pos]]
            if mine is None:
                mine = self._entities_of(title)
            if self._compatible(title, words, mine, entry):
                return ClusterHit(entry.story_id, "title", float(score))
        return None

    def _entities_of(self, title: str) -> frozenset[str]:
        # without outlet decorations: " - Reuters" must not read as a mention of Thomson Reuters
        return frozenset(self.entities(_clean_title(title))) if self.entities is not None else frozenset()

    def _compatible(self, title: str, words: frozenset[str], mine: frozenset[str], entry: _Entry) -> bool:
        """Whether two similar titles report the same event: the same entities, or none and no
        capitalised name in which they differ ("Acme beats estimates" / "Bolt beats estimates")."""
        if entry.entities is None:
            entry.entities = self._entities_of(entry.title)
        if mine or entry.entities:
            return mine == entry.entities
        differ = words ^ _wordset(entry.sorted_title)  # its words (not kept: they are these)
        if not differ:
            return True
        names = _capitalised(title) | _capitalised(entry.title)
        return not (differ & names)

    def prune(self, now: datetime) -> set[str]:
        """Forget entries indexed before ``now - window``; returns the ids of stories that left the index."""
        cutoff = now - self.window
        gone: set[str] = set()
        while self._expiry and self._expiry[0][0] < cutoff:
            _, n = heapq.heappop(self._expiry)
            story_id = self._drop(n)
            if story_id is not None and story_id not in self._by_story:
                gone.add(story_id)
        return gone

    def discard(self, story_id: str) -> None:
        """Forget a story entirely (it was not stored after all)."""
        for n in list(self._by_story.get(story_id, ())):
            self._drop(n)

    def _drop(self, n: int) -> str | None:
        entry = self._entries.pop(n, None)
        if entry is None:
            return None
        if entry.url:
            same = self._by_url.get(entry.url)
            if same is not None:
                same.remove(n)
                if not same:
                    del self._by_url[entry.url]
        for tok in entry.tokens:
            bucket = self._by_token.get(tok)
            if bucket is not None:
                bucket.pop(n, None)
                if not bucket:
                    del self._by_token[tok]
        if entry.tokens:
            copies = self._by_title.get(entry.sorted_title)
            if copies is not None:
                copies.pop(n, None)
                if not copies:
                    del self._by_title[entry.sorted_title]
        if entry.numbers:
            numbered = self._by_numbers.get(entry.numbers)
            if numbered is not None:
                numbered.pop(n, None)
                if not numbered:
                    del self._by_numbers[entry.numbers]
        ids = self._by_story.get(entry.story_id)
        if ids is not None:
            ids.remove(n)
            if not ids:
                del self._by_story[entry.story_id]
        return entry.story_id

    def _live(self, n: int, at: datetime) -> bool:
        return abs(at - self._entries[n].at) <= self.window

    def extend(self, entries: Iterable[tuple[str, str, str, datetime]]) -> None:
        """Bulk ``add`` of (story_id, title, canonical_url, at) tuples."""
        for story_id, title, url, at in entries:
            self.add(story_id, title=title, canonical_url=url, at=at)
