"""Dashboard charts as server-rendered SVG: a score gauge, a trend line and horizontal bars.

Pure functions from numbers to safe markup, so a page needs no JavaScript and nothing from a
CDN. The Content-Security-Policy forbids inline styles, so every look comes from classes styled
in ``static/css/charts.css``. Each SVG is one image to assistive technology (``role="img"``,
named by its ``<title>`` and ``<desc>``, the desc saying the numbers in words), and each chart is
followed by a visually hidden table of the same numbers, which a screen reader can walk cell by
cell. Drawing sizes are in viewBox units, so a chart scales to the width of its container.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from functools import partial
from math import cos, pi, sin
from urllib.parse import urlsplit

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from compliance.core.costs import to_cents

Number = Decimal | float | int
Label = str | date
#: A trend point: its label (a period) and its value, ``None`` for a period without data.
Point = tuple[Label, Number | None]
#: A bar: its label, its value and, optionally, the URL of the page the bar stands for.
Bar = tuple[str, Number] | tuple[str, Number, str]

#: Scores from these fractions up are drawn as good, then fair; below, poor.
GOOD_SCORE = Decimal("0.9")
FAIR_SCORE = Decimal("0.7")
#: Longer bar labels are cut (the whole label stays in a tooltip and in the table).
BAR_LABEL_CHARS = 24

# --- Numbers as words --------------------------------------------------------------------------


def _decimal(value: Number) -> Decimal:
    # str() first: Decimal(0.1) would carry the float's binary error into the printed figure.
    return value if isinstance(value, Decimal) else Decimal(str(value))


def format_money(amount: Number) -> str:
    """``$12,345.67``: to the cent, with thousands separators."""
    cents = to_cents(_decimal(amount))
    return f"-${-cents:,.2f}" if cents < 0 else f"${cents:,.2f}"


def format_percent(fraction: Number, places: int = 1) -> str:
    """A fraction as a percentage, to one decimal place unless told: ``0.875`` is ``87.5%``."""
    exponent = Decimal(1).scaleb(-places)
    percent = (_decimal(fraction) * 100).quantize(exponent, rounding=ROUND_HALF_UP)
    return f"{percent}%"


def format_count(count: Number) -> str:
    """``12,345``; a whole Decimal tick such as ``2E+1`` prints as ``20``."""
    value = _decimal(count)
    return f"{int(value):,}" if value == value.to_integral_value() else f"{value:,f}"


def _measure(*, percent: bool = False, money: bool = False) -> tuple[Callable[[Number], str], str]:
    """How a chart's values are printed, and what its table calls them."""
    if percent:
        return format_percent, "Score"
    if money:
        return format_money, "Amount"
    return format_count, "Count"


def _label(label: Label) -> str:
    if isinstance(label, datetime):
        label = label.date()
    return label.isoformat() if isinstance(label, date) else label


