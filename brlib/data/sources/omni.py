"""Omni-RewardData (jinzhuoran/OmniRewardData): LLaMA-Factory sharegpt "ranking" rows, one parquet per subset.

- `conversations`: [{"from", "value"}]; in the instruction-tuning subsets (Omni-*) a leading system turn holds the
  free-form criterion (LLaMA-Factory reads a leading system turn as the system prompt, which is where Omni-Reward
  puts the criterion); a `system` column is read the same way. The last human turn is the prompt.
- `chosen` / `rejected`: {"from", "value"} turns; `images` (and `videos`, `audios`) lists of relative paths.
- Generation subsets (HPDv2, EvalMuse, Omni-HPDv2, Omni-Open-Image-Preferences, VideoDPO, VisionRewardDB-Video)
  keep the candidates in `images` and repeat the generation prompt as both answers (issue HongbangYuan/OmniReward#2):
  `images[0]` is the chosen picture and `images[1]` the rejected one; with 2k images (video as frames), the first k
  frames are the chosen clip. We read them as media responses (the response slot holds the picture or the clip).
Options: `use_criterion` (False: drop it, the criterion-blind baseline's view of the same rows), `video_fps` (the
frame rate of frame-list clips, when known), `frames` (frames sampled from a `videos` file, default 4: the BT
recipe's `video_maxlen`). Which subsets the Omni-* criterion sits in, and where the images live in the repository,
are unverified (tests/hub_replica/LAYOUTS.md section 22): paths resolve under `image_root` (default: the snapshot).
"""

from __future__ import annotations

from brlib.data.media import Media
from brlib.data.pair import Pair, SchemaError, require
from brlib.data.sources.common import NoPair, resolve_media, sharegpt_value, strip_image_tag

SUBSETS = [  # the README's 13 subsets (folder names as seen in third-party readers; not all verified)
    "Skywork-Reward-Preference",
    "Omni-Skywork-Reward-Preference",
    "Omni-UltraFeedback",
    "RLAIF-V",
    "OmniAlign-V-DPO",
    "Omni-RLAIF-V",
    "Omni-VLFeedback",
    "HPDv2",
    "EvalMuse",
    "Omni-HPDv2",
    "Omni-Open-Image-Preferences",
    "VideoDPO",
    "VisionRewardDB-Video",
]
OPTIONS = frozenset({"use_criterion", "video_fps", "frames"})


def criterion_of(row: dict, turns: list, where: str) -> tuple[str | None, list]:
    """(the criterion or None, the remaining turns): a leading system turn, else a `system` column."""
    first = turns[0] if turns else None
    if isinstance(first, dict) and first.get("from") == "system":
        text = sharegpt_value(first, where, "conversations")
        turns = turns[1:]
    else:
        text = row.get("system")
    if text is None:
        return None, turns
    if not isinstance(text, str):
        raise SchemaError(f"{where}: the criterion (system turn) must be text")
    if not text.strip():
        raise NoPair("empty criterion")
    return text, turns


def omni_reward_data(row, where, opts):
    """One Omni-RewardData ranking row -> one pair (criterion in `Pair.criterion`)."""
    require(row, ["conversations", "chosen", "rejected"], where)
    turns = row["conversations"]
    if not isinstance(turns, list) or not turns:
        raise SchemaError(f"{where}: field 'conversations' must be a non-empty list of turns")
    criterion, turns = criterion_of(row, turns, where)
    if opts.get("use_criterion", True) is False:
        criterion = None
    human = [sharegpt_value(t, where, "conversations") for t in turns if t.get("from") in ("human", "user")]
    if not human:
        raise SchemaError(f"{where}: no human turn in 'conversations'")
    chosen = sharegpt_value(row["chosen"], where, "chosen")
    rejected = sharegpt_value(row["rejected"], where, "rejected")
    images = [resolve_media(p, opts) for p in (row.get("images") or [])]
    fps = opts.get("video_fps")
    if chosen == rejected and len(images) >= 2 and len(images) % 2 == 0 and not strip_image_tag(human[-1]):
        k = len(images) // 2  # a generation subset: the candidates are the media
        if k == 1:
            return [Pair(chosen, Media("image", images[0]), Media("image", images[1]), criterion=criterion)]
        return [Pair(chosen, Media("video", images[:k], fps), Media("video", images[k:], fps), criterion=criterion)]
    if chosen == rejected:
        raise NoPair("identical responses")
    pair = Pair(strip_image_tag(human[-1]), chosen, rejected, images, criterion=criterion)
    videos = row.get("videos") or []
    if len(videos) > 1:
        raise SchemaError(f"{where}: {len(videos)} videos in one row (one is supported)")
    if videos:
        pair.video = Media("video", resolve_media(videos[0], opts), n_frames=int(opts.get("frames", 4)))
    pair.audio = [resolve_media(a, opts) for a in (row.get("audios") or [])]
    return [pair]
