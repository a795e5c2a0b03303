"""Serving a trained reward model: `RewardScorer` and `EnsembleScorer` (score), the FastAPI reward server (app;
CLI `python -m brlib.server`), the ipywidgets demo (widgets) and reward functions for TRL's GRPOTrainer (rl).
"""
