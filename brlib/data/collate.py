"""The pair collator: chat template (criterion in the system turn), image, video and audio processors, response
lengths, and the drop-and-count filter."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from brlib.data.media import Media, read_audio, read_video
from brlib.data.pair import VIDEO_FPS, VIDEO_FRAMES, DropReport, Pair, conversation, open_image

MAX_ASPECT = 200  # Qwen-VL's image processor refuses images more than 200 times wider than tall (or the reverse)
WORD_JOINER = "\u2060"  # invisible, and never part of a special token


def special_strings(tokenizer) -> tuple[str, ...]:
    """The tokenizer's special tokens as text (longest first): what a user must not be able to type."""
    specials = {t.content for t in getattr(tokenizer, "added_tokens_decoder", {}).values() if t.special}
    specials |= set(getattr(tokenizer, "all_special_tokens", []))
    return tuple(sorted((s for s in specials if len(s) > 1), key=len, reverse=True))


def escape_special(text: str, specials: tuple[str, ...]) -> str:
    """`text` with every special-token string broken by a word joiner, so `<|im_end|>` typed in a prompt or a
    response is read as those characters, never as the control token (no fake turn boundary, no stray image slot).

    Used in: 08_rl.ipynb (policies' completions are scored through it)."""
    for s in specials:
        if s in text:
            text = text.replace(s, s[0] + WORD_JOINER + s[1:])
    return text


def pair_items(pair: Pair) -> tuple[tuple, tuple]:
    """The two scored sequences of a pair as collator items (chosen, rejected), criterion and audio included.

    Used in: 10_omni.ipynb."""
    extra = {"system": pair.criterion, "audio": list(pair.audio), "video_fps": pair.video_fps}
    return tuple((pair.prompt, r, pair.images, pair.video, pair.history, extra) for r in (pair.chosen, pair.rejected))


@dataclass
class Parts:
    """One scored sequence, normalised: its text and the media of the prompt and of the response, in the order
    the chat template places their slots (prompt images, then a response image; likewise videos and audio)."""

    prompt: str
    response: object  # str or Media
    history: tuple = ()
    system: str | None = None
    images: list = field(default_factory=list)
    videos: list = field(default_factory=list)  # each a list of frames or a video Media
    audios: list = field(default_factory=list)
    n_prompt: tuple = (0, 0, 0)  # prompt images, videos, audio clips (template slots before the answer)


def parts(item: tuple) -> Parts:
    """(prompt, response, images[, video[, history[, {"system", "audio", "video_fps"}]]]) -> `Parts`."""
    prompt, response, imgs, *rest = item
    video = rest[0] if rest else []
    history = tuple(rest[1]) if len(rest) > 1 and rest[1] else ()
    extra = rest[2] if len(rest) > 2 and rest[2] else {}
    videos = []
    if isinstance(video, Media) or video:
        fps = extra.get("video_fps")
        videos.append(Media("video", list(video), fps) if not isinstance(video, Media) and fps else video)
    p = Parts(prompt, response, history, extra.get("system"), list(imgs), videos, list(extra.get("audio") or []))
    p.n_prompt = (len(p.images), len(p.videos), len(p.audios))
    if isinstance(response, Media):
        {"image": p.images, "video": p.videos, "audio": p.audios}[response.kind].append(response)
    return p


