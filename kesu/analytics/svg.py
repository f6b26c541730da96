"""Small server-side SVG charts for the PDF reports (ECharts needs a browser; a PDF does not have one)."""

from __future__ import annotations

import base64
from html import escape

FONT = "Noto Sans CJK SC, WenQuanYi Micro Hei, sans-serif"
COLORS = ["#5470c6", "#91cc75", "#fac858", "#ee6666", "#73c0de", "#3ba272", "#fc8452", "#9a60b4"]


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000):
        if value <= step * 5:
            return step * 5
    return value * 1.1


def _svg(width: int, height: int, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="{FONT}" font-size="11">' + "".join(body) + "</svg>"
    )


def line_chart(labels: list[str], series: list[tuple[str, list[float]]], width=640, height=240) -> str:
    left, right, top, bottom = 44, 30, 24, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = _nice_max(max((v for _, vals in series for v in vals), default=0))
    body = [f'<rect width="{width}" height="{height}" fill="white"/>']
    for i in range(6):
        y = top + plot_h - plot_h * i / 5
        body.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        body.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#666">{top_value * i / 5:g}</text>'
        )
    n = max(len(labels), 1)
    step = plot_w / max(n - 1, 1)
    every = max(1, n // 12)
    for i, label in enumerate(labels):
        if i % every == 0:
            x = left + step * i
            body.append(
                f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle" fill="#666">{escape(label)}</text>'
            )
    for k, (name, values) in enumerate(series):
        color = COLORS[k % len(COLORS)]
        points = " ".join(
            f"{left + step * i:.1f},{top + plot_h - plot_h * v / top_value:.1f}" for i, v in enumerate(values)
        )
        body.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>')
        for i, v in enumerate(values):
            body.append(
                f'<circle cx="{left + step * i:.1f}" cy="{top + plot_h - plot_h * v / top_value:.1f}" r="2.5" fill="{color}"/>'
            )
        body.append(f'<rect x="{left + k * 110}" y="6" width="10" height="10" fill="{color}"/>')
        body.append(f'<text x="{left + k * 110 + 14}" y="15">{escape(name)}</text>')
    return _svg(width, height, body)


def bar_chart(labels: list[str], values: list[float], width=640, height=None, color=COLORS[0]) -> str:
    """Horizontal bars, largest first, with the value at the end of each bar."""
    row = 22
    height = height or 20 + row * max(len(labels), 1)
    left = 130
    plot_w = width - left - 60
    top_value = max(values, default=0) or 1
    body = [f'<rect width="{width}" height="{height}" fill="white"/>']
    for i, (label, value) in enumerate(zip(labels, values, strict=False)):
        y = 10 + i * row
        w = plot_w * value / top_value
        body.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{escape(label[:12])}</text>')
        body.append(f'<rect x="{left}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="{color}"/>')
        body.append(f'<text x="{left + w + 4:.1f}" y="{y + 14}" fill="#333">{value:g}</text>')
    return _svg(width, height, body)


def pareto_chart(labels: list[str], counts: list[int], cumulative: list[float], width=640, height=260) -> str:
    left, right, top, bottom = 44, 44, 16, 60
    plot_w, plot_h = width - left - right, height - top - bottom
    top_value = _nice_max(max(counts, default=0))
    n = max(len(labels), 1)
    slot = plot_w / n
    body = [f'<rect width="{width}" height="{height}" fill="white"/>']
    y80 = top + plot_h - plot_h * 0.8
    body.append(
        f'<line x1="{left}" x2="{width - right}" y1="{y80:.1f}" y2="{y80:.1f}" stroke="#ee6666" stroke-dasharray="4 3"/>'
    )
    body.append(f'<text x="{width - right + 4}" y="{y80 + 4:.1f}" fill="#ee6666">80%</text>')
    points = []
    for i, (label, count, cum) in enumerate(zip(labels, counts, cumulative, strict=False)):
        x = left + slot * i
        h = plot_h * count / top_value
        body.append(
            f'<rect x="{x + slot * 0.15:.1f}" y="{top + plot_h - h:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" fill="{COLORS[0]}"/>'
        )
        body.append(
            f'<text x="{x + slot / 2:.1f}" y="{top + plot_h + 14}" text-anchor="end" '
            f'transform="rotate(-35 {x + slot / 2:.1f} {top + plot_h + 14})">{escape(label[:10])}</text>'
        )
        points.append(f"{x + slot / 2:.1f},{top + plot_h - plot_h * cum / 100:.1f}")
    body.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{COLORS[3]}" stroke-width="2"/>')
    body.append(f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" fill="#666">{top_value:g}</text>')
    return _svg(width, height, body)


def data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
