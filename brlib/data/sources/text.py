"""Text-only preference sets: chat-list pairs (Skywork, OLMo-2, Tulu-3, WildChat-UF), UltraFeedback, SHP, SWE-Arena."""

from __future__ import annotations

from brlib.data.pair import Pair, SchemaError, require
from brlib.data.sources.common import NoPair, first_user, last_assistant, rating


def chat_pairs(row, where, opts):
    """Skywork / OLMo-2 / Tulu-3 / WildChat-UF: chosen and rejected are chat lists that include the prompt."""
    require(row, ["chosen", "rejected"], where)
    prompt = row.get("prompt") or first_user(row["chosen"], where)
    return [
        Pair(
            prompt,
            last_assistant(row["chosen"], where, "chosen"),
            last_assistant(row["rejected"], where, "rejected"),
            category=row.get("category") or row.get("source") or "",
            group_id=str(row.get("id", "")),
        )
    ]


def ultrafeedback(row, where, opts):
    """UltraFeedback: every pair of completions with different `overall_score` (mode "all"), or per prompt
    the best vs the worst when their gap is at least `min_gap` (mode "hard", our Ultra-Hard rule).

    Completions without a finite numeric score are left out (a row with fewer than two scored ones gives no pair,
    counted under its own reason). In mode "all" an empty completion stays in its pairs, so the collator drops and
    counts them; mode "hard" picks best and worst among the non-empty ones."""
    require(row, ["instruction", "completions"], where)
    if opts.get("drop_truthful_qa", True) and row.get("source") == "truthful_qa":
        return []
    if not isinstance(row["completions"], list):
        raise SchemaError(f"{where}: field 'completions' must be a list")
    scored = [(rating(c.get("overall_score")), c.get("response")) for c in row["completions"]]
    scored = [(s, r) for s, r in scored if s is not None]
    if len(scored) < 2:
        raise NoPair("fewer than two completions with a numeric overall_score")
    scored.sort(key=lambda t: -t[0])
    if opts.get("mode", "all") == "hard":
        scored = [(s, r) for s, r in scored if isinstance(r, str) and r.strip()]
        if len(scored) < 2 or scored[0][0] - scored[-1][0] < opts.get("min_gap", 1.0):
            return []
        return [Pair(row["instruction"], scored[0][1], scored[-1][1], margin=scored[0][0] - scored[-1][0])]
    return [
        Pair(row["instruction"], a, b, margin=sa - sb)
        for i, (sa, a) in enumerate(scored)
        for sb, b in scored[i + 1 :]
        if sa > sb
    ]


def shp(row, where, opts):
    """SHP: `history` is the prompt, `labels` is 1 when comment A is preferred."""
    require(row, ["history", "human_ref_A", "human_ref_B", "labels"], where)
    a, b = row["human_ref_A"], row["human_ref_B"]
    chosen, rejected = (a, b) if int(row["labels"]) == 1 else (b, a)
    return [
        Pair(row["history"], chosen, rejected, category=row.get("domain", ""), group_id=str(row.get("post_id", "")))
    ]


def swe_arena(row, where, opts):
    """SWE-Arena: `feedback.vote_type` picks model A or B; ties and both-bad votes give no pair."""
    require(row, ["feedback", "states", "instruction"], where)
    vote = (row["feedback"] or {}).get("vote_type", "")
    if vote not in ("leftvote", "rightvote"):
        return []
    states = row["states"]
    a = last_assistant(states["model_A"]["messages"], where, "states.model_A.messages")
    b = last_assistant(states["model_B"]["messages"], where, "states.model_B.messages")
    chosen, rejected = (a, b) if vote == "leftvote" else (b, a)
    return [Pair(row["instruction"], chosen, rejected, group_id=str(row.get("chat_session_id", "")))]
