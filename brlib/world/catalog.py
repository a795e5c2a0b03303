"""The tiny world, complete: a tiny version of every training source and benchmark, each in its real schema.

Each tiny source has its own flavour, so the paper's data ablation has something real to measure:

| source | stands for | flavour |
|---|---|---|
| rlaif_v | RLAIF-V | hallucination-heavy descriptions, some perception |
| mmpr_v1_2 | MMPR v1.2 | reasoning-heavy (arithmetic read off the image), the largest source |
| r1_reward | R1-Reward data (the default set) | all four image families, clean labels |
| mmif | MMIF-23k | instruction following about the image (format constraints) |
| omnialign_v_dpo | OmniAlign-V-DPO | perception and descriptions, 20% noisy labels |
| mm_rlhf | MM-RLHF | all image families, safety-heavy |
| vlfeedback | VLFeedback | 4 rated completions per prompt, binarised by rating |
| povid | POVID | hallucination only |
| ultrafeedback | UltraFeedback (all / hard) | text arithmetic, 4 scored completions |
| shp | SHP | text, 30% noisy labels |
| tulu3_if | Tulu-3 IF | text instruction following |
| olmo2_mix | OLMo-2 preference mix | text arithmetic and safety |
| wildchat_uf | Tulu-3 WildChat-UF | text safety |
| swe_arena | SWE-Arena | text arithmetic, with tie and both-bad votes |
| skywork | Skywork-Reward-Preference | text safety and arithmetic |
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from brlib.world.scenes import png_bytes
from brlib.world.tasks import Example, generate
from brlib.world.writers import write_mm_rlhf_bench, write_rlaif_v

IMG = ["perception", "hallucination", "reasoning", "safety"]
FLAVOURS = {  # source -> (families with repeats as weights, label noise, prompts)
    "rlaif_v": (["hallucination"] * 7 + ["perception"] * 3, 0.05, 300),
    "mmpr_v1_2": (["reasoning"] * 6 + ["perception"] * 4, 0.05, 600),
    "r1_reward": (IMG, 0.0, 400),
    "mmif": (["instruction"], 0.05, 200),
    "omnialign_v_dpo": (["perception", "hallucination"], 0.2, 300),
    "mm_rlhf": (IMG + ["safety"] * 2, 0.05, 300),
    "vlfeedback": (["perception", "hallucination"], 0.0, 200),
    "povid": (["hallucination"], 0.0, 200),
    "ultrafeedback": (["text"], 0.0, 300),
    "shp": (["text"], 0.3, 300),
    "tulu3_if": (["text_instruction"], 0.0, 200),
    "olmo2_mix": (["text"], 0.05, 300),
    "wildchat_uf": (["text"], 0.0, 200),
    "swe_arena": (["text"], 0.0, 200),
    "skywork": (["text"], 0.0, 300),
}


def _write_parquet(rows: list[dict], path: Path, image_cols: tuple = ()) -> None:
    import datasets

    path.parent.mkdir(parents=True, exist_ok=True)
    ds = datasets.Dataset.from_list(rows)
    for c in image_cols:
        ds = ds.cast_column(c, datasets.Image())
    ds.to_parquet(str(path))


def _save_image(ex: Example, root: Path, rel: str) -> str:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    ex.image.save(root / rel)
    return rel


def _chat(prompt: str, answer: str) -> list[dict]:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


def write_source(key: str, exs: list[Example], out: Path, rng: random.Random) -> Path:
    """Write `exs` in the schema of source `key` under `out`; returns the path `load_source` reads."""
    d = out / key
    d.mkdir(parents=True, exist_ok=True)
    rows = []
    if key == "rlaif_v":
        write_rlaif_v(exs, d / "train-00000.parquet")
        return d
    if key == "mmpr_v1_2":
        for i, e in enumerate(exs):
            rows.append(
                {
                    "image": _save_image(e, d / "images", f"{e.family}/{i:05d}.png"),  # relative to meta root
                    "question": e.prompt,
                    "chosen": e.responses[0],
                    "rejected": e.responses[1],
                }
            )
        (d / "annotations").mkdir(exist_ok=True)
        (d / "annotations" / "tiny.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        meta = {
            "tiny": {
                "root": "images",
                "annotation": "annotations/tiny.jsonl",
                "data_augment": False,
                "repeat_time": 1,
                "length": len(rows),
            }
        }
        (d / "meta.json").write_text(json.dumps(meta, indent=1))
        return d
    if key == "r1_reward":
        for i, e in enumerate(exs):
            first = rng.random() < 0.5  # the preferred answer is shown first half of the time
            r1, r2 = (e.responses[0], e.responses[1]) if first else (e.responses[1], e.responses[0])
            text = (
                f"Judge which response answers better.\n[Question]: {e.prompt}\n[Response 1]: {r1}\n"
                f"[Response 2]: {r2}\n[Output]: think, then give <answer>1</answer> or <answer>2</answer>."
            )
            img = _save_image(e, d, f"images/{i:05d}.png")  # relative to the jsonl; the loader resolves it
            msg = [{"role": "user", "content": [{"type": "image", "image": img}, {"type": "text", "text": text}]}]
            rows.append(
                {"message": json.dumps(msg), "question": e.prompt, "answer": [f"<answer>{1 if first else 2}</answer>"]}
            )
        (d / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        return d
    if key in ("mmif", "omnialign_v_dpo"):
        for i, e in enumerate(exs):
            rows.append(
                {
                    "conversations": [{"from": "human", "value": f"<image>\n{e.prompt}"}],
                    "chosen": {"from": "gpt", "value": e.responses[0]},
                    "rejected": {"from": "gpt", "value": e.responses[1]},
                    "images": [_save_image(e, d, f"images/{i:05d}.png")],
                }
            )
        (d / "train.json").write_text(json.dumps(rows))
        return d
    if key == "mm_rlhf":
        for i, e in enumerate(exs):
            rows.append(
                {
                    "id": f"{i:05d}",
                    "image": _save_image(e, d, f"{e.family}/{i:05d}.png"),
                    "prompt": e.prompt,
                    "chosen": e.responses[0],
                    "rejected": e.responses[1],
                    "chosen_reason": "",
                    "rejected_reason": "",
                }
            )
        (d / "dpo_pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        return d
    if key == "vlfeedback":
        for i, e in enumerate(exs):
            comps = [(e.responses[0], rng.choice([4, 5]))] + [(r, rng.choice([1, 2])) for r in e.responses[1:]]
            comps += [(e.responses[0] + " That is all.", "N/A")]  # a non-numeric rating, as in the real data
            rows.append(
                {
                    "id": str(i),
                    "prompt": e.prompt,
                    "models": [f"m{j}" for j in range(len(comps))],
                    "img_path": _save_image(e, d, f"merged_images/{i:05d}.png"),
                    "completions": [
                        {
                            "model": f"m{j}",
                            "response": r,
                            "annotations": {
                                a: {"Rating": str(score), "Rationale": ""}
                                for a in ("Helpfulness", "Ethical Considerations", "Visual Faithfulness")
                            },
                        }
                        for j, (r, score) in enumerate(comps)
                    ],
                }
            )
        (d / "vlfeedback_80k.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        return d
    if key == "povid":
        for i, e in enumerate(exs):
            human = {"from": "human", "value": f"<image>\n{e.prompt}"}
            rows.append(
                {
                    "id": f"COCO_tiny_{i:06d}",
                    "image": _save_image(e, d, f"train2014/{i:06d}.png"),
                    "conversations": [human, {"from": "gpt", "value": e.responses[0]}],
                    "rejected_conversations": [human, {"from": "gpt", "value": e.responses[1]}],
                }
            )
        (d / "POVID_preference_data_for_VLLMs_version_1.json").write_text(json.dumps(rows))
        return d
    return _write_text_source(key, exs, d, rng)


def _write_text_source(key: str, exs: list[Example], d: Path, rng: random.Random) -> Path:
    rows = []
    for i, e in enumerate(exs):
        good, bad = e.responses[0], e.responses[1]
        if key == "ultrafeedback":
            comps = [(good, 8.0 + rng.random())] + [(r, 2.0 + 4 * rng.random()) for r in e.responses[1:]]
            comps.append((bad + " Hope this helps.", 2.0 + 4 * rng.random()))
            rows.append(
                {
                    "source": "tiny",
                    "instruction": e.prompt,
                    "models": [f"m{j}" for j in range(len(comps))],
                    "completions": [
                        {"model": f"m{j}", "response": r, "overall_score": s, "fine-grained_score": s / 2}
                        for j, (r, s) in enumerate(comps)
                    ],
                }
            )
        elif key == "shp":
            a_first = rng.random() < 0.5
            rows.append(
                {
                    "post_id": str(i),
                    "domain": "askmath",
                    "history": e.prompt,
                    "human_ref_A": good if a_first else bad,
                    "human_ref_B": bad if a_first else good,
                    "labels": int(a_first),
                    "score_A": 10,
                    "score_B": 3,
                }
            )
        elif key == "swe_arena":
            vote = rng.choices(["leftvote", "rightvote", "tievote", "bothbad_vote"], [45, 45, 5, 5])[0]
            a, b = (good, bad) if vote != "rightvote" else (bad, good)
            rows.append(
                {
                    "type": "chat",
                    "chat_session_id": str(i),
                    "instruction": e.prompt,
                    "feedback": {"vote_type": vote},
                    "models": {"model_A": "m0", "model_B": "m1"},
                    "states": {m: {"messages": _chat(e.prompt, r)} for m, r in (("model_A", a), ("model_B", b))},
                }
            )
        else:  # tulu3_if, olmo2_mix, wildchat_uf, skywork: chat lists that include the prompt
            rows.append(
                {
                    "id": str(i),
                    "prompt": e.prompt,
                    "chosen": _chat(e.prompt, good),
                    "rejected": _chat(e.prompt, bad),
                    "source": e.family,
                }
            )
    if key in ("ultrafeedback",):
        _write_parquet(rows, d / "train.parquet")
    else:
        (d / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return d


def write_sources(out_dir: str | Path, seed: int = 0, scale: float = 1.0) -> dict[str, str]:
    """Write every tiny source; returns {source key: path}. `scale` multiplies the prompt counts."""
    out = Path(out_dir)
    paths = {}
    for k, (key, (families, noise, n)) in enumerate(FLAVOURS.items()):
        rng = random.Random(seed * 7919 + k)
        max_wrong = 3 if key in ("vlfeedback", "ultrafeedback") else 1
        exs = generate(max(4, int(n * scale)), seed * 7919 + k, families, noise, max_wrong, twins=True)
        paths[key] = str(write_source(key, exs, out, rng))
    paths["ultrafeedback_all"] = paths["ultrafeedback_hard"] = paths.pop("ultrafeedback")
    return paths


def _styles(answer: str) -> list[str]:
    """RM-Bench's three styles of one answer: concise, detailed plain, detailed markdown."""
    detail = " I worked it out step by step and checked the result."
    return [answer, answer + detail, f"**Answer:** {answer}\n\n- {detail.strip()}"]


