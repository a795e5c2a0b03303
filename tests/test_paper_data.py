"""The paper profile's data path on the Hub replica (tests/hub_replica): every source and benchmark resolves by Hub id
in its real layout through the unchanged loaders, `prepare` and the preflight work, and each finding of
../shared/reference/findings/paper_profile_real_data.md about data and benchmarks has its regression test here."""

import json
import shutil
import sys
from pathlib import Path

import pytest

from brlib import bench
from brlib.data import Pair, open_image
from brlib.data.hub import LayoutError
from brlib.data.pair import conversation
from brlib.data.sources import SOURCES, load_source

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "hub_replica"))


@pytest.fixture(scope="module")
def replica(tmp_path_factory):
    """A built and prepared replica; HF_HOME points at it for the module (restored afterwards)."""
    import os

    import build

    home = tmp_path_factory.mktemp("hf_home")
    build.build(home)
    old = {k: os.environ.get(k) for k in ("HF_HOME", "HF_HUB_CACHE", "BRLIB_DATA_DIR")}
    os.environ["HF_HOME"] = str(home)
    os.environ.pop("HF_HUB_CACHE", None)
    os.environ.pop("BRLIB_DATA_DIR", None)
    import datasets

    from brlib.prepare import main as prepare

    datasets.enable_progress_bars()
    assert prepare([str(ROOT / "configs" / "paper.yaml"), "--offline"]) == 0
    assert datasets.is_progress_bar_enabled(), "the CLI must restore the bars it silenced (callers share the process)"
    yield home
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def test_every_source_reads_by_hub_id_in_its_real_layout(replica):
    for key in SOURCES:
        options = {"image_root": str(replica / "brlib" / "coco" / "train2014")} if key == "povid" else {}
        pairs, report = load_source(key, None, **options)
        assert pairs, (key, report.summary())
        assert report.layout.startswith(("hub", "mmpr")), (key, report.layout)
        for p in pairs[:3]:
            assert all(open_image(im).size for im in p.images), key  # media resolve and open


def test_mmpr_meta_paths_carry_the_dataset_folder_prefix(replica):
    """#4: meta.json says MMPR-v1.2/annotations/..., relative to the folder above the dataset; images are zipped in
    three parts. The old loader opened <snapshot>/MMPR-v1.2/annotations/... and failed."""
    pairs, report = load_source("mmpr_v1_2")
    assert "prefix stripped" in report.layout
    multi = [p for p in pairs if len(p.images) == 2]
    assert multi and all("<image>" in p.prompt for p in multi)  # kept for interleaving (#23)
    msgs = conversation(multi[0].prompt, "a", 2)
    assert [c["type"] for c in msgs[0]["content"]] == ["image", "image", "text"]


def test_r1_reward_images_come_from_the_image_column(replica):
    """#5, #6: '######' headers on their own lines; the picture is the encoded `image` column (raw base64 or a data
    URI), never the authors' /mmu_mllm_hdd path in `message`."""
    pairs, _ = load_source("r1_reward")
    assert len(pairs) == 36 and all(isinstance(p.images[0], dict) and p.images[0]["bytes"] for p in pairs)
    assert all("######" not in p.chosen and "######" not in p.rejected for p in pairs)


def test_benchmarks_resolve_their_data_folders_and_media(replica):
    """#7 (data/ folder of VL-RewardBench and RewardBench), #8 (MM-RLHF-RewardBench media under images/, video
    frames at images/<id>), #9 (video rows carry frames)."""
    vl = bench.load("vl_rewardbench", "MMInstruction/VL-RewardBench")
    rb = bench.load("rewardbench", "allenai/reward-bench")
    mm = bench.load("mm_rlhf_rewardbench", "yifanzhang114/MM-RLHF-RewardBench")
    assert len(vl) == 24 and len(rb) == 16  # the filtered split, not raw
    assert {r.layout for r in mm} == {"hub"} and all(Path(r.images[0]).exists() for r in mm if r.images)
    video = [r for r in mm if r.video]
    assert len(video) == 2 and all(len(r.video) == 32 and r.video[0].exists() for r in video)


def test_multimodal_rewardbench_is_read_from_its_build_folder_or_says_how_to_build_it(replica, tmp_path, monkeypatch):
    rows = bench.load("multimodal_rewardbench", "facebookresearch/multimodal_rewardbench")
    assert len(rows) == 16 and all(Path(r.images[0]).exists() for r in rows)
    monkeypatch.setenv("BRLIB_DATA_DIR", str(tmp_path))
    with pytest.raises(LayoutError, match="0_download_data.py"):
        bench.load("multimodal_rewardbench", "facebookresearch/multimodal_rewardbench")


def test_wildchat_others_reads_the_four_used_splits(replica):
    """#12: "Others" is WildChat-UF's four used splits (56,034 rows on the Hub), not one (10,792)."""
    used = [
        "wildchat_if",
        "wildchat_reused_on_policy_8b",
        "wildchat_if_on_policy_70b",
        "wildchat_reused_on_policy_70b",
    ]
    one, _ = load_source("wildchat_uf")
    four, _ = load_source("wildchat_uf", split=used)
    assert len(one) == 12 and len(four) == 48
    from brlib.data.mixture import MixtureSpec

    spec = MixtureSpec.from_yaml(ROOT / "configs" / "mixtures" / "basereward_final.yaml")
    assert next(s for s in spec.sources if s.key == "wildchat_uf").split == used


