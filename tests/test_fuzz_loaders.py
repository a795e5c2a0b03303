"""Fuzz surface: every training source and benchmark loader, fed the malformed and hostile inputs of the audit
(../shared/reference/findings/fuzz_audit.md, "loaders"). Each case must load correctly, raise a SchemaError that names
the file, or (lenient) become a counted drop; the collator's filter never raises; no case gives a silently wrong pair.
"""

import copy
import io
import json
import struct
import zlib

import datasets
import pytest
from PIL import Image

from brlib import bench
from brlib.data import PairCollator, SchemaError
from brlib.data.sources import load_source

COUNTS = {"cases": 0, "crashes": 0}


def _png(w=8, h=8, color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, format="PNG")
    return buf.getvalue()


def _png_header(w: int, h: int) -> bytes:
    """A PNG whose header claims w x h pixels (a decompression bomb or a 0 x 0 image) around one tiny IDAT."""
    raw = bytearray(_png(1, 1))
    ihdr = struct.pack(">II", w, h) + bytes(raw[24:29])
    raw[16:29] = ihdr
    raw[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(raw)


IMAGES = {
    "img_truncated": _png(32, 32)[:60],
    "img_1x5000": _png(1, 5000),
    "img_5000x1": _png(5000, 1),
    "img_bomb": _png_header(20000, 20000),
    "img_0x0": _png_header(0, 0),
    "img_not_an_image": b"this is not an image at all",
}

# Per source: its file name, a valid record, where the prompt / chosen / image live, and how to write it.
CHAT = lambda p, a: [{"role": "user", "content": p}, {"role": "assistant", "content": a}]  # noqa: E731
SOURCES = {
    "rlaif_v": (
        "train.parquet",
        {"image": "IMG", "question": "What colour?", "chosen": "Red.", "rejected": "Blue."},
        ("question",),
        ("chosen",),
        ("image",),
    ),
    "mm_rlhf": (
        "train.jsonl",
        {"id": "1", "image": "a.png", "prompt": "Q?", "chosen": "Red.", "rejected": "Blue."},
        ("prompt",),
        ("chosen",),
        ("image",),
    ),
    "r1_reward": (
        "train.jsonl",
        {"message": "R1", "question": "Q?", "answer": ["<answer>1</answer>"]},
        ("question",),
        None,
        None,
    ),
    "mmif": (
        "train.json",
        {
            "conversations": [{"from": "human", "value": "<image>\nQ?"}],
            "chosen": {"from": "gpt", "value": "Red."},
            "rejected": {"from": "gpt", "value": "Blue."},
            "images": ["a.png"],
        },
        None,
        ("chosen", "value"),
        ("images", 0),
    ),
    "omnialign_v_dpo": (
        "train.json",
        {"image": "a.png", "question": "Q?", "chosen": "Red.", "rejected": "Blue."},
        ("question",),
        ("chosen",),
        ("image",),
    ),
    "povid": (
        "train.json",
        {
            "id": "1",
            "image": "a.png",
            "conversations": [{"from": "human", "value": "Q?"}, {"from": "gpt", "value": "Red."}],
            "rejected_conversations": [{"from": "human", "value": "Q?"}, {"from": "gpt", "value": "Blue."}],
        },
        None,
        ("conversations", 1, "value"),
        ("image",),
    ),
    "vlfeedback": (
        "train.jsonl",
        {
            "id": "1",
            "prompt": "Q?",
            "img_path": "a.png",
            "completions": [
                {"response": "Red.", "annotations": {"Helpfulness": {"Rating": "5"}}},
                {"response": "Blue.", "annotations": {"Helpfulness": {"Rating": "1"}}},
            ],
        },
        ("prompt",),
        ("completions", 0, "response"),
        ("img_path",),
    ),
    "ultrafeedback_all": (
        "train.jsonl",
        {
            "instruction": "Q?",
            "completions": [
                {"response": "Red.", "overall_score": 9.0},
                {"response": "Blue.", "overall_score": 3.0},
                {"response": "Green.", "overall_score": 5.0},
            ],
        },
        ("instruction",),
        ("completions", 0, "response"),
        None,
    ),
    "ultrafeedback_hard": (
        "train.jsonl",
        {
            "instruction": "Q?",
            "completions": [{"response": "Red.", "overall_score": 9.0}, {"response": "Blue.", "overall_score": 3.0}],
        },
        ("instruction",),
        ("completions", 0, "response"),
        None,
    ),
    "shp": (
        "train.jsonl",
        {"history": "Q?", "human_ref_A": "Red.", "human_ref_B": "Blue.", "labels": 1},
        ("history",),
        ("human_ref_A",),
        None,
    ),
    "skywork": (
        "train.jsonl",
        {"chosen": CHAT("Q?", "Red."), "rejected": CHAT("Q?", "Blue.")},
        None,
        ("chosen", 1, "content"),
        None,
    ),
    "tulu3_if": (
        "train.jsonl",
        {"prompt": "Q?", "chosen": CHAT("Q?", "Red."), "rejected": CHAT("Q?", "Blue.")},
        None,
        ("chosen", 1, "content"),
        None,
    ),
    "swe_arena": (
        "train.jsonl",
        {
            "instruction": "Q?",
            "feedback": {"vote_type": "leftvote"},
            "states": {"model_A": {"messages": CHAT("Q?", "Red.")}, "model_B": {"messages": CHAT("Q?", "Blue.")}},
        },
        ("instruction",),
        ("states", "model_A", "messages", 1, "content"),
        None,
    ),
}
R1_TEXT = (
    "Judge.\n###### [Question]:\nQ?  \n\n###### [Response 1]:\n{a}  \n\n###### [Response 2]:\n{b}  \n\n###### **Output"
)


def _r1_message(a="Red.", b="Blue.", image="a.png"):
    parts = [{"type": "text", "text": R1_TEXT.format(a=a, b=b)}]
    return json.dumps([{"role": "user", "content": parts + ([{"type": "image", "image": image}] if image else [])}])


def _set(record, path, value):
    for k in path[:-1]:
        record = record[k]
    record[path[-1]] = value


def _mutate(key: str, case: str):
    """(record or raw text, expectation) for one case; expectation in {"ok", "schema", "drop:<reason>"}."""
    name, base, prompt, chosen, image = SOURCES[key]
    rec = copy.deepcopy(base)
    if key == "r1_reward":
        rec["message"] = _r1_message()
    if case == "valid":
        return rec, "ok"
    if case == "missing_field":
        fields = ("chosen", "rejected", "completions", "message", "human_ref_A", "states", "rejected_conversations")
        rec.pop(next(k for k in fields if k in rec))
        return rec, "schema"
    if case == "row_not_object":
        return [1, 2], "schema"
    if case == "row_is_string_with_field_names":
        return " ".join(base), "schema"
    if case in ("chosen_int", "chosen_null", "chosen_list", "chosen_empty"):
        value = {"chosen_int": 12345, "chosen_null": None, "chosen_list": ["a", "b"], "chosen_empty": ""}[case]
        if key == "r1_reward":
            rec["message"] = _r1_message(a="")
            return rec, "drop:empty response" if case == "chosen_empty" else "skip"
        _set(rec, chosen, value)
        if key.startswith("ultrafeedback"):
            return rec, "any"  # a completion without text: left out (hard) or its pairs dropped (all)
        if key == "vlfeedback" and case == "chosen_null":
            return rec, "any"
        return rec, "drop:" + ("empty response" if case == "chosen_empty" else "non-text response") + "|schema"
    if case == "prompt_list" and prompt:
        _set(rec, prompt, ["a", "list"])
        return rec, "drop:non-text prompt|schema"
    if case == "img_int" and image:
        _set(rec, image, 7)
        return rec, "schema|drop:unreadable image"
    if case.startswith("img_") and image:
        return (rec, case), "drop:unreadable image|drop:image aspect ratio over 200"
    return None, "skip"


def _write(tmp_path, key, rec):
    """Write one record (or a mutated image case) in the source's format; returns the folder to load."""
    name, *_rest, image = SOURCES[key]
    d = tmp_path / key
    d.mkdir()
    (d / "a.png").write_bytes(_png())
    case = None
    if isinstance(rec, tuple):
        rec, case = rec
        (d / "a.png").write_bytes(IMAGES[case])
    if name.endswith(".parquet"):
        rec = dict(rec)
        rec["image"] = {"bytes": (d / "a.png").read_bytes(), "path": "a.png"}
        ds = datasets.Dataset.from_list([rec]).cast_column("image", datasets.Image())
        ds.to_parquet(str(d / name))
        (d / "a.png").unlink()
    elif name.endswith(".jsonl"):
        (d / name).write_text(json.dumps(rec) + "\n")
    else:
        (d / name).write_text(json.dumps([rec]))
    return d


LOADER_CASES = [
    "valid", "missing_field", "row_not_object", "row_is_string_with_field_names", "chosen_int", "chosen_null",
    "chosen_list", "chosen_empty", "prompt_list", "img_int", *IMAGES,
]  # fmt: skip


@pytest.fixture(scope="module")
def collator(rm):
    return PairCollator(rm.processor, max_length=4096)


@pytest.mark.parametrize("case", LOADER_CASES)
@pytest.mark.parametrize("key", sorted(SOURCES))
def test_source_fuzz_case(tmp_path, collator, key, case):
    rec, expect = _mutate(key, case)
    parquet_only_objects = SOURCES[key][0].endswith(".parquet") and case in (
        "row_not_object", "row_is_string_with_field_names", "img_int"
    )  # a parquet file holds objects, and its Image column holds images  # fmt: skip
    if expect == "skip" or (case.startswith("img_") and not SOURCES[key][4]) or parquet_only_objects:
        pytest.skip(f"{case} does not apply to {key}")
    COUNTS["cases"] += 1
    d = _write(tmp_path, key, rec)
    options = expect.split("|")
    try:
        pairs, report = load_source(key, str(d))
    except SchemaError as e:
        assert "schema" in options or "any" in options, f"unexpected SchemaError: {e}"
        assert str(d) in str(e), f"the error must name the file: {e}"
        pairs, report = load_source(key, str(d), lenient=True)  # lenient: the same row is a counted drop
        assert report.reasons["schema error"] == 1 and not pairs
        return
    kept, filt = collator.filter(pairs)  # never raises
    reasons = {f"drop:{r}" for r in filt.reasons} | {f"drop:no pair ({r})" for r in report.reasons}
    if expect == "ok":
        assert kept and not filt.reasons, (report.summary(), filt.summary())
    elif "any" not in options:
        assert reasons & set(options), f"expected {options}, got {reasons or 'a kept pair'}"
        assert all(isinstance(p.chosen, str) and "[Output" not in p.chosen and "######" not in p.chosen for p in kept)


@pytest.mark.parametrize("key", sorted(SOURCES))
def test_json_lines_that_are_not_json_or_utf8_name_file_and_line(tmp_path, key):
    name = SOURCES[key][0]
    if not name.endswith(".jsonl"):
        pytest.skip("not a JSON-lines source")
    good = _mutate(key, "valid")[0]
    d = tmp_path / key
    d.mkdir()
    (d / "a.png").write_bytes(_png())
    (d / name).write_text(json.dumps(good) + "\n{not json\n" + json.dumps(good) + "\n")
    with pytest.raises(SchemaError, match=rf"{name}:2: not JSON"):
        load_source(key, str(d))
    pairs, rep = load_source(key, str(d), lenient=True)
    assert rep.reasons["schema error"] == 1 and rep.read == 3
    (d / name).write_bytes(json.dumps(good).encode() + b"\n\xff\xfe broken\n")
    with pytest.raises(SchemaError, match=rf"{name}: not UTF-8"):
        load_source(key, str(d))


def test_one_corrupt_parquet_image_is_one_counted_drop_not_a_failed_file(tmp_path, collator):
    rows = [
        {"image": {"bytes": b, "path": "x.png"}, "question": "Q?", "chosen": "Red.", "rejected": "Blue."}
        for b in (_png(), IMAGES["img_truncated"], _png_header(20000, 20000), _png())
    ]
    datasets.Dataset.from_list(rows).cast_column("image", datasets.Image()).to_parquet(str(tmp_path / "t.parquet"))
    pairs, _ = load_source("rlaif_v", str(tmp_path / "t.parquet"))
    kept, filt = collator.filter(pairs)
    assert len(kept) == 2 and filt.reasons["unreadable image"] == 2


def test_silent_wrong_results_of_the_audit_are_gone(tmp_path):
    # R1-Reward: an empty [Response 2] must not swallow the next section.
    (tmp_path / "r1.jsonl").write_text(
        json.dumps({"message": _r1_message(b="", image=None), "question": "Q?", "answer": ["<answer>1</answer>"]})
        + "\n"
    )
    (p,), _ = load_source("r1_reward", str(tmp_path / "r1.jsonl"))
    assert (p.chosen, p.rejected) == ("Red.", "")
    # UltraFeedback hard: NaN scores give no pair (not a pair with margin NaN in arbitrary order).
    row = {"instruction": "Q?", "completions": [{"response": "a", "overall_score": float("nan")}] * 3}
    (tmp_path / "uf.jsonl").write_text(json.dumps(row) + "\n")
    pairs, rep = load_source("ultrafeedback_hard", str(tmp_path / "uf.jsonl"))
    assert not pairs and sum(rep.reasons.values()) == 1
    # UltraFeedback all: an empty completion stays in its pairs, so the collator counts them (none vanish).
    row = {"instruction": "Q?", "completions": [{"response": r, "overall_score": s} for r, s in
                                                [("a", 9.0), ("", 5.0), ("c", 1.0)]]}  # fmt: skip
    (tmp_path / "ufa.jsonl").write_text(json.dumps(row) + "\n")
    pairs, _ = load_source("ultrafeedback_all", str(tmp_path / "ufa.jsonl"))
    assert len(pairs) == 3 and sum(not p.chosen or not p.rejected for p in pairs) == 2
    # MMPR: a null image is an error, not a text-only pair.
    (tmp_path / "mmpr" / "ann").mkdir(parents=True)
    (tmp_path / "mmpr" / "ann" / "a.jsonl").write_text(
        json.dumps({"image": None, "question": "q", "chosen": "c", "rejected": "r"}) + "\n"
    )
    (tmp_path / "mmpr" / "meta.json").write_text(json.dumps({"s": {"root": "img", "annotation": "ann/a.jsonl"}}))
    with pytest.raises(SchemaError, match="'image' is null"):
        load_source("mmpr_v1_2", str(tmp_path / "mmpr"))


def _bench_file(tmp_path, name, rows, suffix=".jsonl"):
    f = tmp_path / f"{name}{suffix}"
    f.write_text("".join(json.dumps(r) + "\n" for r in rows) if suffix == ".jsonl" else json.dumps(rows))
    return f


BENCH_BAD = {
    "vl_rewardbench": [
        {"id": "a", "query": "q", "response": ["x", "y"], "human_ranking": [0, 0]},  # a tie: no chosen response
        {"id": "a", "query": "q", "response": "xy", "human_ranking": [0, 1]},
        {"id": "a", "query": 5, "response": ["x", "y"], "human_ranking": [0, 1]},
    ],
    "mm_rlhf_rewardbench": [
        {"id": "1", "image": 7, "prompt": "q", "chosen": "a", "rejected": "b"},
        {"id": "1", "image": "long/a.png", "prompt": "q", "chosen": 5, "rejected": "b"},
    ],
    "multimodal_rewardbench": [
        {"ID": "x", "Output1": "a", "Output2": "b", "Better": "Output1", "Category": 3},
        {"ID": "x", "Output1": ["a"], "Output2": "b", "Better": "Output1", "Category": "vqa"},
    ],
    "rewardbench": [{"prompt": "q", "chosen": 1, "rejected": "b", "subset": "donotanswer"}],
    "rm_bench": [
        {"prompt": "q", "chosen": "abc", "rejected": ["a", "b", "c"], "domain": "chat"},  # 3 chars != 3 responses
        {"prompt": "q", "chosen": 5, "rejected": ["a", "b", "c"], "domain": "chat"},
    ],
}


@pytest.mark.parametrize("name", sorted(BENCH_BAD))
def test_benchmark_rows_of_the_wrong_shape_are_schema_errors(tmp_path, name):
    suffix = ".json" if name == "multimodal_rewardbench" else ".jsonl"
    for i, row in enumerate(BENCH_BAD[name]):
        f = _bench_file(tmp_path, f"{name}{i}", [row], suffix)
        with pytest.raises(SchemaError, match=f.name):
            bench.load(name, f)
    f = tmp_path / f"{name}.jsonl"
    f.write_text('{"not json\n')
    with pytest.raises(SchemaError, match=rf"{f.name}:1: not JSON"):
        bench.load(name, f)
