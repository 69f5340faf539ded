"""``{% load untrusted %}``: text from AWS shown on a page with its hidden characters visible.

A tag key ``Own\\u200ber`` renders exactly like ``Owner``; a bidi override turns a value around.
``{{ key|revealed }}`` escapes the text as autoescape would and shows each hidden character as
a ``⟨U+200B⟩`` marker in a ``<span class="hidden-char">``, so it stands out and cannot be
mistaken for text that merely spells a marker.
"""

from __future__ import annotations

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from compliance.core.untrusted import reveal, revealed_parts

register = template.Library()


@register.filter
def revealed(value: object) -> SafeString:
    """``value`` escaped, its hidden characters shown as styled markers (None: empty)."""
    text = "" if value is None else str(value)
    # format_html_join escapes each plain piece; a marker arrives already built by format_html.
    return format_html_join(
        "",
        "{}",
        (
            (format_html('<span class="hidden-char">{}</span>', part) if is_marker else part,)
            for part, is_marker in revealed_parts(text)
        ),
    )


@register.filter
def revealed_text(value: object) -> str:
    """``value`` with hidden characters as plain-text markers, for where no markup may go
    (a page title, an attribute); autoescape then escapes it as any text."""
    return reveal("" if value is None else str(value))
