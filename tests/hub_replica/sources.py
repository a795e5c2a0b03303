"""Replicas of the training-source repositories, file for file as LAYOUTS.md records them, with tiny-world rows.

Each function returns {repo path: bytes} for `cache.write_repo`. Only the layout is real; the content is the tiny
world's (small images, short answers), so that the unchanged paper-profile loaders have something to read.
"""

from __future__ import annotations

import base64
import io
import json
import tarfile
import zipfile

import datasets

from brlib.world import generate
from brlib.world.scenes import png_bytes

IMG = ["perception", "hallucination", "reasoning", "safety"]


def examples(n: int, seed: int, families=IMG):
    return generate(n, seed, families)


def parquet(rows: list[dict], image_cols=()) -> bytes:
    """A datasets-written parquet file (Image columns as {bytes, path} structs, features in the schema metadata)."""
    ds = datasets.Dataset.from_list(rows)
    for c in image_cols:
        ds = ds.cast_column(c, datasets.Image())
    buf = io.BytesIO()
    ds.to_parquet(buf)
    return buf.getvalue()


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def tar_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def chat(prompt: str, answer: str) -> list[dict]:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


def rlaif_v() -> dict:
    """14 root shards in the real names (two written here), HF Image column, `idx` as string."""
    out = {"README.md": b"---\nlicense: cc-by-nc-4.0\n---\n# RLAIF-V-Dataset (replica)\n"}
    exs = examples(24, 101, ["hallucination", "perception"])
    for shard in range(2):
        rows = [
            {
                "ds_name": "RLAIF-V",
                "image": {"bytes": png_bytes(e.image), "path": f"{shard}_{i}.jpg"},
                "question": e.prompt,
                "chosen": e.responses[0],
                "rejected": e.responses[1],
                "origin_dataset": "VQAv2",
                "origin_split": json.dumps({"model": "x"}),
                "idx": f"{shard}{i:05d}",
                "image_path": f"images/{shard}_{i}.jpg",
            }
            for i, e in enumerate(exs[shard * 12 : (shard + 1) * 12])
        ]
        out[f"RLAIF-V-Dataset_{shard:03d}.parquet"] = parquet(rows, ["image"])
    return out


def mmpr() -> dict:
    """meta.json with MMPR-v1.2/-prefixed paths, annotations.zip, and images.zip cut into three parts."""
    subsets = {"GeoQA": ["reasoning"], "ScienceQA": ["perception"], "Multi": ["hallucination"]}
    meta, annotations, images = {}, {}, {}
    for s, fams in subsets.items():
        lines = []
        for i, e in enumerate(examples(10, hash(s) % 1000, fams)):
            name = f"{i:04d}.png"
            images[f"images/{s}/{name}"] = png_bytes(e.image)
            if s == "Multi":  # a multi-image row with interleaved markers
                images[f"images/{s}/b{name}"] = png_bytes(e.image)
                lines.append(
                    {
                        "image": [name, f"b{name}"],
                        "question": f"<image>\n<image>\n{e.prompt}",
                        "chosen": e.responses[0],
                        "rejected": e.responses[1],
                    }
                )
            else:
                question = f"<image>\n{e.prompt}" if i % 2 else e.prompt  # some questions carry no marker
                lines.append(
                    {"image": name, "question": question, "chosen": e.responses[0], "rejected": e.responses[1]}
                )
        annotations[f"annotations/{s.lower()}.jsonl"] = jsonl(lines)
        meta[s] = {
            "root": f"MMPR-v1.2/images/{s}",
            "annotation": f"MMPR-v1.2/annotations/{s.lower()}.jsonl",
            "data_augment": False,
            "repeat_time": 1,
            "length": len(lines),
        }
    blob = zip_bytes(images)
    third = len(blob) // 3 + 1
    parts = {f"images.zip_a{c}": blob[i * third : (i + 1) * third] for i, c in enumerate("abc")}
    return {
        "meta.json": json.dumps(meta).encode(),
        "annotations.zip": zip_bytes(annotations),
        **parts,
        "README.md": b"To unzip: cat images.zip_* > images.zip && unzip images.zip\n",
    }


