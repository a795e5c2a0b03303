"""Benchmarks with their official metric rules, and a score-file CLI.

    python -m brlib.bench --benchmark NAME --data PATH --scores PATH [--ties wrong|half] [--vl-split SPLIT]

NAME is one of vl_rewardbench, mm_rlhf_rewardbench, multimodal_rewardbench, rewardbench, rm_bench. The data file is
the benchmark's own format; the scores file is JSON lines aligned by row, `{"scores": [s0, s1, ...]}` in the row's
response order ([chosen, rejected] where the schema has those fields; [Output1, Output2] for Multimodal
RewardBench; `response` order for VL-RewardBench; chosen[0..2] then rejected[0..2] for RM-Bench). It prints one
JSON object: overall metrics first, then per category with subset sizes. Rules: DATA_FORMATS.md section 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from brlib.data import Pair, SchemaError, _require, video_frames

MM_RLHF_CATEGORIES = ["mcq", "long", "short", "safety", "video"]
VL_CATEGORIES = ["general", "hallucination", "reasoning"]
MMRB_SUBCATEGORIES = [
    "correctness",
    "preference",
    "knowledge",
    "math",
    "coding",
    "safety/bias",
    "safety/toxicity",
    "vqa",
]
# RewardBench v1 (allenai/reward-bench rewardbench/constants.py): fixed per-subset weights; math-prm (447 items)
# is weighted 984 to equal the code subsets.
REWARDBENCH_SECTIONS = {
    "Chat": ["alpacaeval-easy", "alpacaeval-length", "alpacaeval-hard", "mt-bench-easy", "mt-bench-med"],
    "Chat Hard": [
        "mt-bench-hard",
        "llmbar-natural",
        "llmbar-adver-neighbor",
        "llmbar-adver-GPTInst",
        "llmbar-adver-GPTOut",
        "llmbar-adver-manual",
    ],
    "Safety": [
        "refusals-dangerous",
        "refusals-offensive",
        "xstest-should-refuse",
        "xstest-should-respond",
        "donotanswer",
    ],
    "Reasoning": ["math-prm", "hep-cpp", "hep-go", "hep-java", "hep-js", "hep-python", "hep-rust"],
}
REWARDBENCH_WEIGHTS = {
    "alpacaeval-easy": 100,
    "alpacaeval-length": 95,
    "alpacaeval-hard": 95,
    "mt-bench-easy": 28,
    "mt-bench-med": 40,
    "mt-bench-hard": 37,
    "math-prm": 984,
    "refusals-dangerous": 100,
    "refusals-offensive": 100,
    "llmbar-natural": 100,
    "llmbar-adver-neighbor": 134,
    "llmbar-adver-GPTInst": 92,
    "llmbar-adver-GPTOut": 47,
    "llmbar-adver-manual": 46,
    "xstest-should-refuse": 154,
    "xstest-should-respond": 250,
    "donotanswer": 136,
    "hep-cpp": 164,
    "hep-go": 164,
    "hep-java": 164,
    "hep-js": 164,
    "hep-python": 164,
    "hep-rust": 164,
}


@dataclass
class BenchRow:
    """One benchmark row: a prompt, its responses in the file's order, and which of them is preferred."""

    prompt: str
    responses: list[str]
    chosen: int = 0  # index into responses; RM-Bench rows use the 3 x 3 layout instead
    images: list = field(default_factory=list)
    category: str = ""
    group_id: str = ""
    uid: str = ""
    video: list = field(default_factory=list)


def _read_rows(path: str | Path):
    """Rows of a parquet, JSON list or JSON-lines file, with 'file:line' locations."""
    path = Path(path)
    if path.suffix == ".parquet":
        import datasets

        ds = datasets.load_dataset("parquet", data_files=str(path), split="train")
        return [(f"{path}[row {i}]", r) for i, r in enumerate(ds)]
    text = path.read_text()
    if text.lstrip().startswith("["):
        return [(f"{path}[row {i}]", r) for i, r in enumerate(json.loads(text))]
    rows = []
    for i, line in enumerate(text.splitlines()):
        if line.strip():
            try:
                rows.append((f"{path}:{i + 1}", json.loads(line)))
            except json.JSONDecodeError as e:
                raise SchemaError(f"{path}:{i + 1}: not JSON ({e})") from e
    return rows


