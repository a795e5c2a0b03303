"""RL rewards for TRL's GRPOTrainer: parsing TRL's inputs, rule/RM/hybrid rewards, images reaching the RM."""

import math

import pytest

from brlib import world
from brlib.serve import rl


def _msgs(text, image=None):
    content = ([{"type": "image", "image": image}] if image is not None else []) + [{"type": "text", "text": text}]
    return [{"role": "user", "content": content}]


def test_parsing_of_trl_prompts_and_completions():
    assert rl.strip_vision_tokens("<|vision_start|><|image_pad|>It is red.<|vision_end|>") == "It is red."
    assert rl.completion_text([{"role": "assistant", "content": "It is <|image_pad|>red."}]) == "It is red."
    assert rl.completion_text("plain") == "plain"
    img = world.generate(1, 0, ["perception"])[0].image
    assert rl.prompt_parts(_msgs("Q?", img)) == ("Q?", [img])
    assert rl.prompt_parts([{"role": "user", "content": "Q?"}], image=img) == ("Q?", [img])  # dataset column
    assert rl.matches("3 + 4 = 7. Answer: b", "3 + 4 = 7. Answer: B")
    assert rl.matches("It is red", "It is red.") and not rl.matches("It is blue.", "It is red.")
    truth = "The image shows a red circle at the top left, a blue square at the center."
    assert rl.faithful("The image shows a blue square at the center.", truth)
    assert not rl.faithful("The image shows a green square at the center.", truth)
    assert not rl.faithful("", truth)
    two = "The image shows a blue square at the center, a red circle at the bottom."
    assert rl.phrase_precision(two, truth) == 0.5 and rl.phrase_precision("", truth) == 0.0


class _Recorder:
    def __init__(self, normalization=None):
        self.calls = []
        self.normalization = normalization

    def normalized(self, scores):
        n = self.normalization
        return [(s - n["mean"]) / n["std"] for s in scores] if n else list(scores)

    def score(self, images, prompt, responses):
        self.calls.append((list(images), prompt, list(responses)))
        return [float(len(r)) - 5.0 for r in responses]


def test_rewards_by_scheme_and_groups_share_one_call():
    img = world.generate(1, 0, ["perception"])[0].image
    prompts = [_msgs("Q?", img)] * 3 + [_msgs("Other?", img)]
    comps = [[{"role": "assistant", "content": c}] for c in ["It is red.", "It is blue.", "x", "It is red."]]
    answers = ["It is red."] * 4
    log = []
    assert rl.GRPOReward("rule", log=log)(prompts, comps, answer=answers) == [1.0, 0.0, 0.0, 1.0]
    rec = _Recorder()
    raw = rl.GRPOReward("basereward", rec, log)(prompts, comps, answer=answers)
    assert [len(c[2]) for c in rec.calls] == [3, 1]  # the group of three completions is scored together
    assert all(c[0] == [img] for c in rec.calls)  # the image reaches the reward model
    norm = {"mean": 4.0, "std": 2.0}
    hybrid = rl.GRPOReward("hybrid", _Recorder(norm), log)(prompts, comps, answer=answers)
    assert hybrid[0] == 1.0 and hybrid[1] == pytest.approx(1 / (1 + math.exp(-(raw[1] - 4.0) / 2.0)))
    assert set(log[-1]) >= {"reward", "rule_match", "disagreement", "length_words", "rm_score"}
    assert log[-1]["rm_calibrated"] is True
    with pytest.raises(ValueError, match="needs a reward-model scorer"):
        rl.GRPOReward("hybrid")
    with pytest.raises(ValueError, match="calibrated scorer"):  # sigma(raw score) would depend on the RM's offset
        rl.GRPOReward("hybrid", _Recorder())


