"""Media beyond still images: `Media` (a generated image, video clip or audio clip standing in a response slot),
video clips read as sampled frames with their frame rate, and audio clips read as 16 kHz mono samples.

Videos are a folder of frames, a list of frames, an animated image file (GIF, APNG, WebP: PIL reads them) or a
video file (mp4, ...; decoded with PyAV when it is installed, else a clear error). Frames are sampled as the
Omni-RewardBench and MM-RLHF scripts do, `np.linspace(0, N - 1, n, dtype=int)`, and the rate of the sampled frames
is kept, so the video's temporal positions (`second_per_grid_ts`) are those of the real clip. Audio is WAV (any PCM
width, read with the standard library) or anything `soundfile` reads when it is installed; a clip that does not
decode is a `ValueError` naming it, never silence.
"""

from __future__ import annotations

import io
import math
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from brlib.data.pair import FRAME_SUFFIXES, open_image

AUDIO_RATE = 16_000  # what Whisper-style audio encoders (Qwen2.5-Omni, MiniCPM-o) read
MEDIA_KINDS = ("image", "video", "audio")
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"}


@dataclass(frozen=True)
class Media:
    """A response (or input) that is not text: an image, a video clip or an audio clip (T2I, T2V, T2A, TI2I, T23D).

    `source` is what the loaders found: a path, a {"bytes", "path"} dict, a PIL image, a list of frames or an
    (samples, rate) tuple. `fps` is the rate of a video's given frames when known; `n_frames` the number of frames
    its benchmark protocol samples (10 for TV2T, 5 for T2V), uniformly over the whole clip."""

    kind: str
    source: object
    fps: float | None = None
    n_frames: int | None = None  # a video read through this Media is sampled to this many frames (the protocol's)

    def __post_init__(self):
        if self.kind not in MEDIA_KINDS:
            raise ValueError(f"media kind must be one of {MEDIA_KINDS}, got {self.kind!r}")

    def __str__(self) -> str:  # how a media response shows in logs and drop reports
        name = self.source if isinstance(self.source, (str, Path)) else type(self.source).__name__
        return f"<{self.kind}: {name}>"


def media_name(src) -> str:
    """A short name for a media source in error messages."""
    if isinstance(src, dict):
        return str(src.get("path") or "<bytes>")
    return str(src) if isinstance(src, (str, Path)) else f"<{type(src).__name__}>"


def sample_indices(total: int, n: int) -> list[int]:
    """`n` frame indices spread uniformly over `total` frames, as `np.linspace(0, total - 1, n, dtype=int)` (the
    official Omni-RewardBench and MM-RLHF rule; frames repeat when the clip is shorter than `n`)."""
    if total < 1 or n < 1:
        raise ValueError(f"cannot sample {n} frames from {total}")
    return np.linspace(0, total - 1, n, dtype=int).tolist()


def _raw(src) -> bytes | Path:
    if isinstance(src, dict):
        if src.get("bytes"):
            return bytes(src["bytes"])
        if src.get("path"):
            return Path(src["path"])
        raise ValueError("a media dict needs 'bytes' or 'path'")
    return Path(src)


def read_video(src, n_frames: int | None = None) -> tuple[list[Image.Image], float | None]:
    """(frames as RGB images, frames per second of the returned frames) of a clip; with `n_frames`, that many frames
    sampled uniformly over the whole clip (only those are kept in memory), their rate n_frames / duration. The rate
    is None where the source does not say (a folder or a list of frames, unless a `Media` gives its fps)."""
    fps_given = None
    if isinstance(src, Media):
        fps_given, n_frames, src = src.fps, (n_frames if n_frames is not None else src.n_frames), src.source
    if isinstance(src, (list, tuple)) or (isinstance(src, (str, Path)) and Path(src).is_dir()):
        files = list(src) if isinstance(src, (list, tuple)) else sorted(
            f for f in Path(src).iterdir() if f.suffix.lower() in FRAME_SUFFIXES
        )  # fmt: skip
        if not files:
            raise ValueError(f"unreadable video {media_name(src)}: no frames")
        total, fps = len(files), fps_given
        frames = [open_image(files[i]) for i in (sample_indices(total, n_frames) if n_frames else range(total))]
    else:
        frames, total, fps = _decode_clip(src, n_frames)
        fps = fps_given or fps
    if n_frames is None or fps is None:
        return frames, fps
    return frames, n_frames * fps / total  # n frames spread over the clip's duration


def clip_info(src) -> tuple[int, tuple[int, int]]:
    """(frames, (width, height)) of an animated image clip from its header, without decoding the frames (what the
    reward server checks against its pixel budget). Used in: 10_omni.ipynb."""
    raw = _raw(src)
    try:
        im = Image.open(io.BytesIO(raw) if isinstance(raw, bytes) else raw)
        return int(getattr(im, "n_frames", 1)), im.size
    except Exception as e:
        raise ValueError(f"unreadable video {media_name(src)}: {e.__class__.__name__}: {e}") from e


