"""Every training-source adapter on small hand-written records in its real schema (tiny images where needed)."""

import json

import datasets
import pytest
from PIL import Image

from brlib.data import SchemaError, open_image
from brlib.data.sources import SOURCES, load_source


def _img(path, color=(200, 30, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), color).save(path)
    return path


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _chat(p, a):
    return [{"role": "user", "content": p}, {"role": "assistant", "content": a}]


def test_rlaif_v_parquet_with_hf_images(tmp_path):
    _img(tmp_path / "a.png")
    rows = [
        {
            "ds_name": "x",
            "image": {"bytes": (tmp_path / "a.png").read_bytes(), "path": "a.png"},
            "question": "What colour?",
            "chosen": "Red.",
            "rejected": "Blue.",
            "origin_dataset": "coco",
            "origin_split": "{}",
            "idx": "7",
            "image_path": "a.png",
        }
    ]
    ds = datasets.Dataset.from_list(rows).cast_column("image", datasets.Image())
    ds.to_parquet(str(tmp_path / "rlaif.parquet"))
    (p,), rep = load_source("rlaif_v", str(tmp_path / "rlaif.parquet"))
    assert (p.prompt, p.chosen, p.rejected, p.category) == ("What colour?", "Red.", "Blue.", "coco")
    assert open_image(p.images[0]).getpixel((0, 0)) == (200, 30, 30)
    assert rep.read == 1 and rep.kept == 1 and p.source == "rlaif_v" and p.uid


def test_mmpr_meta_json_layout(tmp_path):
    _img(tmp_path / "imgs" / "geo" / "1.png")
    (tmp_path / "ann").mkdir()
    _jsonl(
        tmp_path / "ann" / "geo.jsonl",
        [
            {"image": "1.png", "question": "q", "chosen": "c", "rejected": "r"},
            {"question": "text only", "chosen": "c2", "rejected": "r2"},
        ],
    )
    (tmp_path / "meta.json").write_text(
        json.dumps(
            {
                "geo": {
                    "root": "imgs/geo",
                    "annotation": "ann/geo.jsonl",
                    "data_augment": False,
                    "repeat_time": 1,
                    "length": 2,
                }
            }
        )
    )
    pairs, _ = load_source("mmpr_v1_2", str(tmp_path))
    assert [p.category for p in pairs] == ["geo", "geo"]
    assert open_image(pairs[0].images[0]).size == (8, 8) and pairs[1].images == []


def test_r1_reward_parses_inlined_responses_and_reroots_absolute_paths(tmp_path):
    _img(tmp_path / "imgs" / "x.png")
    text = "Which is better?\n[Question]: What is it?\n[Response 1]: A cat.\n[Response 2]: A dog.\n[Output]: ..."
    msg = [
        {
            "role": "user",
            "content": [{"type": "image", "image": "/data/authors/only/x.png"}, {"type": "text", "text": text}],
        }
    ]
    _jsonl(
        tmp_path / "r1.jsonl",
        [{"message": json.dumps(msg), "question": "What is it?", "answer": ["<answer>2</answer>"]}],
    )
    (p,), _ = load_source("r1_reward", str(tmp_path / "r1.jsonl"), image_root=str(tmp_path / "imgs"))
    assert (p.prompt, p.chosen, p.rejected) == ("What is it?", "A dog.", "A cat.")
    assert open_image(p.images[0]).size == (8, 8)
    _jsonl(tmp_path / "bad.jsonl", [{"message": json.dumps(msg), "answer": ["no verdict"]}])
    with pytest.raises(SchemaError, match=r"bad.jsonl:1: "):
        load_source("r1_reward", str(tmp_path / "bad.jsonl"))


@pytest.mark.parametrize("key", ["mmif", "omnialign_v_dpo"])
def test_sharegpt_ranking_sources(tmp_path, key):
    _img(tmp_path / "images" / "0.png")
    rows = [
        {
            "conversations": [{"from": "human", "value": "<image>\nAnswer in one word."}],
            "chosen": {"from": "gpt", "value": "Red."},
            "rejected": {"from": "gpt", "value": "It is red."},
            "images": ["images/0.png"],
        }
    ]
    (tmp_path / "d.json").write_text(json.dumps(rows))
    (p,), _ = load_source(key, str(tmp_path / "d.json"))
    assert (p.prompt, p.chosen, p.rejected) == ("Answer in one word.", "Red.", "It is red.")
    assert open_image(p.images[0]).size == (8, 8)


