import json
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from brlib.experiments import profiles
from brlib.train import NonFiniteLossError, TrainConfig, load_pairs, train


def _cfg(backbone_dir, world_dir, out, **kw):
    base = dict(
        model=str(backbone_dir),
        output_dir=str(out),
        train_data=[
            {"format": "rlaif_v", "path": str(world_dir / "train" / "rlaif_v.parquet")},
            {"format": "skywork", "path": str(world_dir / "train" / "text.parquet")},
        ],
        eval_data=[{"format": "rlaif_v", "path": str(world_dir / "heldout" / "rlaif_v.parquet"), "source": "ho"}],
        lr=1e-3,
        batch_size=4,
        grad_accum=2,
        num_steps=4,
        max_length=512,
        precision="fp32",
        log_every=1,
        eval_every=2,
    )
    return TrainConfig(**{**base, **kw})


def test_resume_is_exact(backbone_dir, world_dir, tmp_path):
    full = train(_cfg(backbone_dir, world_dir, tmp_path / "a"), progress=False)
    part = train(_cfg(backbone_dir, world_dir, tmp_path / "b"), progress=False, stop_at=2)
    assert part["stopped_at"] == 2 and (tmp_path / "b" / "checkpoints" / "step_2").exists()
    resumed = train(_cfg(backbone_dir, world_dir, tmp_path / "b"), progress=False)
    a = load_file(str(tmp_path / "a" / "checkpoints" / "step_4" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "checkpoints" / "step_4" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    strip = lambda h: [{k: v for k, v in r.items() if k != "elapsed_s"} for r in h]  # noqa: E731
    assert strip(full["history"]) == strip(resumed["history"])
    assert [r["step"] for r in resumed["history"]] == [1, 2, 3, 4]


def test_same_seed_same_numbers_and_seed_matters(backbone_dir, world_dir, tmp_path):
    h1 = train(_cfg(backbone_dir, world_dir, tmp_path / "x", num_steps=2), progress=False)["history"]
    h2 = train(_cfg(backbone_dir, world_dir, tmp_path / "y", num_steps=2), progress=False)["history"]
    h3 = train(_cfg(backbone_dir, world_dir, tmp_path / "z", num_steps=2, seed=1), progress=False)["history"]
    assert [r["loss"] for r in h1] == [r["loss"] for r in h2]
    assert [r["loss"] for r in h1] != [r["loss"] for r in h3]


def test_nan_loss_stops_with_step_and_batch(rm, backbone_dir, world_dir, tmp_path):
    from brlib.models.reward_model import RewardModel

    broken = RewardModel.from_pretrained(backbone_dir)
    with torch.no_grad():
        broken.head.mlp[-1].weight.fill_(float("nan"))
    broken.save_pretrained(tmp_path / "nan_model")
    cfg = _cfg(tmp_path / "nan_model", world_dir, tmp_path / "run")
    with pytest.raises(NonFiniteLossError, match=r"at step 0, micro-batch 0: pairs \["):
        train(cfg, progress=False)


def test_bf16_training_runs_and_changes_the_weights(backbone_dir, world_dir, tmp_path):
    from brlib.models.reward_model import RewardModel

    result = train(_cfg(backbone_dir, world_dir, tmp_path / "bf16", num_steps=2, precision="bf16"), progress=False)
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in result["history"])
    before = RewardModel.from_pretrained(backbone_dir).head.state_dict()
    after = RewardModel.from_pretrained(result["final"]).head.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_metrics_log_and_data_report_are_written(backbone_dir, world_dir, tmp_path):
    train(_cfg(backbone_dir, world_dir, tmp_path / "r", num_steps=2), progress=False)
    lines = (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2]
    assert "eval_acc" in json.loads(lines[-1])
    report = json.loads((tmp_path / "r" / "data_report.json").read_text())
    assert all(v.startswith("read ") for v in report.values())
    assert (tmp_path / "r" / "final" / "reward_head.safetensors").exists()


def test_cli_runs_a_yaml_config(backbone_dir, world_dir, tmp_path):
    path = _cfg(backbone_dir, world_dir, tmp_path / "cli", num_steps=2, eval_every=0).to_yaml(tmp_path / "c.yaml")
    out = subprocess.run([sys.executable, "-m", "brlib.train", str(path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1])["step"] == 2


def test_unknown_config_key_is_rejected(tmp_path):
    (tmp_path / "c.yaml").write_text("model: x\noutput_dir: y\nlearning_rate: 1\n")
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig.from_yaml(tmp_path / "c.yaml")


@pytest.mark.slow
def test_tiny_training_is_above_chance_and_reads_the_image():
    """The default tiny profile (its -Instruct stage, the RM trimmed to 150 steps) on held-out tiny-world pairs: above
    chance overall, and on perception clearly worse when each pair's image is swapped for another's of the family."""
    from brlib import data
    from brlib.experiments import seeing
    from brlib.models.reward_model import RewardModel

    cfg = profiles.load("tiny", smoke=False, steps=150)
    prepared = profiles.prepare(cfg)
    result = profiles.run_arm(cfg, prepared, seed=0, progress=False)
    rm = RewardModel.from_pretrained(result["final"])
    col = data.PairCollator(rm.processor, cfg.train["max_length"])
    heldout = [p for spec in prepared["eval_data"] for p in load_pairs(spec)]
    table = seeing.control(rm, col, heldout).set_index("family")
    acc = sum(table["true"] * table["n"]) / table["n"].sum()
    assert acc > 0.6, table
    assert table.loc["perception", "gap"] > 0.1, table
    assert abs(table.loc["safety", "gap"]) < 0.05, table  # decided by the request, not the image
    assert result["history"][-1]["eval_acc"] == pytest.approx(acc, abs=1e-6)


def test_paper_recipes_parse_and_divide_over_64_gpus():
    from pathlib import Path

    from brlib.data.mixture import MixtureSpec

    root = Path(__file__).resolve().parent.parent
    recipes = sorted((root / "configs" / "paper").glob("*.yaml"))
    assert len(recipes) == 2
    for path in recipes:
        cfg = TrainConfig.from_yaml(path)
        assert cfg.lr == 3e-6 and cfg.batch_size == 128 and cfg.batch_size % (64 * cfg.grad_accum) == 0
        spec = MixtureSpec.from_yaml(root / cfg.mixture)
        assert len(spec.sources) == 8 and all(s.path is None for s in spec.sources)  # Hub ids in the paper profile


def test_lora_trains_adapter_and_full_head_and_saves_both(backbone_dir, world_dir, tmp_path):
    from safetensors.torch import load_file

    from brlib.models.reward_model import RewardModel

    result = train(
        _cfg(backbone_dir, world_dir, tmp_path / "lora", num_steps=2, lora={"r": 4, "lora_alpha": 8}), progress=False
    )
    final = result["final"]
    assert (final / "adapter" / "adapter_model.safetensors").exists()
    head_in_adapter = load_file(str(final / "adapter" / "reward_head.safetensors"))
    head_in_final = load_file(str(final / "reward_head.safetensors"))
    assert all(torch.equal(head_in_adapter[k], head_in_final[k]) for k in head_in_final)
    base = RewardModel.from_pretrained(backbone_dir)
    merged = RewardModel.from_pretrained(final)
    assert not torch.equal(base.head.mlp[0].weight, merged.head.mlp[0].weight)  # the head was trained
    b, m = base.backbone.state_dict(), merged.backbone.state_dict()
    assert torch.equal(b["language_model.embed_tokens.weight"], m["language_model.embed_tokens.weight"])
    assert any(not torch.equal(b[k], m[k]) for k in b if "q_proj.weight" in k)  # LoRA deltas merged in


def test_text_only_batches_still_run_the_vision_tower_without_changing_scores(rm, pairs):
    from brlib.data import PairCollator

    text = [p for p in pairs if not p.images]
    batch = PairCollator(rm.processor)(text)
    rm.train()
    try:
        plain = rm(**batch)
        rm.vision_in_every_batch = True
        anchored = rm(**batch)
        rm.zero_grad(set_to_none=True)
        anchored.sum().backward()
        grads = [p.grad for p in rm.backbone.visual.parameters()]
    finally:
        rm.vision_in_every_batch = False
        rm.eval()
        rm.zero_grad(set_to_none=True)
    assert torch.equal(plain, anchored)
    # every vision parameter took part in the graph (no DDP/FSDP hang), with exactly zero gradient
    assert grads and all(g is not None and torch.count_nonzero(g) == 0 for g in grads)


def test_the_length_norm_arm_exports_a_length_normalised_reward(tmp_path, world_dir, backbone_dir):
    """Figure 1's length-norm arm is evaluated on r / log(len + 1), the quantity its loss ranked (not raw r)."""
    cfg = TrainConfig(
        model=str(backbone_dir),
        output_dir=str(tmp_path / "ln"),
        lr=1e-3,
        batch_size=4,
        num_steps=2,
        precision="fp32",
        loss={"length_norm": True},
        train_data=[{"format": "rlaif_v", "path": str(world_dir / "train" / "rlaif_v.parquet")}],
    )
    final = train(cfg, progress=False)["final"]
    assert json.loads((final / "reward_config.json").read_text())["length_norm"] is True


def test_vision_lr_is_its_own_optimizer_group_and_pixel_limits_reach_the_processor(backbone_dir, world_dir):
    from brlib.models.optim import param_groups
    from brlib.train.loop import build

    cfg = TrainConfig(
        model=str(backbone_dir),
        output_dir="unused",
        lr=1e-3,
        vision_lr=1e-4,
        min_pixels=28 * 28,
        max_pixels=56 * 56,
        train_data=[{"format": "rlaif_v", "path": str(world_dir / "train" / "rlaif_v.parquet")}],
    )
    model, *_ = build(cfg)
    groups = param_groups(model, cfg.lr, cfg.vision_lr)
    assert [g["lr"] for g in groups] == [1e-3, 1e-4]
    vision = {id(p) for p in model.backbone.visual.parameters()}
    assert {id(p) for p in groups[1]["params"]} == vision and not vision & {id(p) for p in groups[0]["params"]}
    assert len(param_groups(model, 1e-3, None)) == 1  # no vision_lr: one group, as before
    size = model.processor.image_processor.size
    assert (size["shortest_edge"], size["longest_edge"]) == (28 * 28, 56 * 56)
    with pytest.raises(ValueError, match="min_pixels"):
        TrainConfig(model="m", output_dir="o", min_pixels=100, max_pixels=10)
