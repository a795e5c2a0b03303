"""Training engines and checkpoints in one process: config types, fp32 masters, accumulation through accelerate,
clipping and the logged norm, safetensors/JSON-only checkpoints (no pickle), retention, config hash, torn metrics,
strict reward-model loading and the static engine checks."""

import copy
import json
import os
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from brlib.train import TrainConfig, train

ROOT = Path(__file__).resolve().parent.parent


def _cfg(backbone_dir, world_dir, out, **kw):
    base = dict(
        model=str(backbone_dir),
        output_dir=str(out),
        train_data=[
            {"format": "rlaif_v", "path": str(world_dir / "train" / "rlaif_v.parquet")},
            {"format": "skywork", "path": str(world_dir / "train" / "text.parquet")},
        ],
        lr=1e-3,
        batch_size=4,
        num_steps=3,
        max_length=512,
        precision="fp32",
        log_every=1,
    )
    return TrainConfig(**{**base, **kw})


def _strip(history):
    return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in history]


# --- TrainConfig -------------------------------------------------------------------------------------------------


def test_yaml_numbers_read_as_strings_are_coerced_and_bad_types_rejected(tmp_path):
    (tmp_path / "c.yaml").write_text("model: m\noutput_dir: o\nlr: 3e-6\nbatch_size: '64'\n")
    cfg = TrainConfig.from_yaml(tmp_path / "c.yaml")  # PyYAML reads 3e-6 (no dot) as the string "3e-6"
    assert cfg.lr == 3e-6 and isinstance(cfg.lr, float) and cfg.batch_size == 64
    for bad, match in [
        ({"lr": "fast"}, "'lr' must be float"),
        ({"batch_size": 1.5}, "'batch_size' must be int"),
        ({"resume": "no"}, "'resume' must be bool"),
        ({"head": [1]}, "'head' must be dict"),
        ({"grad_accum": 0}, "grad_accum must be >= 1"),
        ({"lr": float("nan")}, "lr must be a finite number"),
    ]:
        with pytest.raises(ValueError, match=match):
            TrainConfig(model="m", output_dir="o", **bad)


def test_fp16_is_a_clear_error_not_silent_fp32():
    with pytest.raises(ValueError, match="fp16 needs loss scaling"):
        TrainConfig(model="m", output_dir="o", precision="fp16")


# --- the loop ----------------------------------------------------------------------------------------------------


def test_bf16_checkpoint_trains_fp32_master_weights_that_all_move(backbone_dir, world_dir, tmp_path):
    from brlib.models.reward_model import RewardModel

    bf16 = RewardModel.from_pretrained(backbone_dir, dtype=torch.bfloat16)
    bf16.save_pretrained(tmp_path / "bf16_model")
    out = tmp_path / "run"
    cfg = _cfg(tmp_path / "bf16_model", world_dir, out, num_steps=1, lr=3e-6, warmup_ratio=0.0, precision="bf16")
    train(cfg, progress=False)
    before = load_file(str(tmp_path / "bf16_model" / "model.safetensors"))
    after = load_file(str(out / "checkpoints" / "step_1" / "model.safetensors"))
    assert all(v.dtype == torch.float32 for v in after.values())  # the optimizer kept fp32 masters
    w = "layers.0.mlp.down_proj.weight"
    moved = (after[f"backbone.language_model.{w}"] != before[f"language_model.{w}"].float()).float().mean().item()
    # Adam's first step moves every weight by ~lr; on bf16 weights a 3e-6 step is below half an ulp.
    assert moved > 0.9, moved


def test_accumulation_syncs_only_on_the_last_micro_batch(backbone_dir, world_dir, tmp_path, monkeypatch):
    from accelerate import Accelerator

    seen, backward = [], Accelerator.backward

    def spy(self, loss, **kw):
        seen.append(self.sync_gradients)
        return backward(self, loss, **kw)

    monkeypatch.setattr(Accelerator, "backward", spy)
    # What `accelerate launch` sets from a DeepSpeed config's `gradient_accumulation_steps: auto`: accelerate's
    # own int() of it crashed the Accelerator; the TrainConfig is the one source of the accumulation.
    monkeypatch.setenv("ACCELERATE_GRADIENT_ACCUMULATION_STEPS", "auto")
    train(_cfg(backbone_dir, world_dir, tmp_path / "r", num_steps=2, grad_accum=4), progress=False)
    # DeepSpeed steps its optimizer on every backward with sync_gradients set: one update per 4 micro-batches.
    assert seen == [False, False, False, True] * 2