def _decode_clip(src, n_frames: int | None) -> tuple[list[Image.Image], int, float | None]:
    """(the sampled frames, the clip's frame count, its frame rate) of a clip file or bytes."""
    raw = _raw(src)
    name = media_name(src)
    suffix = raw.suffix.lower() if isinstance(raw, Path) else ""
    if suffix in VIDEO_SUFFIXES:
        return _decode_with_av(raw, name, n_frames)
    try:
        im = Image.open(io.BytesIO(raw) if isinstance(raw, bytes) else raw)
        total = int(getattr(im, "n_frames", 1))
        frames, durations = [], []
        for i in sample_indices(total, n_frames) if n_frames else range(total):
            im.seek(i)
            durations.append(im.info.get("duration") or 0)
            frames.append(im.convert("RGB"))
    except Exception as e:  # PIL raises several types for missing and corrupt files
        if isinstance(raw, bytes):
            try:
                return _decode_with_av(raw, name, n_frames)
            except ValueError:
                pass
        raise ValueError(f"unreadable video {name}: {e.__class__.__name__}: {e}") from e
    ms = [d for d in durations if d]
    return frames, total, (1000.0 * len(ms) / sum(ms)) if ms else None


def _decode_with_av(raw, name: str, n_frames: int | None) -> tuple[list[Image.Image], int, float | None]:
    try:
        import av
    except ImportError:
        raise ValueError(
            f"cannot decode video {name}: reading mp4/avi/... needs PyAV (`pip install av`); "
            "frame folders and GIF/APNG clips need nothing"
        ) from None
    try:
        with av.open(io.BytesIO(raw) if isinstance(raw, bytes) else str(raw)) as c:
            stream = c.streams.video[0]
            frames = [f.to_image().convert("RGB") for f in c.decode(stream)]
            rate = float(stream.average_rate) if stream.average_rate else None
    except Exception as e:
        raise ValueError(f"unreadable video {name}: {e.__class__.__name__}: {e}") from e
    if not frames:
        raise ValueError(f"unreadable video {name}: no frames")
    idx = sample_indices(len(frames), n_frames) if n_frames else range(len(frames))
    return [frames[i] for i in idx], len(frames), rate


def read_audio(src, rate: int = AUDIO_RATE) -> np.ndarray:
    """A clip as float32 mono samples at `rate` (linear resampling when it was recorded at another rate).

    `src` is a path, a {"bytes", "path"} dict (HF `Audio` column, undecoded), an (array, rate) tuple or a Media."""
    if isinstance(src, Media):
        return read_audio(src.source, rate)
    name = media_name(src)
    if isinstance(src, tuple) and len(src) == 2:
        samples, src_rate = np.asarray(src[0], dtype=np.float32), int(src[1])
    elif isinstance(src, dict) and "array" in src:  # an HF Audio column, decoded
        samples, src_rate = np.asarray(src["array"], dtype=np.float32), int(src["sampling_rate"])
    else:
        try:
            raw = _raw(src)
            data = raw if isinstance(raw, bytes) else raw.read_bytes()
        except (OSError, ValueError) as e:
            raise ValueError(f"unreadable audio {name}: {e.__class__.__name__}: {e}") from e
        samples, src_rate = _decode_audio(data, name)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    if samples.size == 0 or not np.isfinite(samples).all():
        raise ValueError(f"unreadable audio {name}: no samples, or samples that are not finite")
    if src_rate != rate:
        n = max(1, int(round(len(samples) * rate / src_rate)))
        samples = np.interp(np.linspace(0, len(samples) - 1, n), np.arange(len(samples)), samples)
    return samples.astype(np.float32)


def _decode_audio(data: bytes, name: str) -> tuple[np.ndarray, int]:
    try:
        with wave.open(io.BytesIO(data)) as w:
            width, channels, src_rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
            frames = w.readframes(w.getnframes())
        if width == 1:
            x = (np.frombuffer(frames, np.uint8).astype(np.float32) - 128) / 128
        elif width == 3:
            b = np.frombuffer(frames, np.uint8).reshape(-1, 3)
            x = (
                b[:, 0].astype(np.int32)
                | (b[:, 1].astype(np.int32) << 8)
                | (b[:, 2].astype(np.int8).astype(np.int32) << 16)
            ) / 2**23
        else:
            dtype = {2: np.int16, 4: np.int32}[width]
            x = np.frombuffer(frames, dtype).astype(np.float32) / float(2 ** (8 * width - 1))
        return x.reshape(-1, channels).astype(np.float32), src_rate
    except (wave.Error, EOFError, KeyError, ValueError) as wav_error:
        try:
            import soundfile
        except ImportError:
            raise ValueError(
                f"unreadable audio {name}: not a PCM WAV file ({wav_error}); other formats need soundfile"
            ) from None
        try:
            x, src_rate = soundfile.read(io.BytesIO(data), dtype="float32")
        except Exception as e:
            raise ValueError(f"unreadable audio {name}: {e.__class__.__name__}: {e}") from e
        return np.asarray(x, np.float32), int(src_rate)


def wav_bytes(samples: np.ndarray, rate: int = AUDIO_RATE) -> bytes:
    """16-bit PCM mono WAV bytes of float samples in [-1, 1] (what the tiny world writes). Used in: 10_omni.ipynb."""
    x = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((x * 32767).astype("<i2").tobytes())
    return buf.getvalue()


def seconds(samples: np.ndarray, rate: int = AUDIO_RATE) -> float:
    """Duration of a clip in seconds."""
    return len(samples) / rate if rate else math.nan
