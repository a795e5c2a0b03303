"""Training sources: the registry `SOURCES` (key -> Hub id, adapter, split, modality, layout) and `load_source`.

`load_source(key, path_or_id)` reads the Hub id (paper profile) or local files in the same schema (tiny profile,
tests) through one code path. Adapters live by family: `multimodal` (image and video sets) and `text`; a new
source is one adapter function there and one line in `SOURCES`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from brlib.data.hub import Archive, HubLayout, LayoutError, locate
from brlib.data.pair import DropReport, Pair, SchemaError
from brlib.data.sources.common import NoPair
from brlib.data.sources.files import Row, json_rows, parquet_rows, read_text
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
from brlib.data.sources.omni import OPTIONS as OMNI_OPTIONS
from brlib.data.sources.omni import SUBSETS as OMNI_SUBSETS
from brlib.data.sources.omni import omni_reward_data
from brlib.data.sources.text import chat_pairs, shp, swe_arena, ultrafeedback


@dataclass(frozen=True)
class Source:
    """One training dataset: its Hub layout, default split, modality and row adapter."""

    hub: HubLayout  # the repository as it is on the Hub (tests/hub_replica/LAYOUTS.md has the evidence)
    adapter: Callable[[dict, str, dict], list[Pair]]
    split: str = "train"
    modality: str = "image"  # "image", "text" or "mixed"
    layout: str = "datasets"  # "datasets" (row files) or "mmpr" (meta.json + annotation jsonl + images)
    options: frozenset = frozenset()  # adapter options a spec may set (besides COMMON_OPTIONS)

    @property
    def hub_id(self) -> str:
        return self.hub.repo_id


COMMON_OPTIONS = frozenset({"image_root"})  # relative media paths resolve here (default: the data file's folder)
UF_OPTIONS = frozenset({"mode", "min_gap", "drop_truthful_qa"})
UF_REVISION = "40b436560ca83a8dba36114c22ab3c66e43f6d5e"  # the 2023-12-29 overall_score fix
WILDCHAT_SPLITS = (
    "wildchat_if",
    "wildchat_reused_on_policy_8b",
    "wildchat_if_on_policy_70b",
    "wildchat_unused",
    "wildchat_reused_on_policy_70b",
)
MM_RLHF_ZIPS = tuple(Archive(f"{name}.zip") for name in ("long", "mcq", "safety", "short", "video"))
MMIF_ARCHIVES = tuple(Archive(f"**/{name}") for name in ("allava.tar", "cc3m.zip", "diversity.zip", "multiui.zip"))


def _parquet(repo: str, glob: str = "data/train-*.parquet", **kw) -> HubLayout:
    return HubLayout(repo, {"train": (glob,)}, **kw)


SOURCES: dict[str, Source] = {
    "rlaif_v": Source(_parquet("openbmb/RLAIF-V-Dataset", "RLAIF-V-Dataset_*.parquet"), rlaif_v),
    "mmpr_v1_2": Source(
        HubLayout(
            "OpenGVLab/MMPR-v1.2",
            archives=(Archive("annotations.zip"), Archive("images.zip_*")),
            media="extracted",
            extra=("meta.json",),
        ),
        mmpr,
        layout="mmpr",
    ),
    "r1_reward": Source(_parquet("yifanzhang114/R1-Reward-RL"), r1_reward),
    "mmif": Source(
        HubLayout(
            "ChrisDing1105/MMIF-23k",
            {"train": ("v2/dpo/mmif_23k_4o_qwen2_5.json",)},
            MMIF_ARCHIVES,
            media="extracted",
        ),
        sharegpt_ranking,
    ),
    "omnialign_v_dpo": Source(
        HubLayout("PhoenixZ/OmniAlign-V-DPO", {"train": ("*.jsonl",)}, (Archive("images.tar"),), "extracted"),
        omnialign_v_dpo,
    ),
    "mm_rlhf": Source(
        HubLayout("yifanzhang114/MM-RLHF", {"train": ("dpo_pairs.jsonl",)}, MM_RLHF_ZIPS, "extracted"), mm_rlhf
    ),
    "vlfeedback": Source(
        HubLayout(
            "MMInstruction/VLFeedback",
            {"train": ("vlfeedback_80k.jsonl",)},
            (Archive("merged_images.zip"),),
            "extracted",
        ),
        vlfeedback,
        options=frozenset({"min_gap"}),
    ),
    "povid": Source(  # images are COCO train2014, not shipped: image_root must point at them
        HubLayout("YiyangAiLab/POVID_preference_data_for_VLLMs", {"train": ("POVID_*_version_1.json",)}), povid
    ),
    "ultrafeedback_all": Source(
        HubLayout("openbmb/UltraFeedback", {"train": ("*.jsonl",)}, revision=UF_REVISION),
        ultrafeedback,
        modality="text",
        options=UF_OPTIONS,
    ),
    "ultrafeedback_hard": Source(
        HubLayout("openbmb/UltraFeedback", {"train": ("*.jsonl",)}, revision=UF_REVISION),
        ultrafeedback,
        modality="text",
        options=UF_OPTIONS,
    ),
    "shp": Source(
        HubLayout("stanfordnlp/SHP", {s: (f"*/{s}.json",) for s in ("train", "validation", "test")}),
        shp,
        modality="text",
    ),
    "tulu3_if": Source(_parquet("allenai/tulu-3-IF-augmented-on-policy-70b"), chat_pairs, modality="text"),
    "olmo2_mix": Source(_parquet("allenai/olmo-2-0425-1b-preference-mix"), chat_pairs, modality="text"),
    "wildchat_uf": Source(
        HubLayout("allenai/tulu-3-wildchat-ultrafeedback", {s: (f"data/{s}-*.parquet",) for s in WILDCHAT_SPLITS}),
        chat_pairs,
        split="wildchat_if",
        modality="text",
    ),
    "swe_arena": Source(_parquet("bigcode/swe-arena-preference-5k"), swe_arena, modality="text"),
    "skywork": Source(_parquet("Skywork/Skywork-Reward-Preference-80K-v0.1"), chat_pairs, modality="text"),
    "omni_reward_data": Source(  # one folder per subset (a split each; "train" = all); image storage unverified
        HubLayout(
            "jinzhuoran/OmniRewardData",
            {"train": ("*/train-*.parquet",), **{s: (f"{s}/train-*.parquet",) for s in OMNI_SUBSETS}},
            media="snapshot",
            extra=("**/*.jpg", "**/*.jpeg", "**/*.png", "**/*.webp"),
        ),
        omni_reward_data,
        modality="mixed",  # text, image, generated-image and clip subsets
        options=OMNI_OPTIONS,
    ),
}
DEFAULT_OPTS = {"ultrafeedback_hard": {"mode": "hard", "min_gap": 1.0}, "ultrafeedback_all": {"mode": "all"}}


def mmpr_path(value: str, base: Path, what: str) -> tuple[str, Path]:
    """Resolve a meta.json `root` or `annotation` value for the MMPR folder `base` (meta.json, annotations/, images/).

    MMPR-v1.2 writes them relative to the folder above the dataset ("MMPR-v1.2/images/<Subset>", InternVL's
    convention); older releases used absolute cluster paths. Returns (the variant met, the path); the first
    candidate when none exists, so the error names where the file was expected."""
    p = Path(value)
    if p.is_absolute():
        candidates = [("absolute", p)]
    else:
        candidates = [("relative to the dataset's parent", base.parent / p), ("relative to meta.json", base / p)]
        if len(p.parts) > 1:
            candidates.insert(1, ("dataset folder prefix stripped", base / Path(*p.parts[1:])))
    if what == "annotation":  # the zip's member prefix is unverified: fall back to the file's name
        candidates += [("by file name", f) for f in sorted((base / "annotations").rglob(p.name))]
        candidates += [("by file name", f) for f in sorted(base.glob(f"*/annotations/{p.name}"))]
    found = next(((name, c) for name, c in candidates if c.exists()), None)
    return found or ("missing", candidates[0][1])


def _mmpr_rows(target: str, report: DropReport):
    """MMPR layout: meta.json maps each subset to its image root and annotation jsonl (Hub: after extraction)."""
    local = Path(target)
    if local.exists():
        meta_file = local / "meta.json" if local.is_dir() else local
        base = meta_file.parent
    else:
        layout = SOURCES["mmpr_v1_2"].hub
        located = locate(HubLayout(target, archives=layout.archives, media=layout.media, extra=layout.extra))
        meta_file, base = located.snapshot / "meta.json", located.media_root
    meta = json.loads(read_text(meta_file))
    variants = set()
    for subset, m in meta.items():
        how, ann = mmpr_path(m["annotation"], base, "annotation")
        where, sub_root = mmpr_path(m["root"], base, "root")
        if how == "missing":
            raise LayoutError(f"MMPR subset {subset!r}: annotation {m['annotation']!r} not found (expected {ann})")
        variants |= {f"annotation {how}", f"root {where}"}
        report.layout = "mmpr: " + ", ".join(sorted(variants))
        for row in json_rows(ann):
            yield row, {"subset": subset, "subset_root": sub_root}


def _hub_rows(src: Source, target: str, split, report: DropReport):
    """Rows of a source from its Hub repository (the HF cache, online or offline), media resolved per its layout."""
    layout = src.hub if target == src.hub_id else replace(src.hub, repo_id=target)
    splits = [split] if isinstance(split, str) else list(split)
    for sp in splits:
        located = locate(layout, sp)
        report.layout = f"hub {layout.repo_id}@{located.revision[:10]}"
        extra = {"image_root": located.media_root} if located.media_root else {}
        for f in located.rows:
            for row in parquet_rows(f) if f.suffix == ".parquet" else json_rows(f):
                yield row, extra


def load_source(
    key: str,
    path_or_id: str | None = None,
    split: str | list | None = None,
    lenient: bool = False,
    limit: int | None = None,
    **opts,
) -> tuple[list[Pair], DropReport]:
    """Read one training source as canonical pairs. Used in: 00_quickstart.ipynb.

    `path_or_id` is local files in the source's schema, or a Hub id resolved through the Hugging Face cache in the
    repository's real layout (`make data` fetches and extracts it once; a missing or unextracted dataset is a
    `LayoutError` naming the fix). `split` may list several splits (WildChat-UF's four used splits).
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
    pairs, report = [], DropReport()
    local = Path(target).exists()
    if src.layout == "mmpr":
        rows = _mmpr_rows(target, report)
    elif local:
        rows = ((r, {"image_root": Path(r.file).parent}) for r in read_rows(target, "train"))
    else:
        rows = _hub_rows(src, target, split or src.split, report)
    for row, extra in rows:
        if limit is not None and report.read >= limit:
            break
        report.read += 1
        if "image_root" in opts:
            extra = {k: v for k, v in extra.items() if k != "image_root"}
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
