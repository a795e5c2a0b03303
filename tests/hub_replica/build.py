"""Build the Hub replica: every dataset repository the paper profile reads, in its exact Hub layout (LAYOUTS.md),
plus tiny backbones in Hub layout, written into a Hugging Face cache under HF_HOME.

    python tests/hub_replica/build.py OUT_HF_HOME

Then, with HF_HOME=OUT_HF_HOME and HF_HUB_OFFLINE=1, the unchanged paper-profile code resolves them by Hub id, as
on a GPU worker whose cache `huggingface-cli download` (or `make data`) filled. Content is the tiny world's.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import sources as S  # noqa: E402
from cache import tree_files, write_repo  # noqa: E402

from brlib.world import generate  # noqa: E402
from brlib.world.scenes import png_bytes  # noqa: E402

UF_REVISION = "40b436560ca83a8dba36114c22ab3c66e43f6d5e"
# The tiny stand-ins for the paper's backbones: Hub ids in the replica (one per family), swapped in by the
# notebooks' SWAP_BACKBONES parameter.
TINY_BACKBONES = {
    "qwen2_5_vl": "brlib-replica/tiny-Qwen2.5-VL-Instruct",
    "qwen2_vl": "brlib-replica/tiny-Qwen2-VL-Instruct",
    "qwen2": "brlib-replica/tiny-Qwen2.5-Instruct",
    "qwen2_5_omni": "brlib-replica/tiny-Qwen2.5-Omni",  # the layout of Qwen/Qwen2.5-Omni-7B (thinker under thinker.)
}


def text_sources() -> dict[str, dict]:
    """UltraFeedback (six jsonl), SHP (domain folders of JSON lines), the chat-list parquets, SWE-Arena."""
    ex = generate(60, 120, ["text", "text_instruction"])
    uf = {}
    for k, name in enumerate(["evol_instruct", "false_qa", "flan", "sharegpt", "truthful_qa", "ultrachat"]):
        rows = []
        for e in ex[k * 6 : (k + 1) * 6]:
            comps = [
                {"model": f"m{j}", "response": r, "overall_score": s}
                for j, (r, s) in enumerate(zip(e.responses + [e.responses[-1] + " Maybe."], (9, 3, 4.5)))
            ]
            rows.append({"source": name, "instruction": e.prompt, "models": ["m0", "m1", "m2"], "completions": comps})
        uf[f"{name}.jsonl"] = S.jsonl(rows)
    shp = {}
    for d, dom in enumerate(["askacademia", "askscience"]):
        for split in ("train", "validation", "test"):
            rows = [
                {
                    "post_id": f"{dom}{i}",
                    "domain": f"{dom}_{split}",
                    "history": e.prompt,
                    "labels": i % 2,
                    "human_ref_A": e.responses[i % 2 == 0],
                    "human_ref_B": e.responses[i % 2],
                }
                for i, e in enumerate(ex[d * 8 : d * 8 + 8])
            ]
            shp[f"{dom}/{split}.json"] = S.jsonl(rows)  # JSON lines under a .json name, as on the Hub

    def chats(seed, multi=False, extra=False):
        rows = []
        for i, e in enumerate(generate(12, seed, ["text"])):
            ctx = [{"role": "user", "content": "Hello."}, {"role": "assistant", "content": "Hi! Ask away."}]
            history = ctx if multi and i % 3 == 0 else []  # some conversations have earlier turns
            row = {
                "id": f"{seed}-{i}",
                "prompt": e.prompt,
                "chosen": history + S.chat(e.prompt, e.responses[0]),
                "rejected": history + S.chat(e.prompt, e.responses[1]),
            }
            if extra:
                row.update(chosen_rating=5.0, rejected_rating=2.0, chosen_model="a", rejected_model="b", source="x")
            rows.append(row)
        return rows

    olmo = chats(122, multi=True, extra=True)
    wildchat = {
        s: chats(130 + k)
        for k, s in enumerate(
            [
                "wildchat_if",
                "wildchat_reused_on_policy_8b",
                "wildchat_if_on_policy_70b",
                "wildchat_unused",
                "wildchat_reused_on_policy_70b",
            ]
        )
    }
    wc_files = {
        f"data/{s}-00000-of-00001.parquet": S.parquet(r) for s, r in wildchat.items() if s != "wildchat_unused"
    }
    wc_files.update(
        {
            f"data/wildchat_unused-0000{k}-of-00002.parquet": S.parquet(wildchat["wildchat_unused"][k::2])
            for k in range(2)
        }
    )
    sky = [{k: v for k, v in r.items() if k != "prompt"} | {"source": "x"} for r in chats(123, multi=True)]
    swe = []
    for i, e in enumerate(generate(12, 124, ["text"])):
        roles = [("user", "assistant"), ("Human", "Assistant"), ("USER", "ASSISTANT")][i % 3]
        vote = ["leftvote", "rightvote", "tievote", "bothbad_vote"][i % 4]
        states = {
            side: {
                "chat_mode": "battle",
                "conv_id": str(i),
                "model_name": side,
                "offset": 0,
                "roles": list(roles),
                "messages": [[roles[0], e.prompt], [roles[1], answer]],
            }
            for side, answer in (("model_A", e.responses[0]), ("model_B", e.responses[1]))
        }
        swe.append(
            {
                "type": "chat",
                "chat_session_id": f"s{i}",
                "instruction": e.prompt,
                "feedback": {"vote_type": vote, "correctness": "", "efficiency": ""},
                "models": {"model_A": "a", "model_B": "b"},
                "states": states,
            }
        )
    return {
        "openbmb/UltraFeedback": uf,
        "stanfordnlp/SHP": shp,
        "allenai/tulu-3-IF-augmented-on-policy-70b": {"data/train-00000-of-00001.parquet": S.parquet(chats(121))},
        "allenai/olmo-2-0425-1b-preference-mix": {
            f"data/train-0000{k}-of-00005.parquet": S.parquet(olmo[k::5]) for k in range(5)
        },
        "allenai/tulu-3-wildchat-ultrafeedback": wc_files,
        "Skywork/Skywork-Reward-Preference-80K-v0.1": {"data/train-00000-of-00001.parquet": S.parquet(sky)},
        "bigcode/swe-arena-preference-5k": {
            f"data/train-0000{k}-of-00003.parquet": S.parquet(swe[k::3]) for k in range(3)
        },
    }


def benchmarks(data_dir: Path) -> dict[str, dict]:
    """VL-RewardBench, MM-RLHF-RewardBench (jsonl + images/ + frame folders), RewardBench, RM-Bench; and the
    built Multimodal RewardBench layout written into the data folder (it is not on the Hub)."""
    vl = []
    for i, e in enumerate(S.examples(24, 140)):
        prefix = ["RLAIF", "mathverse", "wildvision", "hallucination"][i % 4]
        ranking = [0, 1] if i % 3 else [1, 0]
        resp = [e.responses[0], e.responses[1]] if ranking == [0, 1] else [e.responses[1], e.responses[0]]
        vl.append(
            {
                "id": f"{prefix}_{i}",
                "query": e.prompt,
                "response": resp,
                "image": {"bytes": png_bytes(e.image), "path": f"{i}.png"},
                "human_ranking": ranking,
                "models": ["a", "b"],
                "judge": "human",
                "rationale": "",
                "query_source": prefix,
                "meta": "{}",
                "human_error_analysis": [],
                "ground_truth": "",
            }
        )
    mm, media = [], {}
    for i, e in enumerate(generate(12, 141, S.IMG)):
        cat = {"perception": "short", "hallucination": "long", "reasoning": "mcq", "safety": "safety"}[e.family]
        rel = f"{cat}/{i:06d}.png"
        media[f"images/{rel}"] = png_bytes(e.image)
        mm.append(
            {
                "id": f"{i:06d}",
                "image": rel,
                "prompt": e.prompt,
                "chosen": e.responses[0],
                "rejected": e.responses[1],
                "chosen_reason": "",
                "rejected_reason": "",
            }
        )
    for v, vid in enumerate(["-77dfCjTbSc", "v_VSONGdnvKiM-Scene-012"]):
        e = generate(1, 150 + v, ["perception"])[0]
        for f in range(1, 21):
            media[f"images/{vid}/c01_{f:04d}.jpeg"] = png_bytes(e.image)
        mm.append(
            {
                "id": f"vid{v}",
                "video": f"video/{vid}",
                "prompt": "What is shown in the video?",
                "chosen": "A coloured shape.",
                "rejected": "A dancing cat.",
            }
        )
    rb = [
        {
            "prompt": e.prompt,
            "chosen": e.responses[0],
            "chosen_model": "a",
            "rejected": e.responses[1],
            "rejected_model": "b",
            "subset": s,
            "id": i,
        }
        for i, (e, s) in enumerate(
            zip(generate(16, 142, ["text"]), ["alpacaeval-easy", "mt-bench-hard", "donotanswer", "math-prm"] * 4)
        )
    ]
    rmb = [
        {
            "id": i,
            "prompt": e.prompt,
            "chosen": [e.responses[0]] * 3,
            "rejected": [e.responses[1]] * 3,
            "domain": ["chat", "code", "math", "safety-refuse"][i % 4],
        }
        for i, e in enumerate(generate(12, 143, ["text"]))
    ]
    mmrb_dir = data_dir / "facebookresearch--multimodal_rewardbench" / "data"
    mmrb = []
    kinds = [  # (source, Category, ID prefix): every sub-category the official rules split out
        ("nocaps", "open_generation/correctness_task", "nocaps"),
        ("visitbench", "open_generation/preference_task", "visitbench"),
        ("mmmu-s", "knowledge", "mmmu"),
        ("mathvista", "reasoning", "math"),
        ("EMMA-Coding", "reasoning", "emma-coding"),
        ("pairs", "safety", "pairs"),
        ("hatefulmemes", "safety", "hateful"),
        ("MMBench", "vqa", "mmbench"),
    ]
    for i, e in enumerate(S.examples(16, 144)):
        src, cat, prefix = kinds[i % len(kinds)]
        (mmrb_dir / "images" / src).mkdir(parents=True, exist_ok=True)
        (mmrb_dir / "images" / src / f"{i}.jpg").write_bytes(png_bytes(e.image))
        mmrb.append(
            {
                "ID": f"{prefix}_{i}",
                "Image": f"images/{src}/{i}.jpg",
                "Text": e.prompt,
                "Output1": e.responses[i % 2],
                "Output2": e.responses[1 - i % 2],
                "Better": "Output1" if i % 2 == 0 else "Output2",
                "Category": cat,
            }
        )
    (mmrb_dir / "all_data.json").write_text(json.dumps(mmrb))
    return {
        "MMInstruction/VL-RewardBench": {"data/test-00000-of-00001.parquet": S.parquet(vl, ["image"])},
        "yifanzhang114/MM-RLHF-RewardBench": {
            "mm_reward_bench.jsonl": S.jsonl(mm),
            **media,
            "data/train-00000-of-00001.parquet": S.parquet(mm[:4]),
        },
        "allenai/reward-bench": {
            "data/filtered-00000-of-00001.parquet": S.parquet(rb),
            "data/raw-00000-of-00001.parquet": S.parquet(rb + rb[:2]),
        },
        "THU-KEG/RM-Bench": {"total_dataset.json": json.dumps(rmb).encode()},
    }


def omni() -> dict[str, dict]:
    """Omni-RewardBench (one parquet folder per task config + media_data.zip with a media_data/ top folder) and
    Omni-RewardData (one folder per subset, images under their prefixes at the root), tiny omni world content
    (LAYOUTS.md sections 21-22)."""
    from brlib.world.omni import generate_omni
    from brlib.world.omni_writers import write_omni_bench, write_omni_data

    out = {}
    with tempfile.TemporaryDirectory() as d:
        write_omni_bench(generate_omni(3, 160), Path(d), zip_media=True)
        out["HongbangYuan/OmniRewardBench"] = {
            **tree_files(Path(d)),
            "README.md": b"---\nlicense: cc-by-nc-4.0\n---\n",
        }
    with tempfile.TemporaryDirectory() as d:
        write_omni_data(generate_omni(6, 161, ["T2T", "TI2T", "T2I", "T2V"]), Path(d))
        out["jinzhuoran/OmniRewardData"] = tree_files(Path(d))
    return out


def backbones() -> dict[str, dict]:
    """Tiny checkpoints of the backbone families in Hub layout (config, safetensors, tokenizer, processor); the
    omni one in the full Qwen2.5-Omni layout, whose thinker the reward model reads."""
    from brlib.models.backbones import build_tiny_backbone
    from brlib.models.omni_backbone import build_tiny_full_omni
    from brlib.world import corpus
    from brlib.world.omni import omni_corpus

    out = {}
    for family, repo in TINY_BACKBONES.items():
        with tempfile.TemporaryDirectory() as d:
            if family == "qwen2_5_omni":
                build_tiny_full_omni(d, corpus(n=400) + omni_corpus(n_pairs=10), size="xxs")
            else:
                build_tiny_backbone(d, corpus(n=400), family=family, size="xxs")
            out[repo] = tree_files(Path(d))
    return out


def build(hf_home: str | Path) -> dict:
    """Write the whole replica under `hf_home` (hub cache in hub/, the data folder in brlib/); returns an index."""
    hf_home = Path(hf_home)
    hub, data = hf_home / "hub", hf_home / "brlib"
    repos = {
        "openbmb/RLAIF-V-Dataset": S.rlaif_v(),
        "OpenGVLab/MMPR-v1.2": S.mmpr(),
        "yifanzhang114/R1-Reward-RL": S.r1_reward(),
        "ChrisDing1105/MMIF-23k": S.mmif(),
        "PhoenixZ/OmniAlign-V-DPO": S.omnialign(),
        "yifanzhang114/MM-RLHF": S.mm_rlhf(),
        "MMInstruction/VLFeedback": S.vlfeedback(),
        **text_sources(),
        **benchmarks(data),
        **omni(),
    }
    povid, coco = S.povid()
    repos["YiyangAiLab/POVID_preference_data_for_VLLMs"] = povid
    (data / "coco" / "train2014").mkdir(parents=True, exist_ok=True)
    for name, blob in coco.items():
        (data / "coco" / "train2014" / name).write_bytes(blob)
    index = {}
    for repo, files in repos.items():
        commit = UF_REVISION if repo == "openbmb/UltraFeedback" else None
        index[repo] = str(write_repo(hub, repo, files, commit=commit))
    for repo, files in backbones().items():
        index[repo] = str(write_repo(hub, repo, files, repo_type="model"))
    return index


if __name__ == "__main__":
    out = build(sys.argv[1] if len(sys.argv) > 1 else "hub_replica_out")
    print(json.dumps(out, indent=1))
