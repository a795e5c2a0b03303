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


SOURCES: dict[str, Source] = {
    "rlaif_v": Source("openbmb/RLAIF-V-Dataset", rlaif_v),
    "mmpr_v1_2": Source("OpenGVLab/MMPR-v1.2", mmpr, layout="mmpr"),
    "r1_reward": Source("yifanzhang114/R1-Reward-RL", r1_reward),
    "mmif": Source("ChrisDing1105/MMIF-23k", sharegpt_ranking),
    "omnialign_v_dpo": Source("PhoenixZ/OmniAlign-V-DPO", omnialign_v_dpo),
    "mm_rlhf": Source("yifanzhang114/MM-RLHF", mm_rlhf),
    "vlfeedback": Source("MMInstruction/VLFeedback", vlfeedback),
    "povid": Source("YiyangAiLab/POVID_preference_data_for_VLLMs", povid),
    "ultrafeedback_all": Source("openbmb/UltraFeedback", ultrafeedback, modality="text"),
    "ultrafeedback_hard": Source("openbmb/UltraFeedback", ultrafeedback, modality="text"),
    "shp": Source("stanfordnlp/SHP", shp, modality="text"),
    "tulu3_if": Source("allenai/tulu-3-IF-augmented-on-policy-70b", chat_pairs, modality="text"),
    "olmo2_mix": Source("allenai/olmo-2-0425-1b-preference-mix", chat_pairs, modality="text"),
    "wildchat_uf": Source("allenai/tulu-3-wildchat-ultrafeedback", chat_pairs, split="wildchat_if", modality="text"),
    "swe_arena": Source("bigcode/swe-arena-preference-5k", swe_arena, modality="text"),
    "skywork": Source("Skywork/Skywork-Reward-Preference-80K-v0.1", chat_pairs, modality="text"),
}
DEFAULT_OPTS = {"ultrafeedback_hard": {"mode": "hard", "min_gap": 1.0}, "ultrafeedback_all": {"mode": "all"}}


def _rows(path_or_id: str, split: str):
    """(where-prefix, row) over a Hub dataset or local parquet / json / jsonl files, in a stable order."""
    import datasets

    p = Path(path_or_id)
    if not p.exists():
        yield from ((f"{path_or_id}:{split}", r) for r in datasets.load_dataset(path_or_id, split=split))
        return
    files = sorted(f for f in (p.rglob("*") if p.is_dir() else [p]) if f.suffix in {".parquet", ".json", ".jsonl"})
    for f in files:
        if f.suffix == ".parquet":
            rows = datasets.load_dataset("parquet", data_files=str(f), split="train")
        else:  # json lists and json lines; read directly so nested fields keep their shape
            text = f.read_text()
            rows = (
                json.loads(text)
                if text.lstrip().startswith("[")
                else [json.loads(x) for x in text.splitlines() if x.strip()]
            )
        yield from ((str(f), r) for r in rows)


def _mmpr_rows(path_or_id: str):
    """MMPR layout: meta.json maps each subset to its image root and annotation jsonl."""
    root = Path(path_or_id)
    if not root.exists():
        from huggingface_hub import snapshot_download

        root = Path(snapshot_download(path_or_id, repo_type="dataset"))
    meta_file = root / "meta.json" if root.is_dir() else root
    meta = json.loads(meta_file.read_text())
    for subset, m in meta.items():
        ann = meta_file.parent / m["annotation"]
        sub_root = Path(m["root"]) if Path(m["root"]).is_absolute() else meta_file.parent / m["root"]
        for line in ann.read_text().splitlines():
            if line.strip():
                yield str(ann), json.loads(line), {"subset": subset, "subset_root": sub_root}


def load_source(
    key: str,
    path_or_id: str | None = None,
    split: str | None = None,
    lenient: bool = False,
    limit: int | None = None,
    **opts,
) -> tuple[list[Pair], DropReport]:
    """Read one training source as canonical pairs. Used in: 00_quickstart.ipynb.

    Rows that do not fit the schema raise `SchemaError` naming file, row and field; with `lenient=True` they are
    dropped and counted instead. Rows that legitimately give no pair (ties, low gaps) are counted too.
    """
    if key not in SOURCES:
        raise ValueError(f"unknown source {key!r}; known: {sorted(SOURCES)}")
    src = SOURCES[key]
    opts = {**DEFAULT_OPTS.get(key, {}), **opts}
    target = path_or_id or src.hub_id
    rows = _mmpr_rows(target) if src.layout == "mmpr" else ((w, r, {}) for w, r in _rows(target, split or src.split))
    pairs, report, counters = [], DropReport(), {}
    local = Path(target).exists()
    for w, row, extra in rows:
        i = counters[w] = counters.get(w, -1) + 1
        if local and "image_root" not in opts and "subset_root" not in extra:
            extra = {**extra, "image_root": Path(w).parent}
        if limit is not None and report.read >= limit:
            break
        report.read += 1
        try:
            got = src.adapter(row, f"{w}[row {i}]", {**opts, **extra})
        except SchemaError:
            if not lenient:
                raise
            report.reasons["schema error"] += 1
            continue
        if not got:
            report.reasons["no pair (tie or below gap)"] += 1
        for j, p in enumerate(got):
            p.source = key
            p.group_id = p.group_id or f"{Path(w).name}:{i}"
            p.uid = f"{key}/{Path(w).name}:{i}/{j}"
            pairs.append(p)
    report.kept = len(pairs)
    return pairs, report
