"""HTML -> main text ("boilerplate removal") for crawled web pages.

Design, and why (measured on a 2-vCPU box, one process, MB/s of raw HTML per core;
see ``benchmarks/extraction.py``, which reproduces the numbers):

* trafilatura is the quality reference (mean token F1 0.945 on the Scrapinghub
  article-extraction benchmark) but runs at ~14 MB/s/core here (5.7 on the reference box):
  too slow for a WARC ingest that must sustain 25 MB/s/core end to end.
* resiliparse's ``extract_plain_text(tree, main_content=True)`` (lexbor DOM, C code) runs at
  ~110 MB/s/core here but reaches only F1 0.895: its recall is excellent (0.987) and its
  precision poor (0.836): comments, captions, bylines, headlines, related-article teasers.

So the default extractor ``tailmine`` keeps resiliparse's C parser and C text walker and only
tells them *what to walk*, using cheap C-side CSS queries, no Python DOM traversal:

1. Container pick: the first element whose class/id/itemprop names an article body
   (``entry-content``, ``article-body``, ``itemprop=articleBody`` ...), else the first
   ``<article>``, else ``<main>``/``role=main``, provided it holds >= 200 characters and
   >= 5 % of the body's text (otherwise the whole body is used: a tiny match is usually a
   teaser, and dropping the rest would lose recall). The body's children are replaced by it.
   (+0.004 to +0.009 F1 on Scrapinghub.)
2. ``skip_elements``: CSS selectors for comment sections, captions, bylines/authors,
   dates, share/social/newsletter widgets, related links, headers/h1/title blocks, cookie
   banners (+0.05 F1 on Scrapinghub, the biggest gain). If skipping leaves < 200 characters
   (e.g. a wrapper whose class contains "comment"), it re-extracts without the skip list.
3. A line filter drops short lines that are pure boilerplate ("Share", "Advertisement",
   "By Jane Doe", "Photo: AP", ...). (+0.001 F1.)

Result (benchmarks/ingest.py's extractor rows, same run, idle 2-vCPU box; Scrapinghub was the only
set tuned on):

    set               tailmine              resiliparse           trafilatura
    scrapinghub F1    0.960 @ 158 MB/s      0.895 @ 172 MB/s      0.945 @ 10 MB/s
    readability F1    0.941 @  86 MB/s      0.917 @ 101 MB/s      0.921 @  7 MB/s
    traf. eval score  0.869 @ 103 MB/s      0.821 @ 108 MB/s      0.917 @  6 MB/s

i.e. 0.85-0.95x resiliparse's speed and ~15x trafilatura's; where a page has an article container
the text walk is shorter than resiliparse's whole-page walk, which pays for the pick.
On trafilatura's own eval set (held out) trafilatura stays
better: this extractor drops some wanted snippets (with-found 0.885 vs 0.941) while removing
far more boilerplate than plain resiliparse (without-absent 0.853 vs 0.697).
Speed is bounded by lexbor parsing (~0.3 ms/page) plus resiliparse's main-content text walk;
the container query is one ``:is(tags):is(stems):is(attrs)`` selector (a flat tag x attr list
was 4x slower; the stems pre-test cuts the query by a quarter). Iterating a node collection from
Python costs ~75 µs a node in resiliparse 2.0, slicing it ~2 µs, so the code slices the (few)
candidates and never walks the DOM in Python.

All functions are module-level (picklable by Beam), hold no mutable global state and never
raise: any failure yields ``Extraction('', '')``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

__all__ = ["Extraction", "extract_main_text", "EXTRACTORS", "get_extractor"]


@dataclass(frozen=True)
class Extraction:
    title: str  # the page <title> (or og:title), '' if none, whitespace-collapsed
    text: str  # main text, paragraphs separated by '\n', stripped


_EMPTY = Extraction("", "")

# ---------------------------------------------------------------------------------------------
# Step 1: article-body container selectors, in priority tiers (immutable module constants).
_BODY_ATTRS = (
    ("itemprop", "=", "articleBody"),
    ("class", "*=", "article-body"), ("class", "*=", "article__body"), ("class", "*=", "articleBody"),
    ("class", "*=", "article_body"), ("class", "*=", "articlebody"),
    ("id", "*=", "article-body"), ("id", "*=", "articleBody"), ("id", "*=", "articlebody"),
    ("class", "*=", "article-content"), ("class", "*=", "article__content"),
    ("class", "*=", "articleContent"), ("class", "*=", "article_content"),
    ("id", "*=", "article-content"), ("id", "*=", "articleContent"),
    ("class", "*=", "article-text"), ("class", "*=", "articletext"), ("class", "*=", "articleText"),
    ("class", "*=", "article__text"),
    ("class", "*=", "entry-content"), ("id", "*=", "entry-content"), ("class", "*=", "entry_content"),
    ("class", "*=", "post-content"), ("class", "*=", "post_content"), ("class", "*=", "postContent"),
    ("class", "*=", "post-body"), ("class", "*=", "post-text"), ("class", "*=", "post-entry"),
    ("class", "*=", "postentry"),
    ("class", "*=", "story-body"), ("class", "*=", "story-content"), ("class", "*=", "storyBody"),
    ("class", "*=", "story-text"), ("id", "*=", "story-body"),
    ("class", "*=", "body-text"), ("class", "*=", "text-content"), ("class", "*=", "content-body"),
    ("class", "*=", "main-text"),
)
# A cheap necessary condition for _BODY_ATTRS: every "*=" value above contains one of these
# stems of the same attribute, and "[itemprop]" is implied by any itemprop test. lexbor tests
# ":is(...)" groups left to right and stops at the first that fails, so most containers fail on
# 12 substring tests instead of 38: -27 % for this query, the same nodes (the implication is
# checked by tests/test_extract.py).
_BODY_STEMS = (
    ("class", "rticle"), ("class", "ntry"), ("class", "post"), ("class", "tory"),
    ("class", "body-text"), ("class", "text-content"), ("class", "content-body"), ("class", "main-text"),
    ("id", "rticle"), ("id", "ntry-content"), ("id", "story-body"),
)
# Only container tags: class substrings such as "post-text" also appear on single <p>s.
# ":is(tags):is(attrs)" is ~4x cheaper in lexbor than the equivalent tag x attr selector list.
_TIER_BODY = (
    ":is(div, section, article, main)"
    + ":is(" + ", ".join([f'[{attr}*="{stem}"]' for attr, stem in _BODY_STEMS] + ["[itemprop]"]) + ")"
    + ":is(" + ", ".join(f'[{attr}{op}"{val}"]' for attr, op, val in _BODY_ATTRS) + ")"
)
_TIER_ARTICLE = "article"
_TIER_MAIN = (
    'main, [role="main"], div[id="main"], div[id*="main-content"], div[class*="main-content"], div[id="content"]'
)
_TIERS = (_TIER_BODY, _TIER_ARTICLE, _TIER_MAIN)
_MIN_CONTAINER_CHARS = 200
_MIN_CONTAINER_FRAC = 0.05

# Step 2: elements never part of the main text (resiliparse skips them and their subtrees).
_SKIP = (
    '[id*="comment"]', '[class*="comment"]', "#disqus_thread",
    '[class*="related"]', '[id*="related"]',
    '[class*="share"]', '[class*="social"]',
    '[class*="newsletter"]', '[class*="subscribe"]',
    "figcaption", '[class*="caption"]',
    '[class*="byline"]', '[class*="author"]', "time", '[class*="dateline"]', '[class*="timestamp"]',
    '[class*="cookie"]', '[id*="cookie"]', '[class*="breadcrumb"]', '[class*="tags"]',
    "header", "h1", '[class*="widget"]', '[class*="photo"]', '[class*="image"]',
    '[class*="title"]', '[class*="header"]',
)
_SKIP_LIST = list(_SKIP)  # resiliparse wants a list; built once, never mutated
_MIN_SKIPPED_CHARS = 200

# Step 3: short lines that are boilerplate on their own.
_BOILER_LINE = re.compile(
    r"^(?:share|tweet|email|print|comments?|\d+ comments?|leave a (?:reply|comment)"
    r"|related(?: articles| posts| stories)?|advertisement|read more|subscribe.*|sign up.*|follow us.*"
    r"|tags?:.*|photo:.*|image \d+ of.*|getty images|by .{0,40}|posted (?:by|on) .*"
    r"|published:?.*|updated:?.*)$",
    re.I,
)
_BOILER_MAX_LEN = 80
_WS = re.compile(r"\s+")


def _parse(html: str):
    from resiliparse.parse.html import HTMLTree

    try:
        return HTMLTree.parse(html)
    except UnicodeEncodeError:
        # Lone surrogates (e.g. bytes decoded with surrogateescape): replace them and retry.
        return HTMLTree.parse(html.encode("utf-8", "replace").decode("utf-8", "replace"))


def _title(tree) -> str:
    try:
        title = tree.title or ""
        if not title.strip() and tree.head is not None:
            meta = tree.head.query_selector('meta[property="og:title"]')
            if meta is not None:
                title = meta.getattr("content") or ""
        return _WS.sub(" ", title).strip()
    except Exception:  # noqa: BLE001 - never raise on odd documents
        return ""


def _pick_container(body, source_chars: int):
    """First element of the highest tier holding enough of the body's text, else None.

    "Enough" is >= 200 characters and >= 5 % of the body's text. The body's text is never
    longer than the page source (every character of it comes from at least one source
    character; checked on all 1,301 benchmark pages), so a candidate holding 5 % of the
    *source* passes without measuring the body at all: that skips one walk of the whole
    body's text on most pages (-4 to -6 % extraction CPU in two runs) and picks exactly the same node.
    """
    surely_enough = max(_MIN_CONTAINER_CHARS, _MIN_CONTAINER_FRAC * source_chars)
    min_chars = None
    for selector in _TIERS:
        # A slice builds the whole node tuple in C; iterating the collection itself costs ~75 µs a
        # node in resiliparse 2.0 (0.34 s over the 4,538 <article>s of the 1,301 benchmark pages).
        for node in body.query_selector_all(selector)[:]:
            chars = len(node.text)
            if chars < _MIN_CONTAINER_CHARS:
                continue
            if chars >= surely_enough:
                return node
            if min_chars is None:
                min_chars = _MIN_CONTAINER_FRAC * len(body.text)
            if chars >= min_chars:
                return node
    return None


def _filter_lines(text: str) -> str:
    out = []
    for line in text.split("\n"):
        line = line.strip()
        if not line or (len(line) < _BOILER_MAX_LEN and _BOILER_LINE.match(line)):
            continue
        out.append(line)
    return "\n".join(out)


def _extract_tailmine(html: str, *, container: bool) -> Extraction:
    from resiliparse.extract.html2text import extract_plain_text

    tree = _parse(html)
    title = _title(tree)
    body = tree.body
    if body is None:
        return Extraction(title, "")
    if container:
        node = _pick_container(body, len(html))
        if node is not None:
            body.replace_children(node)
    text = extract_plain_text(tree, main_content=True, list_bullets=False, skip_elements=_SKIP_LIST)
    if len(text) < _MIN_SKIPPED_CHARS:
        text = extract_plain_text(tree, main_content=True, list_bullets=False)
    return Extraction(title, _filter_lines(text))


def extract_main_text(html: str, *, url: str | None = None) -> Extraction:
    """Main text of an HTML page with the default (``tailmine``) extractor. Never raises."""
    try:
        if not isinstance(html, str) or not html:
            return _EMPTY
        return _extract_tailmine(html, container=True)
    except Exception:  # noqa: BLE001 - a bad page must never kill a pipeline
        return _EMPTY


def extract_resiliparse(html: str, *, url: str | None = None) -> Extraction:
    """Plain resiliparse ``extract_plain_text(tree, main_content=True)`` (baseline)."""
    try:
        if not isinstance(html, str) or not html:
            return _EMPTY
        from resiliparse.extract.html2text import extract_plain_text

        tree = _parse(html)
        return Extraction(_title(tree), extract_plain_text(tree, main_content=True).strip())
    except Exception:  # noqa: BLE001
        return _EMPTY


def extract_trafilatura(html: str, *, url: str | None = None) -> Extraction:
    """trafilatura's default extraction (reference; a dev-only dependency, imported lazily)."""
    try:
        if not isinstance(html, str) or not html:
            return _EMPTY
        import trafilatura

        text = trafilatura.extract(html, url=url) or ""
        try:
            title = _title(_parse(html))
        except Exception:  # noqa: BLE001
            title = ""
        return Extraction(title, text.strip())
    except Exception:  # noqa: BLE001
        return _EMPTY


EXTRACTORS: dict[str, Callable[..., Extraction]] = {
    "tailmine": extract_main_text,
    "resiliparse": extract_resiliparse,
    "trafilatura": extract_trafilatura,
}


def get_extractor(name: str) -> Callable[..., Extraction]:
    """The extractor called ``name``; ValueError naming the valid choices otherwise."""
    try:
        return EXTRACTORS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown extractor {name!r}; valid choices: {', '.join(sorted(EXTRACTORS))}") from None
