from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, datetime
from decimal import Decimal

import pytest
from django.template import Context, Template

from compliance.web import charts


def parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)  # noqa: S314 (our own markup, not untrusted input)


def svg_of(markup: str) -> ET.Element:
    svg = parse(markup).find("svg")
    assert svg is not None
    return svg


def texts(element: ET.Element, css_class: str) -> list[str]:
    return ["".join(t.itertext()) for t in element.iter("text") if t.get("class") == css_class]


def hidden_rows(markup: str) -> list[tuple[str, str]]:
    table = parse(markup).find("table")
    assert table is not None
    assert table.get("class") == "visually-hidden"
    return [
        ("".join(row[0].itertext()), "".join(row[1].itertext()))
        for row in table.iterfind("tbody/tr")
    ]


def assert_accessible(markup: str, chart_id: str) -> ET.Element:
    """role=img, named by its own title and desc, scalable, and no inline style anywhere."""
    assert "style=" not in markup
    svg = svg_of(markup)
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == f"{chart_id}-title {chart_id}-desc"
    assert svg.get("viewBox", "").startswith("0 0 ")
    assert svg.get("width") is None
    assert svg.get("height") is None
    title, desc = svg.find("title"), svg.find("desc")
    assert title is not None
    assert title.get("id") == f"{chart_id}-title"
    assert desc is not None
    assert desc.get("id") == f"{chart_id}-desc"
    return svg


# --- Formatting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("12345.67"), "$12,345.67"),
        (Decimal("1234567.005"), "$1,234,567.00"),
        (Decimal("0.015"), "$0.02"),
        (Decimal(0), "$0.00"),
        (Decimal("-42.5"), "-$42.50"),
        (7, "$7.00"),
    ],
)
def test_format_money(amount, text):
    assert charts.format_money(amount) == text


@pytest.mark.parametrize(
    ("fraction", "text"),
    [(0.875, "87.5%"), (1, "100.0%"), (0, "0.0%"), (Decimal("0.12345"), "12.3%"), (2 / 3, "66.7%")],
)
def test_format_percent(fraction, text):
    assert charts.format_percent(fraction) == text


def test_format_count_has_thousands_separators_and_no_exponent():
    assert charts.format_count(1234567) == "1,234,567"
    assert charts.format_count(Decimal("2E+1")) == "20"


@pytest.mark.parametrize(
    ("low", "high", "integer", "ticks"),
    [
        (0, 7, True, [0, 2, 4, 6, 8]),
        (0, Decimal("9876.54"), False, [0, 2500, 5000, 7500, 10000]),
        (0, 0, True, [0, 1]),
        (-3, 10, True, [-5, 0, 5, 10]),
        (5, 6, True, [0, 2, 4, 6]),
        (0, 3, True, [0, 1, 2, 3]),
    ],
)
def test_axis_ticks_are_round_and_cover_zero_and_the_values(low, high, integer, ticks):
    got = charts.axis_ticks(Decimal(low), Decimal(high), integer=integer)
    assert got == [Decimal(t) for t in ticks]


# --- Score gauge --------------------------------------------------------------------------------


def value_arc(svg: ET.Element) -> ET.Element | None:
    arcs = [p for p in svg.iter("path") if "gauge-value" in p.get("class", "")]
    assert len(arcs) <= 1
    return arcs[0] if arcs else None


def arc_end(path: ET.Element) -> tuple[float, float]:
    *_, x, y = path.get("d", "").split()
    return float(x), float(y)


def test_gauge_half_ends_at_the_top():
    markup = charts.score_gauge(0.5, label="Compliance score", chart_id="g")
    svg = assert_accessible(markup, "g")
    arc = value_arc(svg)
    assert arc is not None
    assert arc.get("d", "").startswith("M 10 60 A 50 50 0 0 1 ")
    assert arc_end(arc) == pytest.approx((60, 10))
    assert texts(svg, "gauge-text") == ["50.0%"]
    assert svg.findtext("desc") == "Compliance score: 50.0%."
    assert hidden_rows(markup) == [("Compliance score", "50.0%")]


