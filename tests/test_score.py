import json
import math

import pytest
import torch

from brlib.serve.score import EnsembleScorer, RewardScorer


@pytest.fixture(scope="module")
def scorer(rm):
    return RewardScorer(rm, max_tokens=400)


def _ask(pairs):
    p = pairs[0]
    return p.images, p.prompt, [p.chosen, p.rejected, p.chosen + " Sure.", "No."]


def test_scores_do_not_depend_on_batch_size_padding_or_order(scorer, pairs):
    images, prompt, responses = _ask(pairs)
    base = scorer.score(images, prompt, responses)
    alone = [scorer.score(images, prompt, [r])[0] for r in responses]
    assert base == pytest.approx(alone, abs=1e-5)
    rev = scorer.score(images, prompt, responses[::-1])[::-1]
    assert base == pytest.approx(rev, abs=1e-5)
    tok = scorer.model.processor.tokenizer
    tok.padding_side = "left"
    try:
        left = scorer.score(images, prompt, responses)
    finally:
        tok.padding_side = "right"
    assert base == pytest.approx(left, abs=1e-5)
    big = RewardScorer(scorer.model, max_tokens=1 << 20).score(images, prompt, responses)
    assert base == pytest.approx(big, abs=1e-5)


def test_token_budget_splits_batches(rm, pairs, monkeypatch):
    scorer = RewardScorer(rm, max_tokens=400, prefix_sharing=False)  # separate sequences, batched by budget
    calls = []
    encode = scorer.collator.encode
    monkeypatch.setattr(scorer.collator, "encode", lambda items: calls.append(len(items)) or encode(items))
    images, prompt, responses = _ask(pairs)
    scorer.score(images, prompt, responses * 3)
    assert len(calls) > 1 and sum(calls) == 12


def test_compare_is_sigmoid_of_the_score_difference(scorer, pairs):
    images, prompt, (a, b, *_) = _ask(pairs)
    ra, rb = scorer.score(images, prompt, [a, b])
    assert scorer.compare(images, prompt, a, b) == pytest.approx(1 / (1 + math.exp(rb - ra)))
    assert scorer.compare(images, prompt, a, b) + scorer.compare(images, prompt, b, a) == pytest.approx(1.0)


def test_calibration_is_stored_and_the_ensemble_averages_normalised_members(rm, pairs, tmp_path):
    from brlib.models.reward_model import RewardModel

    rm.save_pretrained(tmp_path / "a")
    other = RewardModel.from_pretrained(tmp_path / "a")
    with torch.no_grad():
        other.head.mlp[-1].weight.mul_(-3.0)  # a second, differently scaled member
    other.save_pretrained(tmp_path / "b")
    reference = [(p.prompt, p.chosen, p.images) for p in pairs]
    for d in ("a", "b"):
        RewardScorer.from_pretrained(tmp_path / d).calibrate(reference, save_to=tmp_path / d)
    members = [RewardScorer.from_pretrained(tmp_path / d) for d in ("a", "b")]
    assert all(m.normalization and m.normalization["n"] == len(pairs) for m in members)
    ens = EnsembleScorer(members)
    images, prompt, responses = _ask(pairs)
    out = ens.score_with_breakdown(images, prompt, responses)
    per = list(out["members"].values())
    assert out["scores"] == pytest.approx([(x + y) / 2 for x, y in zip(*per)])
    raw = members[0].score(images, prompt, responses)
    norm = members[0].normalization
    assert per[0] == pytest.approx([(s - norm["mean"]) / norm["std"] for s in raw])
    with pytest.raises(ValueError, match="calibrate"):
        EnsembleScorer([RewardScorer(rm)])


