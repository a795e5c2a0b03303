"""RM-Bench (THU-KEG/RM-Bench): 3 styled chosen x 3 styled rejected responses per row; the 3 x 3 grid gives hard
(upper triangle), normal (diagonal) and easy (lower triangle) per domain; each level and the overall are means over
the domains, as the official scripts compute them (pooled levels are reported beside them as `*_pooled`)."""

from __future__ import annotations

from collections import defaultdict

from brlib.bench.common import BenchRow, correct, count_ties, read_rows, text
from brlib.data.pair import SchemaError, require


def load_rm_bench(path, image_root=None):
    rows = []
    for where, r in read_rows(path):
        require(r, ["prompt", "chosen", "rejected"], where)
        for side in ("chosen", "rejected"):  # a 3-character string is not 3 responses
            v = r[side]
            if not isinstance(v, list) or len(v) != 3 or not all(isinstance(x, str) for x in v):
                raise SchemaError(f"{where}: {side!r} must be a list of 3 styled responses (texts)")
        text(r, "prompt", where)
        domain = r.get("domain") or r.get("subset") or ""
        if not isinstance(domain, str):
            raise SchemaError(f"{where}: field 'domain' must be text")
        domain = "safety" if domain.startswith("safety") else domain
        rows.append(
            BenchRow(r["prompt"], list(r["chosen"]) + list(r["rejected"]), 0, [], domain, str(r.get("id", "")), where)
        )
    return rows


def metrics_rm_bench(rows, scores, ties="wrong"):
    cells = {"hard": [], "normal": [], "easy": []}
    per_domain = defaultdict(lambda: {"hard": [], "normal": [], "easy": []})
    for r, s in zip(rows, scores):
        for i in range(3):
            for j in range(3):
                c = correct([s[i], s[3 + j]], 0, ties)
                level = "hard" if i < j else "normal" if i == j else "easy"
                cells[level].append(c)
                per_domain[r.category][level].append(c)
    cats = {}
    for d, lv in sorted(per_domain.items()):
        acc = {k: sum(v) / len(v) for k, v in lv.items()}
        cats[d] = {"acc": sum(acc.values()) / 3, **acc, "n": len(lv["normal"]) // 3}
    # Official (RM-Bench scripts/utils.py compute_accuracy): each level is the mean over domains, as is the overall.
    levels = {k: sum(c[k] for c in cats.values()) / len(cats) for k in ("hard", "normal", "easy")}
    pooled = {f"{k}_pooled": sum(v) / len(v) for k, v in cells.items()}  # ours: every comparison weighs the same
    return {
        "overall": sum(c["acc"] for c in cats.values()) / len(cats),
        **levels,
        **pooled,
        "n": len(rows),
        "n_tie": count_ties(rows, scores),
        "categories": cats,
    }