def _coord(value: float) -> str:
    """A coordinate to two decimals, without trailing zeros, to keep the markup short."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


# --- Shared frame: the SVG with its names, the hidden table, the empty state --------------------


def _svg(chart_id: str, size: tuple[int, int], title: str, desc: str, body: str) -> str:
    return format_html(
        '<svg class="chart-svg" viewBox="0 0 {} {}" role="img" aria-labelledby="{} {}">'
        '<title id="{}">{}</title><desc id="{}">{}</desc>{}</svg>',
        size[0],
        size[1],
        f"{chart_id}-title",
        f"{chart_id}-desc",
        f"{chart_id}-title",
        title,
        f"{chart_id}-desc",
        desc,
        SafeString(body),  # nosec B703: built from format_html parts
    )


def _table(caption: str, headers: tuple[str, str], rows: Iterable[tuple[str, str]]) -> str:
    return format_html(
        '<table class="visually-hidden"><caption>{}</caption>'
        '<thead><tr><th scope="col">{}</th><th scope="col">{}</th></tr></thead>'
        "<tbody>{}</tbody></table>",
        caption,
        headers[0],
        headers[1],
        format_html_join("", '<tr><th scope="row">{}</th><td>{}</td></tr>', rows),
    )


def _figure(kind: str, caption: str, svg: str, table: str) -> SafeString:
    caption_html = format_html('<figcaption class="chart-caption">{}</figcaption>', caption)
    return format_html(
        '<figure class="chart chart-{}">{}{}{}</figure>',
        kind,
        caption_html if caption else "",
        SafeString(svg),  # nosec B703: built from format_html parts
        SafeString(table),  # nosec B703: built from format_html parts
    )


def _empty(title: str) -> SafeString:
    return format_html('<p class="empty chart-empty">{}: no data yet.</p>', title)


# --- Score gauge -------------------------------------------------------------------------------

GAUGE_SIZE = (120, 70)
GAUGE_CENTER = (60.0, 60.0)
GAUGE_RADIUS = 50.0


def gauge_point(fraction: float) -> tuple[float, float]:
    """Where a score ends on the half circle: 0 on the left, 1 on the right, 0.5 at the top."""
    angle = pi * fraction
    return GAUGE_CENTER[0] - GAUGE_RADIUS * cos(angle), GAUGE_CENTER[1] - GAUGE_RADIUS * sin(angle)


def _arc(fraction: float, css_class: str) -> str:
    (x0, y0), (x1, y1) = gauge_point(0), gauge_point(fraction)
    r = _coord(GAUGE_RADIUS)
    path = f"M {_coord(x0)} {_coord(y0)} A {r} {r} 0 0 1 {_coord(x1)} {_coord(y1)}"
    return format_html('<path class="{}" d="{}"/>', css_class, path)


def score_gauge(score: Number | None, *, label: str, chart_id: str) -> SafeString:
    """A half-circle gauge of a score in [0, 1]; ``None`` (nothing in scope) reads ``n/a``."""
    if score is None:
        text, arc = "n/a", ""
    else:
        fraction = min(max(_decimal(score), Decimal(0)), Decimal(1))
        text = format_percent(score)
        band = "good" if fraction >= GOOD_SCORE else "fair" if fraction >= FAIR_SCORE else "poor"
        arc = _arc(float(fraction), f"gauge-value gauge-{band}") if fraction > 0 else ""
    body = format_html(
        '{}{}<text class="gauge-text" x="{}" y="{}" text-anchor="middle">{}</text>',
        _arc(1.0, "gauge-track"),
        SafeString(arc),  # nosec B703: built from format_html parts
        _coord(GAUGE_CENTER[0]),
        _coord(GAUGE_CENTER[1] - 6),
        text,
    )
    desc = f"{label}: {'not available' if score is None else text}."
    svg = _svg(chart_id, GAUGE_SIZE, label, desc, body)
    return _figure("gauge", "", svg, _table(label, ("Figure", "Value"), [(label, text)]))


# --- Axis ticks ---------------------------------------------------------------------------------


def axis_ticks(low: Decimal, high: Decimal, *, integer: bool, count: int = 4) -> list[Decimal]:
    """Round tick values from at most ``low`` to at least ``high``, about ``count`` steps, always
    including zero, so a reader can compare charts at a glance."""
    low, high = min(low, Decimal(0)), max(high, Decimal(0))
    raw = (high - low) / count if high > low else Decimal(1)
    step = Decimal(1)
    for factor in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
        step = factor.scaleb(raw.adjusted())
        if step >= raw and not (integer and step != step.to_integral_value()):
            break
    if integer:
        step = max(step, Decimal(1))
    first = (low / step).to_integral_value(ROUND_FLOOR) * step
    last = (high / step).to_integral_value(ROUND_CEILING) * step
    steps = int((last - first) / step)
    return [first + step * i for i in range(max(steps, 1) + 1)]


# --- Trend line ---------------------------------------------------------------------------------

TREND_SIZE = (640, 240)
TREND_PLOT = (96.0, 16.0, 624.0, 204.0)  # left, top, right, bottom of the plotting area


def trend_line(
    points: Iterable[Point],
    *,
    title: str,
    chart_id: str,
    percent: bool = False,
    money: bool = False,
    label_header: str = "Period",
) -> SafeString:
    """A line over periods, broken where a value is ``None``. With ``percent`` the values are
    fractions in [0, 1] drawn on a 0-100 % axis; else amounts (``money``) or counts from zero."""
    points = list(points)
    known = [(_label(label), _decimal(v)) for label, v in points if v is not None]
    if not known:
        return _empty(title)
    show, value_header = _measure(percent=percent, money=money)
    values = [v for _, v in known]
    tick_text = show
    if percent:
        ticks = [Decimal(i) / 4 for i in range(5)]
        tick_text = partial(format_percent, places=0)
    else:
        ticks = axis_ticks(min(values), max(values), integer=not money)
    left, top, right, bottom = TREND_PLOT
    span = float(ticks[-1] - ticks[0])

    def y(value: Decimal) -> float:
        return bottom - (bottom - top) * float(value - ticks[0]) / span

    def x(index: int) -> float:
        return (
            (left + right) / 2
            if len(points) == 1
            else left + (right - left) * index / (len(points) - 1)
        )

    grid = format_html_join(
        "",
        '<line class="chart-grid" x1="{0}" y1="{1}" x2="{2}" y2="{1}"/>'
        '<text class="chart-tick" x="{3}" y="{4}" text-anchor="end">{5}</text>',
        [(*map(_coord, (left, y(t), right, left - 6, y(t) + 4)), tick_text(t)) for t in ticks],
    )
    segments: list[list[str]] = [[]]
    dots = []
    for index, (label, value) in enumerate(points):
        if value is None:
            segments.append([])
            continue
        px, py = _coord(x(index)), _coord(y(_decimal(value)))
        segments[-1].append(f"{px},{py}")
        dots.append((px, py, f"{_label(label)}: {show(value)}"))
    lines = format_html_join(
        "", '<polyline class="trend-line" points="{}"/>', [(" ".join(s),) for s in segments if s]
    )
    markers = format_html_join(
        "", '<circle class="trend-dot" cx="{}" cy="{}" r="3"><title>{}</title></circle>', dots
    )
    first, last = _label(points[0][0]), _label(points[-1][0])
    x_labels = [(_coord(x(0)), "middle" if len(points) == 1 else "start", first)]
    if len(points) > 1:
        x_labels.append((_coord(right), "end", last))
    x_axis = format_html_join(
        "",
        '<text class="chart-tick" x="{}" y="{}" text-anchor="{}">{}</text>',
        [(px, _coord(bottom + 20), anchor, text) for px, anchor, text in x_labels],
    )
    body = format_html("{}{}{}{}", grid, lines, markers, x_axis)

    low, high = min(known, key=lambda p: p[1]), max(known, key=lambda p: p[1])
    desc = f"{title}: {len(points)} {'period' if len(points) == 1 else 'periods'}"
    desc += f" on {first}" if len(points) == 1 else f" from {first} to {last}"
    desc += f"; latest {show(known[-1][1])} on {known[-1][0]}"
    if len(known) > 1:
        desc += f", lowest {show(low[1])} on {low[0]}, highest {show(high[1])} on {high[0]}"
    if gaps := len(points) - len(known):
        desc += f"; {gaps} {'period' if gaps == 1 else 'periods'} without data"
    rows = [(_label(label), "no data" if v is None else show(v)) for label, v in points]
    svg = _svg(chart_id, TREND_SIZE, title, desc + ".", body)
    return _figure("trend", title, svg, _table(title, (label_header, value_header), rows))


# --- Horizontal bars ----------------------------------------------------------------------------

BAR_ROW = 28
BAR_HEIGHT = 18
BAR_LEFT = 190.0  # where bars start; labels end just before
BAR_RIGHT = 520.0  # where the longest bar ends; its value is printed after it
BAR_WIDTH = 640


def _safe_link(url: str) -> str | None:
    """Only web links: a bar's URL becomes an href, and ``javascript:`` must never be one."""
    return url if urlsplit(url).scheme in ("", "http", "https") else None