def test_gauge_full_ends_on_the_right_and_reads_good():
    svg = svg_of(charts.score_gauge(Decimal(1), label="Score", chart_id="g"))
    arc = value_arc(svg)
    assert arc is not None
    assert arc_end(arc) == pytest.approx((110, 60))
    assert "gauge-good" in arc.get("class", "")
    assert texts(svg, "gauge-text") == ["100.0%"]


def test_gauge_zero_draws_only_the_track():
    svg = svg_of(charts.score_gauge(0, label="Score", chart_id="g"))
    assert value_arc(svg) is None
    assert [p.get("class") for p in svg.iter("path")] == ["gauge-track"]
    assert texts(svg, "gauge-text") == ["0.0%"]


def test_gauge_without_score_reads_not_available():
    markup = charts.score_gauge(None, label="Score", chart_id="g")
    svg = assert_accessible(markup, "g")
    assert value_arc(svg) is None
    assert texts(svg, "gauge-text") == ["n/a"]
    assert svg.findtext("desc") == "Score: not available."
    assert hidden_rows(markup) == [("Score", "n/a")]


def test_gauge_band_follows_the_score():
    fair = value_arc(svg_of(charts.score_gauge(0.75, label="S", chart_id="g")))
    poor = value_arc(svg_of(charts.score_gauge(0.2, label="S", chart_id="g")))
    assert fair is not None
    assert poor is not None
    assert "gauge-fair" in fair.get("class", "")
    assert "gauge-poor" in poor.get("class", "")


# --- Trend line ---------------------------------------------------------------------------------


def polylines(svg: ET.Element) -> list[list[tuple[float, ...]]]:
    return [
        [tuple(float(n) for n in pair.split(",")) for pair in line.get("points", "").split()]
        for line in svg.iter("polyline")
    ]


def test_trend_of_scores_on_a_percent_axis_with_a_gap():
    points = [
        (date(2024, 5, 1), 0.5),
        (date(2024, 5, 2), 1.0),
        (date(2024, 5, 3), None),
        (datetime(2024, 5, 4, 6, 30), 0.0),
        (date(2024, 5, 5), 0.25),
    ]
    markup = charts.trend_line(points, title="Compliance score by day", chart_id="t", percent=True)
    svg = assert_accessible(markup, "t")
    # Plot from x 96 to 624, y 204 (0 %) up to 16 (100 %); the gap splits the line in two.
    assert polylines(svg) == [[(96, 110), (228, 16)], [(492, 204), (624, 157)]]
    assert len(list(svg.iter("circle"))) == 4
    assert texts(svg, "chart-tick") == [
        *("0%", "25%", "50%", "75%", "100%"),
        *("2024-05-01", "2024-05-05"),
    ]
    assert svg.findtext("desc") == (
        "Compliance score by day: 5 periods from 2024-05-01 to 2024-05-05; latest 25.0% on "
        "2024-05-05, lowest 0.0% on 2024-05-04, highest 100.0% on 2024-05-02; "
        "1 period without data."
    )
    assert hidden_rows(markup) == [
        ("2024-05-01", "50.0%"),
        ("2024-05-02", "100.0%"),
        ("2024-05-03", "no data"),
        ("2024-05-04", "0.0%"),
        ("2024-05-05", "25.0%"),
    ]


def test_trend_of_money_has_a_money_axis_from_zero():
    points = [("2024-04", Decimal("1234.50")), ("2024-05", Decimal("9876.54"))]
    markup = charts.trend_line(points, title="Spend", chart_id="m", money=True)
    svg = svg_of(markup)
    ticks = texts(svg, "chart-tick")
    assert ticks[:5] == ["$0.00", "$2,500.00", "$5,000.00", "$7,500.00", "$10,000.00"]
    ((_, y_low), (_, y_high)) = polylines(svg)[0]
    assert y_low == pytest.approx(204 - 188 * 1234.50 / 10000, abs=0.01)
    assert y_high == pytest.approx(204 - 188 * 9876.54 / 10000, abs=0.01)
    assert hidden_rows(markup)[1] == ("2024-05", "$9,876.54")