def test_accumulated_update_equals_the_full_batch_update(backbone_dir, world_dir, tmp_path):
    one = train(_cfg(backbone_dir, world_dir, tmp_path / "a", batch_size=8, num_steps=3), progress=False)
    four = train(
        _cfg(backbone_dir, world_dir, tmp_path / "b", batch_size=8, grad_accum=4, num_steps=3), progress=False
    )
    for ra, rb in zip(_strip(one["history"]), _strip(four["history"])):
        for k in ("loss", "grad_norm", "train_acc"):
            assert ra[k] == pytest.approx(rb[k], abs=1e-5), (k, ra, rb)


def test_grad_norm_is_logged_and_clipping_uses_it(backbone_dir, world_dir, tmp_path):
    h = train(_cfg(backbone_dir, world_dir, tmp_path / "r", max_grad_norm=1e-3), progress=False)["history"]
    h0 = train(_cfg(backbone_dir, world_dir, tmp_path / "r0", max_grad_norm=0.0), progress=False)["history"]
    assert h[0]["grad_norm"] > 1e-3  # the norm before clipping is what is logged
    assert h[0]["grad_norm"] == pytest.approx(h0[0]["grad_norm"], rel=1e-6)
    # Adam undoes a constant scale, so clipping shows once two steps' gradients were clipped by different factors.
    assert abs(h[2]["loss"] - h0[2]["loss"]) > 1e-6


def test_score_responses_runs_under_no_grad_with_a_token_budget(rm, pairs):
    from brlib.data import PairCollator
    from brlib.evaluate import item_lengths, score_responses, token_batches

    col = PairCollator(rm.processor)
    items = [(p.prompt, p.chosen, p.images) for p in pairs]
    plain = score_responses(rm, col, items, batch_size=32)
    budget = score_responses(rm, col, items, batch_size=32, max_tokens=300)
    assert not torch.is_inference(plain)  # ZeRO-3/FSDP gathers break on inference tensors
    assert torch.allclose(plain, budget, atol=1e-5)
    lengths = item_lengths(col, items)
    for b in token_batches(lengths, 300, 32):
        assert len(b) == 1 or max(lengths[i] for i in b) * len(b) <= 300


# --- checkpoints -------------------------------------------------------------------------------------------------


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {_Payload.marker}",))


def test_checkpoints_are_safetensors_and_json_and_a_planted_pickle_never_runs(backbone_dir, world_dir, tmp_path):
    out = tmp_path / "r"
    cfg = _cfg(backbone_dir, world_dir, out, num_steps=3)
    train(cfg, progress=False, stop_at=2)
    ckpt = out / "checkpoints" / "step_2"
    assert {p.suffix for p in ckpt.iterdir()} == {".safetensors", ".json"}
    _Payload.marker = tmp_path / "pwned"
    for name in ["trainer.pt", "optimizer.pt", "rng_state.pth", "pytorch_model.bin"]:
        (ckpt / name).write_bytes(pickle.dumps({"optimizer": _Payload()}))
    train(cfg, progress=False)
    assert not _Payload.marker.exists()
    src = "\n".join(p.read_text() for p in (ROOT / "brlib").rglob("*.py"))
    assert "weights_only=False" not in src and "torch.load(" not in src and "pickle" not in src


def test_checkpoints_are_fsynced_and_only_the_newest_k_kept(backbone_dir, world_dir, tmp_path, monkeypatch):
    synced, fsync = [], os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), fsync(fd)))
    out = tmp_path / "r"
    train(_cfg(backbone_dir, world_dir, out, num_steps=5, save_every=1, keep_checkpoints=2), progress=False)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step_4", "step_5"]
    assert any(s.endswith("step_5/model.safetensors") for s in synced)  # files, then the directory entries
    assert any(s.endswith("checkpoints") for s in synced) and any("metrics.jsonl" in s for s in synced)


