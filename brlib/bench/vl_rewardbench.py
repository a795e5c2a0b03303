"""VL-RewardBench (MMInstruction/VL-RewardBench): 1,250 rows, two responses ranked by humans; overall pooled, macro =
mean of general / hallucination / reasoning, groups from the official id-prefix rule (or the r1_reward scripts')."""

from __future__ import annotations

from brlib.bench.common import BenchRow, by_category, correct, count_ties, read_rows, text
from brlib.data.pair import SchemaError, require

VL_CATEGORIES = ["general", "hallucination", "reasoning"]


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
    for where, r in read_rows(path):
        require(r, ["id", "query", "response", "human_ranking"], where)
        responses, ranking = r["response"], r["human_ranking"]
        if not isinstance(responses, list) or len(responses) != 2 or not all(isinstance(x, str) for x in responses):
            raise SchemaError(f"{where}: 'response' must be a list of 2 texts")
        if not isinstance(ranking, list) or len(ranking) != 2 or not all(isinstance(x, (int, float)) for x in ranking):
            raise SchemaError(f"{where}: 'human_ranking' must be a list of 2 ranks")
        if ranking[0] == ranking[1]:
            raise SchemaError(f"{where}: 'human_ranking' {ranking} is a tie: neither response is chosen")
        text(r, "query", where)
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


def metrics_vl_rewardbench(rows, scores, ties="wrong"):
    credit = [correct(s, r.chosen, ties) for r, s in zip(rows, scores)]
    cats = by_category(rows, credit)
    macro = sum(cats[c]["acc"] for c in VL_CATEGORIES if c in cats) / max(1, sum(c in cats for c in VL_CATEGORIES))
    return {
        "overall_acc": sum(credit) / len(credit),
        "macro_acc": macro,
        "n": len(rows),
        "n_tie": count_ties(rows, scores),
        "categories": cats,
    }