R1_TEMPLATE = (
    "You are a highly skilled and impartial evaluator tasked with comparing two responses.\n\n"
    "###### **Input:**  \n###### [Question]:\n{q}  \n\n###### [Response 1]:\n{a}  \n\n"
    "###### [Response 2]:\n{b}  \n\n###### **Output Format (strictly follow):**  \n"
    "<think>Your detailed comparative analysis goes here</think><answer>1/2</answer>"
)


def r1_reward() -> dict:
    """data/train-0000{0..5}-of-00006.parquet; `image` is the encoded picture (raw base64 in some shards, a data
    URI in others: the form is unverified), the path inside `message` is the authors' machine's."""
    card = "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: data/train-*\n---\n"
    out = {"README.md": card.encode()}
    exs = examples(36, 103)
    for shard in range(6):
        rows = []
        for i, e in enumerate(exs[shard * 6 : (shard + 1) * 6]):
            first = (shard + i) % 2 == 0
            a, b = (e.responses[0], e.responses[1]) if first else (e.responses[1], e.responses[0])
            text = R1_TEMPLATE.format(q=e.prompt, a=a, b=b)
            path = f"/mmu_mllm_hdd/yfzhang/data/RLAIF-V-image/{shard}_{i}.jpg"
            msg = [{"role": "user", "content": [{"type": "text", "text": text}, {"type": "image", "image": path}]}]
            encoded = base64.b64encode(png_bytes(e.image)).decode()
            image = f"data:image/png;base64,{encoded}" if shard % 2 else encoded
            rows.append(
                {
                    "question": e.prompt,
                    "message": json.dumps(msg),
                    "answer": [f"<answer>{1 if first else 2}</answer>"],
                    "image": image,
                }
            )
        out[f"data/train-{shard:05d}-of-00006.parquet"] = parquet(rows)
    return out


def mmif() -> dict:
    """v2/dpo/mmif_23k_4o_qwen2_5.json (sharegpt ranking) + four image archives at the root."""
    archives = {"allava.tar": {}, "cc3m.zip": {}, "diversity.zip": {}, "multiui.zip": {}}
    rows = []
    for i, e in enumerate(generate(16, 104, ["instruction"])):
        arch = list(archives)[i % 4]
        rel = f"{arch.split('.')[0]}/{i:04d}.jpg"
        archives[arch][rel] = png_bytes(e.image)
        rows.append(
            {
                "conversations": [{"from": "human", "value": f"<image>\n{e.prompt}"}],
                "chosen": {"from": "gpt", "value": e.responses[0]},
                "rejected": {"from": "gpt", "value": e.responses[1]},
                "images": [rel],
            }
        )
    out = {"v2/dpo/mmif_23k_4o_qwen2_5.json": json.dumps(rows).encode()}
    for name, files in archives.items():
        out[name] = tar_bytes(files) if name.endswith(".tar") else zip_bytes(files)
    return out


def omnialign() -> dict:
    """Six category jsonl files with flat image/prompt/chosen/rejected, and images.tar."""
    out, images = {}, {}
    for c, cat in enumerate(["chart", "creation", "diagram", "ins_follow", "knowledge", "poster"]):
        rows = []
        for i, e in enumerate(examples(4, 110 + c, ["perception", "hallucination"])):
            rel = f"{cat}/{i:04d}.jpg"
            images[rel] = png_bytes(e.image)
            rows.append(
                {"image": rel, "prompt": f"<image>\n{e.prompt}", "chosen": e.responses[0], "rejected": e.responses[1]}
            )
        out[f"{cat}.jsonl"] = jsonl(rows)
    out["images.tar"] = tar_bytes(images)
    return out


