"""The Teams app package's two icons, drawn with Pillow: a heart with a pulse line through it.

Teams wants a 192x192 full-colour icon and a 32x32 outline icon that is white on a transparent
background (it tints the outline itself).  Both are drawn four times larger and scaled down, so
their edges are smooth; the outline's smoothing is in its alpha only, so every pixel stays white.
The bytes are the same on every run (no timestamps in the PNGs).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

from PIL import Image, ImageDraw

BRAND = "#005EB8"  # NHS blue, as the Slack app's background colour
COLOR_SIZE = 192
OUTLINE_SIZE = 32
_SCALE = 4  # drawn at 4x and scaled down: anti-aliased edges

Point = tuple[float, float]


def _heart(cx: float, cy: float, size: float, steps: int = 120) -> list[Point]:
    """The classic parametric heart, ``size`` wide, centred on (``cx``, ``cy``)."""
    points = []
    for i in range(steps):
        t = 2 * math.pi * i / steps
        x = 16 * math.sin(t) ** 3
        y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
        points.append((cx + x * size / 34, cy - (y + 2.5) * size / 34))
    return points


# a heartbeat trace across the heart: flat, a small bump, the spike, the dip, flat (the outline
# icon, 32 pixels wide, keeps only the spike: a bump that small would be a smudge)
_TRACE = ((-0.5, 0), (-0.2, 0), (-0.13, -0.1), (-0.06, 0), (0, 0), (0.06, -0.3), (0.13, 0.22))
_TRACE_END = ((0.19, 0), (0.5, 0))
_SIMPLE = ((-0.5, 0), (-0.08, 0), (0.0, -0.3), (0.1, 0.22), (0.17, 0), (0.5, 0))


def _pulse(cx: float, cy: float, width: float, simple: bool) -> list[Point]:
    shape = _SIMPLE if simple else (*_TRACE, *_TRACE_END)
    return [(cx + x * width, cy + y * width) for x, y in shape]


def _mark(
    draw: ImageDraw.ImageDraw, size: int, fill: int | str, stroke: float, simple: bool
) -> None:
    """The heart's outline and the pulse through it, ``size`` pixels square."""
    heart = _heart(size / 2, size * 0.47, size * (0.84 if simple else 0.74))
    _line(draw, [*heart, heart[0]], fill, stroke)
    trace = _pulse(size / 2, size * 0.5, size * (0.96 if simple else 0.84), simple)
    _line(draw, trace, fill, stroke)


def _line(draw: ImageDraw.ImageDraw, points: Sequence[Point], fill: int | str, w: float) -> None:
    width = max(1, round(w))
    draw.line(list(points), fill=fill, width=width, joint="curve")
    radius = width / 2
    for x, y in (points[0], points[-1]):  # round caps
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=fill)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def color_icon() -> bytes:
    """192x192: the white mark on the brand colour (Teams rounds the corners itself)."""
    big = COLOR_SIZE * _SCALE
    image = Image.new("RGB", (big, big), BRAND)
    _mark(ImageDraw.Draw(image), big, "white", stroke=big * 0.045, simple=False)
    return _png(image.resize((COLOR_SIZE, COLOR_SIZE), Image.Resampling.LANCZOS))


def outline_icon() -> bytes:
    """32x32 RGBA: white where the mark is, transparent elsewhere."""
    big = OUTLINE_SIZE * _SCALE
    mask = Image.new("L", (big, big), 0)
    _mark(ImageDraw.Draw(mask), big, 255, stroke=big * 0.08, simple=True)
    alpha = mask.resize((OUTLINE_SIZE, OUTLINE_SIZE), Image.Resampling.BOX)
    image = Image.new("RGBA", (OUTLINE_SIZE, OUTLINE_SIZE), (255, 255, 255, 0))
    image.putalpha(alpha)
    return _png(image)
