"""What one request to the reward server may cost, and the checks that hold it to that before any scoring.

- `Limits`: body bytes, pixels per image and per request, aspect ratio, text tokens per request, queue length,
  timeouts. `python -m brlib.server --help` lists the flags.
- `BodyLimit`: ASGI middleware that counts body bytes as they stream in (chunked bodies too) and answers 413 as
  soon as the limit is passed, and 408 when a body does not arrive within `body_timeout`.
- `image_bytes` / `probe_image`: an image's bytes from base64 or from a path under the allowed root (regular files
  only: `stat` before `open`, opened non-blocking, so a FIFO or a device can never block a worker), and its header
  (size, format) without decoding the pixels.
- `uvicorn_config`: the server settings `main` runs with (keep-alive and header timeouts, concurrency cap).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")  # decoders reachable from a request; no EPS/PDF/exotic plugins


@dataclass(frozen=True)
class Limits:
    """Per-request budgets of the reward server (defaults suit a 7B model on one GPU)."""

    max_body_bytes: int = 20 * 1024 * 1024  # request body, counted as it streams in
    max_pixels: int = 4096 * 4096  # one image
    max_total_pixels: int = 4096 * 4096  # all images of one request together
    max_aspect_ratio: float = 200.0  # Qwen's image processor refuses longer/thinner images
    max_tokens: int = 16384  # prompt + all responses, counted with the scorer's tokenizer
    max_queue: int = 64  # requests waiting for the scoring worker; one more is answered 503
    timeout: float = 60.0  # seconds from entering the queue to the scores; past it, 504
    body_timeout: float = 30.0  # seconds for the whole body to arrive; past it, 408
    header_timeout: float = 10.0  # seconds for a connection to send a complete request head (slowloris)
    keep_alive: float = 5.0  # seconds an idle keep-alive connection stays open

    @property
    def max_chars(self) -> int:
        """Characters of text tokenized at most: longer text is refused before tokenizing (no token is > 16 chars
        on average in practice, so this never refuses text under the token budget)."""
        return 16 * self.max_tokens


HELP = {
    "max_body_bytes": "request body bytes, counted as they stream in (chunked too); over it: 413",
    "max_pixels": "pixels of one image; over it: 413",
    "max_total_pixels": "pixels of all images of one request together; over it: 413",
    "max_aspect_ratio": "longer side / shorter side of an image; over it: 400",
    "max_tokens": "tokens of prompt + all responses (the scorer's tokenizer); over it: 413",
    "max_queue": "requests waiting for the scoring worker; one more: 503 with Retry-After",
    "timeout": "seconds from entering the queue to the scores; past it: 504",
    "body_timeout": "seconds for the whole request body to arrive; past it: 408",
    "header_timeout": "seconds for a connection to send a complete request head; past it the connection closes",
    "keep_alive": "seconds an idle keep-alive connection stays open",
}


class RequestError(Exception):
    """A request the server refuses: an HTTP status and a message for the client (never a server path)."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