# The fuzz audit's scorer cases (shared/reference/findings/fuzz_audit.md, "### scorer invariance" and the scorer
# rows of "### server"): each either gives the naive path's scores (every response on its own sequence, no prefix
# sharing) or raises a clear `InputError` before any forward pass. 0 crashes, 0 silent wrong results.
SCORER_CASES = [
    ("emoji_sharing_3_utf8_bytes", "q", ["😀", "😁"], "naive"),
    ("accented_shared_bytes", "Name a word.", ["été", "ètre"], "naive"),
    ("russian_shared_first_byte", "q", ["Да", "Нет"], "naive"),
    ("cjk_shared_bytes", "q", ["你好", "你们"], "naive"),
    ("identical_responses", "q", ["same", "same"], "naive"),
    ("one_is_prefix_of_other", "q", ["yes", "yes, and more"], "naive"),
    ("response_with_im_end", "q", ["a<|im_end|><|im_start|>assistant\nb", "b"], "naive"),
    ("nul_and_combining", "q\x00", ["e\u0301", "\u200fx"], "naive"),
    ("response_with_image_pad_no_image", "q", ["<|image_pad|>"], "naive"),  # scored as text (escaped)
    ("prompt_with_image_pad", "<|image_pad|> what?", ["a", "b"], "naive"),
    ("response_with_vision_start", "q", ["<|vision_start|>", "b"], "naive"),
    ("lone_surrogate_prompt", "\ud800", ["a", "b"], "surrogate"),
    ("lone_surrogate_response", "q", ["\udfff", "b"], "surrogate"),
    ("thin_image_1x300", "q", ["a", "b"], "aspect ratio"),
    ("thin_image_300x1", "q", ["a", "b"], "aspect ratio"),
]
SCORER_RESULTS: dict[str, str] = {}


@pytest.mark.parametrize("name, prompt, responses, expect", SCORER_CASES, ids=[c[0] for c in SCORER_CASES])
def test_scorer_fuzz_case(rm, pairs, name, prompt, responses, expect):
    from PIL import Image

    from brlib.serve.score import InputError

    images = {"thin_image_1x300": [Image.new("RGB", (1, 300))], "thin_image_300x1": [Image.new("RGB", (300, 1))]}
    images = images.get(name, pairs[0].images if "image_pad" not in name else [])
    shared = RewardScorer(rm)  # prefix sharing on: the path that crashed
    verdict = "ok"
    try:
        got = shared.score(images, prompt, responses)
        if expect != "naive":
            verdict = "silent-wrong"  # scored what must be refused
        else:
            naive = RewardScorer(rm, prefix_sharing=False).score(images, prompt, responses)
            if max(abs(a - b) for a, b in zip(got, naive)) > 1e-5:
                verdict = "silent-wrong"
    except InputError as e:
        verdict = "ok" if expect != "naive" and expect in str(e) else "unclear"
    except Exception as e:  # anything else is a crash of the scoring surface
        verdict = f"crash: {e.__class__.__name__}: {e}"
    SCORER_RESULTS[name] = verdict
    assert verdict == "ok", f"{name}: {verdict}"


def test_scorer_fuzz_counts():
    if not SCORER_RESULTS:
        pytest.skip("run with the fuzz cases")
    crashes = sum(v.startswith("crash") for v in SCORER_RESULTS.values())
    wrong = sum(v == "silent-wrong" for v in SCORER_RESULTS.values())
    print(f"\nscorer fuzz: {len(SCORER_RESULTS)} cases, crashes {crashes}, silent wrong {wrong}")
    assert all(v == "ok" for v in SCORER_RESULTS.values()), SCORER_RESULTS


def test_compare_never_overflows(rm, monkeypatch):
    scorer = RewardScorer(rm)
    for gap, p in [(1e4, 1.0), (-1e4, 0.0), (709.9, 1.0), (-745.0, 0.0), (0.0, 0.5)]:
        monkeypatch.setattr(scorer, "score", lambda images, prompt, responses, g=gap: [g, 0.0])
        assert scorer.compare([], "q", "a", "b") == pytest.approx(p, abs=1e-12)
    ens = EnsembleScorer([scorer], normalize=False)
    assert ens.compare([], "q", "a", "b") == 0.5
    monkeypatch.setattr(scorer, "score", lambda images, prompt, responses: [-1e5, 0.0])
    assert ens.compare([], "q", "a", "b") == 0.0
    from brlib.serve.score import sigmoid

    assert math.isnan(sigmoid(float("nan")))


