"""The reward server app: POST prompts, responses and images, get scores. Binds to 127.0.0.1 unless told otherwise.

    python -m brlib.server --model PATH [--host 127.0.0.1] [--port 8000] [--allowed-root DIR]

Request (POST /score, JSON):
    {"prompt": "What is shown?", "responses": ["A cat.", "A dog."],
     "images": [{"base64": "<PNG/JPEG bytes, base64>"} | {"path": "relative/or/absolute/under/allowed-root.png"}]}
Response: {"scores": [1.3, -0.4], "preference": 0.85, "model": "NAME"}  (preference = sigma(s0 - s1) for 2 responses)
Errors are 4xx with {"detail": "..."}: malformed JSON or a missing field 422, bad base64 or an unreadable image
400, an image over the pixel limit or a body over the size limit 413, a path outside the allowed root 403.
GET /health -> {"status": "ok", "model": "NAME"}.
"""

import argparse
import base64
import binascii
import io
import math
import threading
from pathlib import Path

from PIL import Image
from pydantic import BaseModel, Field

MAX_BODY_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 4096 * 4096


class ImageIn(BaseModel):
    """An image given inline (base64 of the file's bytes) or as a path under the allowed root."""

    base64: str | None = None
    path: str | None = None


class ScoreIn(BaseModel):
    """A scoring request: one prompt, 1-64 responses, 0-16 images."""

    prompt: str
    responses: list[str] = Field(min_length=1, max_length=64)
    images: list[ImageIn] = Field(default_factory=list, max_length=16)


def create_app(
    scorer, allowed_root: str | Path | None = None, max_pixels: int = MAX_PIXELS, max_body_bytes: int = MAX_BODY_BYTES
):
    """The FastAPI app around a RewardScorer (or EnsembleScorer). Used in: 00_quickstart.ipynb (README snippet)."""
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import JSONResponse

    app = FastAPI(title="brlib reward server")
    lock = threading.Lock()  # one forward at a time: torch intra-op threads already use the cores
    root = Path(allowed_root).resolve() if allowed_root else None
    name = getattr(scorer, "name", "") or "reward-model"

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        size = request.headers.get("content-length")
        if size is not None and int(size) > max_body_bytes:
            return JSONResponse({"detail": f"request body over {max_body_bytes} bytes"}, status_code=413)
        return await call_next(request)

    def load(img: ImageIn) -> Image.Image:
        if (img.base64 is None) == (img.path is None):
            raise HTTPException(422, "each image needs exactly one of 'base64' or 'path'")
        if img.base64 is not None:
            try:
                raw = base64.b64decode(img.base64, validate=True)
            except (binascii.Error, ValueError) as e:
                raise HTTPException(400, f"bad base64 image: {e}") from e
            source = io.BytesIO(raw)
        else:
            if root is None:
                raise HTTPException(403, "image paths are disabled: start the server with --allowed-root")
            path = (root / img.path).resolve()
            if not path.is_relative_to(root):
                raise HTTPException(403, f"path outside the allowed root: {img.path}")
            source = path
        try:
            im = Image.open(source)
            if im.size[0] * im.size[1] > max_pixels:  # checked before decoding the pixels
                raise HTTPException(413, f"image of {im.size[0]}x{im.size[1]} pixels is over {max_pixels}")
            im.load()
            return im.convert("RGB")
        except HTTPException:
            raise
        except Exception as e:  # PIL raises several types for missing and corrupt files
            raise HTTPException(400, f"unreadable image: {e.__class__.__name__}: {e}") from e

    @app.get("/health")
    def health():
        return {"status": "ok", "model": name}

    @app.post("/score")
    def score(req: ScoreIn):
        images = [load(i) for i in req.images]
        if any(not r.strip() for r in req.responses):
            raise HTTPException(422, "empty response")
        with lock:
            scores = scorer.score(images, req.prompt, req.responses)
        out = {"scores": scores, "model": name}
        if len(scores) == 2:
            out["preference"] = 1.0 / (1.0 + math.exp(scores[1] - scores[0]))
        return out

    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    from brlib.serve.score import RewardScorer

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="checkpoint directory or Hub id")
    ap.add_argument("--host", default="127.0.0.1", help="interface to bind; 127.0.0.1 by default")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--allowed-root", default=None, help="image paths are served only from under this folder")
    ap.add_argument("--max-pixels", type=int, default=MAX_PIXELS)
    args = ap.parse_args(argv)
    app = create_app(RewardScorer.from_pretrained(args.model), args.allowed_root, args.max_pixels)
    uvicorn.run(app, host=args.host, port=args.port)
