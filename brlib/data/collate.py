"""The pair collator: chat template, image processor, response lengths, and the drop-and-count filter."""

from __future__ import annotations

import torch

from brlib.data.pair import VIDEO_FPS, DropReport, Pair, conversation, open_image

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


class PairCollator:
    """Turns pairs into one padded batch: B chosen sequences, then B rejected ones. Images are never cut."""

    def __init__(self, processor, max_length: int = 1024):
        self.processor = processor
        self.max_length = max_length
        self.text_only = not hasattr(processor, "image_processor")
        self.tokenizer = processor if self.text_only else processor.tokenizer
        self.specials = special_strings(self.tokenizer)

    def escape(self, text: str) -> str:
        """User text with special-token strings neutralised (see `escape_special`)."""
        return escape_special(text, self.specials)

    def texts(self, prompt: str, responses: list[str], n_images: int, n_videos: int = 0, history=()) -> list[str]:
        """The chat-template text of each scored sequence; prompt, earlier turns and responses are escaped first."""
        tmpl = self.processor.apply_chat_template
        prompt = self.escape(prompt)
        history = [{**m, "content": self.escape(m["content"])} for m in history]
        return [
            tmpl(conversation(prompt, self.escape(r), n_images, n_videos, history), tokenize=False) for r in responses
        ]

    def response_len(self, response: str) -> int:
        """Tokens of a response on its own (the `len` of the length-normalised reward)."""
        return len(self.tokenizer(self.escape(response)).input_ids)

    def encode(self, items: list[tuple]) -> dict:
        """Encode (prompt, response, images[, video frames[, history]]) items into model inputs plus response lengths.

        A video is a list of frames (paths or images), encoded through the processor's video path with the frame
        rate of `VIDEO_FPS` in its metadata, so `second_per_grid_ts` (temporal M-RoPE) is what the official
        evaluation used; it is never dropped or scored as text."""
        texts, images, videos = [], [], []
        for prompt, response, imgs, *rest in items:
            frames = rest[0] if rest else []
            history = rest[1] if len(rest) > 1 else ()
            texts += self.texts(prompt, [response], len(imgs), 1 if frames else 0, history)
            images += [open_image(im) for im in imgs]
            if frames:
                videos.append([open_image(f) for f in frames])
        tok = self.tokenizer
        if self.text_only:  # a language-model RM: its "processor" is the tokenizer
            if images or videos:
                raise ValueError("a text-only reward model cannot score inputs with images or video")
            enc = tok(texts, return_tensors="pt", padding=True)
        else:
            extra = {}
            if videos:
                meta = [{"fps": VIDEO_FPS, "total_num_frames": len(v)} for v in videos]
                extra = {"videos": videos, "video_metadata": meta}
            enc = self.processor(text=texts, images=images or None, return_tensors="pt", padding=True, **extra)
        enc.pop("mm_token_type_ids", None)  # positions are rebuilt by RewardModel from input_ids
        enc.pop("token_type_ids", None)
        if "second_per_grid_ts" in enc:
            enc["second_per_grid_ts"] = torch.as_tensor(enc["second_per_grid_ts"], dtype=torch.float)
        enc["response_len"] = torch.tensor([self.response_len(r) for _, r, *_ in items], dtype=torch.float)
        return dict(enc)

    def __call__(self, pairs: list[Pair]) -> dict:
        items = [(p.prompt, p.chosen, p.images, p.video, p.history) for p in pairs]
        return self.encode(items + [(p.prompt, p.rejected, p.images, p.video, p.history) for p in pairs])

    def length(self, prompt: str, response: str, image_sizes: list[tuple[int, int]], video=None, history=()) -> int:
        """Tokens of one scored sequence, image and video tokens included, without running the vision processors.

        `video` is (number of frames, (width, height)) of one video, or None."""
        n_videos = 1 if video else 0
        n = len(self.tokenizer(self.texts(prompt, [response], len(image_sizes), n_videos, history)[0]).input_ids)
        if image_sizes:
            n += self._image_tokens(tuple(image_sizes)) - len(image_sizes)  # each placeholder expands in place
        if video:
            frames, (w, h) = video
            mm = self.processor._get_num_multimodal_tokens(video_sizes=[(frames, h, w)])
            n += sum(mm["num_video_tokens"]) - 1
        return n

    def _image_tokens(self, sizes: tuple) -> int:
        """Image tokens of images of these (width, height) sizes; memoised, since datasets repeat a few sizes."""
        cache = self.__dict__.setdefault("_image_token_cache", {})
        if sizes not in cache:
            mm = self.processor._get_num_multimodal_tokens(image_sizes=[(h, w) for w, h in sizes])
            cache[sizes] = sum(mm["num_image_tokens"])
        return cache[sizes]

    def check(self, pair: Pair) -> str | None:
        """Why `pair` cannot be trained on, or None if it can: a non-text field, an empty response, an unreadable
        or too elongated image, video, or over `max_length` (image tokens counted; images are never cut)."""
        if not isinstance(pair.prompt, str):
            return "non-text prompt"
        if not isinstance(pair.chosen, str) or not isinstance(pair.rejected, str):
            return "non-text response"
        if not pair.chosen.strip() or not pair.rejected.strip():
            return "empty response"
        if not isinstance(pair.images, list) or not isinstance(pair.video, list):
            return "images not a list"
        if (pair.images or pair.video) and self.text_only:
            return "images on a text-only model"
        try:
            sizes = [open_image(im).size for im in pair.images]
        except ValueError:
            return "unreadable image"
        video = None
        if pair.video:
            try:
                frame_sizes = {open_image(f).size for f in pair.video}
            except ValueError:
                return "unreadable video frame"
            if len(frame_sizes) != 1:
                return "video frames of different sizes"
            video = (len(pair.video), frame_sizes.pop())
            sizes_all = sizes + [video[1]]
        else:
            sizes_all = sizes
        if any(max(w, h) > MAX_ASPECT * min(w, h) for w, h in sizes_all):
            return f"image aspect ratio over {MAX_ASPECT}"
        try:
            n = max(self.length(pair.prompt, r, sizes, video, pair.history) for r in (pair.chosen, pair.rejected))
        except Exception as e:  # a tokenizer or processor refusal is one counted drop, not a failed run
            return f"cannot encode ({e.__class__.__name__})"
        return "over max_length" if n > self.max_length else None

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
