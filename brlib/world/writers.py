"""The tiny world written in the real datasets' schemas: RLAIF-V parquet, chat-list text pairs and the
MM-RLHF-RewardBench jsonl; `write_world` writes the quickstart's train / held-out / benchmark files."""

from __future__ import annotations

import json
from pathlib import Path

from brlib.world.scenes import png_bytes
from brlib.world.tasks import BENCH_CATEGORY, FAMILIES, Example, generate


def write_rlaif_v(examples: list[Example], path: Path, ds_name: str = "tiny_world") -> int:
    """Write image examples in the RLAIF-V parquet schema (HF Image feature). Returns the number of rows."""
    import datasets

    rows = []
    for i, ex in enumerate(examples):
        for j, bad in enumerate(ex.responses[1:]):
            rows.append(
                {
                    "ds_name": ds_name,
                    "image": {"bytes": png_bytes(ex.image), "path": f"{i:06d}.png"},
                    "question": ex.prompt,
                    "chosen": ex.responses[0],
                    "rejected": bad,
                    "origin_dataset": ex.family,
                    "origin_split": json.dumps(ex.meta),
                    "idx": f"{i:06d}_{j}",
                    "image_path": f"{i:06d}.png",
                }
            )
    features = datasets.Features({k: datasets.Value("string") for k in rows[0] if k != "image"})
    features["image"] = datasets.Image()
    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_list(rows, features=features).to_parquet(str(path))
    return len(rows)


def write_chat_pairs(examples: list[Example], path: Path) -> int:
    """Write text-only examples in the chat-list schema of Skywork/OLMo-2/Tulu-3 preference data."""
    import datasets

    rows = []
    for i, ex in enumerate(examples):
        user = {"role": "user", "content": ex.prompt}
        for j, bad in enumerate(ex.responses[1:]):
            rows.append(
                {
                    "id": f"{i:06d}_{j}",
                    "prompt": ex.prompt,
                    "source": ex.family,
                    "chosen": [user, {"role": "assistant", "content": ex.responses[0]}],
                    "rejected": [user, {"role": "assistant", "content": bad}],
                }
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_list(rows).to_parquet(str(path))
    return len(rows)


def write_mm_rlhf_bench(examples: list[Example], out_dir: Path) -> int:
    """Write image examples as MM-RLHF-RewardBench: one group (`id`) per prompt, a pair per worse response; the
    jsonl at the root and the media under `images/<category>/`, as in the Hub repository."""
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, ex in enumerate(examples):
        rel = f"{BENCH_CATEGORY[ex.family]}/{i:06d}.png"
        (out_dir / "images" / rel).parent.mkdir(parents=True, exist_ok=True)
        ex.image.save(out_dir / "images" / rel)
        for bad in ex.responses[1:]:
            lines.append(
                json.dumps(
                    {
                        "id": f"{i:06d}",
                        "image": rel,
                        "prompt": ex.prompt,
                        "chosen": ex.responses[0],
                        "rejected": bad,
                        "chosen_reason": "",
                        "rejected_reason": "",
                    }
                )
            )
    (out_dir / "mm_reward_bench.jsonl").write_text("\n".join(lines) + "\n")
    return len(lines)


def write_world(
    out_dir: str | Path,
    seed: int = 0,
    n_train: int = 2000,
    n_heldout: int = 500,
    n_bench: int = 100,
    label_noise: float = 0.05,
) -> dict:
    """Write the tiny world's training, held-out and benchmark files. Used in: 00_quickstart.ipynb."""
    out = Path(out_dir)
    image_families = [f for f in FAMILIES if f != "text"]
    counts = {}
    for split, n, s, noise in [("train", n_train, seed, label_noise), ("heldout", n_heldout, seed + 10_000, 0.0)]:
        exs = generate(n, s, label_noise=noise, twins=True)
        counts[f"{split}/rlaif_v"] = write_rlaif_v(
            [e for e in exs if e.image is not None], out / split / "rlaif_v.parquet"
        )
        counts[f"{split}/text"] = write_chat_pairs([e for e in exs if e.image is None], out / split / "text.parquet")
    bench = generate(n_bench, seed + 20_000, families=image_families, max_wrong=3, twins=True)
    counts["bench/mm_rlhf_rewardbench"] = write_mm_rlhf_bench(bench, out / "bench")
    (out / "counts.json").write_text(json.dumps(counts, indent=2))
    return counts