def test_omnialign_flat_variant(tmp_path):
    _img(tmp_path / "0.png")
    _jsonl(tmp_path / "chart.jsonl", [{"image": "0.png", "question": "q", "chosen": "c", "rejected": "r"}])
    (p,), _ = load_source("omnialign_v_dpo", str(tmp_path / "chart.jsonl"))
    assert (p.prompt, p.chosen) == ("q", "c")


def test_mm_rlhf_images_and_video_dirs(tmp_path):
    _img(tmp_path / "short" / "1.png")
    _jsonl(
        tmp_path / "dpo_pairs.jsonl",
        [
            {"id": "g1", "image": "short/1.png", "prompt": "p", "chosen": "c", "rejected": "r", "chosen_reason": "ok"},
            {"id": "g2", "video": "video/abc", "prompt": "p", "chosen": "c", "rejected": "r"},
        ],
    )
    (a, b), _ = load_source("mm_rlhf", str(tmp_path / "dpo_pairs.jsonl"))
    assert a.group_id == "g1" and a.meta == {"chosen_reason": "ok"} and open_image(a.images[0])
    assert b.video and not b.images


def test_vlfeedback_binarises_by_mean_rating_and_skips_low_gaps(tmp_path):
    _img(tmp_path / "img" / "1.png")

    def comp(resp, *ratings):
        names = ["Helpfulness", "Ethical Considerations", "Visual Faithfulness"]
        return {
            "model": "m",
            "response": resp,
            "annotations": {n: {"Rating": r, "Rationale": ""} for n, r in zip(names, ratings)},
        }

    rows = [
        {
            "id": "1",
            "prompt": "p",
            "models": [],
            "img_path": "img/1.png",
            "completions": [comp("best", "5", "5", "4"), comp("worst", "1", "2", "N/A"), comp("mid", "3", "3", "3")],
        },
        {
            "id": "2",
            "prompt": "p",
            "models": [],
            "img_path": "img/1.png",
            "completions": [comp("a", "3", "3", "3"), comp("b", "3", "3", "3")],
        },
    ]
    _jsonl(tmp_path / "vlf.jsonl", rows)
    pairs, rep = load_source("vlfeedback", str(tmp_path / "vlf.jsonl"))
    assert [(p.chosen, p.rejected) for p in pairs] == [("best", "worst")]
    assert pairs[0].margin == pytest.approx(14 / 3 - 1.5)
    assert rep.reasons["no pair (tie or below gap)"] == 1


def test_povid(tmp_path):
    _img(tmp_path / "COCO" / "1.jpg")
    human = {"from": "human", "value": "<image>\nDescribe."}
    rows = [
        {
            "id": "COCO_1",
            "image": "COCO/1.jpg",
            "conversations": [human, {"from": "gpt", "value": "A cat."}],
            "rejected_conversations": [human, {"from": "gpt", "value": "A cat and a dog."}],
        }
    ]
    (tmp_path / "povid.json").write_text(json.dumps(rows))
    (p,), _ = load_source("povid", str(tmp_path / "povid.json"))
    assert (p.prompt, p.chosen, p.rejected) == ("Describe.", "A cat.", "A cat and a dog.")


def _ultra(tmp_path):
    comps = [
        {"model": m, "response": r, "overall_score": s}
        for m, r, s in [("a", "A", 9.0), ("b", "B", 6.0), ("c", "C", 6.0), ("d", "D", 2.0)]
    ]
    rows = [
        {"source": "evol", "instruction": "p", "models": list("abcd"), "completions": comps},
        {"source": "truthful_qa", "instruction": "t", "models": ["a"], "completions": comps},
    ]
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "uf.parquet"))
    return str(tmp_path / "uf.parquet")


def test_ultrafeedback_all_pairs_drop_ties_and_truthful_qa(tmp_path):
    pairs, rep = load_source("ultrafeedback_all", _ultra(tmp_path))
    assert sorted((p.chosen, p.rejected) for p in pairs) == [
        ("A", "B"),
        ("A", "C"),
        ("A", "D"),
        ("B", "D"),
        ("C", "D"),
    ]
    assert rep.read == 2 and rep.kept == 5


