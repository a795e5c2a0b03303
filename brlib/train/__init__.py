"""Training: `TrainConfig` and data specs (config), the loop on one process or many through accelerate (loop),
checkpoints and export (checkpoint), and the CLI (`python -m brlib.train CONFIG.yaml`, in `__main__`).
"""

from brlib.train.config import TrainConfig, load_pairs
from brlib.train.loop import NonFiniteLossError, build, train

__all__ = ["NonFiniteLossError", "TrainConfig", "build", "load_pairs", "train"]
