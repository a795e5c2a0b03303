"""Generative reward models for Table 1: a pairwise judge, a long-CoT judge and a critic, on the same backbone.

- `grm`: sees the question and both responses, answers `<answer>1</answer>` or `<answer>2</answer>` (Seed-1.5-VL
  style). Its verdict is read from the logits of "1" and "2" after `<answer>`: the greedy answer restricted to the
  two valid ones, one forward pass per order.
- `longcot`: the same input, but first writes `<think>...</think>` (a judgement of each response), then the answer
  (R1-Reward style, SFT only: the RL stage is not reproduced). Decoded greedily; an unparseable answer is wrong.
- `critic`: sees one response, writes a critique ending in a verdict, and its score is the margin of the logits of
  " good" over " bad" after `Verdict:` (MM-RLHF's critic RM scores the critique with a separate head; ours reads the
  verdict from the LM head, a simplification stated in notebook 01).

Pairwise judges see every pair in both orders; a pair's scores are the number of orders that preferred each
response, so an order-dependent judge gets a tie, and a tie counts as wrong under the benchmarks' rules.
"""

from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path

import torch

from brlib.data.collate import escape_special, special_strings
from brlib.data.pair import Pair, open_image

PAIRWISE = "Which response answers the question better?\n[Question]: {q}\n[Response 1]: {a}\n[Response 2]: {b}"
POINTWISE = "Critique the response.\n[Question]: {q}\n[Response]: {a}"
KINDS = ("grm", "longcot", "critic")
_ANSWER = re.compile(r"<answer>\s*([12])\s*</answer>")


def target(kind: str, first_better: bool) -> str:
    """The supervised completion for one (ordered) pair, or for one response (critic). Used in: 01_paradigms."""
    good, bad = "accurate", "inaccurate"
    if kind == "grm":
        return f"<answer>{1 if first_better else 2}</answer>"
    if kind == "longcot":
        a, b = (good, bad) if first_better else (bad, good)
        return f"<think>Response 1 is {a}. Response 2 is {b}.</think><answer>{1 if first_better else 2}</answer>"
    if kind == "critic":
        return f"The response is {good if first_better else bad}. Verdict: {'good' if first_better else 'bad'}"
    raise ValueError(f"unknown judge kind {kind!r}; expected one of {KINDS}")


