"""Rewards for RL with TRL's `GRPOTrainer` (Table 11): a brlib reward model that sees the images, the rule-based
reward, and the hybrid (1 when the answer matches exactly, else sigma(RM score)).

TRL's built-in reward-model path tokenizes text only and drops the images, so the reward model is passed as a
callable: TRL calls it with the conversational `prompts` (the image parts included), the `completions` and every
extra dataset column (`image`, `answer`, ...). Vision tokens a policy may emit are stripped before scoring, and the
completions to one prompt are scored as one group (`RewardScorer.score`: the prompt and image encoded once, batched
by a token budget, under `inference_mode`).

Every call also records, for the reward-hacking watch: the mean reward given, the rule match rate, how often the
rule and the reward model disagree (the RM's calibrated score is above its reference mean for a completion the rule
rejects, or the reverse), and the completion length.
"""

from __future__ import annotations

import hashlib
import math
import re

from PIL import Image

VISION_TOKENS = ("<|image_pad|>", "<|video_pad|>", "<|vision_start|>", "<|vision_end|>")
SCHEMES = ("rule", "basereward", "hybrid")


def strip_vision_tokens(text: str) -> str:
    """Remove image/video placeholder tokens a policy may emit. Used in: 08_rl.ipynb."""
    for t in VISION_TOKENS:
        text = text.replace(t, "")
    return text.strip()


def completion_text(c) -> str:
    """The text of a TRL completion: a string, or a list of messages whose last one is the assistant's."""
    if isinstance(c, str):
        return strip_vision_tokens(c)
    content = c[-1]["content"] if c else ""
    if isinstance(content, list):
        content = " ".join(p.get("text", "") for p in content if p.get("type") == "text")
    return strip_vision_tokens(content)


def prompt_parts(prompt, image=None, images=None) -> tuple[str, list]:
    """(user text, images) of a TRL prompt: a string or messages with {"type": "image"} parts; dataset image
    columns are used when the messages carry no image objects."""
    if isinstance(prompt, str):
        text, found = prompt, []
    else:
        texts, found = [], []
        for m in prompt:
            if m.get("role") != "user":
                continue
            content = m["content"]
            if isinstance(content, str):
                texts.append(content)
                continue
            for part in content:
                if part.get("type") == "text":
                    texts.append(part["text"])
                elif part.get("type") == "image" and part.get("image") is not None:
                    found.append(part["image"])
        text = "\n".join(texts)
    if not found:
        found = list(images) if images else ([image] if image is not None else [])
    return text, found


def image_key(img) -> tuple:
    """A content key for an image (PIL pixels hashed; a path or {"bytes", "path"} dict by its value), so that equal
    images in different objects group together. Used in: 08_rl.ipynb."""
    if isinstance(img, Image.Image):
        return ("pixels", img.mode, img.size, hashlib.sha1(img.tobytes()).hexdigest())
    if isinstance(img, dict):
        raw = img.get("bytes")
        return ("file", str(img.get("path")), hashlib.sha1(raw).hexdigest() if raw else None)
    return ("path", str(img))


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s:+=-]", "", text.lower())).strip()


def final_answer(text: str) -> str:
    """The checkable answer: the letter after "Answer:" when present, else the normalised text."""
    m = re.search(r"answer:\s*([a-d])\b", text, re.I)
    return m.group(1).upper() if m else normalize(text)


def matches(completion: str, answer: str) -> bool:
    """Exact match of the final answers (case, spacing and punctuation ignored). Used in: 08_rl.ipynb."""
    return final_answer(completion) == final_answer(answer)