def test_resume_under_a_different_config_is_an_error_unless_allowed(backbone_dir, world_dir, tmp_path):
    from brlib.train.checkpoint import ConfigMismatchError

    out = tmp_path / "r"
    train(_cfg(backbone_dir, world_dir, out, num_steps=4), progress=False, stop_at=2)
    with pytest.raises(ConfigMismatchError, match=r"different: lr\)"):
        train(_cfg(backbone_dir, world_dir, out, num_steps=4, lr=5e-4), progress=False)
    train(_cfg(backbone_dir, world_dir, out, num_steps=4, log_every=2), progress=False)  # logging is not hashed
    resumed = train(_cfg(backbone_dir, world_dir, out, num_steps=5, allow_config_change=True), progress=False)
    assert resumed["history"][-1]["step"] == 5


@pytest.mark.parametrize("damage", ["empty", "torn", "garbage"])
def test_resume_after_a_torn_metrics_log_loses_no_history(backbone_dir, world_dir, tmp_path, damage):
    full = train(_cfg(backbone_dir, world_dir, tmp_path / "full"), progress=False)
    out = tmp_path / "r"
    train(_cfg(backbone_dir, world_dir, out), progress=False, stop_at=2)
    log = out / "metrics.jsonl"
    text = log.read_text()
    log.write_text({"empty": "", "torn": text[: len(text) - 7], "garbage": "\x00\x00{not json\n"}[damage])
    resumed = train(_cfg(backbone_dir, world_dir, out), progress=False)
    assert _strip(resumed["history"]) == _strip(full["history"])
    assert [json.loads(x)["step"] for x in log.read_text().splitlines()] == [1, 2, 3]


# --- strict loading ----------------------------------------------------------------------------------------------