def shown(path: str, n: int = 120) -> str:
    """A client-given path, shortened and escaped for an error message."""
    s = path if len(path) <= n else path[: n // 2] + "..." + path[-n // 2 :]
    return repr(s)


def image_bytes(img, root: Path | None, max_bytes: int) -> bytes:
    """The bytes of one request image ({"base64"} or {"path"} under `root`), at most `max_bytes`."""
    if (img.base64 is None) == (img.path is None):
        raise RequestError(422, "each image needs exactly one of 'base64' or 'path'")
    if img.base64 is not None:
        if len(img.base64) > 4 * (max_bytes // 3 + 1):
            raise RequestError(413, f"image over {max_bytes} bytes")
        try:
            return base64.b64decode(img.base64, validate=True)
        except (binascii.Error, ValueError) as e:
            raise RequestError(400, f"bad base64 image: {e}") from e
    return read_under_root(img.path, root, max_bytes)


def read_under_root(rel: str, root: Path | None, max_bytes: int) -> bytes:
    """Read a regular file under `root`. Refused: paths outside it (symlinks resolved), NUL bytes, anything that
    is not a regular file (FIFOs, devices, directories): checked with `stat` before `open`, and the file is opened
    with O_NONBLOCK | O_NOFOLLOW and checked again with `fstat`, so a file swapped meanwhile cannot block a worker."""
    if root is None:
        raise RequestError(403, "image paths are disabled: start the server with --allowed-root")
    if "\x00" in rel:
        raise RequestError(400, f"image path {shown(rel)} contains a NUL byte")
    target = os.path.realpath(os.path.join(root, rel))
    if target != str(root) and not target.startswith(str(root) + os.sep):
        raise RequestError(403, f"path outside the allowed root: {shown(rel)}")
    try:
        st = os.stat(target)
    except OSError as e:
        raise RequestError(400, f"unreadable image path {shown(rel)}: {os.strerror(e.errno or 0)}") from e
    if not stat.S_ISREG(st.st_mode):
        raise RequestError(400, f"image path {shown(rel)} is not a regular file")
    if st.st_size > max_bytes:
        raise RequestError(413, f"image file {shown(rel)} is over {max_bytes} bytes")
    try:
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise RequestError(400, f"unreadable image path {shown(rel)}: {os.strerror(e.errno or 0)}") from e
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for a FIFO/device between stat and open
            raise RequestError(400, f"image path {shown(rel)} is not a regular file")
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            size += len(chunk)
            if size > max_bytes:
                raise RequestError(413, f"image file {shown(rel)} is over {max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def probe_image(raw: bytes, k: int, limits: Limits) -> Image.Image:
    """Open image `k` (1-based) lazily: the header is read and checked (format, pixels, aspect ratio), the pixels
    are not decoded (that happens in the scoring worker, one request at a time)."""
    try:
        im = Image.open(io.BytesIO(raw), formats=FORMATS)
    except Image.DecompressionBombError as e:
        raise RequestError(413, f"image {k} is over {limits.max_pixels} pixels") from e
    except Image.UnidentifiedImageError as e:
        raise RequestError(400, f"unreadable image {k}: not a {', '.join(FORMATS)} image") from e
    except Exception as e:  # PIL raises several types for corrupt headers
        raise RequestError(400, f"unreadable image {k}: {e.__class__.__name__}: {e}") from e
    w, h = im.size
    if w * h > limits.max_pixels:  # checked before decoding the pixels
        raise RequestError(413, f"image {k} of {w}x{h} pixels is over {limits.max_pixels}")
    if min(w, h) < 1:
        raise RequestError(400, f"image {k} has no pixels ({w}x{h})")
    if max(w, h) / min(w, h) > limits.max_aspect_ratio:
        raise RequestError(400, f"image {k} is {w}x{h}: aspect ratio over {limits.max_aspect_ratio:g}")
    return im


def probe_clip(raw: bytes, where: str, limits: Limits) -> int:
    """The pixels a clip's decoder walks through (every frame, not only the sampled ones), from its header: an
    animated GIF, APNG or WebP (frames and size without decoding them); a frame over `max_pixels` is refused. Other
    containers (mp4, ...) need PyAV on the server and are then counted from their stream header."""
    try:
        im = Image.open(io.BytesIO(raw), formats=("GIF", "PNG", "WEBP"))
        frames, (w, h) = int(getattr(im, "n_frames", 1)), im.size
    except Image.DecompressionBombError as e:
        raise RequestError(413, f"{where}: a frame is over {limits.max_pixels} pixels") from e
    except Exception:
        frames, (w, h) = _probe_container(raw, where)
    if w * h > limits.max_pixels:
        raise RequestError(413, f"{where}: frames of {w}x{h} pixels are over {limits.max_pixels}")
    if min(w, h) < 1:
        raise RequestError(400, f"{where}: frames have no pixels ({w}x{h})")
    return frames * w * h


def _probe_container(raw: bytes, where: str) -> tuple[int, tuple[int, int]]:
    try:
        import av
    except ImportError:
        raise RequestError(400, f"{where}: not a GIF/APNG/WebP clip, and this server has no video decoder") from None
    try:
        with av.open(io.BytesIO(raw)) as c:
            s = c.streams.video[0]
            return int(s.frames or 0) or sum(1 for _ in c.demux(s)), (s.width, s.height)
    except Exception as e:
        raise RequestError(400, f"{where}: unreadable video ({e.__class__.__name__})") from e


def decode_image(im: Image.Image, k: int) -> Image.Image:
    """Decode a probed image's pixels into RGB (in the scoring worker, under the request's pixel budget)."""
    try:
        im.load()
        return im.convert("RGB")
    except Exception as e:  # truncated data, bad chunks, ...
        raise RequestError(400, f"unreadable image {k}: {e.__class__.__name__}: {e}") from e


class BodyLimit:
    """ASGI middleware: at most `max_bytes` of request body, arriving within `timeout` seconds.

    It counts the bytes of every body chunk as it is received (a chunked body has no Content-Length), so nothing
    over the limit is ever held in memory; the route sees an HTTP error (413 or 408) instead of the body."""

    def __init__(self, app, max_bytes: int, timeout: float):
        self.app, self.max_bytes, self.timeout = app, max_bytes, timeout

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        from fastapi import HTTPException

        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await _send_json(send, 413, f"request body over {self.max_bytes} bytes")
        state = {"seen": 0, "done": False, "deadline": time.monotonic() + self.timeout}

        async def limited_receive():
            if state["done"]:  # the body is complete: later receives wait for a disconnect, untimed
                return await receive()
            try:
                msg = await asyncio.wait_for(receive(), max(0.0, state["deadline"] - time.monotonic()))
            except asyncio.TimeoutError:
                raise HTTPException(408, f"request body not received within {self.timeout:g} s") from None
            if msg["type"] == "http.request":
                state["seen"] += len(msg.get("body", b""))
                if state["seen"] > self.max_bytes:
                    raise HTTPException(413, f"request body over {self.max_bytes} bytes")
                state["done"] = not msg.get("more_body", False)
            return msg

        await self.app(scope, limited_receive, send)


async def _send_json(send, status: int, detail: str) -> None:
    import json

    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + [(b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def uvicorn_config(app, host: str, port: int, limits: Limits, log_level: str = "info"):
    """The uvicorn settings the server runs with: idle keep-alive connections close after `keep_alive` s, a
    connection that has not sent a complete request head within `header_timeout` s is closed (slowloris), and at
    most 4 x (max_queue + 16) connections are open at once (more get 503)."""
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=_header_timeout_protocol(limits.header_timeout),
        timeout_keep_alive=limits.keep_alive,
        limit_concurrency=4 * (limits.max_queue + 16),
        log_level=log_level,
    )


def _header_timeout_protocol(seconds: float):
    """uvicorn's h11 protocol, plus a deadline for each request head (uvicorn itself only times out idle
    keep-alive connections after a response, never a connection that trickles in its headers)."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeaderTimeoutH11(H11Protocol):
        def connection_made(self, transport):
            super().connection_made(transport)
            self._arm_head_deadline()

        def on_response_complete(self):
            super().on_response_complete()
            self._arm_head_deadline()

        def _arm_head_deadline(self):
            cycle = self.cycle
            self.loop.call_later(seconds, self._head_deadline, cycle)

        def _head_deadline(self, cycle_then):
            if self.cycle is cycle_then and not self.transport.is_closing():  # no new request head since
                self.transport.close()

    return HeaderTimeoutH11