class PairCollator:
    """Turns pairs into one padded batch: B chosen sequences, then B rejected ones. Images are never cut; a video
    over `max_frames` or an audio clip over the audio encoder's window is refused (never cut): sample it first."""

    def __init__(self, processor, max_length: int = 1024, max_frames: int = VIDEO_FRAMES):
        self.processor = processor
        self.max_length = max_length
        self.max_frames = max_frames
        self.text_only = not hasattr(processor, "image_processor")
        self.tokenizer = processor if self.text_only else processor.tokenizer
        self.specials = special_strings(self.tokenizer)
        fe = None if self.text_only else getattr(processor, "feature_extractor", None)
        self.max_samples = int(getattr(fe, "n_samples", 0)) if fe is not None else 0  # 0: no audio encoder
        self.omni = hasattr(processor, "audio_token")  # Qwen2.5-Omni: its own video defaults are overridden below

    def escape(self, text: str) -> str:
        """User text with special-token strings neutralised (see `escape_special`)."""
        return escape_special(text, self.specials)

    def texts(
        self, prompt: str, responses: list, n_images: int, n_videos: int = 0, history=(), system=None, n_audios=0
    ) -> list[str]:
        """The chat-template text of each scored sequence; criterion, prompt, earlier turns and responses are
        escaped first. A media response fills the answer with its slot."""
        tmpl = self.processor.apply_chat_template
        prompt = self.escape(prompt)
        system = None if system is None else self.escape(system)
        history = [{**m, "content": self.escape(m["content"])} for m in history]
        out = []
        for r in responses:
            r = self.escape(r) if isinstance(r, str) else r
            msgs = conversation(prompt, r, n_images, n_videos, history, system, n_audios)
            out.append(tmpl(msgs, tokenize=False))
        return out

    def response_len(self, response) -> int:
        """Tokens of a response on its own (the `len` of the length-normalised reward); 1 for a media response."""
        if not isinstance(response, str):
            return 1
        return len(self.tokenizer(self.escape(response)).input_ids)

    def video(self, v) -> tuple[list, float]:
        """(frames, frames per second) of a video input; over `max_frames` is a ValueError, never a cut."""
        frames, fps = read_video(v)
        if len(frames) > self.max_frames:
            raise ValueError(
                f"a video of {len(frames)} frames is over the frame budget of {self.max_frames}: sample it first "
                "(the benchmark loaders sample as their protocol says) or raise max_frames; videos are never cut"
            )
        return frames, fps or VIDEO_FPS

    def audio(self, a):
        """16 kHz samples of an audio input; a model without an audio encoder, or a clip longer than the encoder's
        window (the feature extractor would silently cut it), is a ValueError."""
        if not self.max_samples:
            raise ValueError("this model has no audio encoder: it cannot score audio (use an omni backbone)")
        x = read_audio(a)
        if len(x) > self.max_samples:
            raise ValueError(
                f"an audio clip of {len(x) / 16000:.2f} s is over the model's window of {self.max_samples / 16000:.2f}"
                " s; it is never cut"
            )
        return x

    def _video_kwargs(self) -> dict:
        return {"videos_kwargs": {"size": dict(self.processor.video_processor.size)}} if self.omni else {}

    def encode(self, items: list[tuple]) -> dict:
        """Encode (prompt, response, images[, video[, history[, extra]]]) items into model inputs plus response
        lengths; `extra` holds the criterion ("system"), the prompt's audio clips ("audio") and the video frame rate
        ("video_fps"); a response may be a `Media` (a generated image, clip or audio).

        A video goes through the processor's video path with its own frame rate in the metadata (VIDEO_FPS when the
        source does not say), so `second_per_grid_ts` (temporal M-RoPE) matches the real clip; it is never dropped or
        scored as text."""
        texts, images, videos, rates, audios = [], [], [], [], []
        for item in items:
            p = parts(item)
            texts += self.texts(
                p.prompt, [p.response], p.n_prompt[0], p.n_prompt[1], p.history, p.system, p.n_prompt[2]
            )
            images += [open_image(im.source if isinstance(im, Media) else im) for im in p.images]
            for v in p.videos:
                frames, fps = self.video(v)
                videos.append(frames)
                rates.append(fps)
            audios += [self.audio(a) for a in p.audios]
        tok = self.tokenizer
        if self.text_only:  # a language-model RM: its "processor" is the tokenizer
            if images or videos or audios:
                raise ValueError("a text-only reward model cannot score inputs with images, video or audio")
            enc = tok(texts, return_tensors="pt", padding=True)
        else:
            extra = {}
            if videos:
                meta = [{"fps": f, "total_num_frames": len(v)} for v, f in zip(videos, rates)]
                extra = {"videos": videos, "video_metadata": meta, **self._video_kwargs()}
            if audios:
                extra["audio"] = audios
            enc = self.processor(text=texts, images=images or None, return_tensors="pt", padding=True, **extra)
        enc.pop("mm_token_type_ids", None)  # positions are rebuilt by RewardModel from input_ids
        enc.pop("token_type_ids", None)
        if "video_second_per_grid" in enc:  # Qwen2.5-Omni assumes one rate for all clips: use each clip's own
            enc.pop("video_second_per_grid")
            enc["second_per_grid_ts"] = [self.processor.video_processor.temporal_patch_size / f for f in rates]
        if "second_per_grid_ts" in enc:
            enc["second_per_grid_ts"] = torch.as_tensor(enc["second_per_grid_ts"], dtype=torch.float)
        enc["response_len"] = torch.tensor([self.response_len(it[1]) for it in items], dtype=torch.float)
        return dict(enc)

    def __call__(self, pairs: list[Pair]) -> dict:
        chosen, rejected = zip(*(pair_items(p) for p in pairs)) if pairs else ((), ())
        return self.encode(list(chosen) + list(rejected))

    def length(self, prompt: str, response, image_sizes: list[tuple[int, int]], video=None, history=(), **kw) -> int:
        """Tokens of one scored sequence, image and video tokens included, without running the vision processors.

        `video` is (number of frames, (width, height)) of one video, or None. Keywords: `system` (the criterion),
        `audio_lengths` (samples of each audio clip, prompt first), `video_sizes` (more videos, e.g. a response
        clip, as (frames, (width, height))). A media response's own slot is counted by the sizes passed."""
        videos = ([video] if video else []) + list(kw.get("video_sizes", ()))
        audio = list(kw.get("audio_lengths", ()))
        n_img = len(image_sizes) - (isinstance(response, Media) and response.kind == "image")
        n_vid = len(videos) - (isinstance(response, Media) and response.kind == "video")
        n_aud = len(audio) - (isinstance(response, Media) and response.kind == "audio")
        text = self.texts(prompt, [response], n_img, n_vid, history, kw.get("system"), n_aud)[0]
        n = len(self.tokenizer(text).input_ids)
        if image_sizes:
            n += self._image_tokens(tuple(image_sizes)) - len(image_sizes)  # each placeholder expands in place
        if videos:
            sizes = [(f, h, w) for f, (w, h) in videos]
            mm = self.processor._get_num_multimodal_tokens(video_sizes=sizes, **self._video_kwargs())
            n += sum(mm["num_video_tokens"]) - len(videos)
        if audio:
            n += sum(self.processor._get_num_multimodal_tokens(audio_lengths=audio)["num_audio_tokens"]) - len(audio)
        return n

    def item_length(self, item: tuple) -> int:
        """Tokens of one collator item, opening its media (sizes, frames, samples) but not processing them; a
        ValueError names media that cannot be scored."""
        p = parts(item)
        reason, sizes, videos, audio, detail = self.measure(p)
        if reason:
            raise ValueError(detail or reason)
        kw = {"system": p.system, "audio_lengths": audio, "video_sizes": videos}
        return self.length(p.prompt, p.response, sizes, None, p.history, **kw)

    def _image_tokens(self, sizes: tuple) -> int:
        """Image tokens of images of these (width, height) sizes; memoised, since datasets repeat a few sizes."""
        cache = self.__dict__.setdefault("_image_token_cache", {})
        if sizes not in cache:
            mm = self.processor._get_num_multimodal_tokens(image_sizes=[(h, w) for w, h in sizes])
            cache[sizes] = sum(mm["num_image_tokens"])
        return cache[sizes]

    def check(self, pair: Pair) -> str | None:
        """Why `pair` cannot be trained on, or None if it can: a non-text field, an empty response or criterion, an
        unreadable or too elongated image, an unreadable video or audio clip, a clip over the frame or sample budget,
        media the model has no encoder for, or over `max_length` (media tokens counted; media are never cut)."""
        if not isinstance(pair.prompt, str):
            return "non-text prompt"
        if pair.criterion is not None and (not isinstance(pair.criterion, str) or not pair.criterion.strip()):
            return "empty criterion"
        for r in (pair.chosen, pair.rejected):
            if not isinstance(r, (str, Media)):
                return "non-text response"
            if isinstance(r, str) and not r.strip():
                return "empty response"
        if not isinstance(pair.images, list) or not isinstance(pair.video, (list, Media)):
            return "images not a list"
        media = (
            pair.images
            or pair.video
            or pair.audio
            or not all(isinstance(r, str) for r in (pair.chosen, pair.rejected))
        )
        if media and self.text_only:
            return "images on a text-only model"
        has_audio = pair.audio or any(isinstance(r, Media) and r.kind == "audio" for r in (pair.chosen, pair.rejected))
        if has_audio and not self.max_samples:
            return "audio on a model without an audio encoder"
        try:
            n = 0
            for item in pair_items(pair):
                reason, sizes, videos, audio, _ = self.measure(parts(item))
                if reason:
                    return reason
                p = parts(item)
                kw = {"system": p.system, "audio_lengths": audio, "video_sizes": videos}
                n = max(n, self.length(p.prompt, p.response, sizes, None, p.history, **kw))
        except Exception as e:  # a tokenizer or processor refusal is one counted drop, not a failed run
            return f"cannot encode ({e.__class__.__name__})"
        return "over max_length" if n > self.max_length else None

    def measure(self, p: Parts) -> tuple:
        """(drop reason or None, image sizes, video (frames, size)s, audio sample counts, the error's message) of a
        sequence's media: each is opened (images), decoded (clips, audio) and checked against the aspect limit and
        the frame and sample budgets. Used in: 10_omni.ipynb."""
        sizes, videos, audio = [], [], []

        def bad(reason, detail=""):
            return reason, sizes, videos, audio, detail or reason

        for im in p.images:
            try:
                sizes.append(open_image(im.source if isinstance(im, Media) else im).size)
            except ValueError as e:
                return bad("unreadable image", str(e))
        for v in p.videos:
            try:
                frames, _ = read_video(v)
            except ValueError as e:
                return bad("unreadable video", str(e))
            if len(frames) > self.max_frames:
                return bad("video over the frame budget", f"a video of {len(frames)} frames is over the frame budget "
                           f"of {self.max_frames}: sample it first; videos are never cut")  # fmt: skip
            frame_sizes = {f.size for f in frames}
            if len(frame_sizes) != 1:
                return bad("video frames of different sizes")
            videos.append((len(frames), frame_sizes.pop()))
        for a in p.audios:
            if not self.max_samples:
                return bad("audio on a model without an audio encoder", "this model has no audio encoder: it "
                           "cannot score audio (train on an omni backbone, brlib.models.omni_backbone)")  # fmt: skip
            try:
                samples = read_audio(a)
            except ValueError as e:
                return bad("unreadable audio", str(e))
            if len(samples) > self.max_samples:
                return bad("audio over the sample budget", f"an audio clip of {len(samples) / 16000:.2f} s is over "
                           f"the model's window of {self.max_samples / 16000:.2f} s; it is never cut")  # fmt: skip
            audio.append(len(samples))
        for w, h in sizes + [s for _, s in videos]:
            if min(w, h) < 1 or max(w, h) > MAX_ASPECT * min(w, h):
                return bad(
                    f"image aspect ratio over {MAX_ASPECT}", f"an image of {w}x{h}: aspect ratio over {MAX_ASPECT}"
                )
        return None, sizes, videos, audio, ""

    def filter(self, pairs: list[Pair]) -> tuple[list[Pair], DropReport]:
        """Keep the pairs that pass `check`; count every dropped one with its reason."""
        report = DropReport(read=len(pairs))
        kept = []
        for p in pairs:
            reason = self.check(p)
            if reason is None:
                kept.append(p)
            else:
                report.add(reason, p.uid)
        report.kept = len(kept)
        return kept, report
