"""The pair collator: chat template, image processor, response lengths, and the drop-and-count filter."""

from __future__ import annotations

import torch

from brlib.data.pair import DropReport, Pair, conversation, open_image


class PairCollator:
    """Turns pairs into one padded batch: B chosen sequences, then B rejected ones. Images are never cut."""

    def __init__(self, processor, max_length: int = 1024):
        self.processor = processor
        self.max_length = max_length
        self.text_only = not hasattr(processor, "image_processor")
        self.tokenizer = processor if self.text_only else processor.tokenizer

    def texts(self, prompt: str, responses: list[str], n_images: int) -> list[str]:
        tmpl = self.processor.apply_chat_template
        return [tmpl(conversation(prompt, r, n_images), tokenize=False) for r in responses]

    def encode(self, items: list[tuple[str, str, list]]) -> dict:
        """Encode (prompt, response, images) triples into model inputs plus response lengths."""
        texts, images = [], []
        for prompt, response, imgs in items:
            texts += self.texts(prompt, [response], len(imgs))
            images += [open_image(im) for im in imgs]
        tok = self.tokenizer
        if self.text_only:  # a language-model RM: its "processor" is the tokenizer
            if images:
                raise ValueError("a text-only reward model cannot score inputs with images")
            enc = tok(texts, return_tensors="pt", padding=True)
        else:
            enc = self.processor(text=texts, images=images or None, return_tensors="pt", padding=True)
        enc.pop("mm_token_type_ids", None)  # positions are rebuilt by RewardModel from input_ids
        enc.pop("token_type_ids", None)
        enc["response_len"] = torch.tensor([len(tok(r).input_ids) for _, r, _ in items], dtype=torch.float)
        return dict(enc)

    def __call__(self, pairs: list[Pair]) -> dict:
        items = [(p.prompt, p.chosen, p.images) for p in pairs] + [(p.prompt, p.rejected, p.images) for p in pairs]
        return self.encode(items)

    def length(self, prompt: str, response: str, image_sizes: list[tuple[int, int]]) -> int:
        """Tokens of one scored sequence, image tokens included, without running the image processor."""
        n = len(self.tokenizer(self.texts(prompt, [response], len(image_sizes))[0]).input_ids)
        if image_sizes:
            n += self._image_tokens(tuple(image_sizes)) - len(image_sizes)  # each placeholder expands in place
        return n

    def _image_tokens(self, sizes: tuple) -> int:
        """Image tokens of images of these (width, height) sizes; memoised, since datasets repeat a few sizes."""
        cache = self.__dict__.setdefault("_image_token_cache", {})
        if sizes not in cache:
            mm = self.processor._get_num_multimodal_tokens(image_sizes=[(h, w) for w, h in sizes])
            cache[sizes] = sum(mm["num_image_tokens"])
        return cache[sizes]

    def check(self, pair: Pair) -> str | None:
        """Why `pair` cannot be trained on (empty response, unreadable image, too long), or None if it can."""
        if not pair.chosen.strip() or not pair.rejected.strip():
            return "empty response"
        if pair.video:
            return "video input not supported yet"  # frames are loaded; the collator does not encode video yet
        if pair.images and self.text_only:
            return "images on a text-only model"
        try:
            sizes = [open_image(im).size for im in pair.images]
        except ValueError:
            return "unreadable image"
        if max(self.length(pair.prompt, r, sizes) for r in (pair.chosen, pair.rejected)) > self.max_length:
            return "over max_length"
        return None

    def filter(self, pairs: list[Pair]) -> tuple[list[Pair], DropReport]:
        """Keep the pairs that pass `check`; count every dropped one with its reason."""
        report = DropReport(read=len(pairs))
        kept = []
        for p in pairs:
            reason = self.check(p)
            if reason is None:
                kept.append(p)
            else:
                report.reasons[reason] += 1
        report.kept = len(kept)
        return kept, report
