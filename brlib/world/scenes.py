"""Tiny-world scenes: coloured shapes on a 3 x 3 grid and seven-segment digits, drawn on an 84 x 84 canvas."""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

SIDE = 84  # pixels; a 3 x 3 grid of 28-pixel cells
CELL = SIDE // 3
COLORS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 70, 220),
    "yellow": (230, 200, 30),
    "purple": (140, 50, 170),
    "orange": (240, 130, 30),
}
SHAPES = ["circle", "square", "triangle"]
POSITIONS = ["top left", "top", "top right", "left", "center", "right", "bottom left", "bottom", "bottom right"]

# Seven-segment layout of the digits 0-9 (segments a b c d e f g).
SEGMENTS = ["abcdef", "bc", "abdeg", "abcdg", "bcfg", "acdfg", "acdefg", "abc", "abcdefg", "abcdfg"]


@dataclass
class Obj:
    """One shape in a scene: its kind, colour and grid cell."""

    shape: str
    color: str
    cell: int  # 0..8, row-major

    def phrase(self) -> str:
        return f"a {self.color} {self.shape} at the {POSITIONS[self.cell]}"


def background(rng: random.Random) -> tuple[int, int, int]:
    """A light canvas colour with a little per-image tint (shared by a scene and its counterfactual twin)."""
    return tuple(235 + rng.randint(-12, 12) for _ in range(3))


def draw_scene(objs: list[Obj], bg: tuple, digits: dict[int, int] | None = None) -> Image.Image:
    """Render shapes, and seven-segment digits ({cell: digit}), on an 84 x 84 canvas of colour `bg`. Every object
    and digit fills one 28-px grid cell, which is exactly one image token of the tiny Qwen-VL (2 x 2 patches)."""
    img = Image.new("RGB", (SIDE, SIDE), bg)
    d = ImageDraw.Draw(img)
    for o in objs:
        x0, y0 = (o.cell % 3) * CELL + 4, (o.cell // 3) * CELL + 4
        x1, y1 = x0 + CELL - 8, y0 + CELL - 8
        col = COLORS[o.color]
        if o.shape == "circle":
            d.ellipse([x0, y0, x1, y1], fill=col)
        elif o.shape == "square":
            d.rectangle([x0 + 2, y0 + 2, x1 - 2, y1 - 2], fill=col)
        else:
            d.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=col)
    for cell, digit in (digits or {}).items():
        _draw_digit(d, digit, x0=(cell % 3) * CELL + 7, y0=(cell // 3) * CELL + 3)
    return img


def _draw_digit(d: ImageDraw.ImageDraw, digit: int, x0: int, y0: int, w: int = 14, h: int = 22) -> None:
    t = 3
    boxes = {
        "a": (x0, y0, x0 + w, y0 + t),
        "g": (x0, y0 + h // 2 - t // 2, x0 + w, y0 + h // 2 + t // 2),
        "d": (x0, y0 + h - t, x0 + w, y0 + h),
        "f": (x0, y0, x0 + t, y0 + h // 2),
        "b": (x0 + w - t, y0, x0 + w, y0 + h // 2),
        "e": (x0, y0 + h // 2, x0 + t, y0 + h),
        "c": (x0 + w - t, y0 + h // 2, x0 + w, y0 + h),
    }
    for seg in SEGMENTS[digit]:
        d.rectangle(boxes[seg], fill=(20, 20, 20))


def png_bytes(img: Image.Image) -> bytes:
    """PNG-encoded bytes of an image (what parquet `Image` columns and jsonl writers store)."""
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