def write_benchmarks(out_dir: str | Path, seed: int = 0, scale: float = 1.0) -> dict[str, str]:
    """Write tiny versions of the five benchmarks in their published formats; returns {name: data file}."""
    out = Path(out_dir)
    rng = random.Random(seed)
    n = lambda k: max(4, int(k * scale))  # noqa: E731
    paths = {}

    # VL-RewardBench: parquet, responses in random order with human_ranking; the id prefix decides the group.
    prefixes = {
        "perception": ["wildvision_battle", "VLFeedback-pair"],
        "hallucination": ["RLAIF-V", "RLHF-V", "hallucination_pair"],
        "reasoning": ["mathverse", "mmmu_pro_test"],
    }
    rows = []
    for i, e in enumerate(generate(n(120), seed + 1, ["perception", "hallucination", "reasoning"], twins=True)):
        swap = rng.random() < 0.5
        resp = [e.responses[1], e.responses[0]] if swap else e.responses[:2]
        rid = f"{rng.choice(prefixes[e.family])}_{i % 97 if e.family == 'reasoning' else i}"  # ids repeat
        rows.append(
            {
                "id": rid,
                "query": e.prompt,
                "response": resp,
                "image": {"bytes": png_bytes(e.image), "path": None},
                "human_ranking": [1, 0] if swap else [0, 1],
                "models": ["m0", "m1"],
                "judge": "tiny",
                "rationale": "",
                "query_source": e.family,
                "meta": "{}",
                "human_error_analysis": [],
                "ground_truth": "",
            }
        )
    paths["vl_rewardbench"] = str(out / "vl_rewardbench" / "test-00000-of-00001.parquet")
    _write_parquet(rows, Path(paths["vl_rewardbench"]), ("image",))

    # MM-RLHF-RewardBench: prompt groups with several rejected answers; category from the image folder.

    # n(60) base prompts: three of the four families come with their twin (a smoke-sized file keeps every category)
    write_mm_rlhf_bench(generate(n(60) * 7 // 4, seed + 2, IMG, max_wrong=3, twins=True), out / "mm_rlhf_rewardbench")
    paths["mm_rlhf_rewardbench"] = str(out / "mm_rlhf_rewardbench" / "mm_reward_bench.jsonl")

    # Multimodal RewardBench: JSON list; Better names Output1/Output2; ID prefixes split safety and reasoning.
    cats = [
        ("perception", "open_generation/correctness_task", "nocaps"),
        ("hallucination", "open_generation/preference_task", "visitbench"),
        ("instruction", "knowledge", "mmmu-pro"),
        ("reasoning", "reasoning", "mathvista"),
        ("reasoning", "reasoning", "EMMA-Coding"),
        ("safety", "safety", "pairs"),
        ("safety", "safety", "hateful"),
        ("perception", "vqa", "RealworldQA"),
    ]
    rows = []
    for k, (family, category, prefix) in enumerate(cats):
        for i, e in enumerate(generate(n(15), seed + 10 + k, [family], twins=True)):
            better = "Output1" if rng.random() < 0.5 else "Output2"
            o1, o2 = (e.responses[0], e.responses[1]) if better == "Output1" else (e.responses[1], e.responses[0])
            rel = _save_image(e, out / "multimodal_rewardbench", f"images/{prefix}/{i}.png")
            rows.append(
                {
                    "ID": f"{prefix}_{i}",
                    "Image": rel,
                    "Text": e.prompt,
                    "Output1": o1,
                    "Output2": o2,
                    "Better": better,
                    "Category": category,
                }
            )
    paths["multimodal_rewardbench"] = str(out / "multimodal_rewardbench" / "all_data.json")
    Path(paths["multimodal_rewardbench"]).write_text(json.dumps(rows))

    # RewardBench v1: parquet of text pairs in named subsets (all four sections present).
    subsets = {
        "alpacaeval-easy": "text_instruction",
        "mt-bench-hard": "text_instruction",
        "llmbar-natural": "text_instruction",
        "refusals-dangerous": "text",
        "xstest-should-respond": "text",
        "math-prm": "text",
        "hep-python": "text",
    }
    rows = []
    for k, (subset, family) in enumerate(subsets.items()):
        for e in generate(n(20), seed + 30 + k, [family], twins=True):
            rows.append(
                {
                    "prompt": e.prompt,
                    "chosen": e.responses[0],
                    "rejected": e.responses[1],
                    "chosen_model": "m0",
                    "rejected_model": "m1",
                    "subset": subset,
                    "id": len(rows),
                }
            )
    paths["rewardbench"] = str(out / "rewardbench" / "filtered-00000.parquet")
    _write_parquet(rows, Path(paths["rewardbench"]))

    # RM-Bench: JSON list; 3 styles of chosen and of rejected per item.
    rows = []
    for k, (domain, family) in enumerate(
        [
            ("chat", "text_instruction"),
            ("code", "text"),
            ("math", "text"),
            ("safety-refuse", "text"),
            ("safety-response", "text"),
        ]
    ):
        for e in generate(n(15), seed + 40 + k, [family], twins=True):
            rows.append(
                {
                    "id": f"{domain}/{len(rows)}",
                    "prompt": e.prompt,
                    "chosen": _styles(e.responses[0]),
                    "rejected": _styles(e.responses[1]),
                    "domain": domain,
                }
            )
    paths["rm_bench"] = str(out / "rm_bench" / "total_dataset.json")
    Path(paths["rm_bench"]).parent.mkdir(parents=True, exist_ok=True)
    Path(paths["rm_bench"]).write_text(json.dumps(rows))
    return paths
