"""The tiny omni world written in the real schemas:

- `write_omni_bench`: Omni-RewardBench: one folder per task config with a parquet of the real columns (`id, prompt,
  response1, response2, model1, model2, criteria, criteria_preference, source` plus each task's media columns:
  HF `Image` / `Audio` structs with their `*_path` twins, video fields as paths) and every media file under
  `media_data/` (paths in the rows are relative to it), optionally zipped as `media_data.zip` with that top folder;
- `write_omni_data`: Omni-RewardData: one folder per subset with `train-00000-of-00001.parquet` in the LLaMA-Factory
  sharegpt ranking layout (criterion as a leading system turn; generation subsets with the candidates in `images`
  and the prompt as both answers; clips as frame lists), images under `<subset prefix>/` at the root.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from PIL import Image, ImageSequence

from brlib.world.omni import TASKS, Asset, OmniItem

CONFIGS = {
    "T2T": "text_to_text",
    "TI2T": "text_image_to_text",
    "TV2T": "text_video_to_text",
    "TA2T": "text_audio_to_text",
    "T2I": "text_to_image",
    "T2V": "text_to_video",
    "T2A": "text_to_audio",
    "T23D": "text_to_3D",
    "TI2I": "text_image_to_image",
}
STRUCT = {"image": "Image", "audio": "Audio"}  # media embedded as HF features; video is a path only
SUBSETS = {  # task -> (Omni-RewardData subset, image prefix); T2V is a general subset (no criterion)
    "T2T": ("Omni-Skywork-Reward-Preference", ""),
    "TI2T": ("Omni-RLAIF-V", "omni_ti2t"),
    "T2I": ("Omni-HPDv2", "omni_t2i_hpd"),
    "T2V": ("VideoDPO", "videodpo"),
}


def _parquet(rows: list[dict], path: Path, features: dict[str, str]) -> None:
    import datasets

    path.parent.mkdir(parents=True, exist_ok=True)
    ds = datasets.Dataset.from_list(rows)
    for col, kind in features.items():
        ds = ds.cast_column(col, datasets.Image() if kind == "Image" else datasets.Audio())
    ds.to_parquet(str(path))


def write_omni_bench(items: list[OmniItem], out_dir: str | Path, zip_media: bool = False) -> dict[str, int]:
    """Write items as Omni-RewardBench under `out_dir` (rows per task returned). Used in: 10_omni.ipynb."""
    out = Path(out_dir)
    media: dict[str, bytes] = {}
    counts = {}
    for task in TASKS:
        rows, features = [], {}
        for k, it in enumerate(i for i in items if i.task == task):
            rid = f"{task.lower()}_{k:05d}"
            row = {"id": rid, "prompt": it.prompt, "model1": "tiny-a", "model2": "tiny-b", "criteria": it.criterion,
                   "criteria_preference": it.label, "source": "tiny_omni"}  # fmt: skip
            for slot, value in (("response1", it.response1), ("response2", it.response2)):
                if isinstance(value, Asset):
                    rel = _store(media, f"{CONFIGS[task]}/{it.pair_id}_{slot}.{value.ext}", value.data)
                    if value.kind in STRUCT:
                        row[slot] = {"bytes": value.data, "path": rel}
                        row[f"{slot}_path"] = rel
                        features[slot] = STRUCT[value.kind]
                    else:
                        row[slot] = rel
                else:
                    row[slot] = value
            for kind, asset in it.inputs.items():
                rel = _store(media, f"{CONFIGS[task]}/{it.pair_id}_input.{asset.ext}", asset.data)
                if kind == "video":
                    row["video"] = rel
                else:
                    row[kind], row[f"{kind}_path"] = {"bytes": asset.data, "path": rel}, rel
                    features[kind] = STRUCT[kind]
            rows.append(row)
        if rows:
            _parquet(rows, out / CONFIGS[task] / "test-00000-of-00001.parquet", features)
        counts[task] = len(rows)
    if zip_media:
        with zipfile.ZipFile(out / "media_data.zip", "w") as z:
            for rel, data in sorted(media.items()):
                z.writestr(f"media_data/{rel}", data)
    else:
        for rel, data in media.items():
            (out / "media_data" / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / "media_data" / rel).write_bytes(data)
    return counts


def _store(media: dict, rel: str, data: bytes) -> str:
    media.setdefault(rel, data)
    return rel


def _frames(gif_bytes: bytes) -> list[bytes]:
    """PNG bytes of each frame of a clip (Omni-RewardData stores video candidates as frame images)."""
    im = Image.open(io.BytesIO(gif_bytes))
    out = []
    for frame in ImageSequence.Iterator(im):
        buf = io.BytesIO()
        frame.convert("RGB").save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def write_omni_data(items: list[OmniItem], out_dir: str | Path) -> dict[str, int]:
    """Write the decided items of T2T, TI2T, T2I (criterion subsets) and the invariant T2V pairs (VideoDPO, a general
    subset without criteria) as Omni-RewardData under `out_dir`; ties are not written (the ranking format has none).
    Returns rows per subset. Used in: 10_omni.ipynb."""
    out = Path(out_dir)
    counts = {}
    for task, (subset, prefix) in SUBSETS.items():
        rows, seen = [], set()
        for k, it in enumerate(i for i in items if i.task == task and i.label != "tie"):
            if task == "T2V" and (it.shifted or it.pair_id in seen):
                continue  # a general preference: one row per invariant pair
            seen.add(it.pair_id)
            good, bad = (it.response1, it.response2) if it.label == "response1" else (it.response2, it.response1)
            system = [] if task == "T2V" else [{"from": "system", "value": it.criterion}]
            row = {"conversations": [], "chosen": {}, "rejected": {}, "images": []}
            if isinstance(good, Asset):  # generation: the candidates are the images, the prompt both answers
                files = []
                for tag, asset in (("c", good), ("r", bad)):
                    frames = _frames(asset.data) if asset.kind == "video" else [asset.data]
                    for j, data in enumerate(frames):
                        rel = f"{prefix}/{it.pair_id}_{k}{tag}{j}.png"
                        (out / rel).parent.mkdir(parents=True, exist_ok=True)
                        (out / rel).write_bytes(data)
                        files.append(rel)
                row["conversations"] = system + [{"from": "human", "value": "<image>"}]
                row["chosen"] = row["rejected"] = {"from": "gpt", "value": it.prompt}
                row["images"] = files
            else:
                query = it.prompt
                if "image" in it.inputs:
                    rel = f"{prefix}/{it.pair_id}.png"
                    (out / rel).parent.mkdir(parents=True, exist_ok=True)
                    (out / rel).write_bytes(it.inputs["image"].data)
                    row["images"], query = [rel], "<image>" + it.prompt
                row["conversations"] = system + [{"from": "human", "value": query}]
                row["chosen"], row["rejected"] = {"from": "gpt", "value": good}, {"from": "gpt", "value": bad}
            rows.append(row)
        if rows:
            _parquet(rows, out / subset / "train-00000-of-00001.parquet", {})
        counts[subset] = len(rows)
    return counts
