"""Speed benchmarks, every ratio measured against its baseline in the same run (`make bench`).

    python benchmarks/speed.py [--quick] [--out outputs/bench.json]

On tiny models on CPU, with prompts shaped like the real ones: one 448 x 448 image (256 image tokens after Qwen's
2 x 2 merge), a 32-token question, 48-token responses.

- train_pairs_per_s_shared_over_naive: training steps (forward, backward, AdamW) with prefix-shared pairs
  (`brlib.models.prefix`) against the naive two-sequence batches.
- group8_scoring_shared_over_naive: scoring a GRPO group of 8 completions to one prompt + image, one packed row
  against 8 sequences.
- text_rm_train_over_trl: a text-only RM (tiny Qwen2 LM, same data, same batch, same steps) trained with
  `brlib.train` against TRL's RewardTrainer, wall-clock of the whole training call each.
- naive_rm_over_longcot_grm_latency: latency of a long-CoT generative judge (both orders, 256 reasoning tokens
  each, greedy, KV cache) over the scalar RM's (one pair), same backbone.

Prints a table, then one JSON object with those four keys (and the raw timings) as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from brlib import world  # noqa: E402
from brlib.data import Pair, PairCollator  # noqa: E402
from brlib.models import backbones
from brlib.models.prefix import SharedPrefixCollator  # noqa: E402
from brlib.models.reward_model import RewardModel  # noqa: E402

IMAGE_SIDE = 448  # 32 x 32 patches of 14 px -> 256 tokens after the 2 x 2 merge


def words(tok, n: int, seed: int) -> str:
    """A text of exactly `n` tokens from the tiny corpus vocabulary."""
    import random

    rng = random.Random(seed)
    vocab = " ".join(world.corpus(n=200)).split()
    text = ""
    while len(tok(text).input_ids) < n:
        text += (" " if text else "") + rng.choice(vocab)
    while len(tok(text).input_ids) > n:
        text = text[:-1]
    return text


def build(tmp: Path, family: str, size: str):
    d = backbones.build_tiny_backbone(tmp / f"{family}-{size}", world.corpus(), family=family, size=size)
    rm = RewardModel.from_pretrained(d)
    if hasattr(rm.processor, "image_processor"):  # the tiny processor is sized for 84 px; allow 448 px images
        ip = rm.processor.image_processor
        ip.min_pixels = ip.max_pixels = IMAGE_SIDE * IMAGE_SIDE
        ip.size = {"shortest_edge": IMAGE_SIDE * IMAGE_SIDE, "longest_edge": IMAGE_SIDE * IMAGE_SIDE}
    return d, rm


def pairs_like_real(tok, n: int) -> list[Pair]:
    exs = world.generate(n, seed=0, families=["perception", "hallucination"])
    return [
        Pair(
            words(tok, 32, 3 * i),
            words(tok, 48, 3 * i + 1),
            words(tok, 48, 3 * i + 2),
            [e.image.resize((IMAGE_SIDE, IMAGE_SIDE))],
        )
        for i, e in enumerate(exs)
    ]


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_train(rm, pairs, batch: int, steps: int, repeats: int) -> dict:
    """Pairs per second of whole training steps (collate, forward, backward, AdamW); the two paths alternate so
    that drifts in machine speed hit both alike, and the median over repeats is kept."""
    opt = torch.optim.AdamW(rm.parameters(), lr=1e-4)
    rm.train()
    cols = {"naive": PairCollator(rm.processor, 8192), "shared": SharedPrefixCollator(rm.processor, 8192)}

    def run(col):
        for s in range(steps):
            b = pairs[(s * batch) % len(pairs) :][:batch]
            scores = rm(**col(b))
            loss = -torch.nn.functional.logsigmoid(scores[:batch] - scores[batch:]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

    times = {k: [] for k in cols}
    for col in cols.values():
        run(col)  # warm-up
    for _ in range(repeats):
        for k, col in cols.items():
            t0 = time.perf_counter()
            run(col)
            times[k].append(time.perf_counter() - t0)
    return {k: steps * batch / statistics.median(v) for k, v in times.items()}


@torch.inference_mode()
def bench_group(rm, tok, pairs, G: int, repeats: int) -> dict:
    rm.eval()
    groups = [(p.prompt, [words(tok, 48, 100 * i + k) for k in range(G)], p.images) for i, p in enumerate(pairs)]
    naive, shared = PairCollator(rm.processor, 8192), SharedPrefixCollator(rm.processor, 8192)
    out = {
        "naive": len(groups)
        / timed(lambda: [rm(**naive.encode([(q, r, im) for r in rs])) for q, rs, im in groups], repeats),
        "shared": len(groups) / timed(lambda: [rm(**shared.encode_groups([g])) for g in groups], repeats),
    }
    return out  # groups per second


def bench_text_rm(tmp: Path, steps: int, batch: int) -> dict:
    """Whole training calls: brlib.train vs TRL RewardTrainer on the same tiny Qwen2 LM, data, batch and steps."""
    import datasets
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    from brlib.train import TrainConfig, train

    d = backbones.build_tiny_backbone(tmp / "qwen2-s", world.corpus(), family="qwen2", size="s")
    exs = world.generate(steps * batch, seed=1, families=["text", "text_instruction"])
    rows = [
        {
            "chosen": [{"role": "user", "content": e.prompt}, {"role": "assistant", "content": e.responses[0]}],
            "rejected": [{"role": "user", "content": e.prompt}, {"role": "assistant", "content": e.responses[1]}],
        }
        for e in exs
    ]
    path = tmp / "text_pairs.parquet"
    datasets.Dataset.from_list(rows).to_parquet(str(path))

    t0 = time.perf_counter()
    train(
        TrainConfig(
            model=str(d),
            output_dir=str(tmp / "brlib_run"),
            train_data=[{"format": "skywork", "path": str(path)}],
            lr=1e-4,
            batch_size=batch,
            num_steps=steps,
            precision="fp32",
            max_length=512,
            head={"num_layers": 1},
            log_every=steps,
            vision_in_every_batch=False,
        ),
        progress=False,
    )
    brlib_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(d)
    model = AutoModelForSequenceClassification.from_pretrained(d, num_labels=1)
    model.config.pad_token_id = tok.pad_token_id
    args = RewardConfig(
        output_dir=str(tmp / "trl_run"),
        per_device_train_batch_size=batch,
        max_steps=steps,
        learning_rate=1e-4,
        logging_steps=steps,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        max_length=512,
        dataloader_num_workers=0,
        disable_tqdm=True,
        seed=0,
    )
    trainer = RewardTrainer(
        model=model, args=args, train_dataset=datasets.Dataset.from_parquet(str(path)), processing_class=tok
    )
    trainer.train()
    trl_s = time.perf_counter() - t0
    n = steps * batch
    return {"brlib": n / brlib_s, "trl": n / trl_s}


def bench_latency(d: Path, rm, pair: Pair, cot_tokens: int, repeats: int) -> dict:
    from brlib.models.judge import PAIRWISE, GenerativeJudge

    naive = PairCollator(rm.processor, 8192)
    rm.eval()

    @torch.inference_mode()
    def score():
        rm(**naive([pair]))

    j = GenerativeJudge.from_pretrained(d, "longcot")
    ip = j.processor.image_processor
    ip.min_pixels = ip.max_pixels = IMAGE_SIDE * IMAGE_SIDE
    ip.size = {"shortest_edge": IMAGE_SIDE * IMAGE_SIDE, "longest_edge": IMAGE_SIDE * IMAGE_SIDE}
    items = [
        (pair.images, PAIRWISE.format(q=pair.prompt, a=pair.chosen, b=pair.rejected)),
        (pair.images, PAIRWISE.format(q=pair.prompt, a=pair.rejected, b=pair.chosen)),
    ]

    @torch.inference_mode()
    def judge():
        enc = j._encode(items)
        j.model.generate(
            **enc,
            max_new_tokens=cot_tokens,
            min_new_tokens=cot_tokens,
            do_sample=False,
            pad_token_id=j.tok.pad_token_id,
        )

    return {"naive_rm_s": timed(score, repeats), "longcot_grm_s": timed(judge, max(1, repeats // 2))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer steps and repeats (a smoke run)")
    ap.add_argument("--size", default="s", help="tiny backbone size (brlib.backbones.SIZES)")
    ap.add_argument("--out", help="also write the JSON here (atomically)")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    q = args.quick
    repeats = 1 if q else 3
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        d, rm = build(tmp, "qwen2_5_vl", args.size)
        tok = rm.processor.tokenizer
        pairs = pairs_like_real(tok, 8)
        n_img = (
            PairCollator(rm.processor, 8192)([pairs[0]])["input_ids"][0].eq(rm.backbone.config.image_token_id).sum()
        )
        print(
            f"backbone qwen2_5_vl/{args.size}: {backbones.count_parameters(rm) / 1e6:.2f}M params, "
            f"{int(n_img)} image tokens per prompt",
            file=sys.stderr,
        )
        tr = bench_train(rm, pairs, batch=8, steps=2 if q else 3, repeats=1 if q else 5)
        gr = bench_group(rm, tok, pairs[: 2 if q else 8], G=8, repeats=1 if q else 5)
        lat = bench_latency(d, rm, pairs[0], cot_tokens=32 if q else 256, repeats=repeats)
        tx = bench_text_rm(tmp, steps=4 if q else 30, batch=16)
    result = {
        "train_pairs_per_s_shared_over_naive": tr["shared"] / tr["naive"],
        "group8_scoring_shared_over_naive": gr["shared"] / gr["naive"],
        "text_rm_train_over_trl": tx["brlib"] / tx["trl"],
        "naive_rm_over_longcot_grm_latency": lat["longcot_grm_s"] / lat["naive_rm_s"],
        "raw": {
            "train_pairs_per_s": tr,
            "group8_groups_per_s": gr,
            "text_rm_pairs_per_s": tx,
            "latency_s": lat,
            "size": args.size,
            "quick": q,
            "threads": torch.get_num_threads(),
        },
    }
    print(f"{'metric':40s} value", file=sys.stderr)
    for k, v in result.items():
        if k != "raw":
            print(f"{k:40s} {v:.2f}", file=sys.stderr)
    line = json.dumps(result)
    if args.out:
        from brlib.experiments.report import atomic_write

        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(Path(args.out), lambda p: p.write_text(line + "\n"))
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
