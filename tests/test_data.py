import json

import pytest
from PIL import Image

from brlib import data
from brlib.data import Pair, PairCollator, SchemaError
from brlib.train import load_pairs


def test_loaders_read_the_tiny_world_in_real_schemas(world_dir):
    counts = json.loads((world_dir / "counts.json").read_text())
    img = load_pairs({"format": "rlaif_v", "path": str(world_dir / "train" / "rlaif_v.parquet")})
    txt = load_pairs({"format": "skywork", "path": str(world_dir / "train" / "text.parquet")})
    bench = load_pairs({"format": "mm_rlhf_rewardbench", "path": str(world_dir / "bench" / "mm_reward_bench.jsonl")})
    assert len(img) == counts["train/rlaif_v"] and len(txt) == counts["train/text"]
    assert len(bench) == counts["bench/mm_rlhf_rewardbench"]
    assert all(len(p.images) == 1 for p in img) and all(not p.images for p in txt)
    assert {p.category for p in bench} <= {"mcq", "long", "short", "safety"}
    assert len({p.group_id for p in bench}) < len(bench)  # groups hold several pairs (Acc+)
    assert {p.category for p in img} == {"perception", "hallucination", "reasoning", "safety"}


def test_schema_error_names_file_row_and_field(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_text(
        json.dumps({"id": "a", "image": "mcq/x.png", "prompt": "q", "chosen": "c", "rejected": "r"})
        + "\n"
        + json.dumps({"id": "b", "image": "mcq/y.png", "prompt": "q", "chosen": "c"})
        + "\n"
    )
    with pytest.raises(SchemaError, match=r"bad.jsonl:2: missing field 'rejected'"):
        load_pairs({"format": "mm_rlhf_rewardbench", "path": str(f)})


def test_chat_pairs_must_end_with_an_assistant_turn(tmp_path):
    import datasets

    path = tmp_path / "chat.parquet"
    datasets.Dataset.from_list(
        [{"prompt": "p", "chosen": [{"role": "user", "content": "p"}], "rejected": [{"role": "user", "content": "p"}]}]
    ).to_parquet(str(path))
    with pytest.raises(SchemaError, match=r"chat.parquet\[row 0\]: field 'chosen'"):
        load_pairs({"format": "skywork", "path": str(path)})


def test_bad_pairs_are_dropped_and_counted_with_reasons(rm, pairs, tmp_path):
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"not a png at all")
    good = pairs[0]
    bad = [
        Pair(good.prompt, good.chosen, "   ", good.images),
        Pair(good.prompt, good.chosen, good.rejected, [tmp_path / "missing.png"]),
        Pair(good.prompt, good.chosen, good.rejected, [corrupt]),
        Pair(good.prompt * 40, good.chosen, good.rejected, good.images),
    ]
    kept, report = PairCollator(rm.processor, max_length=256).filter([good] + bad)
    assert kept == [good]
    assert report.read == 5 and report.kept == 1
    assert dict(report.reasons) == {"empty response": 1, "unreadable image": 2, "over max_length": 1}
    assert "dropped 4" in report.summary()


def test_unreadable_image_error_names_the_file(tmp_path):
    with pytest.raises(ValueError, match="missing.png"):
        data.open_image(tmp_path / "missing.png")


def test_length_check_counts_image_tokens_and_never_cuts_them(rm, pairs):
    """A pair just over the limit only because of its image tokens is dropped, not truncated."""
    p = pairs[0]
    col = PairCollator(rm.processor, max_length=4096)
    batch = col([p])
    n_image = int((batch["input_ids"] == rm.backbone.config.image_token_id).sum()) // 2
    assert n_image == 9  # 84 x 84 pixels -> 6 x 6 patches -> 3 x 3 merged tokens, per sequence
    full = int(batch["attention_mask"].sum(-1).max())
    assert PairCollator(rm.processor, max_length=full).check(p) is None
    assert PairCollator(rm.processor, max_length=full - 1).check(p) == "over max_length"


def test_video_pairs_are_not_silently_scored_as_text(tmp_path):
    f = tmp_path / "v.jsonl"
    f.write_text(json.dumps({"id": "a", "video": "video/abc", "prompt": "q", "chosen": "c", "rejected": "r"}) + "\n")
    (p,) = load_pairs({"format": "mm_rlhf_rewardbench", "path": str(f)})
    assert p.category == "video" and p.video


