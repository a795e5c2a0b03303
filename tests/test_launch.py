"""Arms can train through `accelerate launch` (the paper profile's GPU workers): same result as in-process."""

import pytest


def test_an_arm_trains_through_accelerate_launch_like_in_process(tmp_path, monkeypatch):
    from brlib.experiments import profiles

    monkeypatch.setenv("BRLIB_CACHE", str(tmp_path / "direct"))
    cfg = profiles.load("tiny", smoke=True, ablation=True)
    prepared = profiles.prepare(cfg)
    direct = profiles.run_arm(cfg, prepared, 0, progress=False)
    monkeypatch.setenv("BRLIB_CACHE", str(tmp_path / "launched"))  # a fresh run dir, same data and backbone
    cfg.launch = {"cpu": True, "num_processes": 1}
    launched = profiles.run_arm(cfg, prepared, 0, progress=False)
    assert "accelerate.commands.launch" in launched["launched"]
    assert (launched["final"] / "reward_config.json").exists()
    assert [h["loss"] for h in launched["history"]] == pytest.approx([h["loss"] for h in direct["history"]], abs=1e-6)
    assert "launch" in profiles.load("paper").to_dict() and profiles.load("paper").launch["config_file"].endswith(
        "zero3.yaml"
    )
