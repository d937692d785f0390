"""The words of an email: bytes in whatever charset a client sent, HTML, format=flowed, and
the quoted reply and signature under what the sender wrote this time.

Pure functions of text; `channels.email_message` applies them to a parsed message.
"""

from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser
from importlib import resources

import nh3
from email_reply_parser import EmailReplyParser

# Labels that mail clients put on text that is really windows-1252 (as browsers have long
# read them, per the WHATWG encoding standard): decoded as windows-1252, which agrees with
# them on every byte they define.
_WINDOWS_1252_LABELS = frozenset({"us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1", "cp1252"})
# Charsets in which text that decodes as UTF-8 is almost surely UTF-8 (mislabelled): the
# ASCII-compatible single-byte ones western clients send. Others (ISO-2022-JP, UTF-16…)
# are tried first as labelled, since pure 7-bit bytes of theirs also "decode" as UTF-8.
_UTF8_FIRST = _WINDOWS_1252_LABELS | {"utf-8", "utf8", "windows-1252", "iso-8859-15"}


def decode_text(data: bytes, declared: str | None) -> str:
    """`data` as text, whatever its label says: UTF-8 when it is UTF-8, the declared
    charset when that reads it, windows-1252 (never failing) otherwise."""
    label = (declared or "").strip().strip('"').lower()
    try:
        codec = codecs.lookup(label).name if label else None
    except (LookupError, ValueError):  # unknown, or a label with NULs or raw bytes in it
        codec = None
    if label in _WINDOWS_1252_LABELS:
        codec = "cp1252"
    attempts = ["utf-8", codec] if codec is None or label in _UTF8_FIRST else [codec, "utf-8"]
    for attempt in attempts:
        if attempt is None:
            continue
        try:
            return data.decode(attempt)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("cp1252", errors="replace")


def readable(text: str) -> str:
    """A header value whose raw 8-bit bytes the parser kept as surrogate escapes (a client
    that sent UTF-8 or windows-1252 unencoded, or a mislabelled encoded word), decoded."""
    if not any("\udc80" <= char <= "\udcff" for char in text):
        return text
    return decode_text(text.encode("utf-8", errors="surrogateescape"), None)