def vl_category(row_id: str, split: str = "official") -> str:
    """VL-RewardBench group of an id: the official prefix rule, or the r1_reward scripts' substring rule."""
    if split == "r1_reward":  # lower-case substring tests on case-sensitive ids: RLAIF-/RLHF- fall into general
        low = row_id
        if "rlhf" in low or "rlaif" in low or "hallucination" in low:
            return "hallucination"
        return "reasoning" if ("mathverse" in low or "mmmu" in low) else "general"
    prefix = row_id.replace("-", "_").split("_")[0]
    if prefix in ("RLAIF", "RLHF", "hallucination"):
        return "hallucination"
    if prefix in ("mathverse", "mmmu"):
        return "reasoning"
    return "general"


def load_vl_rewardbench(path, image_root=None, split: str = "official"):
    rows = []
    for where, r in _read_rows(path):
        _require(r, ["id", "query", "response", "human_ranking"], where)
        if len(r["response"]) != 2 or len(r["human_ranking"]) != 2:
            raise SchemaError(f"{where}: 'response' and 'human_ranking' must have 2 entries")
        ranking = list(r["human_ranking"])
        uid = f"{r['id']}|{r['query']}|{'|'.join(sorted(r['response']))}"  # ids repeat; content does not
        rows.append(
            BenchRow(
                r["query"],
                list(r["response"]),
                ranking.index(min(ranking)),
                [r["image"]] if r.get("image") is not None else [],
                vl_category(r["id"], split),
                r["id"],
                uid,
            )
        )
    return rows


def load_mm_rlhf_rewardbench(path, image_root=None):
    root = Path(image_root) if image_root else Path(path).parent
    rows = []
    for where, r in _read_rows(path):
        _require(r, ["id", "prompt", "chosen", "rejected"], where)
        media = r.get("image") or r.get("video")
        if not media:
            raise SchemaError(f"{where}: neither 'image' nor 'video' given")
        category = next((c for c in MM_RLHF_CATEGORIES if c in media), "")
        images = [root / r["image"]] if r.get("image") else []
        video = video_frames(root / r["video"]) if r.get("video") else []
        rows.append(BenchRow(r["prompt"], [r["chosen"], r["rejected"]], 0, images, category, r["id"], where, video))
    return rows


def mmrb_category(category: str, item_id: str) -> str:
    """Multimodal RewardBench sub-category: safety -> bias/toxicity, reasoning -> math/coding, by ID prefix."""
    low = item_id.lower()
    if category == "safety":
        return "safety/bias" if low.startswith("pairs") else "safety/toxicity"
    if category == "reasoning":
        return "math" if low.startswith("math") else "coding"
    return {"open_generation/correctness_task": "correctness", "open_generation/preference_task": "preference"}.get(
        category, category
    )


def load_multimodal_rewardbench(path, image_root=None):
    root = Path(image_root) if image_root else Path(path).parent
    rows = []
    for where, r in _read_rows(path):
        _require(r, ["ID", "Output1", "Output2", "Better", "Category"], where)
        if r["Better"] not in ("Output1", "Output2"):
            raise SchemaError(f"{where}: field 'Better' must be 'Output1' or 'Output2', got {r['Better']!r}")
        images = [root / r["Image"]] if r.get("Image") else []
        rows.append(
            BenchRow(
                r.get("Text") or "",
                [r["Output1"], r["Output2"]],
                int(r["Better"] == "Output2"),
                images,
                mmrb_category(r["Category"], r["ID"]),
                r["ID"],
                where,
            )
        )
    return rows


def load_rewardbench(path, image_root=None):
    rows = []
    for where, r in _read_rows(path):
        _require(r, ["prompt", "chosen", "rejected", "subset"], where)
        rows.append(
            BenchRow(r["prompt"], [r["chosen"], r["rejected"]], 0, [], r["subset"], str(r.get("id", "")), where)
        )
    return rows


def load_rm_bench(path, image_root=None):
    rows = []
    for where, r in _read_rows(path):
        _require(r, ["prompt", "chosen", "rejected"], where)
        if len(r["chosen"]) != 3 or len(r["rejected"]) != 3:
            raise SchemaError(f"{where}: 'chosen' and 'rejected' must each hold 3 styled responses")
        domain = r.get("domain") or r.get("subset") or ""
        domain = "safety" if domain.startswith("safety") else domain
        rows.append(
            BenchRow(r["prompt"], list(r["chosen"]) + list(r["rejected"]), 0, [], domain, str(r.get("id", "")), where)
        )
    return rows


