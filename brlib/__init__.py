"""brlib: multimodal reward models (BaseReward), small and plain. See README.md and notebooks/.

Packages, by concept (dependencies run one way, top to bottom):

    experiments/  profiles (tiny / paper), ablation arms, report writing, provenance
    train/        TrainConfig, the accelerate training loop, checkpoints        evaluate.py: scoring and benchmarks
    models/       RewardModel, head, loss, prefix sharing, generative judges, tiny backbones
    data/         Pair, PairCollator, training sources, mixtures                bench/: benchmarks and their rules
    world/        the procedurally generated tiny world (imports nothing else from brlib)
    serve/        RewardScorer / EnsembleScorer, the reward server, the widget demo, GRPO rewards

The most used names are importable from here: `from brlib import RewardModel, RewardScorer, Pair, TrainConfig`.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "RewardModel": "brlib.models.reward_model",
    "HeadConfig": "brlib.models.head",
    "LossConfig": "brlib.models.loss",
    "Pair": "brlib.data.pair",
    "PairCollator": "brlib.data.collate",
    "TrainConfig": "brlib.train.config",
    "train": "brlib.train.loop",
    "RewardScorer": "brlib.serve.score",
    "EnsembleScorer": "brlib.serve.score",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    # Lazy, so `python -m brlib.bench` and other light entry points do not import torch and transformers.
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'brlib' has no attribute {name!r}")
