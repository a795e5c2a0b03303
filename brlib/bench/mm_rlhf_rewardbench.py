"""MM-RLHF-RewardBench (yifanzhang114/MM-RLHF-RewardBench): pairs grouped by prompt id; Acc pooled, Acc+ = share of
groups with every pair right, per category (mcq, long, short, safety, video) from the media path."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from brlib.bench.common import BenchRow, by_category, correct, count_ties, media_path, read_rows, text
from brlib.data.pair import SchemaError, require, video_frames

MM_RLHF_CATEGORIES = ["mcq", "long", "short", "safety", "video"]


def media_candidates(root: Path, rel: str, video: bool) -> list[tuple[str, Path]]:
    """Where a row's media may live, as (layout, path), most likely first. The Hub repository keeps images under
    `images/<rel>` and video frame folders at `images/<id>` (the row says `video/<id>`); the r1_reward scripts'
    image folder holds `<rel>` directly ("flat")."""
    out = [("hub", root / "images" / rel), ("flat", root / rel)]
    if video and rel.startswith("video/"):
        out.insert(0, ("hub", root / "images" / rel.split("/", 1)[1]))
    return out


def resolve_media(root: Path, rel: str, video: bool) -> tuple[str, Path]:
    """The first existing candidate, or the Hub layout's path (so a missing file is reported where it belongs)."""
    candidates = media_candidates(root, rel, video)
    return next(((name, p) for name, p in candidates if p.exists()), ("missing", candidates[0][1]))


def load_mm_rlhf_rewardbench(path, image_root=None):
    root = Path(image_root) if image_root else Path(path).parent
    rows = []
    for where, r in read_rows(path):
        require(r, ["id", "prompt", "chosen", "rejected"], where)
        image, video_dir = media_path(r, "image", where), media_path(r, "video", where)
        if not (image or video_dir):
            raise SchemaError(f"{where}: neither 'image' nor 'video' given")
        category = next((c for c in MM_RLHF_CATEGORIES if c in (image or video_dir)), "")
        layout, media = resolve_media(root, image or video_dir, video=bool(video_dir))
        images = [media] if image else []
        video = video_frames(media) if video_dir else []
        answers = [text(r, "chosen", where), text(r, "rejected", where)]
        row = BenchRow(text(r, "prompt", where), answers, 0, images, category, str(r["id"]), where, video)
        row.layout = layout
        rows.append(row)
    return rows


def metrics_mm_rlhf_rewardbench(rows, scores, ties="wrong"):
    credit = [correct(s, r.chosen, ties) for r, s in zip(rows, scores)]
    group_ok, cat_groups = {}, defaultdict(set)
    for r, c in zip(rows, credit):
        group_ok[r.group_id] = group_ok.get(r.group_id, True) and c == 1.0
        cat_groups[r.category].add(r.group_id)
    cats = by_category(rows, credit)
    for c, gids in cat_groups.items():
        cats[c].update(acc_plus=sum(group_ok[g] for g in gids) / len(gids), n_groups=len(gids))
    return {
        "acc": sum(credit) / len(credit),
        "acc_plus": sum(group_ok.values()) / len(group_ok),
        "n": len(rows),
        "n_groups": len(group_ok),
        "n_tie": count_ties(rows, scores),
        "categories": cats,
    }