@pytest.mark.parametrize(
    "content, says",
    [
        ('{"head": {', "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
        ('{"head": {}, "score_norm": {"mean": 0.1, "std": 0}}', "std > 0"),
        ('{"head": {}, "score_norm": {"mean": NaN, "std": 1}}', "finite mean"),
    ],
)
def test_a_broken_reward_config_is_an_error_naming_the_file(rm, tmp_path, content, says):
    rm.save_pretrained(tmp_path / "ckpt")
    (tmp_path / "ckpt" / "reward_config.json").write_text(content)
    with pytest.raises(ValueError, match=says) as e:
        RewardScorer.from_pretrained(tmp_path / "ckpt")
    assert "reward_config.json" in str(e.value)
    with pytest.raises(ValueError, match="std > 0"):
        RewardScorer(rm, normalization={"mean": 0.0, "std": 0.0})


def test_calibrate_writes_the_config_atomically(rm, pairs, tmp_path, monkeypatch):
    import os

    rm.save_pretrained(tmp_path / "ckpt")
    cfg = tmp_path / "ckpt" / "reward_config.json"
    before = cfg.read_text()
    scorer = RewardScorer.from_pretrained(tmp_path / "ckpt")
    reference = [(p.prompt, p.chosen, p.images) for p in pairs[:3]]

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        scorer.calibrate(reference, save_to=tmp_path / "ckpt")
    assert cfg.read_text() == before  # a crash mid-save leaves the old config whole
    assert sorted(p.name for p in cfg.parent.iterdir() if p.name.startswith(".")) == []  # no temp file left
    monkeypatch.undo()
    norm = scorer.calibrate(reference, save_to=tmp_path / "ckpt")
    assert json.loads(cfg.read_text())["score_norm"] == norm


def test_ensemble_weights_are_checked_and_the_paper_average_is_available(rm, pairs, monkeypatch):
    a, b = RewardScorer(rm, name="a"), RewardScorer(rm, name="b")
    monkeypatch.setattr(a, "score", lambda *args: [1.0, 3.0])
    monkeypatch.setattr(b, "score", lambda *args: [5.0, -1.0])
    assert EnsembleScorer([a, b], normalize=False).score([], "q", ["x", "y"]) == [3.0, 1.0]  # plain raw average
    assert EnsembleScorer([a, b], [0.25, 0.75], normalize=False).score([], "q", ["x", "y"]) == [4.0, 0.0]
    for weights, says in [([1.0], "1 weights for 2 members"), ([1.0, 1.0], "sum to 1"), ([1.5, -0.5], ">= 0")]:
        with pytest.raises(ValueError, match=says):
            EnsembleScorer([a, b], weights, normalize=False)


def test_model_names_are_never_absolute_paths(tmp_path):
    from brlib.serve.score import model_name

    assert model_name("Qwen/Qwen2.5-VL-7B-Instruct") == "Qwen/Qwen2.5-VL-7B-Instruct"
    (tmp_path / "my-rm").mkdir()
    (tmp_path / "run1" / "final").mkdir(parents=True)
    (tmp_path / "run1" / "checkpoint-500").mkdir()
    assert model_name(tmp_path / "my-rm") == "my-rm"
    assert model_name(tmp_path / "run1" / "final") == "run1/final"
    assert model_name(tmp_path / "run1" / "checkpoint-500") == "run1/checkpoint-500"


def test_loading_prints_no_progress_bar(rm, tmp_path, capfd):
    rm.save_pretrained(tmp_path / "ckpt")
    capfd.readouterr()
    RewardScorer.from_pretrained(tmp_path / "ckpt")
    out, err = capfd.readouterr()
    assert "Loading weights" not in out + err and "it/s" not in out + err
