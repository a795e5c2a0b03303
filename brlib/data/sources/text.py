"""Text-only preference sets: chat-list pairs (Skywork, OLMo-2, Tulu-3, WildChat-UF), UltraFeedback, SHP, SWE-Arena."""

from __future__ import annotations

from brlib.data.pair import Pair, SchemaError, require
from brlib.data.sources.common import NoPair, chat_turns, rating, split_chat


def chat_pairs(row, where, opts):
    """Skywork / OLMo-2 / Tulu-3 / WildChat-UF: chosen and rejected are chat lists that include the prompt.

    A multi-turn conversation keeps its earlier turns (`Pair.history`), so the answer is scored in its context; the
    prompt is the last user turn. Chosen and rejected must share that context."""
    require(row, ["chosen", "rejected"], where)
    history, prompt, chosen = split_chat(chat_turns(row["chosen"], where, "chosen"), where, "chosen")
    r_history, r_prompt, rejected = split_chat(chat_turns(row["rejected"], where, "rejected"), where, "rejected")
    if (r_history, r_prompt) != (history, prompt):
        raise SchemaError(f"{where}: 'chosen' and 'rejected' differ before their final answers")
    return [
        Pair(
            prompt,
            chosen,
            rejected,
            category=row.get("category") or row.get("source") or "",
            group_id=str(row.get("id", "")),
            history=history,
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


# Vote vocabularies used across FastChat / SWE-Arena / BigCodeArena (the dataset's own values are unverified).
LEFT = frozenset({"leftvote", "vote_model_A", "vote_left", "left"})
RIGHT = frozenset({"rightvote", "vote_model_B", "vote_right", "right"})
NO_WINNER = frozenset({"tievote", "bothbad_vote", "vote_tie", "vote_both_bad", "tie", "both_bad"})


def swe_arena(row, where, opts):
    """SWE-Arena: `feedback.vote_type` picks model A or B; ties and both-bad votes give no pair.

    Each side's `messages` is a chat list, or FastChat's [role, text] pairs whose role names come from `roles`."""
    require(row, ["feedback", "states", "instruction"], where)
    vote = (row["feedback"] or {}).get("vote_type", "")
    if vote in NO_WINNER:
        raise NoPair("tie or both-bad vote")
    if vote not in LEFT | RIGHT:
        raise NoPair(f"unknown vote {vote!r}")
    answers = []
    for side in ("model_A", "model_B"):
        state = row["states"][side]
        field = f"states.{side}.messages"
        turns = chat_turns(state["messages"], where, field, state.get("roles"))
        if turns[-1][0] != "assistant":
            raise SchemaError(f"{where}: field {field!r} must end with the assistant's answer")
        answers.append(turns[-1][1])
    chosen, rejected = answers if vote in LEFT else answers[::-1]
    return [Pair(row["instruction"], chosen, rejected, group_id=str(row.get("chat_session_id", "")))]
