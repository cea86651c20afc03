"""Operator Markdown to sanitised HTML for the page: page content, the offline message, action HTML.

markdown-it-py renders (CommonMark plus tables and strikethrough); nh3 then keeps only an allow-list
of tags, attributes and URL schemes, so neither the operator's raw HTML nor a stored value set
through the API can put script on the viewer page.
"""

from __future__ import annotations

import functools

import nh3
from markdown_it import MarkdownIt

_URL_SCHEMES = {"http", "https", "mailto"}

# nh3's defaults (text formatting, lists, tables, images, links) plus media the page content may embed.
_TAGS = set(nh3.ALLOWED_TAGS) | {"video", "audio", "source", "track"}
_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "a": {"href", "hreflang", "title"},
    "img": {"alt", "width", "height", "src", "title", "loading"},
    "video": {"src", "controls", "width", "height", "poster", "muted", "loop", "playsinline"},
    "audio": {"src", "controls", "loop", "muted"},
    "source": {"src", "type"},
    "track": {"src", "kind", "srclang", "label"},
    "code": {"class"},
}

# `html` lets operators write HTML in page content; nh3 is what makes that safe.
_page_md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
# The offline message is short prose: Markdown only, raw HTML shown as text (as Owncast does).
_simple_md = MarkdownIt("commonmark", {"html": False}).enable(["strikethrough"])

_CACHE = 64


def clean_html(html: str) -> str:
    """Sanitise HTML for the page: allow-listed tags and attributes, links that open safely."""
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


@functools.lru_cache(maxsize=_CACHE)
def page_content(markdown: str) -> str:
    """`extraPageContent`: Markdown (with HTML) rendered and sanitised."""
    if not markdown.strip():
        return ""
    return clean_html(_page_md.render(markdown)).strip()


@functools.lru_cache(maxsize=_CACHE)
def simple(markdown: str) -> str:
    """`offlineMessage`: "hello" becomes `<p>hello</p>`, as Owncast's API tests expect."""
    if not markdown.strip():
        return ""
    return clean_html(_simple_md.render(markdown)).strip()
