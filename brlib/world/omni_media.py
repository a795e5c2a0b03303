"""Media of the tiny omni world, drawn procedurally: scenes (the tiny world's shapes), clips of a moving shape
(frame sequences, written as animated GIFs), beep sequences (16 kHz WAV), 2 x 2 multi-view renders of a 3-D
primitive (what Omni-RewardBench's T23D responses are), and image edits. numpy and PIL only; pure functions of
their arguments and the `random.Random` they are given."""

from __future__ import annotations

import io
import math
import random
import wave

import numpy as np
from PIL import Image, ImageDraw

from brlib.world.scenes import COLORS, Obj, background, draw_scene

SIDE = 84
RATE = 16_000
CLIP_FRAMES = 8  # frames per clip, at CLIP_FPS: two seconds
CLIP_FPS = 4.0
DIRECTIONS = {"right": (1, 0), "left": (-1, 0), "down": (0, 1), "up": (0, -1)}
SOLIDS = ["cube", "sphere", "cylinder", "cone"]


def png(img: Image.Image) -> bytes:
    """PNG bytes of an image."""
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def scene(objs: list[Obj], rng: random.Random) -> Image.Image:
    """A tiny-world scene (shapes on a 3 x 3 grid)."""
    return draw_scene(objs, background(rng))


def _blob(d: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float, colour) -> None:
    box = [cx - r, cy - r, cx + r, cy + r]
    if shape == "circle":
        d.ellipse(box, fill=colour)
    elif shape == "square":
        d.rectangle(box, fill=colour)
    else:
        d.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=colour)


def clip(shape: str, colour: str, direction: str, smooth: bool, rng: random.Random, n: int = CLIP_FRAMES):
    """Frames of one shape crossing the canvas in `direction`: evenly (smooth) or in jumps that go back and forth
    along the way (jittery, same start and end). Consecutive frames always differ."""
    bg = tuple(235 + rng.randint(-12, 12) for _ in range(3))
    dx, dy = DIRECTIONS[direction]
    steps = np.linspace(-24, 24, n)
    if not smooth:
        steps = steps + np.array([0] + [rng.choice([-14, 14]) for _ in range(n - 2)] + [0])
    frames = []
    for s in steps:
        img = Image.new("RGB", (SIDE, SIDE), bg)
        _blob(ImageDraw.Draw(img), shape, SIDE / 2 + dx * s, SIDE / 2 + dy * s, 9, COLORS[colour])
        frames.append(img)
    return frames


def gif(frames: list[Image.Image], fps: float = CLIP_FPS) -> bytes:
    """An animated GIF of the frames (lossless for the world's flat colours; every frame kept)."""
    buf = io.BytesIO()
    frames[0].save(
        buf, format="GIF", save_all=True, append_images=frames[1:], duration=int(1000 / fps), loop=0, optimize=False
    )
    return buf.getvalue()


def beeps(count: int, pitch: str, clean: bool, rng: random.Random, loud: bool = True) -> np.ndarray:
    """`count` short tones, their pitch rising, falling or flat, with or without hiss; float samples at 16 kHz."""
    tone, gap = int(0.12 * RATE), int(0.08 * RATE)
    base = rng.choice([330.0, 440.0, 550.0])
    step = {"rising": 1.0, "falling": -1.0, "flat": 0.0}[pitch] * 110.0
    t = np.arange(tone) / RATE
    envelope = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.01)  # 10 ms ramps, no clicks
    parts = [np.zeros(gap)]
    for k in range(count):
        f = base + step * (k - (count - 1) / 2)
        parts += [np.sin(2 * math.pi * f * t) * envelope, np.zeros(gap)]
    x = np.concatenate(parts) * (0.6 if loud else 0.2)
    if not clean:
        x = x + np.random.default_rng(rng.randrange(1 << 30)).normal(0, 0.15, x.shape)
    return np.clip(x, -1, 1).astype(np.float32)


def wav(samples: np.ndarray) -> bytes:
    """16-bit PCM mono WAV bytes at 16 kHz."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def _shade(colour, k: float):
    return tuple(int(max(0, min(255, c * k))) for c in colour)


def _view(solid: str, colour: str, azimuth: int, side: int) -> Image.Image:
    """One view of a 3-D primitive at an azimuth (0, 90, 180, 270): a lit face and a shaded side."""
    img = Image.new("RGB", (side, side), (238, 238, 238))
    d = ImageDraw.Draw(img)
    base = COLORS[colour]
    c, r = side / 2, side * 0.3
    turn = math.sin(math.radians(azimuth + 45))  # where the shaded side shows
    if solid == "cube":
        off = r * 0.45 * turn
        d.polygon(
            [(c - r + off, c - r - 6), (c + r + off, c - r - 6), (c + r, c - r), (c - r, c - r)],
            fill=_shade(base, 1.2),
        )
        d.rectangle([c - r, c - r, c + r, c + r], fill=base)
        d.polygon(
            [(c + r, c - r), (c + r + off, c - r - 6), (c + r + off, c + r - 6), (c + r, c + r)],
            fill=_shade(base, 0.6),
        )
    elif solid == "sphere":
        d.ellipse([c - r, c - r, c + r, c + r], fill=_shade(base, 0.7))
        hx = c - r * 0.35 * turn
        d.ellipse([hx - r * 0.45, c - r * 0.8, hx + r * 0.45, c + r * 0.1], fill=base)
    elif solid == "cylinder":
        d.rectangle([c - r * 0.7, c - r * 0.8, c + r * 0.7, c + r], fill=base)
        d.ellipse([c - r * 0.7, c - r * 1.05, c + r * 0.7, c - r * 0.55], fill=_shade(base, 1.25))
        d.rectangle([c + r * 0.7 * turn - 2, c - r * 0.7, c + r * 0.7 * turn + 2, c + r], fill=_shade(base, 0.6))
    else:  # cone
        d.polygon([(c, c - r), (c + r, c + r), (c - r, c + r)], fill=base)
        d.polygon([(c, c - r), (c + r * turn, c + r), (c, c + r)], fill=_shade(base, 0.6))
    return img


def multiview(solid: str, colour: str, odd_view: str | None = None, slot: int = 0) -> Image.Image:
    """A 2 x 2 grid of four azimuths of `solid` (84 x 84). With `odd_view`, view `slot` shows that other solid:
    the render is inconsistent across views."""
    half = SIDE // 2
    out = Image.new("RGB", (SIDE, SIDE), (238, 238, 238))
    for k, az in enumerate((0, 90, 180, 270)):
        shown = odd_view if (odd_view and k == slot) else solid
        out.paste(_view(shown, colour, az, half), ((k % 2) * half, (k // 2) * half))
    return out