class GRPOReward:
    """One reward scheme as a TRL reward function (`rule`, `basereward` or `hybrid`). Used in: 08_rl.ipynb.

    `scorer` is a `brlib.serve.score.RewardScorer`; it is needed by `basereward` and `hybrid`, and optional for `rule`
    (then the watch has no disagreement rate).
    """

    def __init__(self, scheme: str, scorer=None, log: list | None = None):
        if scheme not in SCHEMES:
            raise ValueError(f"unknown reward scheme {scheme!r}; expected one of {SCHEMES}")
        if scheme != "rule" and scorer is None:
            raise ValueError(f"the {scheme!r} reward needs a reward-model scorer")
        if scheme == "hybrid" and not getattr(scorer, "normalization", None):
            # sigma(score) of a BT reward depends on its arbitrary offset: an RM centred at +4 gives wrong answers
            # 0.98 against 1.0 for right ones. The hybrid reads scores on a reference set's scale instead.
            raise ValueError("the hybrid reward needs a calibrated scorer: call scorer.calibrate(reference_items)")
        self.scheme, self.scorer = scheme, scorer
        self.log = log if log is not None else []
        self.__name__ = scheme  # TRL names its reward columns after this

    def rm_scores(self, prompts, completions, image=None, images=None) -> list[float]:
        """Reward-model scores; completions to the same prompt and images (compared by content, not identity: TRL
        and `datasets` decode a fresh image object for every row) are scored as one group."""
        n = len(prompts)
        groups: dict[tuple, list[int]] = {}  # content key -> row indices, in first-seen order
        parts = []
        for i in range(n):
            text, imgs = prompt_parts(prompts[i], image[i] if image else None, images[i] if images else None)
            parts.append((text, imgs))
            groups.setdefault((text, tuple(image_key(im) for im in imgs)), []).append(i)
        out = [0.0] * n
        for rows in groups.values():
            text, imgs = parts[rows[0]]
            responses = [completion_text(completions[i]) or " " for i in rows]  # an empty completion still scores
            for i, s in zip(rows, self.scorer.score(imgs, text, responses)):
                out[i] = s
        return out

    def __call__(self, prompts, completions, answer=None, image=None, images=None, **_) -> list[float]:
        texts = [completion_text(c) for c in completions]
        rule = [float(a is not None and matches(t, a)) for t, a in zip(texts, answer or [None] * len(texts))]
        rm = self.rm_scores(prompts, completions, image, images) if self.scorer is not None else None
        # Calibrated scores ((s - mean) / std on the scorer's reference set) where the offset matters: the hybrid's
        # sigmoid and the watch's "RM approves" (> 0). GRPO's per-group advantages make the raw offset harmless.
        calibrated = bool(getattr(self.scorer, "normalization", None))
        z = self.scorer.normalized(rm) if calibrated else rm
        if self.scheme == "rule":
            rewards = rule
        elif self.scheme == "basereward":
            rewards = rm
        else:
            rewards = [1.0 if r else sigmoid(v) for r, v in zip(rule, z)]
        rec = {
            "reward": sum(rewards) / len(rewards),
            "rule_match": sum(rule) / len(rule),
            "length_words": sum(len(t.split()) for t in texts) / len(texts),
        }
        if rm is not None:
            rec["rm_score"] = sum(rm) / len(rm)
            rec["rm_calibrated"] = calibrated
            rec["disagreement"] = sum((v > 0) != bool(r) for v, r in zip(z, rule)) / len(rm)
        self.log.append(rec)
        return rewards


def sigmoid(x: float) -> float:
    """1 / (1 + e^-x) without overflow for any finite x."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def faithful(description: str, truth: str) -> bool:
    """A description is hallucination-free when every object phrase it names is in the true description (and it
    names at least one). Tiny-world descriptions read "The image shows a red circle at the top left, ...".
    Used in: 08_rl.ipynb."""

    said = set(_phrases(description))
    return bool(said) and said <= set(_phrases(truth))


def phrase_precision(description: str, truth: str) -> float:
    """Share of the object phrases a description names that are true (0 when it names none): one minus a CHAIR-style
    hallucination rate. Used in: 08_rl.ipynb."""
    said = _phrases(description)
    return sum(p in _phrases(truth) for p in said) / len(said) if said else 0.0


def _phrases(t: str) -> list[str]:
    body = t.strip().lower().removeprefix("the image shows")
    return [normalize(p) for p in body.split(",") if normalize(p)]


def task_dataset(examples) -> list[dict]:
    """Tiny-world examples as GRPO prompts in TRL's conversational format, with `image` and `answer` columns."""
    return [
        {
            "prompt": [{"role": "user", "content": e.prompt}],
            "image": e.image,
            "answer": e.responses[0],
            "family": e.family,
        }
        for e in examples
    ]


def run_grpo(
    policy,
    reward,
    examples,
    seed: int,
    steps: int,
    out_dir,
    lr: float = 1e-3,
    generations: int = 8,
    prompts_per_step: int = 2,
    max_completion_length: int = 24,
) -> list[dict]:
    """GRPO on `examples` with TRL's GRPOTrainer, updating `policy` (a brlib.models.judge.ChatLM) in place; returns
    TRL's log history. `generations` rollouts per prompt, as in the paper (8). Used in: 08_rl.ipynb."""
    import datasets
    from trl import GRPOConfig, GRPOTrainer

    args = GRPOConfig(
        output_dir=str(out_dir),
        per_device_train_batch_size=generations * prompts_per_step,
        num_generations=generations,
        max_completion_length=max_completion_length,
        max_steps=steps,
        learning_rate=lr,
        beta=0.0,
        temperature=1.0,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        use_cpu=not __import__("torch").cuda.is_available(),
        seed=seed,
        data_seed=seed,
        disable_tqdm=True,
    )
    policy.model.train()
    trainer = GRPOTrainer(
        model=policy.model,
        processing_class=policy.processor,
        reward_funcs=[reward],
        args=args,
        train_dataset=datasets.Dataset.from_list(task_dataset(examples)),
    )
    trainer.train()
    policy.model.eval()
    policy.tok.padding_side = "left"
    return [h for h in trainer.state.log_history if "reward" in h]
