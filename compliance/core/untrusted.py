"""Text that comes from AWS: tag keys and values, resource names. Data, never instructions.

Anyone who may tag a resource in a scanned account chooses this text, so every face treats it
as hostile: pages escape it (Django's autoescape), exports neutralise it for their format, and
MCP results carry it only in structured fields. Three things are decided here, once:

- **Hidden characters are shown.** Control, format (zero-width, bidi, Unicode tag characters),
  line and paragraph separators, non-breaking and other unusual spaces, and the invisible
  fillers that render as nothing are replaced by a visible ``⟨U+200B⟩`` marker, so that
  ``Own\\u200ber`` can never pass for ``Owner`` on a page, in a file or in an assistant's view.
- **Long values are cut** with a marker saying how much was left out.
- **Instruction-like text is detected** (``instruction_signals``): a small list of documented
  patterns that text addressed to a language model uses and tag values do not. It flags, it
  never blocks: the value is still shown (as data) so that a person can see and fix it.
"""

from __future__ import annotations

import re
import unicodedata

# Categories of characters that render as nothing or move other text: Cc (controls, including
# \t \r \n), Cf (format: zero-width, bidi embeddings and isolates, U+E0000 tag characters),
# Zl/Zp (line and paragraph separators), Co (private use), Cs (lone surrogates), Cn (unassigned).
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})
# Characters outside those categories that still show as blank or nothing: fillers and
# variation selectors (which change nothing visible on their own).
_BLANK_LOOKALIKES = frozenset(
    {
        "\u115f",  # HANGUL CHOSEONG FILLER
        "\u1160",  # HANGUL JUNGSEONG FILLER
        "\u2800",  # BRAILLE PATTERN BLANK
        "\u3164",  # HANGUL FILLER
        "\uffa0",  # HALFWIDTH HANGUL FILLER
    }
)


def _is_hidden(char: str) -> bool:
    if char == " ":
        return False
    category = unicodedata.category(char)
    if category in _HIDDEN_CATEGORIES or category == "Zs":  # Zs: every space but U+0020
        return True
    if char in _BLANK_LOOKALIKES:
        return True
    code = ord(char)
    return any(low <= code <= high for low, high in _IGNORABLE_MARKS)


# Unicode's default-ignorable code points outside the categories above: combining marks that
# render as nothing (the grapheme joiner, Khmer inherent vowels, Mongolian free variation
# selectors) and the variation selectors, which change nothing visible on their own.
_IGNORABLE_MARKS = (
    (0x034F, 0x034F),  # COMBINING GRAPHEME JOINER
    (0x17B4, 0x17B5),  # KHMER VOWEL INHERENT AQ, AA
    (0x180B, 0x180F),  # MONGOLIAN FREE VARIATION SELECTORS
    (0xFE00, 0xFE0F),  # VARIATION SELECTORS
    (0xE0100, 0xE01EF),  # VARIATION SELECTORS SUPPLEMENT
)


def marker(char: str) -> str:
    """The visible stand-in for a hidden character: ``⟨U+200B⟩``."""
    return f"⟨U+{ord(char):04X}⟩"


def hidden_characters(text: str) -> list[str]:
    """The hidden characters in ``text``, in order, as their markers (empty: none)."""
    return [marker(char) for char in text if _is_hidden(char)]


def has_hidden_characters(text: str) -> bool:
    return any(_is_hidden(char) for char in text)


def reveal(text: str) -> str:
    """``text`` with every hidden character replaced by its visible marker."""
    if text.isascii() and text.isprintable():
        return text  # the common case: nothing to do
    return "".join(marker(char) if _is_hidden(char) else char for char in text)


def revealed_parts(text: str) -> list[tuple[str, bool]]:
    """``text`` as :func:`reveal` shows it, in runs of (text, is a marker), for a face that
    styles the markers apart (a page): a marker is never confused with text that merely
    looks like one."""
    parts: list[tuple[str, bool]] = []
    run: list[str] = []
    for char in text:
        if _is_hidden(char):
            if run:
                parts.append(("".join(run), False))
                run = []
            parts.append((marker(char), True))
        else:
            run.append(char)
    if run:
        parts.append(("".join(run), False))
    return parts


def without_hidden_characters(text: str) -> str:
    """``text`` as a person reads it on screen: hidden characters dropped.

    Used to compare a tag key with the policy's keys (``Own\\u200ber`` reads as ``Owner``),
    never to store or show a value.
    """
    return "".join(char for char in text if not _is_hidden(char))


# A tag value is at most 256 characters and a key 128 (AWS limits); resource names and ARNs
# run longer. Past this, a value is cut in MCP results and on summary lines.
DEFAULT_LIMIT = 256


def cut(text: str, limit: int = DEFAULT_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, with a marker saying how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}⟨… {len(text) - limit} more characters⟩"


def as_data(text: str, limit: int = DEFAULT_LIMIT) -> str:
    """How AWS text is written into an MCP result: hidden characters shown, long text cut.

    Revealing first means a run of hidden characters cannot hide past the cut.
    """
    return cut(reveal(text), limit)


