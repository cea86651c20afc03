"""Chat message bodies: Markdown to HTML, then sanitised to Owncast's small allow-list.

markdown-it-py renders CommonMark (raw HTML passes through, as Owncast's renderer lets it) and
turns bare http(s) URLs into links; nh3 then keeps only `p`, `br`, `strong`, `em`, `code`, `pre`,
`a[href]` (with rel and target added) and `img` whose `src` is a custom emoji under /img/emoji/.
Everything else is dropped, keeping its text; script and style lose their content too.
"""

from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = frozenset({"p", "br", "strong", "em", "code", "pre", "a", "img"})
EMOJI_PREFIX = "/img/emoji/"

_EMOJI_SRC = re.compile(r"/img/emoji/[^.%?#\\:\s\"'<>]+\.[A-Za-z0-9]{1,5}")
_EMOJI_ALT = re.compile(r":[^\s:]{1,64}:")
_EMOJI_CLASS = re.compile(r"emoji[A-Za-z_]{0,32}", re.IGNORECASE)


def _md() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True, "linkify": True, "typographer": False})
    md.enable("linkify")
    # Only URLs with a scheme become links (no "example.com", no bare e-mail addresses).
    assert md.linkify is not None  # linkify-it-py is installed (a dependency)
    md.linkify.set({"fuzzy_link": False, "fuzzy_email": False, "fuzzy_ip": False})
    return md


_markdown = _md()


def _attribute_filter(element: str, attribute: str, value: str) -> str | None:
    if element == "img":
        if attribute == "src":
            return value if _EMOJI_SRC.fullmatch(value) and ".." not in value else None
        if attribute in ("alt", "title"):
            return value if _EMOJI_ALT.fullmatch(value) else None
        if attribute == "class":
            return value if _EMOJI_CLASS.fullmatch(value) else None
    return value


_cleaner = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags={"script", "style"},
    attributes={"a": {"href"}, "img": {"src", "alt", "title", "class"}},
    attribute_filter=_attribute_filter,
    link_rel="noopener noreferrer nofollow",
    set_tag_attribute_values={"a": {"target": "_blank"}},
    url_schemes={"http", "https", "mailto"},
    strip_comments=True,
)


def sanitize(html: str) -> str:
    """Keep only the chat allow-list of `html`."""
    cleaned: str = _cleaner.clean(html)
    # An img whose src was refused is an empty box: drop it.
    return re.sub(r"<img(?![^>]*\ssrc=)[^>]*>", "", cleaned)


def render(raw: str) -> str:
    """A chat message body: Markdown rendered, sanitised, trimmed. "hello" -> `<p>hello</p>`.
    Empty when nothing is left to show (markup the sanitiser removed whole, like `<object>`)."""
    text = raw.strip()
    if not text:
        return ""
    html = sanitize(_markdown.render(text)).strip()
    return html if "<img" in html or plain_text(html) else ""


def plain_text(html: str) -> str:
    """The text of rendered HTML, for logs and emptiness checks."""
    return nh3.clean(html, tags=set()).strip()