def test_a_reward_model_missing_its_head_or_a_weight_is_an_error_naming_the_file(rm, tmp_path):
    from brlib.models.reward_model import RewardModel

    rm.save_pretrained(tmp_path / "ok")
    RewardModel.from_pretrained(tmp_path / "ok")
    (tmp_path / "ok" / "reward_head.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="reward_head.safetensors is missing"):
        RewardModel.from_pretrained(tmp_path / "ok")
    rm.save_pretrained(tmp_path / "holed")
    weights = load_file(str(tmp_path / "holed" / "model.safetensors"))
    del weights["language_model.layers.0.mlp.up_proj.weight"]
    save_file(weights, str(tmp_path / "holed" / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"lacks or mismatches 1 weights: \[.language_model.layers.0.mlp.up_proj"):
        RewardModel.from_pretrained(tmp_path / "holed")
    rm.save_pretrained(tmp_path / "short_head")
    head = load_file(str(tmp_path / "short_head" / "reward_head.safetensors"))
    head.pop(next(iter(head)))
    save_file(head, str(tmp_path / "short_head" / "reward_head.safetensors"))
    with pytest.raises(ValueError, match="reward_head.safetensors does not match"):
        RewardModel.from_pretrained(tmp_path / "short_head")


# --- static engine checks ----------------------------------------------------------------------------------------

CONFIGS = sorted((ROOT / "configs" / "accelerate").glob("*.yaml"))


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen2_vl"])
def test_every_shipped_accelerate_config_is_valid_for_the_tiny_model_of_either_family(family, tmp_path_factory):
    from brlib import world
    from brlib.models import backbones
    from brlib.models.reward_model import RewardModel
    from brlib.train.engines import check

    d = tmp_path_factory.mktemp(family)
    bb = backbones.build_tiny_backbone(d, world.corpus(n=300), family=family, size="xs", seed=0)
    model = RewardModel.from_pretrained(bb, dtype=torch.float32)
    for path in CONFIGS:
        procs = 64 if "multinode" in path.name else 8
        cfg = TrainConfig(model=str(bb), output_dir="o", batch_size=128, grad_accum=128 // (2 * procs))
        results = {name: (ok, msg) for name, ok, msg in check(path, cfg, model)}
        assert results["batch"][0] and results["fp32_trainable"][0], (path.name, results)
        if "fsdp" in path.name:
            assert results["wrap_classes"][0], results["wrap_classes"]
            assert results["wrap_classes"][1].startswith("derived")


def test_static_checks_catch_what_would_fail_at_launch(rm, tmp_path):
    from brlib.train.engines import check

    fsdp = (ROOT / "configs" / "accelerate" / "fsdp.yaml").read_text()
    both = fsdp.replace(
        "fsdp_version: 2\n", "fsdp_version: 2\n  fsdp_transformer_layer_cls_to_wrap: Qwen2VLDecoderLayer\n"
    )
    (tmp_path / "bad.yaml").write_text(both)
    bf16 = copy.deepcopy(rm).to(torch.bfloat16)  # not the shared fixture: a round trip through bf16 is lossy
    cfg = TrainConfig(model="m", output_dir="o", batch_size=100)
    results = {n: (ok, m) for n, ok, m in check(tmp_path / "bad.yaml", cfg, bf16)}
    assert not results["wrap_classes"][0] and "Qwen2VLDecoderLayer" in results["wrap_classes"][1]
    assert not results["batch"][0]  # 100 pairs over 8 processes
    assert not results["fp32_trainable"][0]
    zero = check(ROOT / "configs" / "accelerate" / "zero3.yaml", TrainConfig(model="m", output_dir="o"))
    ds = {n: ok for n, ok, _ in zero}
    try:
        import deepspeed  # noqa: F401

        assert ds["deepspeed"]
    except ImportError:
        assert not ds["deepspeed"]


def _seven_b(family: str):
    """A Qwen-VL 7B-shaped RewardModel on the meta device (no weights, no download): its classes and dtypes."""
    import transformers

    from brlib.models.head import RewardHead
    from brlib.models.reward_model import RewardModel

    text = dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28)
    text.update(num_key_value_heads=4, vocab_size=152064)
    vision = dict(depth=32, embed_dim=1280, hidden_size=1280, num_heads=16, out_hidden_size=3584)
    if family == "qwen2_5_vl":
        cfg = transformers.Qwen2_5_VLConfig(text_config=text, vision_config={**vision, "intermediate_size": 3420})
    else:
        cfg = transformers.Qwen2VLConfig(text_config=text, vision_config={**vision, "hidden_size": 3584})
    with torch.device("meta"):
        return RewardModel(transformers.AutoModel.from_config(cfg, dtype=torch.float32), RewardHead(3584))


@pytest.mark.parametrize("recipe", ["basereward_qwen25vl_7b", "basereward_qwen2vl_7b"])
def test_every_shipped_accelerate_config_is_valid_for_the_7b_recipes(recipe):
    from brlib.train.engines import check

    cfg = TrainConfig.from_yaml(ROOT / "configs" / "paper" / f"{recipe}.yaml")
    model = _seven_b("qwen2_5_vl" if "25" in recipe else "qwen2_vl")
    assert 7.5e9 < sum(p.numel() for p in model.parameters()) < 9.5e9
    for path in CONFIGS:
        procs = 64 if "multinode" in path.name else 8
        cfg.grad_accum = 128 // (2 * procs)  # 2 pairs per GPU, as the README's table runs it
        results = {name: (ok, msg) for name, ok, msg in check(path, cfg, model)}
        failed = {k: v for k, v in results.items() if not v[0] and k != "deepspeed"}  # CI has no deepspeed
        assert not failed, (path.name, failed)
        assert results["batch"][1].startswith("128 pairs = 2 per process")


def test_benchmark_scoring_after_training_uses_the_gpu_bf16_and_a_token_budget(rm, tmp_path, monkeypatch):
    from brlib.experiments import ablation, profiles
    from brlib.models.reward_model import RewardModel

    seen = {}
    monkeypatch.setattr(
        profiles, "run_arm", lambda *a, **k: {"final": tmp_path / "final", "history": [], "config_hash": "x"}
    )
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(
        RewardModel, "from_pretrained", classmethod(lambda cls, p, dtype=None: seen.update(dtype=dtype) or rm)
    )
    monkeypatch.setattr(RewardModel, "to", lambda self, device: seen.update(device=device) or self)
    monkeypatch.setattr(
        ablation, "score_benchmarks", lambda m, b, n, max_tokens=None: seen.update(max_tokens=max_tokens) or {}
    )
    monkeypatch.setattr(ablation, "metrics_from_scores", lambda s, b: {})
    (tmp_path / "final").mkdir()
    ablation.arm(None, {"benchmarks": {"rewardbench": "unused"}}, 0)
    assert seen == {"dtype": torch.bfloat16, "device": "cuda", "max_tokens": ablation.BENCH_MAX_TOKENS}
