"""Scoring surface for users and RL: `RewardScorer` (one checkpoint) and `EnsembleScorer` (several, normalised).

Scores do not depend on batch size, padding side or the order of the responses: each response is scored on its
own sequence, and batches are formed by a token budget over length-sorted items.

Inputs the model cannot score raise `InputError` (a `ValueError`) before any forward pass: text that is not valid
Unicode (a lone UTF-16 surrogate), images on a text-only model, and images whose aspect ratio is over 200 (Qwen's
image processor refuses those). The reward server answers these with a 4xx. Special-token text typed in a prompt
or a response (`<|im_end|>`, `<|image_pad|>`) is scored as plain text: `PairCollator` escapes it.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import re
import tempfile
import threading
from pathlib import Path

import torch

from brlib.data import PairCollator, open_image
from brlib.data.collate import MAX_ASPECT, parts
from brlib.data.media import Media
from brlib.models.prefix import SHAREABLE, SharedPrefixCollator
from brlib.models.reward_model import HEAD_CONFIG, RewardModel

GENERIC_FOLDERS = re.compile(r"^(final|best|last|latest|model|checkpoint[-_]?\d*|step[-_]?\d+)$")


class InputError(ValueError):
    """A request the model cannot score as given (bad text or image); the server answers it with a 4xx."""


class OverBudget(InputError):
    """Media over what the model reads (a clip over the frame budget, audio over the encoder's window): refused,
    never cut; the server answers 413."""


def sigmoid(x: float) -> float:
    """1 / (1 + e^-x) without overflow for any finite x (NaN stays NaN). Used in: 09_demo.ipynb."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)  # x < 0: no overflow, and no 1 - tiny cancellation
    return z / (1.0 + z)


def model_name(path_or_id: str | Path) -> str:
    """How a model is shown to users: a Hub id as is, a local checkpoint by its folder name, never an absolute
    path; a generic folder name (`final`, `checkpoint-500`) keeps its parent folder. Used in: 09_demo.ipynb."""
    p = Path(str(path_or_id))
    if not p.exists():
        return str(path_or_id)  # a Hub id such as "org/model"
    p = p.resolve()
    if GENERIC_FOLDERS.match(p.name) and p.parent.name:
        return f"{p.parent.name}/{p.name}"
    return p.name


def read_reward_config(path: str | Path) -> dict | None:
    """The checkpoint's `reward_config.json` (None for a plain VLM), checked: valid JSON, a valid `score_norm`.

    Errors name the file, so a broken checkpoint fails at load time with a clear message."""
    meta_file = Path(path) / HEAD_CONFIG
    if not meta_file.exists():
        return None
    try:
        meta = json.loads(meta_file.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{meta_file} is not valid JSON: {e}") from e
    if not isinstance(meta, dict):
        raise ValueError(f"{meta_file} must hold a JSON object, got {type(meta).__name__}")
    norm = meta.get("score_norm")
    if norm is not None:
        check_normalization(norm, where=str(meta_file))
    return meta


def check_normalization(norm: dict, where: str = "score_norm") -> None:
    """A score normalisation needs a finite mean and a finite std > 0 (else every normalised score is inf/NaN)."""
    if not isinstance(norm, dict):
        raise ValueError(f"{where}: score_norm must be an object with mean and std, got {norm!r}")
    mean, std = norm.get("mean"), norm.get("std")
    ok = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)  # noqa: E731
    if not ok(mean) or not ok(std) or std <= 0:
        raise ValueError(f"{where}: score_norm needs a finite mean and a std > 0, got mean={mean!r} std={std!r}")


def _write_json_atomic(path: Path, obj: dict) -> None:
    """Write JSON to a temp file in the same folder, then rename it over `path`: a crash leaves the old file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(obj, indent=2))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _no_progress_bars():
    """Hide transformers' "Loading weights" bar (it lands on the demo page and in server logs)."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


class RewardScorer:
    """One reward model behind `score` and `compare`. Used in: 00_quickstart.ipynb."""

    def __init__(
        self,
        model: RewardModel,
        max_tokens: int = 16384,
        normalization: dict | None = None,
        name: str = "",
        prefix_sharing: bool = True,
    ):
        if normalization:
            check_normalization(normalization)
        self.model = model.eval()
        self.collator = PairCollator(model.processor, max_length=1 << 30)
        self.shared = SharedPrefixCollator(model.processor, max_length=1 << 30)
        self.prefix_sharing = prefix_sharing  # several responses to one prompt: one packed row (brlib.models.prefix)
        self.max_tokens = max_tokens
        self.normalization = normalization  # {"mean", "std"} on the checkpoint's reference set
        self.name = name
        self.tokenizer = self.collator.tokenizer
        self._counter, self._counter_lock = None, threading.Lock()

    @classmethod
    def from_pretrained(cls, path_or_id: str | Path, max_tokens: int = 16384, **kwargs) -> RewardScorer:
        """Load a brlib checkpoint (or a VLM with a fresh head); picks up its stored score normalisation.

        A `reward_config.json` that is not JSON, or whose `score_norm` has std 0, is an error naming the file."""
        meta = read_reward_config(path_or_id)  # before the weights: a broken config fails fast and by name
        with _no_progress_bars():
            model = RewardModel.from_pretrained(path_or_id, **kwargs)
        norm = meta.get("score_norm") if meta else None
        return cls(model, max_tokens, norm, name=model_name(path_or_id))

    def text_tokens(self, prompt: str, responses: list, criterion: str | None = None) -> int:
        """Tokens of the prompt plus every response as the model reads them (special-token text escaped; chat
        template and image tokens not counted).

        Safe to call from any thread while `score` runs: it uses its own copy of the tokenizer (a fast tokenizer
        switches padding on and off inside each call, which another thread must not see)."""
        with self._counter_lock:
            if self._counter is None:
                self._counter = copy.deepcopy(self.tokenizer)
            tok = self._counter
            strings = [prompt, *(r for r in responses if isinstance(r, str)), *([criterion] if criterion else [])]
            texts = [self.collator.escape(t) for t in strings]
            return sum(len(tok(t, add_special_tokens=False).input_ids) for t in texts)

    def check(
        self, prompt: str, responses: list, image_sizes: list[tuple[int, int]] = (), criterion: str | None = None
    ) -> None:
        """Raise `InputError` for inputs the model cannot score (see the module docstring); cheap, no forward.

        A response is text or a `Media` (a generated image, clip or audio; its file is checked when opened). A
        criterion, when given, must be non-empty text (leave it out, None, for a criterion-free score)."""
        if criterion is not None and (not isinstance(criterion, str) or not criterion.strip()):
            raise InputError("the criterion is empty: give a non-empty criterion or none (null)")
        named = [("prompt", prompt)] + [(f"response {i + 1}", r) for i, r in enumerate(responses)]
        named += [("criterion", criterion)] if criterion is not None else []
        for where, text in named:
            if isinstance(text, Media) and where.startswith("response"):
                if self.collator.text_only:
                    raise InputError(f"{where} is {text.kind}: a text-only reward model cannot score media")
                continue
            if not isinstance(text, str):
                raise InputError(f"{where} must be a string, got {type(text).__name__}")
            try:
                text.encode("utf-8")
            except UnicodeEncodeError as e:
                bad = text[e.start : e.end].encode("unicode_escape").decode()
                raise InputError(f"{where} is not valid Unicode: a lone UTF-16 surrogate ({bad}) at {e.start}") from e
        if image_sizes and self.collator.text_only:
            raise InputError("a text-only reward model cannot score inputs with images")
        for k, (w, h) in enumerate(image_sizes):
            if min(w, h) < 1:
                raise InputError(f"image {k + 1} has no pixels ({w}x{h})")
            if max(w, h) > MAX_ASPECT * min(w, h):
                raise InputError(f"image {k + 1} is {w}x{h}: aspect ratio over {MAX_ASPECT}")

    @torch.inference_mode()
    def score_items(self, items: list[tuple]) -> list[float]:
        """Raw scores of (prompt, response, images[, video[, history[, {"system", "audio", "video_fps"}]]]) items
        (the collator's items), batched so that padded tokens stay under the budget. Media that cannot be scored
        (unreadable, a clip over the frame or sample budget, audio on a model without an audio encoder) raise
        `InputError` before any forward."""
        items = [(p, r, [open_image(im) for im in imgs], *rest) for p, r, imgs, *rest in items]
        lengths = []
        for item in items:
            q = parts(item)
            self.check(q.prompt, [q.response], [im.size for im in item[2]], q.system)
            if (q.images or q.videos or q.audios) and self.collator.text_only:
                raise InputError("a text-only reward model cannot score inputs with images, video or audio")
            reason, sizes, videos, audio, detail = self.collator.measure(q)
            if reason:
                raise (OverBudget if "budget" in reason else InputError)(detail)
            kw = {"system": q.system, "audio_lengths": audio, "video_sizes": videos}
            lengths.append(self.collator.length(q.prompt, q.response, sizes, None, q.history, **kw))
        order = sorted(range(len(items)), key=lambda i: lengths[i])
        device = next(self.model.parameters()).device
        out = [0.0] * len(items)
        start = 0
        while start < len(order):
            end = start + 1  # lengths ascend, so a batch pads to its last item: size = count x that length
            while end < len(order) and (end + 1 - start) * lengths[order[end]] <= self.max_tokens:
                end += 1
            chunk = order[start:end]
            batch = {k: v.to(device) for k, v in self.collator.encode([items[i] for i in chunk]).items()}
            for i, s in zip(chunk, self.model(**batch).float().cpu().tolist()):
                out[i] = s
            start = end
        return out

    def score(
        self,
        images: list,
        prompt: str,
        responses: list,
        video=None,
        criterion: str | None = None,
        audio: list | None = None,
    ) -> list[float]:
        """One float per response to `prompt` about `images` (a list, possibly empty), an optional video (a list of
        frames or a video `Media`) and optional audio clips, judged under an optional free-form `criterion` (read in
        the system turn, as Omni-Reward does). A response is text or a `Media` (a generated image, clip or audio).

        Several text responses are scored as one group (the prompt, criterion and images encoded once,
        `score_group`) when the packed row fits the token budget and the attention implementation can take the
        branch mask; otherwise each on its own sequence. Both give the same scores.
        """
        imgs = [open_image(im) for im in images]
        self.check(prompt, list(responses), [im.size for im in imgs], criterion)
        extra = {"system": criterion, "audio": list(audio or [])}
        clip = video if video is not None else []
        if audio or not all(isinstance(r, str) for r in responses):
            return self.score_items([(prompt, r, imgs, clip, (), extra) for r in responses])
        if self.prefix_sharing and len(responses) > 1 and self.model.attn_implementation() in SHAREABLE:
            reason, sizes, videos, _, detail = self.collator.measure(parts((prompt, "", imgs, clip, (), extra)))
            if reason:
                raise (OverBudget if "budget" in reason else InputError)(detail)
            packed = self.collator.length(prompt, "", sizes, system=criterion, video_sizes=videos) + sum(
                self.collator.response_len(r) + 2 for r in responses
            )
            if packed <= self.max_tokens:
                return self.score_group(imgs, prompt, responses, criterion, clip)
        return self.score_items([(prompt, r, imgs, clip, (), extra) for r in responses])

    @torch.inference_mode()
    def score_group(
        self, images: list, prompt: str, responses: list[str], criterion: str | None = None, video=None
    ) -> list[float]:
        """Score G responses to one prompt in one packed row: one prefill of criterion, prompt, images and clip, G
        short branches.

        Used for GRPO groups (benchmarks/speed.py measures it against G separate sequences)."""
        device = next(self.model.parameters()).device
        batch = self.shared.encode_groups([(prompt, list(responses), list(images), (), criterion, video or [])])
        batch = {k: v.to(device) for k, v in batch.items()}
        return self.model(**batch).float().cpu().tolist()

    def compare(self, images: list, prompt: str, a, b, criterion: str | None = None) -> float:
        """Preference probability sigma(r_a - r_b) that `a` is the better response (under `criterion` if given;
        stable for any score gap)."""
        ra, rb = self.score(images, prompt, [a, b], **({} if criterion is None else {"criterion": criterion}))
        return sigmoid(ra - rb)

    def calibrate(self, items: list[tuple], save_to: str | Path | None = None) -> dict:
        """Mean and std of the scores on a fixed reference set; stored in the checkpoint's config if `save_to`
        (written atomically: a crash leaves the previous `reward_config.json` intact)."""
        scores = torch.tensor(self.score_items(items))
        if not torch.isfinite(scores).all():
            raise ValueError(f"calibration scores are not all finite ({int((~torch.isfinite(scores)).sum())} bad)")
        norm = {"mean": float(scores.mean()), "std": float(scores.std().clamp_min(1e-6)), "n": len(items)}
        check_normalization(norm, where="calibration")
        self.normalization = norm
        if save_to is not None:
            meta_file = Path(save_to) / HEAD_CONFIG
            meta = read_reward_config(save_to) or {}
            _write_json_atomic(meta_file, {**meta, "score_norm": self.normalization})
        return self.normalization

    def normalized(self, scores: list[float]) -> list[float]:
        """Scores on the reference set's scale: (s - mean) / std; raw scores when uncalibrated."""
        if not self.normalization:
            return list(scores)
        return [(s - self.normalization["mean"]) / self.normalization["std"] for s in scores]


class EnsembleScorer:
    """The weighted average of several scorers' scores, z-normalised on each member's reference set (or raw, as
    the paper's final ensemble, with `normalize=False`), with a per-member breakdown."""

    def __init__(self, members: list[RewardScorer], weights: list[float] | None = None, normalize: bool = True):
        if not members:
            raise ValueError("an ensemble needs at least one member")
        missing = [m.name for m in members if not m.normalization]
        if normalize and missing:
            raise ValueError(f"members without a score normalisation (run calibrate first): {missing}")
        weights = list(weights) if weights is not None else [1.0 / len(members)] * len(members)
        if len(weights) != len(members):
            raise ValueError(f"{len(weights)} weights for {len(members)} members")
        if not all(math.isfinite(w) and w >= 0 for w in weights) or not math.isclose(sum(weights), 1.0, abs_tol=1e-6):
            raise ValueError(f"weights must be finite, >= 0 and sum to 1, got {weights}")
        self.members = members
        self.weights = weights
        self.normalize = normalize
        self.name = "+".join(m.name for m in members)

    @classmethod
    def from_pretrained(cls, paths: list[str | Path], weights=None, normalize: bool = True, **kwargs):
        """One `RewardScorer.from_pretrained` per path (each calibrated, unless `normalize=False`)."""
        return cls([RewardScorer.from_pretrained(p, **kwargs) for p in paths], weights, normalize)

    def text_tokens(self, prompt: str, responses: list, criterion: str | None = None) -> int:
        """The largest member's token count (members may use different tokenizers)."""
        return max(m.text_tokens(prompt, responses, criterion) for m in self.members)

    def check(self, prompt: str, responses: list, image_sizes=(), criterion: str | None = None) -> None:
        """`RewardScorer.check` for every member."""
        for m in self.members:
            m.check(prompt, responses, image_sizes, criterion)

    def score_with_breakdown(self, images: list, prompt: str, responses: list, **kw) -> dict:
        """{"scores": ensemble scores, "members": {name: (normalised) scores}}; keywords as `RewardScorer.score`
        (video, criterion, audio)."""
        per = {}
        for i, m in enumerate(self.members):
            raw = m.score(images, prompt, responses, **kw)
            per[f"{i}:{m.name}"] = m.normalized(raw) if self.normalize else raw
        total = [sum(w * s[j] for w, s in zip(self.weights, per.values())) for j in range(len(responses))]
        return {"scores": total, "members": per}

    def score(self, images: list, prompt: str, responses: list, **kw) -> list[float]:
        """Ensemble scores, one per response (keywords as `RewardScorer.score`)."""
        return self.score_with_breakdown(images, prompt, responses, **kw)["scores"]

    def compare(self, images: list, prompt: str, a, b, criterion: str | None = None) -> float:
        """Preference probability that `a` is better, from the ensemble scores (stable for any gap)."""
        ra, rb = self.score(images, prompt, [a, b], **({} if criterion is None else {"criterion": criterion}))
        return sigmoid(ra - rb)