def bar_chart(
    rows: Iterable[Bar],
    *,
    title: str,
    chart_id: str,
    money: bool = False,
    label_header: str = "Item",
) -> SafeString:
    """Horizontal bars in the order given, their lengths proportional to the values (negative
    values draw no bar); a row's optional third element is the URL the bar links to."""
    rows = list(rows)
    if not rows:
        return _empty(title)
    show, value_header = _measure(money=money)
    values = [_decimal(row[1]) for row in rows]
    longest = max(max(values), Decimal(0))
    bars = []
    table_rows = []
    for index, (row, value) in enumerate(zip(rows, values, strict=True)):
        label = row[0]
        link = _safe_link(row[2]) if len(row) == 3 else None
        width = float(value / longest) * (BAR_RIGHT - BAR_LEFT) if longest and value > 0 else 0.0
        top = index * BAR_ROW + (BAR_ROW - BAR_HEIGHT) / 2
        text_y = _coord(top + BAR_HEIGHT / 2 + 4)
        short = label if len(label) <= BAR_LABEL_CHARS else label[: BAR_LABEL_CHARS - 1] + "…"
        bar = format_html(
            '<text class="bar-label" x="{}" y="{}" text-anchor="end">{}<title>{}</title></text>'
            '<rect class="bar" x="{}" y="{}" width="{}" height="{}"/>'
            '<text class="bar-value" x="{}" y="{}">{}</text>',
            _coord(BAR_LEFT - 8),
            text_y,
            short,
            label,
            _coord(BAR_LEFT),
            _coord(top),
            _coord(width),
            BAR_HEIGHT,
            _coord(BAR_LEFT + width + 6),
            text_y,
            show(value),
        )
        if link is not None:
            bar = format_html('<a class="bar-link" href="{}">{}</a>', link, bar)
            # The table's copy of the link is for screen readers only: out of the tab order, so
            # a keyboard user never focuses something invisible.
            label = format_html('<a href="{}" tabindex="-1">{}</a>', link, label)
        bars.append(bar)
        table_rows.append((label, show(value)))
    desc = f"{title}: " + "; ".join(
        f"{row[0]} {show(v)}" for row, v in zip(rows, values, strict=True)
    )
    size = (BAR_WIDTH, len(rows) * BAR_ROW)
    svg = _svg(chart_id, size, title, desc + ".", "".join(bars))
    return _figure("bars", title, svg, _table(title, (label_header, value_header), table_rows))