def test_split_is_deterministic_and_disjoint(pairs):
    a_train, a_val = data.split_pairs(pairs, 0.3, seed=1)
    b_train, b_val = data.split_pairs(pairs, 0.3, seed=1)
    assert [p.uid for p in a_val] == [p.uid for p in b_val]
    assert not {p.uid for p in a_train} & {p.uid for p in a_val}
    assert len(a_train) + len(a_val) == len(pairs)


def test_open_image_accepts_hf_image_dicts():
    import io

    buf = io.BytesIO()
    Image.new("RGB", (5, 7), (1, 2, 3)).save(buf, format="PNG")
    assert data.open_image({"bytes": buf.getvalue(), "path": "x.png"}).size == (5, 7)


def test_video_frame_folders_are_sampled_uniformly(tmp_path):
    d = tmp_path / "video" / "clip"
    d.mkdir(parents=True)
    for i in range(100):
        Image.new("RGB", (4, 4)).save(d / f"{i:04d}.jpg")
    frames = data.video_frames(d)
    assert len(frames) == 32 and frames[0].name == "0000.jpg" and frames[-1].name == "0099.jpg"
    assert [f.name for f in data.video_frames(d, n=3)] == ["0000.jpg", "0049.jpg", "0099.jpg"]  # linspace, floored
    assert data.video_frames(tmp_path / "missing") == [tmp_path / "missing"]


def test_short_clips_repeat_frames_as_the_official_sampler_does(tmp_path):
    import numpy as np

    d = tmp_path / "short"
    d.mkdir()
    for i in range(5):
        Image.new("RGB", (4, 4)).save(d / f"{i}.png")
    frames = data.video_frames(d)
    official = np.linspace(0, 4, 32, dtype=int)  # r1_reward inference/MM-RLHF-Reward/r1_reward.py
    assert [int(f.stem) for f in frames] == official.tolist()


def _clip(folder, colour, n=6):
    folder.mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", (84, 84), tuple((c + 20 * i) % 256 for c in colour)).save(folder / f"{i:03d}.jpg")
    return folder


def test_video_is_encoded_with_its_frames_and_time_axis(rm, tmp_path):
    """A video pair goes through Qwen's video path (never scored as text) with second_per_grid_ts passed on."""
    import torch

    red = data.video_frames(_clip(tmp_path / "red", (200, 20, 20)))
    blue = data.video_frames(_clip(tmp_path / "blue", (20, 20, 200)))
    col = PairCollator(rm.processor, 4096)
    pair = Pair("What happens?", "A red light.", "A blue light.", video=red)
    assert col.check(pair) is None
    batch = col([pair])
    assert batch["pixel_values_videos"].shape[0] > 0 and batch["second_per_grid_ts"].tolist() == [1.0, 1.0]
    with torch.no_grad():
        s_red = rm(**batch)
        s_blue = rm(**col([Pair(pair.prompt, pair.chosen, pair.rejected, video=blue)]))
        moved = rm.position_ids(
            batch["input_ids"], batch["attention_mask"], None, batch["video_grid_thw"], batch["second_per_grid_ts"] / 4
        )
        base = rm.position_ids(
            batch["input_ids"], batch["attention_mask"], None, batch["video_grid_thw"], batch["second_per_grid_ts"]
        )
    assert not torch.allclose(s_red, s_blue)  # the frames reach the model
    assert not torch.equal(moved, base)  # the temporal axis follows the clip's frame rate


def test_video_rows_of_the_benchmark_are_scored_with_their_frames(rm, tmp_path):
    from brlib import bench, evaluate

    _clip(tmp_path / "images" / "abc", (200, 20, 20))
    row = {"id": "a", "video": "video/abc", "prompt": "q", "chosen": "red", "rejected": "blue"}
    f = tmp_path / "mm_reward_bench.jsonl"
    f.write_text(json.dumps(row) + "\n")
    rows = bench.load("mm_rlhf_rewardbench", f)
    assert rows[0].video and all(p.exists() for p in rows[0].video)
    with_frames = evaluate.benchmark_scores(rm, rows)
    rows[0].video = data.video_frames(_clip(tmp_path / "other", (20, 200, 20)))
    assert evaluate.benchmark_scores(rm, rows) != with_frames
