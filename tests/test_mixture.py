import pytest

from brlib.data import PairCollator
from brlib.data.mixture import MixtureSpec, SourceSpec, build_mixture, homogeneous_batches, modality
from brlib.world import catalog


@pytest.fixture(scope="module")
def tiny_sources(tmp_path_factory):
    return catalog.write_sources(tmp_path_factory.mktemp("sources"), seed=0, scale=0.1)


def _spec(paths, **kw):
    return MixtureSpec.from_dict(
        {
            "seed": 0,
            "sources": [
                {"key": "rlaif_v", "path": paths["rlaif_v"], "weight": 0.5},
                {"key": "povid", "path": paths["povid"], "weight": 0.3},
                {"key": "skywork", "path": paths["skywork"], "weight": 0.2},
            ],
            "total": 20,
            **kw,
        }
    )


def test_weights_become_counts_and_counts_are_caps(tiny_sources):
    assert _spec(tiny_sources).targets() == {"rlaif_v": 10, "povid": 6, "skywork": 4}
    spec = MixtureSpec([SourceSpec("shp", tiny_sources["shp"], count=7), SourceSpec("mmif", tiny_sources["mmif"])])
    assert spec.targets() == {"shp": 7, "mmif": None}
    with pytest.raises(ValueError, match="count or weight"):
        SourceSpec("shp", count=1, weight=1.0)
    with pytest.raises(ValueError, match="unknown source"):
        SourceSpec("imagenet")
    with pytest.raises(ValueError, match="need `total`"):
        MixtureSpec([SourceSpec("shp", weight=1.0)]).targets()


def test_sampling_is_deterministic_with_a_test_split(tiny_sources):
    a = build_mixture(_spec(tiny_sources, test_split_size=0.1))
    b = build_mixture(_spec(tiny_sources, test_split_size=0.1))
    c = build_mixture(_spec(tiny_sources, test_split_size=0.1, seed=1))
    assert [p.uid for p in a.train] == [p.uid for p in b.train]
    assert [p.uid for p in a.train] != [p.uid for p in c.train]
    assert len(a.train) + len(a.test) == 20 and len(a.test) == 1 + 0 + 0  # floor(10*.1), floor(6*.1), floor(4*.1)
    assert {p.source for p in a.train} == {"rlaif_v", "povid", "skywork"}


def test_report_counts_read_kept_dropped_and_sampled(rm, tiny_sources):
    spec = MixtureSpec(
        [SourceSpec("swe_arena", tiny_sources["swe_arena"]), SourceSpec("rlaif_v", tiny_sources["rlaif_v"], count=5)]
    )
    mix = build_mixture(spec, PairCollator(rm.processor, max_length=40))  # short limit: long descriptions drop
    swe, rl = mix.report["swe_arena"], mix.report["rlaif_v"]
    assert swe["read"] == 20 and swe["read"] == swe["kept"] + swe["dropped"]
    assert rl["read"] == 30 and rl["reasons"].get("over max_length", 0) > 0
    assert rl["sampled"] == min(5, rl["kept"])
    text = mix.summary()
    assert "swe_arena" in text and "over max_length" in text


def test_homogeneous_batches_never_mix_modalities(tiny_sources):
    mix = build_mixture(
        MixtureSpec(
            [SourceSpec("rlaif_v", tiny_sources["rlaif_v"]), SourceSpec("skywork", tiny_sources["skywork"])], seed=3
        )
    )
    batches = homogeneous_batches(mix.train, batch_size=4, seed=0)
    assert batches == homogeneous_batches(mix.train, batch_size=4, seed=0)
    assert all(len(b) == 4 and len({modality(mix.train[i]) for i in b}) == 1 for b in batches)
    assert {modality(mix.train[b[0]]) for b in batches} == {"image", "text"}
    assert len({i for b in batches for i in b}) == 4 * len(batches)


def test_training_from_a_mixture_with_homogeneous_batches(backbone_dir, tiny_sources, tmp_path):
    from brlib.train import TrainConfig, build, train
    from brlib.train.loop import _Stream

    mixture = {
        "seed": 0,
        "sources": [
            {"key": "rlaif_v", "path": tiny_sources["rlaif_v"], "count": 12},
            {"key": "skywork", "path": tiny_sources["skywork"], "count": 12},
        ],
    }
    cfg = TrainConfig(
        model=str(backbone_dir),
        output_dir=str(tmp_path / "run"),
        mixture=mixture,
        homogeneous_batches=True,
        batch_size=4,
        num_steps=3,
        lr=1e-3,
        precision="fp32",
        max_length=512,
        log_every=1,
    )
    result = train(cfg, progress=False)
    assert [r["step"] for r in result["history"]] == [1, 2, 3]
    assert set(result["reports"]) == {"rlaif_v", "skywork"}
    _, _, pairs, _, _ = build(cfg)
    stream = _Stream(pairs, 4, 0, homogeneous=True)
    assert all(len({modality(pairs[i]) for i in stream.batch(k)}) == 1 for k in range(12))


def test_mixture_cli_prints_the_per_source_report(capsys):
    from pathlib import Path

    from brlib import mixture

    spec = Path(__file__).resolve().parent.parent / "configs" / "mixtures" / "basereward_final.yaml"
    assert mixture.main([str(spec), "--profile", "tiny"]) == 0
    out = capsys.readouterr().out
    for key in ["rlaif_v", "mmpr_v1_2", "r1_reward", "tulu3_if", "olmo2_mix", "ultrafeedback_hard", "swe_arena"]:
        assert key in out
    assert "no pair (tie or both-bad vote)" in out  # swe_arena's tie votes are counted, not lost