class ChatLM:
    """A Qwen-VL model with its LM head and processor: chat prompts, SFT batches, greedy generation.

    The base of the judges here and of the RL policy (`brlib.serve.rl`). Used in: 01_paradigms.ipynb.
    """

    def __init__(self, model, processor):
        self.model, self.processor = model, processor
        self.tok = processor.tokenizer
        self.tok.padding_side = "left"  # generation appends on the right

    @classmethod
    def from_pretrained(cls, path: str | Path, **kwargs):
        from transformers import AutoModelForImageTextToText, AutoProcessor

        model = AutoModelForImageTextToText.from_pretrained(str(path), use_safetensors=True)
        return cls(model, AutoProcessor.from_pretrained(str(path)), **kwargs)

    def save_pretrained(self, out: str | Path) -> None:
        self.model.save_pretrained(out, safe_serialization=True)
        self.processor.save_pretrained(out)

    def _prompt(self, text: str, n_images: int) -> str:
        text = escape_special(text, special_strings(self.tok))  # user text never spells control tokens
        content = [{"type": "image"}] * n_images + [{"type": "text", "text": text}]
        return self.processor.apply_chat_template(
            [{"role": "user", "content": content}], tokenize=False, add_generation_prompt=True
        )

    def _encode(self, items: list[tuple[list, str]], completions: list[str] | None = None) -> dict:
        """(images, user text) items -> model inputs; with `completions`, labels on the completion tokens only."""
        prompts = [self._prompt(t, len(ims)) for ims, t in items]
        texts = prompts if completions is None else [p + c + "<|im_end|>" for p, c in zip(prompts, completions)]
        images = [open_image(im) for ims, _ in items for im in ims]
        # mm_token_type_ids stays: generation and the LM forward build 3-D M-RoPE positions for image tokens from it
        enc = dict(self.processor(text=texts, images=images or None, return_tensors="pt", padding=True))
        if completions is not None:
            labels = enc["input_ids"].clone()
            labels[enc["attention_mask"] == 0] = -100
            for i, c in enumerate(completions):  # left padding: the completion is the last tokens
                n = len(self.tok(c + "<|im_end|>").input_ids)
                labels[i, : labels.shape[1] - n] = -100
            enc["labels"] = labels
        return enc

    def sft(self, sample, steps: int, lr: float, seed: int, vision_lr: float | None = None) -> list[dict]:
        """`steps` AdamW steps (cosine schedule) on `sample(rng) -> (items, completions)` batches; the vision tower
        at its own `vision_lr` when given."""
        from transformers import get_scheduler

        from brlib.models.optim import param_groups

        torch.manual_seed(seed)
        rng = random.Random(seed)
        opt = torch.optim.AdamW(param_groups(self.model, lr, vision_lr), lr=lr)
        sched = get_scheduler("cosine", opt, max(1, steps // 20), steps)
        self.model.train()
        history, t0 = [], time.perf_counter()
        for step in range(steps):
            items, comps = sample(rng)
            loss = self.model(**self._encode(items, comps), use_cache=False).loss
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite SFT loss at step {step}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
            opt.step()
            sched.step()
            history.append({"step": step + 1, "loss": float(loss.detach()), "elapsed_s": time.perf_counter() - t0})
        self.model.eval()
        return history

    @torch.no_grad()
    def loglik(self, items: list[tuple[list, str]], completions: list[str], batch_size: int = 32) -> list[float]:
        """Summed log-likelihood of each completion (and its end token) after its (images, user text) prompt."""
        out = []
        for i in range(0, len(items), batch_size):
            enc = self._encode(items[i : i + batch_size], completions[i : i + batch_size])
            labels = enc["labels"][:, 1:]
            logits = self.model(**enc, use_cache=False).logits[:, :-1].float()
            lp = torch.log_softmax(logits, -1).gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
            out += (lp * (labels != -100)).sum(-1).tolist()
        return out

    @torch.inference_mode()
    def generate(self, items: list[tuple[list, str]], max_new_tokens: int, batch_size: int = 32) -> list[str]:
        """Greedy completions of (images, user text) items."""
        out = []
        for i in range(0, len(items), batch_size):
            enc = self._encode(items[i : i + batch_size])
            ids = self.model.generate(
                **enc,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=self.tok.pad_token_id,
                eos_token_id=self.tok.convert_tokens_to_ids("<|im_end|>"),
            )
            out += self.tok.batch_decode(ids[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        return out


class GenerativeJudge(ChatLM):
    """A ChatLM trained by SFT to judge (`kind`: grm, longcot or critic). Used in: 01_paradigms.ipynb."""

    def __init__(self, model, processor, kind: str):
        if kind not in KINDS:
            raise ValueError(f"unknown judge kind {kind!r}; expected one of {KINDS}")
        super().__init__(model, processor)
        self.kind = kind

    @classmethod
    def from_pretrained(cls, path: str | Path, kind: str) -> GenerativeJudge:
        return super().from_pretrained(path, kind=kind)

    def _items(self, pair: Pair, first_better: bool) -> tuple[tuple[list, str], str]:
        a, b = (pair.chosen, pair.rejected) if first_better else (pair.rejected, pair.chosen)
        return (pair.images, PAIRWISE.format(q=pair.prompt, a=a, b=b)), target(self.kind, first_better)

    def train(self, pairs: list[Pair], steps: int, batch_size: int, lr: float, seed: int) -> list[dict]:
        """SFT on `pairs`: `batch_size` pairs per step, each shown in a random order (critic: one random response)."""

        def sample(rng):
            items, comps = [], []
            batch = [pairs[rng.randrange(len(pairs))] for _ in range(batch_size)]
            for p in batch:
                flip = rng.random() < 0.5
                if self.kind == "critic":
                    items.append((p.images, POINTWISE.format(q=p.prompt, a=p.rejected if flip else p.chosen)))
                    comps.append(target("critic", not flip))
                else:
                    item, comp = self._items(p, not flip)
                    items.append(item)
                    comps.append(comp)
            return items, comps

        return self.sft(sample, steps, lr, seed)

    def _token(self, text: str) -> int:
        ids = self.tok(text, add_special_tokens=False).input_ids
        return ids[-1]

    @torch.inference_mode()
    def _logits_after(self, items: list[tuple[list, str]], suffixes: list[str]) -> torch.Tensor:
        """Logits (B, V) of the next token after each item's prompt + its suffix in the assistant turn."""
        texts = [self._prompt(t, len(ims)) + sfx for (ims, t), sfx in zip(items, suffixes)]
        images = [open_image(im) for ims, _ in items for im in ims]
        enc = dict(self.processor(text=texts, images=images or None, return_tensors="pt", padding=True))
        return self.model(**enc, use_cache=False).logits[:, -1].float()  # left padding: last column is real

    def prefer_first(self, items: list[tuple[list, str]]) -> list[float]:
        """1.0 where the judge prefers Response 1, 0.0 where Response 2, 0.5 when it gives no valid answer."""
        if self.kind == "grm":
            logits = self._logits_after(items, ["<answer>"] * len(items))
            one, two = self._token("<answer>1"), self._token("<answer>2")
            return [float(x) for x in (logits[:, one] > logits[:, two]).float()]
        texts = self.generate(items, max_new_tokens=40, batch_size=len(items))
        out = []
        for t in texts:
            m = _ANSWER.search(t)
            out.append(0.5 if m is None else float(m.group(1) == "1"))
        return out

    def critic_scores(self, items: list[tuple[list, str]]) -> list[float]:
        """Critique each (images, POINTWISE text) item greedily, then score: logit(' good') - logit(' bad')."""
        heads = [c.split("Verdict")[0].strip() for c in self.generate(items, max_new_tokens=12, batch_size=len(items))]
        logits = self._logits_after(items, [h + " Verdict:" for h in heads])
        good, bad = self._token("Verdict: good"), self._token("Verdict: bad")
        return [float(x) for x in logits[:, good] - logits[:, bad]]

    def score_rows(self, rows, batch_size: int = 32) -> list[list[float]]:
        """Benchmark rows with two responses -> per-row scores (see the module docstring). Used in: 01."""
        if any(len(r.responses) != 2 for r in rows):
            raise ValueError("generative judges score two-response rows only")
        if self.kind == "critic":
            items = [(r.images, POINTWISE.format(q=r.prompt, a=resp)) for r in rows for resp in r.responses]
            flat = []
            for i in range(0, len(items), batch_size):
                flat += self.critic_scores(items[i : i + batch_size])
            return [flat[2 * k : 2 * k + 2] for k in range(len(rows))]
        items = []
        for r in rows:
            items.append((r.images, PAIRWISE.format(q=r.prompt, a=r.responses[0], b=r.responses[1])))
            items.append((r.images, PAIRWISE.format(q=r.prompt, a=r.responses[1], b=r.responses[0])))
        prefs = []
        for i in range(0, len(items), batch_size):
            prefs += self.prefer_first(items[i : i + batch_size])
        # order (0, 1): pref says response 0 first; order (1, 0): pref says response 1 first
        return [
            [prefs[2 * k] + (1 - prefs[2 * k + 1]), (1 - prefs[2 * k]) + prefs[2 * k + 1]] for k in range(len(rows))
        ]


def train_judge(
    kind: str,
    model_path: str,
    pairs: list[Pair],
    steps: int,
    batch_size: int,
    lr: float,
    seed: int,
    cache: Path,
    key: str,
) -> tuple[GenerativeJudge, list[dict]]:
    """Train a judge, or load the cached one stored under cache/key. Used in: 01_paradigms.ipynb."""
    out = Path(cache) / key
    if (out / "history.json").exists():
        return GenerativeJudge.from_pretrained(out, kind), json.loads((out / "history.json").read_text())
    judge = GenerativeJudge.from_pretrained(model_path, kind)
    history = judge.train(pairs, steps, batch_size, lr, seed) if steps else []
    tmp = out.with_name(out.name + ".partial")
    judge.save_pretrained(tmp)
    (tmp / "history.json").write_text(json.dumps(history))
    tmp.rename(out)
    return judge, history