def mm_rlhf() -> dict:
    """dpo_pairs.jsonl + the prompt-level data.jsonl / data/ parquet + five zips, each extracting to <name>/."""
    zips = {n: {} for n in ("long", "mcq", "safety", "short", "video")}
    family = {"long": "hallucination", "mcq": "reasoning", "safety": "safety", "short": "perception"}
    pairs, prompts = [], []
    for n, fam in family.items():
        for i, e in enumerate(generate(5, hash(n) % 997, [fam])):
            rel = f"{n}/{i:05d}.png"
            zips[n][rel] = png_bytes(e.image)
            pairs.append(
                {
                    "id": f"{n}{i}",
                    "image": rel,
                    "prompt": e.prompt,
                    "chosen": e.responses[0],
                    "rejected": e.responses[1],
                    "chosen_reason": "",
                    "rejected_reason": "",
                }
            )
            prompts.append(
                {"id": f"{n}{i}", "image": rel, "video": "", "question": e.prompt, "models_output": e.responses}
            )
    for v in range(2):
        e = generate(1, 200 + v, ["perception"])[0]
        for f in range(40):
            zips["video"][f"video/clip{v}/{f:04d}.jpg"] = png_bytes(e.image)
        pairs.append(
            {
                "id": f"v{v}",
                "video": f"video/clip{v}",
                "prompt": "What happens in the video?",
                "chosen": "A coloured shape stays still.",
                "rejected": "A car drives past.",
            }
        )
    out = {
        "dpo_pairs.jsonl": jsonl(pairs),
        "data.jsonl": jsonl(prompts),
        "data/train-00000-of-00001.parquet": parquet(prompts),
    }
    out.update({f"{n}.zip": zip_bytes(files) for n, files in zips.items()})
    return out


def vlfeedback() -> dict:
    """The loading script (which datasets>=4 refuses), vlfeedback_80k.jsonl without img_path, merged_images.zip."""
    rows, images = [], {}
    for i, e in enumerate(examples(12, 105, ["perception", "hallucination"])):
        images[f"merged_images/vlf{i}.jpg"] = png_bytes(e.image)
        comps = [
            {
                "model": m,
                "response": r,
                "annotations": {
                    "Helpfulness": {"Rating": str(s), "Rationale": ""},
                    "Ethical Considerations": {"Rating": str(s), "Rationale": ""},
                    "Visual Faithfulness": {"Rating": "N/A" if m == "c" else str(s), "Rationale": ""},
                },
            }
            for m, r, s in (("a", e.responses[0], 5), ("b", e.responses[1], 2), ("c", e.responses[1], 3))
        ]
        rows.append({"id": f"vlf{i}", "prompt": e.prompt, "models": ["a", "b", "c"], "completions": comps})
    script = b"# loading script of the original repository (refused by datasets>=4)\n"
    return {
        "VLFeedback.py": script,
        "vlfeedback_80k.jsonl": jsonl(rows),
        "merged_images.zip": zip_bytes(images),
        "instruction_source.jsonl": b"",
    }


def povid() -> tuple[dict, dict]:
    """The JSON list (COCO paths, not shipped) and, apart, the COCO train2014 images a user supplies."""
    rows, coco = [], {}
    for i, e in enumerate(examples(10, 106, ["hallucination"])):
        name = f"COCO_train2014_{i:012d}.jpg"
        coco[name] = png_bytes(e.image)
        human = {"from": "human", "value": f"<image>\n{e.prompt}"}
        rows.append(
            {
                "id": name[:-4],
                "image": f"./data/coco/{name}",
                "conversations": [human, {"from": "gpt", "value": e.responses[0]}],
                "rejected_conversations": [human, {"from": "gpt", "value": e.responses[1]}],
            }
        )
    return {
        "POVID_preference_data_for_VLLMs_version_1.json": json.dumps(rows).encode(),
        "README.md": b"---\n---\n",
    }, coco
