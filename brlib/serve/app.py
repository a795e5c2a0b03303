"""The reward server app: POST prompts, responses and images, get scores. Binds to 127.0.0.1 unless told otherwise.

    python -m brlib.server --model PATH [--host 127.0.0.1] [--port 8000] [--allowed-root DIR] [--docs] ...

Request (POST /score, JSON):
    {"prompt": "What is shown?", "responses": ["A cat.", "A dog."],
     "images": [{"base64": "<PNG/JPEG/WebP/GIF/BMP bytes, base64>"} | {"path": "relative/or/absolute/under/root.png"}]}
Optional (Omni-Reward): "criterion": "Prefer the concise answer." (read in the system turn); media responses
{"type": "image"|"video"|"audio", "base64": ... | "path": ..., "frames": n} in place of text (a generated picture,
clip or sound); the prompt's clip "video": {...} and sounds "audio": [{...}]. Clips are GIF/APNG/WebP (mp4 with PyAV),
sampled to "frames" uniformly when given; audio is WAV (other formats with soundfile).
Response: {"scores": [1.3, -0.4], "preference": 0.85, "model": "NAME"}  (preference = sigma(s0 - s1) for 2 responses)
GET /health -> {"status": "ok", "model": "NAME", "queued": 0}. /docs and /openapi.json only with --docs.

Errors are {"detail": "..."} with a status that says whose fault it is, and never a server path:
- 422: malformed JSON, a missing or mistyped field, an empty response, text that is not valid Unicode (a lone
  surrogate); special-token text (`<|im_end|>`, `<|image_pad|>`) is not an error: it is scored as plain text;
- 400: bad base64, an unreadable or unsupported image, an aspect ratio over 200, a path that is not a regular file
  (FIFOs, devices, directories) or holds a NUL byte; 403: a path outside `--allowed-root`;
- 413: a body, an image or the request's images over their byte/pixel budgets (every decoded video frame counts),
  prompt + responses + criterion over the token budget, or a clip over the model's frame budget or a sound over its
  audio window (never cut); 408: a body that does not arrive within `body_timeout`;
- 400 also for an undecodable clip or sound, and for audio on a model without an audio encoder;
- 503 (with Retry-After): the scoring queue is full; 504: no scores within `timeout` (queue wait + scoring);
- 500: the model produced a non-finite score (a broken checkpoint), or a bug (see the server log).
The budgets are `brlib.serve.limits.Limits`; scoring runs on one worker behind a bounded queue
(`brlib.serve.worker`), so one large request cannot hold the model for long and small ones keep a bounded wait.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from brlib.data.media import Media
from brlib.serve.limits import (
    HELP,
    BodyLimit,
    Limits,
    RequestError,
    decode_image,
    image_bytes,
    probe_clip,
    probe_image,
    uvicorn_config,
)
from brlib.serve.score import InputError, OverBudget, sigmoid
from brlib.serve.worker import QueueFull, ScoringWorker, TimedOut

MAX_BODY_BYTES = Limits.max_body_bytes
MAX_PIXELS = Limits.max_pixels


class ImageIn(BaseModel):
    """An image given inline (base64 of the file's bytes) or as a path under the allowed root."""

    base64: str | None = None
    path: str | None = None


class MediaIn(BaseModel):
    """A media input or response: a picture, a clip or a sound, inline (base64) or a path under the allowed root;
    a clip may be sampled to `frames` frames uniformly (the Omni-RewardBench protocol)."""

    type: Literal["image", "video", "audio"]
    base64: str | None = None
    path: str | None = None
    frames: int | None = Field(default=None, ge=1, le=512)


class ScoreIn(BaseModel):
    """A scoring request: one prompt, 1-64 responses (text or media), 0-16 images, an optional criterion, clip
    and sounds."""

    prompt: str
    responses: list[str | MediaIn] = Field(min_length=1, max_length=64)
    images: list[ImageIn] = Field(default_factory=list, max_length=16)
    criterion: str | None = None
    video: MediaIn | None = None
    audio: list[MediaIn] = Field(default_factory=list, max_length=4)


def create_app(scorer, allowed_root: str | Path | None = None, limits: Limits | None = None, docs: bool = False, **kw):
    """The FastAPI app around a RewardScorer (or EnsembleScorer); `kw` overrides single `Limits` fields
    (`max_pixels=...`). Used in: 00_quickstart.ipynb (README snippet)."""
    from fastapi import FastAPI, HTTPException
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import JSONResponse

    limits = dataclasses.replace(limits or Limits(), **kw)
    root = Path(allowed_root).resolve() if allowed_root else None
    name = getattr(scorer, "name", "") or "reward-model"
    worker = ScoringWorker(limits.max_queue, limits.timeout)
    off = {"docs_url": None, "redoc_url": None, "openapi_url": None}

    @contextlib.asynccontextmanager
    async def lifespan(_):
        yield
        worker.close()

    app = FastAPI(title="brlib reward server", lifespan=lifespan, **({} if docs else off))
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes, timeout=limits.body_timeout)
    app.state.worker, app.state.limits = worker, limits

    @app.exception_handler(RequestError)
    async def refused(_, e: RequestError):
        return JSONResponse({"detail": e.detail}, status_code=e.status)

    def prepare(req: ScoreIn) -> tuple:
        """Every check that needs no forward pass, cheapest first; returns the probed (not decoded) images and the
        media (bytes, checked against the byte and pixel budgets)."""
        texts = [r for r in req.responses if isinstance(r, str)]
        if any(not r.strip() for r in texts):
            raise RequestError(422, "empty response")
        if req.criterion is not None and not req.criterion.strip():
            raise RequestError(422, "empty criterion: give one, or leave the field out")
        chars = len(req.prompt) + sum(len(r) for r in texts) + len(req.criterion or "")
        if chars > limits.max_chars:
            raise RequestError(413, f"prompt + responses hold {chars} characters, over {limits.max_chars}")
        shown = [r if isinstance(r, str) else Media(r.type, None) for r in req.responses]
        try:
            scorer.check(req.prompt, shown, **_criterion(req))
        except InputError as e:
            raise RequestError(422, str(e)) from e
        tokens = scorer.text_tokens(req.prompt, texts, **_criterion(req))
        if tokens > limits.max_tokens:
            raise RequestError(413, f"prompt + responses are {tokens} tokens, over the budget of {limits.max_tokens}")
        budget = {"bytes": 0, "pixels": 0}
        images = [_image(img, k, budget) for k, img in enumerate(req.images, start=1)]
        media = {"responses": [r if isinstance(r, str) else _media(r, f"response {k}", budget)
                               for k, r in enumerate(req.responses, start=1)],
                 "video": _media(req.video, "video", budget) if req.video else None,
                 "audio": [_media(a, f"audio {k}", budget) for k, a in enumerate(req.audio, start=1)]}  # fmt: skip
        try:
            scorer.check(req.prompt, shown, [im.size for im in images], **_criterion(req))
        except InputError as e:
            raise RequestError(400, str(e)) from e
        return images, media

    def _criterion(req: ScoreIn) -> dict:
        return {} if req.criterion is None else {"criterion": req.criterion}

    def _image(img, k, budget: dict):
        raw = image_bytes(img, root, limits.max_body_bytes - budget["bytes"])
        budget["bytes"] += len(raw)
        im = probe_image(raw, k, limits)
        budget["pixels"] += im.size[0] * im.size[1]
        if budget["pixels"] > limits.max_total_pixels:
            raise RequestError(413, f"the images hold over {limits.max_total_pixels} pixels in total")
        return im

    def _media(m: MediaIn, where: str, budget: dict):
        """A media input as (kind, bytes, frames): its bytes under the byte budget, an image's or a clip's decoded
        frames under the pixel budget (a clip's every frame counts: the decoder walks through them)."""
        if m.type == "image":
            return ("image", _image(m, where, budget), None)
        raw = image_bytes(m, root, limits.max_body_bytes - budget["bytes"])
        budget["bytes"] += len(raw)
        if m.type == "video":
            budget["pixels"] += probe_clip(raw, where, limits)
            if budget["pixels"] > limits.max_total_pixels:
                raise RequestError(413, f"the images and clip frames hold over {limits.max_total_pixels} pixels")
        return (m.type, raw, m.frames)

    def _as_media(item):
        kind, value, frames = item
        if kind == "image":
            return Media("image", decode_image(value, 0))
        return Media(kind, {"bytes": value, "path": None}, n_frames=frames)

    def run(images: list, prompt: str, media: dict, criterion: str | None) -> list[float]:
        """On the worker: decode the images (one request's pixels in memory at a time), then score."""
        pil = [decode_image(im, k) for k, im in enumerate(images, start=1)]
        responses = [r if isinstance(r, str) else _as_media(r) for r in media["responses"]]
        kw = {} if criterion is None else {"criterion": criterion}
        if media["video"] is not None:
            kw["video"] = _as_media(media["video"])
        if media["audio"]:
            kw["audio"] = [_as_media(a) for a in media["audio"]]
        try:
            return scorer.score(pil, prompt, responses, **kw)
        except OverBudget as e:  # a clip over the frame budget, a sound over the audio window
            raise RequestError(413, str(e)) from e
        except InputError as e:  # unreadable media: the client's file (400); bad text (422)
            has_media = bool(kw.keys() - {"criterion"}) or any(not isinstance(r, str) for r in responses)
            raise RequestError(400 if has_media else 422, str(e)) from e

    @app.get("/health")
    def health():
        return {"status": "ok", "model": name, "queued": worker.waiting}

    @app.post("/score")
    async def score(req: ScoreIn):
        images, media = await run_in_threadpool(prepare, req)
        try:
            scores = await worker.run(run, images, req.prompt, media, req.criterion)
        except QueueFull as e:
            raise HTTPException(503, str(e), headers={"Retry-After": str(e.retry_after)}) from None
        except TimedOut as e:
            raise HTTPException(504, str(e)) from None
        bad = [s for s in scores if not math.isfinite(s)]
        if bad:
            raise HTTPException(500, f"the model produced a non-finite score ({bad[0]}): the checkpoint is broken")
        out = {"scores": scores, "model": name}
        if len(scores) == 2:
            out["preference"] = sigmoid(scores[0] - scores[1])
        return out

    return app


def main(argv: list[str] | None = None) -> None:
    """`python -m brlib.server`: load a checkpoint and serve it with the limits of the flags."""
    import uvicorn

    from brlib.serve.score import RewardScorer

    d = Limits()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="checkpoint directory or Hub id")
    ap.add_argument("--host", default="127.0.0.1", help="interface to bind; 127.0.0.1 by default")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--allowed-root", default=None, help="image paths are served only from under this folder")
    ap.add_argument("--docs", action="store_true", help="serve /docs and /openapi.json (off by default)")
    for f in dataclasses.fields(Limits):
        flag = "--" + f.name.replace("_", "-")
        help_ = f"{HELP[f.name]} (default {f.default})"
        ap.add_argument(flag, type=type(getattr(d, f.name)), default=getattr(d, f.name), help=help_)
    args = ap.parse_args(argv)
    limits = Limits(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Limits)})
    app = create_app(RewardScorer.from_pretrained(args.model), args.allowed_root, limits, docs=args.docs)
    uvicorn.Server(uvicorn_config(app, args.host, args.port, limits)).run()