def test_trend_of_counts_has_whole_ticks():
    svg = svg_of(charts.trend_line([("a", 3), ("b", 7)], title="Violations", chart_id="c"))
    assert texts(svg, "chart-tick") == ["0", "2", "4", "6", "8", "a", "b"]


def test_trend_of_one_point_is_a_centred_dot():
    markup = charts.trend_line([(date(2024, 5, 1), 0.8)], title="Score", chart_id="t", percent=True)
    svg = assert_accessible(markup, "t")
    (dot,) = svg.iter("circle")
    assert (float(dot.get("cx", "")), float(dot.get("cy", ""))) == pytest.approx((360, 53.6))
    assert dot.findtext("title") == "2024-05-01: 80.0%"
    assert texts(svg, "chart-tick")[-1:] == ["2024-05-01"]
    assert svg.findtext("desc") == "Score: 1 period on 2024-05-01; latest 80.0% on 2024-05-01."


@pytest.mark.parametrize("points", [[], [("2024-05-01", None), ("2024-05-02", None)]])
def test_trend_without_values_is_an_empty_state(points):
    markup = charts.trend_line(points, title="Compliance score by day", chart_id="t")
    assert markup == '<p class="empty chart-empty">Compliance score by day: no data yet.</p>'


# --- Horizontal bars ----------------------------------------------------------------------------


def bar_widths(svg: ET.Element) -> list[float]:
    return [float(rect.get("width", "")) for rect in svg.iter("rect")]


def test_bar_widths_are_proportional_and_in_the_given_order():
    rows = [("Owner", Decimal("50.00")), ("CostCenter", Decimal("200.00")), ("Env", Decimal(0))]
    markup = charts.bar_chart(rows, title="Untagged spend by tag key", chart_id="b", money=True)
    svg = assert_accessible(markup, "b")
    # The longest bar spans the 330 units from x 190 to 520.
    assert bar_widths(svg) == [82.5, 330, 0]
    assert texts(svg, "bar-label") == ["OwnerOwner", "CostCenterCostCenter", "EnvEnv"]
    assert texts(svg, "bar-value") == ["$50.00", "$200.00", "$0.00"]
    value_x = [float(t.get("x", "")) for t in svg.iter("text") if t.get("class") == "bar-value"]
    assert value_x == [190 + 82.5 + 6, 190 + 330 + 6, 190 + 6]
    assert svg.get("viewBox") == "0 0 640 84"
    assert svg.findtext("desc") == (
        "Untagged spend by tag key: Owner $50.00; CostCenter $200.00; Env $0.00."
    )
    assert hidden_rows(markup) == [
        ("Owner", "$50.00"),
        ("CostCenter", "$200.00"),
        ("Env", "$0.00"),
    ]


def test_bars_of_zeros_and_counts():
    markup = charts.bar_chart([("a", 0), ("b", 0)], title="Violations", chart_id="b")
    svg = svg_of(markup)
    assert bar_widths(svg) == [0, 0]
    assert texts(svg, "bar-value") == ["0", "0"]
    assert hidden_rows(markup) == [("a", "0"), ("b", "0")]


def test_long_labels_are_cut_with_the_whole_label_in_a_title():
    label = "elasticloadbalancing:loadbalancer"
    svg = svg_of(charts.bar_chart([(label, 1234)], title="By type", chart_id="b"))
    (text,) = (t for t in svg.iter("text") if t.get("class") == "bar-label")
    assert text.text == "elasticloadbalancing:lo…"
    assert len(text.text) == charts.BAR_LABEL_CHARS
    assert text.findtext("title") == label
    assert texts(svg, "bar-value") == ["1,234"]