def unflow(text: str, *, delsp: bool) -> str:
    """A `format=flowed` body (RFC 3676) with its soft line breaks joined again."""
    lines: list[str] = []
    joining = False
    for line in text.split("\n"):
        stripped = line.rstrip("\r")
        depth = len(stripped) - len(stripped.lstrip(">"))
        content = stripped[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffing
        flowed = content.endswith(" ") and content != "-- "
        if flowed and delsp:
            content = content[:-1]
        if joining and lines and depth == _depth(lines[-1]):
            lines[-1] += content
        else:
            lines.append(">" * depth + (" " if depth and content else "") + content)
        joining = flowed
    return "\n".join(lines)


def _depth(line: str) -> int:
    return len(line) - len(line.lstrip(">"))


# What the converter keeps of HTML: structure that shapes the text; everything else (and
# every attribute but the ones naming a link or an image) is dropped by nh3 first.
_KEPT_TAGS = {
    "a", "b", "blockquote", "br", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
    "img", "li", "ol", "p", "pre", "span", "strong", "table", "tbody", "td", "th", "thead",
    "tr", "u", "ul",
}  # fmt: skip
# Tags that end a line, and those that also stand apart as a paragraph.
_LINES = frozenset({"div", "li", "tr"})
_PARAGRAPHS = frozenset(
    {"blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "ol", "p", "pre", "table", "ul"}
)


def sanitise_html(html: str) -> str:
    """HTML safe to show: nh3 with its defaults, scripts and styles removed with their text."""
    return nh3.clean(html, clean_content_tags={"script", "style", "title"})


def html_to_text(html: str) -> str:
    """What a reader sees of an HTML body, as plain text; quoted blocks marked with `>`."""
    cleaned = nh3.clean(
        html,
        tags=_KEPT_TAGS,
        clean_content_tags={"script", "style", "title"},
        attributes={"img": {"alt"}},
        link_rel=None,
    )
    converter = _TextOfHtml()
    converter.feed(cleaned)
    converter.close()
    return converter.text()


class _TextOfHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._lines: list[tuple[int, str]] = []
        self._line = ""
        self._quote = 0
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _LINES or tag in _PARAGRAPHS or tag == "br":
            self._break(blank=tag in _PARAGRAPHS)
        if tag == "blockquote":
            self._quote += 1
        elif tag == "pre":
            self._pre += 1
        elif tag == "li":
            self._line = "- "
        elif tag in ("td", "th") and self._line.strip():
            self._line += "\t"
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self._add(f"[{alt}]")

    def handle_endtag(self, tag: str) -> None:
        if tag in _LINES or tag in _PARAGRAPHS:
            self._break()
        if tag == "blockquote" and self._quote:
            self._quote -= 1
        elif tag == "pre" and self._pre:
            self._pre -= 1
        if tag in _PARAGRAPHS:
            self._break(blank=True)  # outside the quote it ended

    def handle_data(self, data: str) -> None:
        if self._pre:
            first, *rest = data.split("\n")
            self._add(first, raw=True)
            for line in rest:
                self._break(force=True)
                self._add(line, raw=True)
        else:
            self._add(re.sub(r"\s+", " ", data))

    def _add(self, text: str, *, raw: bool = False) -> None:
        if not raw and not self._line.strip():
            text = text.lstrip()
        self._line += text.replace("\xa0", " ")

    def _break(self, *, blank: bool = False, force: bool = False) -> None:
        """End the line; `blank`: and leave an empty one, as around a paragraph."""
        if self._line.strip() or force:
            self._lines.append((self._quote, self._line.rstrip()))
        if blank and self._lines and self._lines[-1][1]:
            self._lines.append((self._quote, ""))
        self._line = ""

    def text(self) -> str:
        self._break()
        return "\n".join(
            ("> " * depth if depth else "") + line for depth, line in self._lines
        ).strip()


# --- quoted replies and signatures --------------------------------------------------------


def _markers() -> dict[str, list[re.Pattern[str]]]:
    """The client markers of reply_markers.txt, by kind (quote, signature, forward)."""
    found: dict[str, list[re.Pattern[str]]] = {"quote": [], "signature": [], "forward": []}
    text = resources.files("channels").joinpath("reply_markers.txt").read_text("utf-8")
    for line in text.splitlines():
        kind, _, pattern = line.partition(": ")
        if kind in found:
            found[kind].append(re.compile(pattern, re.M | re.I))
    return found


_MARKERS = _markers()
# email-reply-parser's patterns are not linear in the text's length; past this the
# client markers do the cutting alone.
_LIBRARY_LIMIT = 100_000


def strip_reply(text: str) -> str:
    """What the sender wrote this time: `text` without the quoted earlier messages and the
    signature under it. A forwarded message stays whole."""
    forward = _first(text, "forward")
    cut = _first(text, "quote", "signature")
    if forward is not None and (cut is None or forward < cut):
        own = strip_reply(text[:forward])
        return "\n\n".join(part for part in (own, text[forward:].strip()) if part)
    own = text[:cut] if cut is not None else text
    own = own.rstrip()
    if len(own) <= _LIBRARY_LIMIT:
        parsed = str(EmailReplyParser.parse_reply(own)).strip()
        # The library reads a list of "-item" lines or a leading quote as a signature:
        # when it leaves nothing, the precise markers above have the last word.
        if parsed:
            return parsed
    return own.strip()


def _first(text: str, *kinds: str) -> int | None:
    """Where the first marker of these kinds starts in `text`."""
    found = [m.start() for kind in kinds for p in _MARKERS[kind] if (m := p.search(text))]
    return min(found) if found else None
