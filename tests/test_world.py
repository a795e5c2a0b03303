from collections import Counter

from brlib import world
from brlib.world import scenes, tasks


def _fingerprint(exs):
    return [(e.family, e.prompt, tuple(e.responses), e.image.tobytes() if e.image else None) for e in exs]


def test_generator_is_a_pure_function_of_its_seed():
    assert _fingerprint(world.generate(40, seed=3)) == _fingerprint(world.generate(40, seed=3))
    assert _fingerprint(world.generate(40, seed=3)) != _fingerprint(world.generate(40, seed=4))


def test_every_family_appears_and_chosen_differs_from_rejected():
    exs = world.generate(100, seed=0, max_wrong=3)
    assert Counter(e.family for e in exs) == {f: 20 for f in world.FAMILIES}
    for e in exs:
        assert len(set(e.responses)) == len(e.responses) >= 2
        assert (e.image is None) == (e.family == "text")
        if e.image is not None:
            assert e.image.size == (scenes.SIDE, scenes.SIDE)


def test_label_noise_flips_about_the_requested_share():
    exs = world.generate(2000, seed=0, label_noise=0.1)
    share = sum(e.meta.get("flipped", False) for e in exs) / len(exs)
    assert 0.08 < share < 0.12


def test_hallucinated_description_names_something_not_in_the_image():
    import random

    for seed in range(30):
        ex = tasks.hallucination(random.Random(seed))
        good, bad = ex.responses
        assert good != bad and good.startswith("The image shows")


def test_write_world_is_deterministic(tmp_path):
    a = world.write_world(tmp_path / "a", seed=1, n_train=20, n_heldout=10, n_bench=8)
    b = world.write_world(tmp_path / "b", seed=1, n_train=20, n_heldout=10, n_bench=8)
    assert a == b
    for rel in ["bench/mm_reward_bench.jsonl"]:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