# --- Instruction-like text -------------------------------------------------------------------
# Each signal names a pattern typical of text written to steer a language model, and rare in
# honest tag values, names and descriptions. The list is documented in SECURITY.md ("Text from
# AWS"); it is a tripwire, not a filter: a hit flags the resource and raises a security event.
_SIGNALS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "override_instructions",
        re.compile(
            r"\b(ignore|disregard|forget|override|bypass)\b.{0,40}\b(previous|prior|above|"
            r"earlier|preceding|all|any|your|system|the)\b.{0,40}\b(instructions?|prompts?|"
            r"rules|directions|guidelines|context|messages?)\b"
        ),
    ),
    (
        "addresses_the_model",
        re.compile(
            r"\b(system|developer)\s+(prompt|instructions?|message|note|override)\b"
            r"|\b(instructions?|message|note)\s+(to|for)\s+(the\s+)?(ai|assistant|model|llm|"
            r"agent|chatbot)\b"
            r"|\b(dear|attention|hey)\s+(ai|assistant|model|llm|agent|claude|chatgpt|gpt)\b"
            r"|\byou\s+are\s+now\b|\bnew\s+instructions?\b|\bact\s+as\s+(an?|the)\b"
        ),
    ),
    (
        "asks_for_a_tool_call",
        re.compile(
            r"\b(call|invoke|run|execute|use|trigger)\s+(the\s+)?(`)?(start_scan\b|"
            r"[a-z]+_[a-z_]+\s*\(|(tool|function|command)\b)"
            r"|\b(function|tool)[ _]?call\b"
        ),
    ),
    (
        "hides_from_the_user",
        re.compile(
            r"\b(do\s+not|don't|never)\s+(tell|inform|show|mention|reveal|alert)\b.{0,30}"
            r"\b(user|human|operator|anyone)\b"
            r"|\bwithout\s+(telling|asking|informing)\s+(the\s+)?(user|human)\b"
        ),
    ),
    (
        "conversation_markup",
        re.compile(
            r"</?\s*(tool_result|tool_use|function_results?|system|assistant|user|"
            r"instructions?|im_start|im_end)\s*>"
            r"|<\|[a-z_]+\|>|\[/?inst\]|<<\s*/?sys\s*>>"
            r"|(^|\n)\s*(system|assistant|human|user)\s*:"
        ),
    ),
)


# Every line-break character, read as a plain newline by the detector: dropping them with the
# other hidden characters would glue "ok\nSystem:" into "oksystem:" and hide a fake turn.
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]")


def instruction_signals(text: str) -> tuple[str, ...]:
    """The names of the instruction-like patterns ``text`` matches (empty: none).

    The text is compared as a model would read it: compatibility-normalised (NFKC folds
    full-width and styled letters), lower case, hidden characters read both ways (dropped, as
    inside a word ``ign\u034fore``; and as a space, as between words
    ``ignore\u200bprevious\u200binstructions``). Unicode tag
    characters (U+E0000-U+E007F) are a signal of their own: they spell invisible ASCII that
    some models read, and no honest tag value needs them.
    """
    found: list[str] = []
    if text.isascii() and text.isprintable():
        readable = text.lower()  # the common case: nothing to fold, drop or split
    else:
        if any(0xE0000 <= ord(char) <= 0xE007F for char in text):
            found.append("invisible_ascii")
        lines = _LINE_BREAKS.split(unicodedata.normalize("NFKC", text))
        dropped = "\n".join(without_hidden_characters(line) for line in lines)
        spaced = "\n".join(
            "".join(" " if _is_hidden(char) else char for char in line) for line in lines
        )
        readable = f"{dropped}\n{spaced}".lower()
    found += [name for name, pattern in _SIGNALS if pattern.search(readable)]
    return tuple(found)


def looks_like_instructions(text: str) -> bool:
    return bool(instruction_signals(text))


# --- Markdown ---------------------------------------------------------------------------------
# Inline syntax only: a value is always written after a cell's "| " or a list item's "- ", and
# its line breaks are shown as markers, so line-start syntax (headings, lists) cannot arise.
_MARKDOWN_SPECIALS = re.compile(r"([\\`*_\[\]()!|~])")
# Renderers with GitHub's autolink extension turn bare "https://..." and "www...." into links:
# escaping the ":" of "://" and the dot of "www." breaks that match (an ARN's ":" stays as is).
_BARE_LINK = re.compile(r"(?i):(?=//)|(?<=\bwww)\.")


def markdown_text(text: str) -> str:
    """AWS text made inert in Markdown (a report cell or list item).

    HTML is entity-escaped (``<script>``, ``<img onerror>``, autolinks), every Markdown
    punctuation character is backslash-escaped (links, images, emphasis, table pipes, headings,
    bare URLs), and every line-break character is shown as its marker, so a value stays on
    its line.
    """
    text = reveal(text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace('"', "&quot;")
    text = _MARKDOWN_SPECIALS.sub(r"\\\1", text)
    text = _BARE_LINK.sub(lambda found: "\\" + found.group(0), text)
    return _LINE_START.sub(_inert_line_start, text, count=1)


# Block syntax a value could start with where it begins a line's content (a list item's
# "- {value}"): indentation (a code block), a heading, a rule or a nested list item.
_LINE_START = re.compile(r"\A( +)|\A([#+\-=])|\A(\d{1,9})([.)])")


def _inert_line_start(found: re.Match[str]) -> str:
    spaces, mark, number, number_mark = found.groups()
    if spaces:
        return "&#32;" * len(spaces)
    if mark:
        return "\\" + mark
    return f"{number}\\{number_mark}"