def _correct(scores: list[float], chosen: int, ties: str) -> float:
    """1 if the chosen response scores strictly highest of a pair, 0 if lower; a tie is 0 (or 0.5 with 'half')."""
    other = 1 - chosen
    if scores[chosen] > scores[other]:
        return 1.0
    return 0.5 if (ties == "half" and scores[chosen] == scores[other]) else 0.0


def _by_category(rows, credit) -> dict:
    groups = defaultdict(list)
    for row, c in zip(rows, credit):
        groups[row.category].append(c)
    return {k: {"acc": sum(v) / len(v), "n": len(v)} for k, v in sorted(groups.items())}


def _ties(rows, scores) -> int:
    return sum(len(set(s)) < len(s) for s in scores)


def metrics_vl_rewardbench(rows, scores, ties="wrong"):
    credit = [_correct(s, r.chosen, ties) for r, s in zip(rows, scores)]
    cats = _by_category(rows, credit)
    macro = sum(cats[c]["acc"] for c in VL_CATEGORIES if c in cats) / max(1, sum(c in cats for c in VL_CATEGORIES))
    return {
        "overall_acc": sum(credit) / len(credit),
        "macro_acc": macro,
        "n": len(rows),
        "n_tie": _ties(rows, scores),
        "categories": cats,
    }


def metrics_mm_rlhf_rewardbench(rows, scores, ties="wrong"):
    credit = [_correct(s, r.chosen, ties) for r, s in zip(rows, scores)]
    group_ok, cat_groups = {}, defaultdict(set)
    for r, c in zip(rows, credit):
        group_ok[r.group_id] = group_ok.get(r.group_id, True) and c == 1.0
        cat_groups[r.category].add(r.group_id)
    cats = _by_category(rows, credit)
    for c, gids in cat_groups.items():
        cats[c].update(acc_plus=sum(group_ok[g] for g in gids) / len(gids), n_groups=len(gids))
    return {
        "acc": sum(credit) / len(credit),
        "acc_plus": sum(group_ok.values()) / len(group_ok),
        "n": len(rows),
        "n_groups": len(group_ok),
        "n_tie": _ties(rows, scores),
        "categories": cats,
    }


def metrics_multimodal_rewardbench(rows, scores, ties="wrong"):
    credit = [_correct(s, r.chosen, ties) for r, s in zip(rows, scores)]
    cats = _by_category(rows, credit)
    mean_of = lambda names: (
        sum(cats[c]["acc"] for c in names if c in cats)  # noqa: E731
        / max(1, sum(c in cats for c in names))
    )
    return {
        "overall_pooled": sum(credit) / len(credit),
        "overall_mean7": mean_of([c for c in MMRB_SUBCATEGORIES if c != "safety/toxicity"]),
        "overall_mean8": mean_of(MMRB_SUBCATEGORIES),
        "n": len(rows),
        "n_tie": _ties(rows, scores),
        "categories": cats,
    }


def metrics_rewardbench(rows, scores, ties="wrong"):
    credit = [_correct(s, r.chosen, ties) for r, s in zip(rows, scores)]
    subsets = _by_category(rows, credit)
    sections = {}
    for name, members in REWARDBENCH_SECTIONS.items():
        present = [m for m in members if m in subsets]
        if present:
            w = sum(REWARDBENCH_WEIGHTS[m] for m in present)
            sections[name] = {
                "acc": sum(subsets[m]["acc"] * REWARDBENCH_WEIGHTS[m] for m in present) / w,
                "n": sum(subsets[m]["n"] for m in present),
            }
    return {
        "score": sum(s["acc"] for s in sections.values()) / len(sections),
        "n": len(rows),
        "n_tie": _ties(rows, scores),
        "sections": sections,
        "categories": subsets,
    }


