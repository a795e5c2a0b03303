"""Prefix sharing: shared-prefix scores and gradients equal the model's own naive forward (fp32, 1e-4)."""

import pytest
import torch

from brlib.data import Pair, PairCollator
from brlib.models.prefix import FLEX, SHAREABLE, SharedPrefixCollator, SharingUnsupported, attention_for, common_prefix


def test_common_prefix():
    assert common_prefix([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix([1], [2]) == 0
    assert common_prefix([1, 2], [1, 2, 3]) == 2


def _ragged(pairs):
    out = list(pairs)
    p = pairs[0]
    out.append(
        Pair(p.prompt, p.chosen + " It is also worth adding a much longer tail to this answer.", "No.", p.images)
    )  # ragged branch lengths
    t = [x for x in pairs if not x.images][0]
    out.append(Pair(t.prompt, "Yes", t.rejected + " and then some more words", []))
    return out


def _naive(rm, pairs):
    return rm(**PairCollator(rm.processor, 4096)(pairs))


def _shared(rm, pairs):
    return rm(**SharedPrefixCollator(rm.processor, 4096)(pairs))


@pytest.mark.parametrize("which", ["images", "text", "mixed"])
def test_shared_scores_equal_the_naive_forward(rm, pairs, which):
    sel = {
        "images": [p for p in pairs if p.images],
        "text": [p for p in pairs if not p.images],
        "mixed": _ragged(pairs),
    }[which]
    with torch.no_grad():
        naive, shared = _naive(rm, sel), _shared(rm, sel)
    assert naive.shape == shared.shape == (2 * len(sel),)
    torch.testing.assert_close(shared, naive, atol=1e-4, rtol=0)


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2"])
def test_the_other_tiny_families_share_exactly(tmp_path, pairs, family):
    """Notebooks 04-08 train Qwen2-VL and the text-only Qwen2 LM with prefix sharing too (tiny ablation budget)."""
    from brlib import world
    from brlib.models import backbones
    from brlib.models.reward_model import RewardModel

    d = backbones.build_tiny_backbone(tmp_path, world.corpus(n=300), family=family, size="xxs", seed=0)
    rm = RewardModel.from_pretrained(d).eval()
    sel = _ragged(pairs) if family != "qwen2" else [p for p in pairs if not p.images][:6]
    with torch.no_grad():
        naive, shared = _naive(rm, sel), _shared(rm, sel)
    torch.testing.assert_close(shared, naive, atol=1e-4, rtol=0)


def test_shared_gradients_match(backbone_dir, pairs):
    from brlib.models.reward_model import RewardModel

    grads = []
    for fn in (_naive, _shared):
        rm = RewardModel.from_pretrained(backbone_dir).train()
        scores = fn(rm, _ragged(pairs))
        n = len(scores) // 2
        torch.nn.functional.logsigmoid(scores[:n] - scores[n:]).mean().neg().backward()
        grads.append({k: p.grad.clone() for k, p in rm.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for k in grads[0]:
        torch.testing.assert_close(grads[1][k], grads[0][k], atol=1e-4, rtol=1e-3, msg=k)


def test_vision_tower_runs_once_per_pair(rm, pairs):
    img = [p for p in pairs if p.images][:3]
    naive = PairCollator(rm.processor, 4096)(img)
    shared = SharedPrefixCollator(rm.processor, 4096)(img)
    assert shared["pixel_values"].shape[0] * 2 == naive["pixel_values"].shape[0]
    assert shared["input_ids"].shape[0] == len(img) and naive["input_ids"].shape[0] == 2 * len(img)


def test_group_of_eight_scores_like_eight_sequences(rm, pairs):
    p = [x for x in pairs if x.images][0]
    responses = [p.chosen, p.rejected] + [f"There are {k} objects." for k in range(6)]
    col = SharedPrefixCollator(rm.processor, 4096)
    with torch.no_grad():
        shared = rm(**col.encode_groups([(p.prompt, responses, p.images)]))
        naive = rm(**PairCollator(rm.processor, 4096).encode([(p.prompt, r, p.images) for r in responses]))
    torch.testing.assert_close(shared, naive, atol=1e-4, rtol=0)


def test_training_with_prefix_sharing_follows_the_naive_loss_curve(tmp_path, world_dir, backbone_dir):
    from brlib.train import TrainConfig, train

    data = [
        {"format": "rlaif_v", "path": str(world_dir / "train" / "rlaif_v.parquet")},
        {"format": "skywork", "path": str(world_dir / "train" / "text.parquet")},
    ]
    losses = []
    for shared in (False, True):
        cfg = TrainConfig(
            model=str(backbone_dir),
            output_dir=str(tmp_path / str(shared)),
            train_data=data,
            lr=1e-3,
            batch_size=4,
            num_steps=3,
            precision="fp32",
            log_every=1,
            prefix_sharing=shared,
        )
        losses.append([h["loss"] for h in train(cfg, progress=False)["history"]])
    assert len(losses[0]) == 3
    assert losses[1] == pytest.approx(losses[0], abs=1e-4)


def test_scorer_scores_a_group_like_separate_sequences(rm, pairs):
    from brlib.serve.score import RewardScorer

    p = [x for x in pairs if x.images][0]
    responses = [p.chosen, p.rejected, "No.", p.chosen + " Sure."]
    scorer = RewardScorer(rm)
    grouped = scorer.score_group(p.images, p.prompt, responses)
    separate = scorer.score_items([(p.prompt, r, p.images) for r in responses])
    assert grouped == pytest.approx(separate, abs=1e-4)
    assert scorer.score(p.images, p.prompt, responses) == grouped  # the default path for several responses


@pytest.fixture(scope="module")
def rm_by_impl(backbone_dir):
    """The same tiny checkpoint loaded under each attention implementation prefix sharing supports."""
    from brlib.models.reward_model import RewardModel

    impls = {i: i for i in SHAREABLE if i != "flex_attention"}  # Qwen-VL declares no flex: brlib_flex instead
    impls[FLEX] = {"text_config": FLEX, "vision_config": "sdpa"}
    return {i: RewardModel.from_pretrained(backbone_dir, attn_implementation=v).eval() for i, v in impls.items()}


@pytest.mark.parametrize("impl", ["sdpa", "eager", FLEX])
def test_every_attention_implementation_gives_the_naive_scores(rm_by_impl, pairs, impl):
    rm = rm_by_impl[impl]
    assert rm.attn_implementation() == impl
    sel = _ragged(pairs)
    with torch.no_grad():
        naive, shared = _naive(rm_by_impl["sdpa"], sel), _shared(rm, sel)
    torch.testing.assert_close(shared, naive, atol=1e-4, rtol=0)  # eager used to be off by ~0.7 (bool added as 0/1)


def test_eager_gets_an_additive_mask_and_flash_attention_is_refused():
    mask = torch.tensor([[[[True, False], [True, True]]]])
    add = attention_for(mask, "eager", torch.bfloat16)
    assert add.dtype == torch.bfloat16 and add[0, 0, 1, 1] == 0 and add[0, 0, 0, 1] == torch.finfo(torch.bfloat16).min
    assert attention_for(mask, "sdpa", torch.float32) is mask
    with pytest.raises(SharingUnsupported, match="flash_attention_2"):
        attention_for(mask, "flash_attention_2", torch.bfloat16)


@pytest.mark.parametrize(
    "responses", [["été", "ètre"], ["Да", "Нет"], ["😀 yes", "😁 no"], ["Sure, red.", "Sure, blue."]]
)
def test_shared_prefix_never_round_trips_text(rm, pairs, responses):
    """Responses whose common tokens end inside a multi-byte character used to crash scoring (server, GRPO)."""
    from brlib.serve.score import RewardScorer

    img = [p for p in pairs if p.images][0].images
    scorer = RewardScorer(rm)
    grouped = scorer.score_group(img, "Name a word.", responses)
    separate = scorer.score_items([("Name a word.", r, img) for r in responses])
    assert grouped == pytest.approx(separate, abs=1e-4)


def test_the_prefix_is_the_prompt_template_only(rm):
    enc = SharedPrefixCollator(rm.processor, 4096).encode_groups(
        [("Q?", ["Sure, it is red.", "Sure, it is blue."], [])]
    )
    tok = rm.processor.tokenizer
    prefix_len = int(enc["read_index"][0, 0]) - len(tok("Sure, it is red.<|im_end|>\n").input_ids) + 1
    prefix = tok.decode(enc["input_ids"][0, :prefix_len])
    assert prefix.endswith("<|im_start|>assistant\n") and "Sure" not in prefix  # shared words stay in the branches
