"""Canonical URLs, title normalisation and the story-cluster index.

A story is reported by many outlets and re-published by feeds that rewrite their GUIDs
and timestamps. Two items are the same story when their canonical URLs agree, or when
their normalised titles are near-identical (rapidfuzz) within a time window. The index
finds candidates through rare title tokens, so a new title is compared with a handful of
stored titles, never with all of them.
"""

from __future__ import annotations

import hashlib
import heapq
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from rapidfuzz import fuzz, process

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


def normalize_title(title: str) -> str:
    """Lower-case words of a title without wire prefixes ("UPDATE 2-") or outlet suffixes (" - Reuters")."""
    text = unicodedata.normalize("NFKC", title).translate(_TYPOGRAPHIC).strip()
    text = _TITLE_PREFIX.sub("", text)
    stripped = _OUTLET_SUFFIX.sub("", text)
    if len(stripped.split()) >= 3:  # keep titles that would be left almost empty
        text = stripped
    return " ".join(m.group(0) for m in _WORD.finditer(text.lower()))


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


@dataclass(slots=True)
class _Entry:
    story_id: str
    title: str
    tokens: frozenset[str]
    url: str
    at: datetime


class ClusterIndex:
    """Recent stories, indexed by URL and by title token, for near-duplicate lookup.

    ``find`` compares a title only with stories that share one of its rarest tokens
    (at most ``max_candidates`` of them), which keeps a lookup roughly constant-time
    however many stories the window holds.
    """

    def __init__(
        self,
        *,
        threshold: float = 90.0,
        window: timedelta = timedelta(hours=48),
        min_words: int = 5,
        probe_tokens: int = 3,
        max_candidates: int = 300,
    ) -> None:
        self.threshold = threshold
        self.window = window
        self.min_words = min_words
        self.probe_tokens = probe_tokens
        self.max_candidates = max_candidates
        self._entries: dict[int, _Entry] = {}
        self._by_url: dict[str, int] = {}
        self._by_token: dict[str, set[int]] = {}
        self._by_story: dict[str, list[int]] = {}
        self._expiry: list[tuple[datetime, int]] = []
        self._next = 0

    def __len__(self) -> int:
        return len(self._by_story)

    def __contains__(self, story_id: object) -> bool:
        return story_id in self._by_story

    def add(self, story_id: str, *, title: str, canonical_url: str, at: datetime) -> None:
        """Index a story under its URL and title (call again for each extra copy's URL)."""
        norm = normalize_title(title)
        tokens = title_tokens(norm) if len(norm.split()) >= self.min_words else frozenset()
        key = url_key(canonical_url) if canonical_url else ""
        n = self._next
        self._next += 1
        self._entries[n] = _Entry(story_id, norm, tokens, key, at)
        self._by_story.setdefault(story_id, []).append(n)
        if key:
            self._by_url[key] = n
        for tok in tokens:
            self._by_token.setdefault(tok, set()).add(n)
        heapq.heappush(self._expiry, (at, n))

    def find(self, *, title: str, canonical_url: str, at: datetime) -> ClusterHit | None:
        """The story this item belongs to, if any: same URL, else a near-identical title in the window."""
        if canonical_url:
            n = self._by_url.get(url_key(canonical_url))
            if n is not None and self._live(n, at):
                return ClusterHit(self._entries[n].story_id, "url")
        norm = normalize_title(title)
        if len(norm.split()) < self.min_words:
            return None
        tokens = title_tokens(norm)
        buckets = sorted((self._by_token[t] for t in tokens if t in self._by_token), key=len)
        candidates: dict[int, str] = {}
        for bucket in buckets[: self.probe_tokens]:
            for n in bucket:
                if len(candidates) >= self.max_candidates:
                    break
                entry = self._entries[n]
                if n not in candidates and self._live(n, at) and entry.tokens:
                    candidates[n] = entry.title
        if not candidates:
            return None
        best = process.extractOne(norm, candidates, scorer=fuzz.token_sort_ratio, score_cutoff=self.threshold)
        if best is None:
            return None
        _, score, n = best
        return ClusterHit(self._entries[n].story_id, "title", float(score))

    def prune(self, now: datetime) -> int:
        """Forget entries older than the window; returns how many stories left the index."""
        cutoff = now - self.window
        gone: set[str] = set()
        while self._expiry and self._expiry[0][0] < cutoff:
            _, n = heapq.heappop(self._expiry)
            entry = self._entries.pop(n, None)
            if entry is None:
                continue
            if entry.url and self._by_url.get(entry.url) == n:
                del self._by_url[entry.url]
            for tok in entry.tokens:
                bucket = self._by_token.get(tok)
                if bucket is not None:
                    bucket.discard(n)
                    if not bucket:
                        del self._by_token[tok]
            ids = self._by_story.get(entry.story_id)
            if ids is not None:
                ids.remove(n)
                if not ids:
                    del self._by_story[entry.story_id]
                    gone.add(entry.story_id)
        return len(gone)

    def _live(self, n: int, at: datetime) -> bool:
        return abs(at - self._entries[n].at) <= self.window

    def extend(self, entries: Iterable[tuple[str, str, str, datetime]]) -> None:
        """Bulk ``add`` of (story_id, title, canonical_url, at) tuples."""
        for story_id, title, url, at in entries:
            self.add(story_id, title=title, canonical_url=url, at=at)