def test_hybrid_reward_does_not_depend_on_the_reward_models_offset():
    img = world.generate(1, 0, ["perception"])[0].image
    prompts = [_msgs("Q?", img)] * 3
    comps = [[{"role": "assistant", "content": c}] for c in ["It is red.", "It is blue.", "It is green, surely."]]
    answers = ["It is red."] * 3

    class Shifted(_Recorder):
        def score(self, images, prompt, responses):
            return [s + 1000.0 for s in super().score(images, prompt, responses)]  # exp(1000) would overflow

    plain = rl.GRPOReward("hybrid", _Recorder({"mean": 0.0, "std": 1.0}))(prompts, comps, answer=answers)
    shifted = rl.GRPOReward("hybrid", Shifted({"mean": 1000.0, "std": 1.0}))(prompts, comps, answer=answers)
    assert shifted == pytest.approx(plain)
    assert rl.sigmoid(-1000.0) == 0.0 and rl.sigmoid(1000.0) == 1.0


def test_rows_from_datasets_are_grouped_by_content_as_trl_calls_the_reward():
    import datasets

    exs = world.generate(2, 0, ["perception"])
    ds = datasets.Dataset.from_list(rl.task_dataset(exs))
    rows = ds.__getitems__([0] * 4 + [1] * 4)  # TRL's repeat sampler: each prompt's G rows, decoded afresh
    images = [r["image"] for r in rows]
    assert images[0] is not images[1] and images[0] == images[1]
    rec = _Recorder()
    comps = [[{"role": "assistant", "content": f"It is {c}."}] for c in "abcdefgh"]
    out = rl.GRPOReward("basereward", rec)([r["prompt"] for r in rows], comps, image=images)
    assert [len(c[2]) for c in rec.calls] == [4, 4]  # one group per prompt, not one call per completion
    assert out == [float(len(f"It is {c}.")) - 5.0 for c in "abcdefgh"]  # scores back in the callers' order
    interleaved = [0, 1, 0, 1]  # a group need not be contiguous
    rec = _Recorder()
    rl.GRPOReward("basereward", rec)(
        [rows[i * 4]["prompt"] for i in interleaved], comps[:4], image=[images[i * 4] for i in interleaved]
    )
    assert [len(c[2]) for c in rec.calls] == [2, 2]


def test_reward_callable_uses_the_image_with_a_trained_rm(tmp_path, world_dir, backbone_dir):
    from brlib.serve.score import RewardScorer
    from brlib.train import TrainConfig, train

    cfg = TrainConfig(
        model=str(backbone_dir),
        output_dir=str(tmp_path / "rm"),
        lr=1e-3,
        batch_size=8,
        num_steps=20,
        precision="fp32",
        train_data=[{"format": "rlaif_v", "path": str(world_dir / "train" / "rlaif_v.parquet")}],
    )
    scorer = RewardScorer.from_pretrained(train(cfg, progress=False)["final"])
    reward = rl.GRPOReward("basereward", scorer)
    ex = world.generate(4, 5, ["perception"])
    comps = [[{"role": "assistant", "content": ex[0].responses[0]}]]
    matching = reward([_msgs(ex[0].prompt, ex[0].image)], comps)
    assert reward([_msgs(ex[0].prompt, ex[0].image)], comps) == matching  # deterministic: the noise floor is 0
    for other in ex[1:]:
        mismatching = reward([_msgs(ex[0].prompt, other.image)], comps)
        assert abs(matching[0] - mismatching[0]) > 1e-6  # same text, another image: another score


@pytest.mark.slow
def test_grpo_runs_with_the_tiny_policy(tmp_path, backbone_dir):
    from brlib.models.judge import ChatLM

    policy = ChatLM.from_pretrained(backbone_dir)
    log = []
    hist = rl.run_grpo(
        policy,
        rl.GRPOReward("rule", log=log),
        world.generate(4, 1, ["perception"]),
        seed=0,
        steps=1,
        out_dir=tmp_path,
        prompts_per_step=1,
        max_completion_length=4,
    )
    assert len(hist) == 1 and "reward" in hist[0] and len(log) == 1
