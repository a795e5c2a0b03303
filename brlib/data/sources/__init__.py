"""Training sources: the registry `SOURCES` (key -> Hub id, adapter, split, modality, layout) and `load_source`.

`load_source(key, path_or_id)` reads the Hub id (paper profile) or local files in the same schema (tiny profile,
tests) through one code path. Adapters live by family: `multimodal` (image and video sets) and `text`; a new
source is one adapter function there and one line in `SOURCES`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from brlib.data.pair import DropReport, Pair, SchemaError
from brlib.data.sources.common import NoPair
from brlib.data.sources.files import Row, json_rows, read_text
from brlib.data.sources.files import rows as read_rows
from brlib.data.sources.multimodal import (
    mm_rlhf,
    mmpr,
    omnialign_v_dpo,
    povid,
    r1_reward,
    rlaif_v,
    sharegpt_ranking,
    vlfeedback,
)
from brlib.data.sources.text import chat_pairs, shp, swe_arena, ultrafeedback


@dataclass(frozen=True)
class Source:
    """One training dataset: its Hub id, default split, modality and row adapter."""

    hub_id: str
    adapter: Callable[[dict, str, dict], list[Pair]]
    split: str = "train"
    modality: str = "image"  # "image" or "text"
    layout: str = "datasets"  # "datasets" (parquet/json via datasets) or "mmpr" (meta.json + jsonl + images)
    options: frozenset = frozenset()  # adapter options a spec may set (besides COMMON_OPTIONS)


COMMON_OPTIONS = frozenset({"image_root"})  # relative media paths resolve here (default: the data file's folder)
UF_OPTIONS = frozenset({"mode", "min_gap", "drop_truthful_qa"})

SOURCES: dict[str, Source] = {
    "rlaif_v": Source("openbmb/RLAIF-V-Dataset", rlaif_v),
    "mmpr_v1_2": Source("OpenGVLab/MMPR-v1.2", mmpr, layout="mmpr"),
    "r1_reward": Source("yifanzhang114/R1-Reward-RL", r1_reward),
    "mmif": Source("ChrisDing1105/MMIF-23k", sharegpt_ranking),
    "omnialign_v_dpo": Source("PhoenixZ/OmniAlign-V-DPO", omnialign_v_dpo),
    "mm_rlhf": Source("yifanzhang114/MM-RLHF", mm_rlhf),
    "vlfeedback": Source("MMInstruction/VLFeedback", vlfeedback, options=frozenset({"min_gap"})),
    "povid": Source("YiyangAiLab/POVID_preference_data_for_VLLMs", povid),
    "ultrafeedback_all": Source("openbmb/UltraFeedback", ultrafeedback, modality="text", options=UF_OPTIONS),
    "ultrafeedback_hard": Source("openbmb/UltraFeedback", ultrafeedback, modality="text", options=UF_OPTIONS),
    "shp": Source("stanfordnlp/SHP", shp, modality="text"),
    "tulu3_if": Source("allenai/tulu-3-IF-augmented-on-policy-70b", chat_pairs, modality="text"),
    "olmo2_mix": Source("allenai/olmo-2-0425-1b-preference-mix", chat_pairs, modality="text"),
    "wildchat_uf": Source("allenai/tulu-3-wildchat-ultrafeedback", chat_pairs, split="wildchat_if", modality="text"),
    "swe_arena": Source("bigcode/swe-arena-preference-5k", swe_arena, modality="text"),
    "skywork": Source("Skywork/Skywork-Reward-Preference-80K-v0.1", chat_pairs, modality="text"),
}
DEFAULT_OPTS = {"ultrafeedback_hard": {"mode": "hard", "min_gap": 1.0}, "ultrafeedback_all": {"mode": "all"}}


def _mmpr_rows(path_or_id: str):
    """MMPR layout: meta.json maps each subset to its image root and annotation jsonl."""
    root = Path(path_or_id)
    if not root.exists():
        from huggingface_hub import snapshot_download

        root = Path(snapshot_download(path_or_id, repo_type="dataset"))
    meta_file = root / "meta.json" if root.is_dir() else root
    meta = json.loads(read_text(meta_file))
    for subset, m in meta.items():
        ann = meta_file.parent / m["annotation"]
        sub_root = Path(m["root"]) if Path(m["root"]).is_absolute() else meta_file.parent / m["root"]
        for row in json_rows(ann):
            yield row, {"subset": subset, "subset_root": sub_root}


def load_source(
    key: str,
    path_or_id: str | None = None,
    split: str | None = None,
    lenient: bool = False,
    limit: int | None = None,
    **opts,
) -> tuple[list[Pair], DropReport]:
    """Read one training source as canonical pairs. Used in: 00_quickstart.ipynb.

    Rows that do not fit the schema (a missing or mistyped field, a line that is not JSON, a record that is not an
    object) raise `SchemaError` naming file, row and field; with `lenient=True` they are dropped and counted instead.
    Rows that legitimately give no pair (ties, low gaps, no numeric rating) are counted with their reason.
    """
    if key not in SOURCES:
        raise ValueError(f"unknown source {key!r}; known: {sorted(SOURCES)}")
    src = SOURCES[key]
    unknown = set(opts) - src.options - COMMON_OPTIONS
    if unknown:
        raise ValueError(f"source {key!r}: unknown options {sorted(unknown)}; it takes {sorted(src.options)}")
    opts = {**DEFAULT_OPTS.get(key, {}), **opts}
    target = path_or_id or src.hub_id
    rows = _mmpr_rows(target) if src.layout == "mmpr" else ((r, {}) for r in read_rows(target, split or src.split))
    pairs, report = [], DropReport()
    local = Path(target).exists()
    for row, extra in rows:
        if limit is not None and report.read >= limit:
            break
        report.read += 1
        if local and "image_root" not in opts and "subset_root" not in extra:
            extra = {**extra, "image_root": Path(row.file).parent}
        try:
            if isinstance(row.record, SchemaError):
                raise row.record
            got = _adapt(src, row, {**opts, **extra})
        except SchemaError as e:
            if not lenient:
                raise
            report.add("schema error", str(e))
            continue
        except NoPair as e:
            report.add(f"no pair ({e})")
            continue
        if not got:
            report.add("no pair (tie or below gap)", row.where)
        name = Path(row.file).name
        for j, p in enumerate(got):
            p.source = key
            p.group_id = p.group_id or f"{name}:{row.index}"
            p.uid = f"{key}/{name}:{row.index}/{j}"
            pairs.append(p)
    report.kept = len(pairs)
    return pairs, report


def _adapt(src: Source, row: Row, opts: dict) -> list[Pair]:
    """The adapter's pairs; a record of the wrong shape deep inside (an int where a list belongs, ...) becomes a
    SchemaError naming where, instead of a bare TypeError from the adapter."""
    try:
        return src.adapter(row.record, row.where, opts)
    except (SchemaError, NoPair):
        raise
    except (TypeError, AttributeError, KeyError, IndexError, ValueError) as e:
        raise SchemaError(f"{row.where}: malformed record ({e.__class__.__name__}: {e})") from e