def test_fastchat_messages_with_template_role_names(replica):
    """#15: SWE-Arena messages are [role, text] pairs whose names come from `roles` (Human/Assistant, USER/...)."""
    pairs, report = load_source("swe_arena")
    assert len(pairs) == 6 and report.reasons == {"no pair (tie or both-bad vote)": 6}


def test_vlfeedback_without_its_loading_script(replica):
    """#16: datasets>=4 refuses VLFeedback.py; the jsonl has no img_path, built as merged_images/<id>.jpg."""
    pairs, _ = load_source("vlfeedback")
    assert pairs and all(Path(p.images[0]).parts[-2:] == ("merged_images", f"{p.group_id}.jpg") for p in pairs)


def test_media_in_zips_tars_and_external_coco(replica):
    """#17: MM-RLHF pairs come from dpo_pairs.jsonl (not the prompt-level parquet) with media from its zips,
    OmniAlign-V from images.tar, POVID from a user-supplied COCO folder (a clear error without one)."""
    mm, _ = load_source("mm_rlhf")
    assert len(mm) == 22 and sum(bool(p.video) for p in mm) == 2
    with pytest.raises(LayoutError, match="COCO train2014"):
        load_source("povid")


def test_images_stay_undecoded_until_the_collator_opens_them(replica):
    """#18: no rank decodes a dataset's images while reading rows (parquet Image columns stay {bytes, path})."""
    pairs, _ = load_source("rlaif_v")
    assert all(isinstance(p.images[0], dict) and "bytes" in p.images[0] for p in pairs)


def test_multi_turn_context_is_kept(replica):
    """#22: earlier turns of OLMo-2 / Skywork conversations reach the template (`Pair.history`)."""
    pairs, _ = load_source("olmo2_mix")
    multi = [p for p in pairs if p.history]
    assert multi and multi[0].history[0] == {"role": "user", "content": "Hello."}
    msgs = conversation(multi[0].prompt, multi[0].chosen, 0, history=multi[0].history)
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant"]


def test_an_unextracted_archive_fails_preflight_with_the_fix(replica, capsys):
    """Must show: on a replica with one archive left unextracted, that source fails with the fix, exit code 1."""
    from brlib.preflight.__main__ import main as preflight

    extracted = next((replica / "brlib" / "yifanzhang114--MM-RLHF").iterdir())
    backbone = "brlib-replica/tiny-Qwen2.5-VL-Instruct"
    args = [str(ROOT / "configs" / "paper.yaml"), "--backbone", backbone, "--rows", "4"]
    args += ["--launch", "configs/accelerate/fsdp.yaml"]  # DeepSpeed is a GPU extra, not installed in CI
    assert preflight(args) == 0
    out = capsys.readouterr().out
    assert "0 failed" in out and "mm_rlhf_rewardbench" in out
    saved = extracted.with_name("saved")
    shutil.move(extracted, saved)
    try:
        assert preflight(args) == 1
        out = capsys.readouterr().out
        line = next(x for x in out.splitlines() if " mm_rlhf " in x)
        assert line.startswith("FAIL") and "not extracted" in line and "make data PROFILE=paper" in line
    finally:
        shutil.move(saved, extracted)


def test_pair_history_and_interleaving_in_the_template():
    msgs = conversation("<image>\nLeft.\n<image>\nRight. Same?", "Yes.", 2)
    assert [c["type"] for c in msgs[0]["content"]] == ["image", "text", "image", "text"]
    assert [c["type"] for c in conversation("No marker.", "a", 1)[0]["content"]] == ["image", "text"]
    assert json.dumps(Pair("q", "a", "b").history) == "[]"


def test_omni_repositories_resolve_by_hub_id(replica):
    """Notebook 10's paper path: Omni-RewardBench's nine config folders and its extracted media_data.zip,
    Omni-RewardData's subset folders (criterion from the system turn, generation subsets as media responses), and
    the full Qwen2.5-Omni layout whose thinker the reward model reads."""
    from brlib.data.media import Media, read_audio, read_video
    from brlib.models.reward_model import RewardModel

    rows = bench.load("omni_rewardbench", "HongbangYuan/OmniRewardBench")
    assert [t for t in bench.OMNI_TASKS if any(r.category == t for r in rows)] == list(bench.OMNI_TASKS)
    assert {r.layout for r in rows} == {"hub"}  # every media path found under the extracted media_data/
    by = {r.category: r for r in rows}
    assert len(read_video(by["TV2T"].video)[0]) == 10 and read_audio(by["TA2T"].audio[0]).size
    assert len(read_video(by["T2V"].responses[0])[0]) == 5 and open_image(by["T2I"].responses[0].source).size
    pairs, report = load_source("omni_reward_data")
    assert report.layout.startswith("hub") and any(isinstance(p.chosen, Media) for p in pairs)
    assert any(p.criterion for p in pairs) and all(open_image(im).size for p in pairs for im in p.images)
    from huggingface_hub import snapshot_download

    from brlib.data.hub import hub_cache

    local = snapshot_download("brlib-replica/tiny-Qwen2.5-Omni", cache_dir=hub_cache(), local_files_only=True)
    rm = RewardModel.from_pretrained(local)
    assert type(rm.backbone).__name__ == "Qwen2_5OmniThinkerModel"