def test_ultrafeedback_hard_is_best_vs_worst_above_gap(tmp_path):
    path = _ultra(tmp_path)
    (p,), _ = load_source("ultrafeedback_hard", path)
    assert (p.chosen, p.rejected, p.margin) == ("A", "D", 7.0)
    pairs, rep = load_source("ultrafeedback_hard", path, min_gap=8.0)
    assert pairs == [] and rep.reasons["no pair (tie or below gap)"] == 2


def test_shp_labels(tmp_path):
    _jsonl(
        tmp_path / "shp.jsonl",
        [
            {
                "post_id": "1",
                "domain": "askscience",
                "history": "h",
                "human_ref_A": "A",
                "human_ref_B": "B",
                "labels": 1,
            },
            {
                "post_id": "2",
                "domain": "askscience",
                "history": "h",
                "human_ref_A": "A",
                "human_ref_B": "B",
                "labels": 0,
            },
        ],
    )
    a, b = load_source("shp", str(tmp_path / "shp.jsonl"))[0]
    assert (a.chosen, b.chosen, a.category) == ("A", "B", "askscience")


@pytest.mark.parametrize("key", ["tulu3_if", "olmo2_mix", "wildchat_uf", "skywork"])
def test_chat_list_sources_strip_the_prompt_turn(tmp_path, key):
    datasets.Dataset.from_list(
        [
            {
                "id": "1",
                "prompt": "p",
                "chosen": _chat("p", "good"),
                "rejected": _chat("p", "bad"),
                "chosen_rating": 5.0,
                "rejected_rating": 1.0,
            }
        ]
    ).to_parquet(str(tmp_path / "d.parquet"))
    (p,), _ = load_source(key, str(tmp_path / "d.parquet"))
    assert (p.prompt, p.chosen, p.rejected) == ("p", "good", "bad")
    assert SOURCES[key].modality == "text" and p.images == []


def test_swe_arena_votes(tmp_path):
    def row(vote):
        return {
            "type": "chat",
            "chat_session_id": vote,
            "instruction": "fix it",
            "feedback": {"vote_type": vote},
            "models": {"model_A": "x", "model_B": "y"},
            "states": {"model_A": {"messages": _chat("fix it", "A")}, "model_B": {"messages": _chat("fix it", "B")}},
        }

    _jsonl(tmp_path / "swe.jsonl", [row("leftvote"), row("rightvote"), row("tievote"), row("bothbad_vote")])
    pairs, rep = load_source("swe_arena", str(tmp_path / "swe.jsonl"))
    assert [(p.chosen, p.rejected) for p in pairs] == [("A", "B"), ("B", "A")]
    assert rep.summary() == "read 4, kept 2, dropped 2 (no pair (tie or both-bad vote): 2)"


def test_bad_rows_raise_with_file_row_field_or_are_counted_when_lenient(tmp_path):
    _jsonl(
        tmp_path / "d.jsonl",
        [
            {"prompt": "p", "chosen": _chat("p", "a"), "rejected": _chat("p", "b")},
            {"prompt": "p", "chosen": _chat("p", "a")},
        ],
    )
    with pytest.raises(SchemaError, match=r"d.jsonl:2: missing field 'rejected'"):
        load_source("skywork", str(tmp_path / "d.jsonl"))
    pairs, rep = load_source("skywork", str(tmp_path / "d.jsonl"), lenient=True)
    assert len(pairs) == 1 and rep.reasons == {"schema error": 1}


def test_every_source_reads_its_tiny_world_version(tmp_path):
    from brlib.world import catalog
    from brlib.world.omni import generate_omni
    from brlib.world.omni_writers import write_omni_data

    paths = catalog.write_sources(tmp_path, seed=0, scale=0.05)
    paths["omni_reward_data"] = str(tmp_path / "omni")  # the tiny Omni-RewardData has its own writer
    write_omni_data(generate_omni(3, 0), paths["omni_reward_data"])
    assert set(paths) == set(SOURCES)
    for key, path in paths.items():
        opts = {"image_root": path} if key == "omni_reward_data" else {}
        pairs, rep = load_source(key, path, **opts)
        assert pairs and rep.read > 0, key
        if SOURCES[key].modality != "mixed":
            assert all((bool(p.images) == (SOURCES[key].modality == "image")) for p in pairs), key