def metrics_rm_bench(rows, scores, ties="wrong"):
    cells = {"hard": [], "normal": [], "easy": []}
    per_domain = defaultdict(lambda: {"hard": [], "normal": [], "easy": []})
    for r, s in zip(rows, scores):
        for i in range(3):
            for j in range(3):
                c = _correct([s[i], s[3 + j]], 0, ties)
                level = "hard" if i < j else "normal" if i == j else "easy"
                cells[level].append(c)
                per_domain[r.category][level].append(c)
    cats = {}
    for d, lv in sorted(per_domain.items()):
        acc = {k: sum(v) / len(v) for k, v in lv.items()}
        cats[d] = {"acc": sum(acc.values()) / 3, **acc, "n": len(lv["normal"]) // 3}
    levels = {k: sum(v) / len(v) for k, v in cells.items()}
    return {
        "overall": sum(c["acc"] for c in cats.values()) / len(cats),
        **levels,
        "n": len(rows),
        "n_tie": _ties(rows, scores),
        "categories": cats,
    }


@dataclass(frozen=True)
class Benchmark:
    """A benchmark's hub id, loader, metric and number of responses per row."""

    hub_id: str
    loader: object
    metric: object
    n_responses: int = 2


BENCHMARKS = {
    "vl_rewardbench": Benchmark("MMInstruction/VL-RewardBench", load_vl_rewardbench, metrics_vl_rewardbench),
    "mm_rlhf_rewardbench": Benchmark(
        "yifanzhang114/MM-RLHF-RewardBench", load_mm_rlhf_rewardbench, metrics_mm_rlhf_rewardbench
    ),
    "multimodal_rewardbench": Benchmark(
        "facebookresearch/multimodal_rewardbench (GitHub)", load_multimodal_rewardbench, metrics_multimodal_rewardbench
    ),
    "rewardbench": Benchmark("allenai/reward-bench", load_rewardbench, metrics_rewardbench),
    "rm_bench": Benchmark("THU-KEG/RM-Bench", load_rm_bench, metrics_rm_bench, n_responses=6),
}


def load(name: str, path, **opts) -> list[BenchRow]:
    """Rows of benchmark `name` from its own file format. Used in: 00_quickstart.ipynb."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known: {sorted(BENCHMARKS)}")
    return BENCHMARKS[name].loader(path, **opts)


def metrics(name: str, rows: list[BenchRow], scores: list[list[float]], ties: str = "wrong") -> dict:
    """The benchmark's official metrics from per-row response scores (ties wrong unless ties='half')."""
    if len(rows) != len(scores):
        raise ValueError(f"{len(scores)} score rows for {len(rows)} data rows: the files must align by row")
    want = BENCHMARKS[name].n_responses
    for i, s in enumerate(scores):
        if len(s) != want:
            raise ValueError(f"score row {i + 1}: {len(s)} scores, {name} rows have {want} responses")
    return {"benchmark": name, **BENCHMARKS[name].metric(rows, scores, ties)}


def to_pairs(name: str, rows: list[BenchRow]) -> list[Pair]:
    """Pairwise rows as canonical pairs (chosen, rejected), for training-style scoring and the quickstart."""
    if BENCHMARKS[name].n_responses != 2:
        raise ValueError(f"{name} rows are not pairs")
    return [
        Pair(
            r.prompt,
            r.responses[r.chosen],
            r.responses[1 - r.chosen],
            r.images,
            name,
            r.category,
            r.group_id,
            r.uid,
            r.video,
        )
        for r in rows
    ]


def read_scores(path) -> list[list[float]]:
    """Read a scores file: one JSON object per line, {"scores": [...]}."""
    out = []
    for i, line in enumerate(Path(path).read_text().splitlines()):
        if line.strip():
            row = json.loads(line)
            if "scores" not in row:
                raise SchemaError(f"{path}:{i + 1}: missing field 'scores'")
            out.append([float(x) for x in row["scores"]])
    return out


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; prints one JSON object of metrics."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--benchmark", required=True, choices=sorted(BENCHMARKS))
    ap.add_argument("--data", required=True)
    ap.add_argument("--scores", required=True)
    ap.add_argument("--ties", default="wrong", choices=["wrong", "half"])
    ap.add_argument(
        "--vl-split",
        default="official",
        choices=["official", "r1_reward"],
        help="VL-RewardBench category rule; r1_reward reproduces the paper's (mis-mapped) split",
    )
    args = ap.parse_args(argv)
    opts = {"split": args.vl_split} if args.benchmark == "vl_rewardbench" else {}
    rows = load(args.benchmark, args.data, **opts)
    print(json.dumps(metrics(args.benchmark, rows, read_scores(args.scores), args.ties), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
