"""Serving a trained reward model: `RewardScorer` and `EnsembleScorer` (score), the FastAPI reward server (app;
CLI `python -m brlib.server`) with its per-request budgets (limits) and bounded scoring queue (worker), the
ipywidgets demo (widgets) and reward functions for TRL's GRPOTrainer (rl).
"""
