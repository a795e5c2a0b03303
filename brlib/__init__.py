"""brlib: BaseReward multimodal reward models, small and plain. See README.md and notebooks/."""

__version__ = "0.1.0"