def test_labels_are_escaped():
    label = "<script>alert(1)</script>"
    markup = charts.bar_chart([(label, 3)], title="<b>Keys</b>", chart_id="b")
    assert "<script>" not in markup
    assert "<b>" not in markup
    svg = svg_of(markup)
    assert svg.findtext("title") == "<b>Keys</b>"
    (text,) = (t for t in svg.iter("text") if t.get("class") == "bar-label")
    assert text.findtext("title") == label
    assert hidden_rows(markup) == [(label, "3")]


def test_a_bar_links_to_its_page():
    rows: list[charts.Bar] = [
        ("Owner", Decimal(10), "/violations/?tag=Owner&account=1"),
        ("Env", Decimal(5)),
    ]
    markup = charts.bar_chart(rows, title="Untagged", chart_id="b", money=True)
    assert "&amp;account=1" in markup
    svg = svg_of(markup)
    (link,) = svg.iter("a")
    assert link.get("href") == "/violations/?tag=Owner&account=1"
    assert [rect.get("class") for rect in link.iter("rect")] == ["bar"]
    table = parse(markup).find("table")
    assert table is not None
    (table_link,) = table.iter("a")
    assert table_link.get("href") == "/violations/?tag=Owner&account=1"
    assert table_link.get("tabindex") == "-1"
    assert table_link.text == "Owner"


def test_a_script_url_is_not_linked():
    markup = charts.bar_chart([("x", 1, "javascript:alert(1)")], title="T", chart_id="b")
    assert "javascript:" not in markup
    assert list(svg_of(markup).iter("a")) == []


def test_no_bars_is_an_empty_state():
    markup = charts.bar_chart([], title="Untagged spend by tag key", chart_id="b", money=True)
    assert markup == '<p class="empty chart-empty">Untagged spend by tag key: no data yet.</p>'


# --- Template tags ------------------------------------------------------------------------------


def render(source: str, **context) -> str:
    return Template("{% load charts %}" + source).render(Context(context))


def test_tags_render_charts_with_ids_unique_on_the_page():
    html = render(
        "<div>"
        '{% score_gauge summary.compliance_score label="Compliance score" %}'
        '{% trend_line points title="Compliance score by day" percent=True %}'
        '{% bar_chart rows title="Untagged spend by tag key" money=True %}'
        "</div>",
        summary={"compliance_score": 0.875},
        points=[(date(2024, 5, 1), 0.8), (date(2024, 5, 2), 0.875)],
        rows={"Owner": Decimal("12345.67"), "CostCenter": Decimal("10.00")}.items(),
    )
    assert "style=" not in html
    page = parse(html)
    svgs = list(page.iter("svg"))
    assert [svg.get("aria-labelledby") for svg in svgs] == [
        "chart-1-title chart-1-desc",
        "chart-2-title chart-2-desc",
        "chart-3-title chart-3-desc",
    ]
    assert [svg.findtext("title") for svg in svgs] == [
        "Compliance score",
        "Compliance score by day",
        "Untagged spend by tag key",
    ]
    assert texts(svgs[0], "gauge-text") == ["87.5%"]
    assert texts(svgs[2], "bar-value") == ["$12,345.67", "$10.00"]
    assert len(list(page.iter("table"))) == 3


def test_tags_escape_what_the_page_passes_and_accept_a_fixed_id():
    html = render(
        '{% bar_chart rows title=title label_header="Tag key" chart_id="untagged" %}',
        rows=[("<script>", 2)],
        title="<i>Keys</i>",
    )
    assert "<script>" not in html
    assert "<i>" not in html
    svg = assert_accessible(html, "untagged")
    assert svg.findtext("title") == "<i>Keys</i>"
    header = parse(html).find("table/thead/tr/th")
    assert header is not None
    assert header.text == "Tag key"


def test_tags_show_empty_states_and_missing_scores():
    html = render(
        '{% score_gauge None %}{% trend_line points title="Trend" %}',
        points=[],
    )
    assert 'aria-labelledby="chart-1-title chart-1-desc"' in html
    assert ">n/a</text>" in html
    assert html.endswith('<p class="empty chart-empty">Trend: no data yet.</p>')
