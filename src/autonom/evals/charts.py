"""Small SVG charts for the HTML report: no scripts, no external files, escaped text."""

from __future__ import annotations

from html import escape

from autonom.evals.metrics import percentile

PALETTE = ("#2f6db5", "#e07b39", "#3a9a5b", "#b5443c", "#7a5aa6", "#8c6d31", "#4aa3b5")
WIDTH = 640


def bars(title: str, groups: list[str], series: dict[str, list[float | None]],
         top: float | None = None, fmt: str = "{:.0f}") -> str:
    """Grouped vertical bars: one group per entry of ``groups``, one bar per series."""
    values = [v for vs in series.values() for v in vs if v is not None]
    top = top or max(values, default=1.0) or 1.0
    height, left, bottom, plot_h = 260, 48, 60, 170
    plot_w = WIDTH - left - 12
    group_w = plot_w / max(len(groups), 1)
    bar_w = min(40.0, group_w * 0.8 / max(len(series), 1))
    parts = [_frame(title, height), _axis(left, plot_w, plot_h, top, fmt)]
    for g, group in enumerate(groups):
        x0 = left + g * group_w + (group_w - bar_w * len(series)) / 2
        for s, (name, vs) in enumerate(series.items()):
            value = vs[g]
            x = x0 + s * bar_w
            if value is None:
                parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{30 + plot_h - 4}" '
                             f'font-size="10" text-anchor="middle" fill="#888">–</text>')
                continue
            h = plot_h * min(value, top) / top
            parts.append(
                f'<rect x="{x:.1f}" y="{30 + plot_h - h:.1f}" width="{bar_w - 2:.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[s % len(PALETTE)]}">'
                f'<title>{escape(name)} · {escape(group)}: {fmt.format(value)}</title></rect>'
                f'<text x="{x + bar_w / 2 - 1:.1f}" y="{30 + plot_h - h - 3:.1f}" '
                f'font-size="10" text-anchor="middle">{fmt.format(value)}</text>')
        parts.append(f'<text x="{left + (g + 0.5) * group_w:.1f}" y="{30 + plot_h + 16}" '
                     f'font-size="11" text-anchor="middle">{escape(_short(group))}</text>')
    parts.append(_legend(list(series), height - bottom + 40))
    return "".join(parts) + "</svg>"


def boxes(title: str, data: dict[str, list[float]], unit: str = "ms") -> str:
    """One horizontal box plot (p5, p25, median, p75, p95) with every value as a dot."""
    values = [v for vs in data.values() for v in vs]
    top = max(values, default=1.0) * 1.05 or 1.0
    left, row_h = 150, 34
    plot_w = WIDTH - left - 16
    height = 50 + row_h * max(len(data), 1) + 20
    parts = [_frame(title, height)]
    for tick in range(6):
        x = left + plot_w * tick / 5
        parts.append(f'<line x1="{x:.1f}" y1="30" x2="{x:.1f}" y2="{height - 30}" '
                     f'stroke="#eee"/><text x="{x:.1f}" y="{height - 14}" font-size="10" '
                     f'text-anchor="middle">{top * tick / 5:.0f} {unit}</text>')
    for row, (name, vs) in enumerate(data.items()):
        y = 40 + row * row_h + row_h / 2
        color = PALETTE[row % len(PALETTE)]
        parts.append(f'<text x="{left - 8}" y="{y + 4:.1f}" font-size="11" '
                     f'text-anchor="end">{escape(_short(name, 22))}</text>')
        if not vs:
            continue
        q = [percentile(vs, p) or 0.0 for p in (5, 25, 50, 75, 95)]
        xs = [left + plot_w * v / top for v in q]
        parts.append(
            f'<line x1="{xs[0]:.1f}" y1="{y:.1f}" x2="{xs[4]:.1f}" y2="{y:.1f}" '
            f'stroke="{color}"/><rect x="{xs[1]:.1f}" y="{y - 9:.1f}" '
            f'width="{max(xs[3] - xs[1], 1):.1f}" height="18" fill="{color}" '
            f'fill-opacity="0.25" stroke="{color}"/><line x1="{xs[2]:.1f}" y1="{y - 9:.1f}" '
            f'x2="{xs[2]:.1f}" y2="{y + 9:.1f}" stroke="{color}" stroke-width="2">'
            f'<title>median {q[2]:.0f} {unit}</title></line>')
        for i, v in enumerate(vs[:2000]):
            jitter = ((i * 7) % 11 - 5) * 1.2
            parts.append(f'<circle cx="{left + plot_w * v / top:.1f}" cy="{y + jitter:.1f}" '
                         f'r="1.6" fill="{color}" fill-opacity="0.6"/>')
    return "".join(parts) + "</svg>"


def _frame(title: str, height: int) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" role="img">'
            f'<title>{escape(title)}</title><text x="8" y="18" font-size="13" '
            f'font-weight="bold">{escape(title)}</text>')


def _axis(left: int, plot_w: float, plot_h: int, top: float, fmt: str) -> str:
    out = []
    for tick in range(5):
        y = 30 + plot_h - plot_h * tick / 4
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w:.1f}" y2="{y:.1f}" '
                   f'stroke="#eee"/><text x="{left - 6}" y="{y + 3:.1f}" font-size="10" '
                   f'text-anchor="end">{fmt.format(top * tick / 4)}</text>')
    return "".join(out)


def _legend(names: list[str], y: int) -> str:
    out, x = [], 48
    for i, name in enumerate(names):
        out.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" '
                   f'fill="{PALETTE[i % len(PALETTE)]}"/><text x="{x + 14}" y="{y}" '
                   f'font-size="11">{escape(_short(name, 28))}</text>')
        x += 24 + 7 * min(len(name), 28)
    return "".join(out)


def _short(text: str, limit: int = 16) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
