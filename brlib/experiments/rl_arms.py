"""Table 11's policies for one seed: the supervised warm-up, then one GRPO run per reward scheme from it, each scored
on tiny stand-ins of the paper's benchmark groups. `seed_arms` is a job for `workers.run_jobs`, so the seeds run side
by side; every result is cached by a hash of its settings.
"""

from __future__ import annotations

import json
from pathlib import Path

from brlib.experiments.runinfo import config_hash
from brlib.experiments.workers import single_thread

SFT_FAMILIES = ["perception", "reasoning", "hallucination", "instruction"]
EVAL_SETS = {  # column -> (size at n = 1, seed, families): tiny stand-ins for Table 11's benchmark groups
    "hallucination": (40, 21, ["hallucination"]),
    "perception": (60, 22, ["perception"]),
    "math": (60, 23, ["reasoning"]),
    "conversation": (40, 24, ["instruction", "hallucination"]),
}
VERSION = 4  # bump when the warm-up, the GRPO loop or the evaluation change: cache keys include it


def tasks(n: float, rl_prompts: int) -> tuple[list, list, dict]:
    """SFT examples, RL prompts (with exact answers) and the evaluation sets, each from its own seed.
    Used in: 08_rl.ipynb."""
    from brlib import world

    sft = world.generate(int(400 * n), seed=11, families=SFT_FAMILIES)
    rl_examples = world.generate(max(4, rl_prompts), seed=13, families=["perception", "reasoning"])
    evals = {k: world.generate(int(size * n), seed=s, families=f) for k, (size, s, f) in EVAL_SETS.items()}
    return sft, rl_examples, evals


def reward_models(rm_final: str | Path, judge_final: str | Path):
    """The RL reward (calibrated on a fixed reference set of tiny-world answers, disjoint from the RL prompts and
    the evaluation sets: the hybrid reward and the watch read calibrated scores) and the held-out conversation
    judge. Used in: 08_rl.ipynb."""
    from brlib import world
    from brlib.serve.score import RewardScorer

    reward = RewardScorer.from_pretrained(rm_final)
    reference = world.generate(200, seed=31, families=SFT_FAMILIES)
    reward.calibrate([(e.prompt, r, [e.image]) for e in reference for r in e.responses])
    return reward, RewardScorer.from_pretrained(judge_final)


def evaluate_policy(policy, evals: dict, judge, gen_tokens: int, reference: list[str] | None = None):
    """Table-11 stand-in columns for one policy (percent); conversation = the held-out judge's win rate against
    `reference` answers (50 without). Used in: 08_rl.ipynb."""
    import numpy as np

    from brlib.serve import rl

    outs = {k: policy.generate([([e.image], e.prompt) for e in ex], gen_tokens) for k, ex in evals.items()}
    res = {
        "hallucination": 100 * float(np.mean([rl.phrase_precision(o, e.responses[0])
                                              for o, e in zip(outs["hallucination"], evals["hallucination"])])),
        "perception": 100 * float(np.mean([rl.matches(o, e.responses[0])
                                           for o, e in zip(outs["perception"], evals["perception"])])),
        "math": 100 * float(np.mean([rl.matches(o, e.responses[0]) for o, e in zip(outs["math"], evals["math"])])),
    }  # fmt: skip
    if reference is None:
        res["conversation"] = 50.0  # the reference against itself
    else:
        wins = []
        for o, r, e in zip(outs["conversation"], reference, evals["conversation"]):
            a, b = judge.score([e.image], e.prompt, [o or " ", r or " "])
            wins.append(1.0 if a > b else 0.5 if a == b else 0.0)
        res["conversation"] = 100 * float(np.mean(wins))
    return res, outs


def seed_arms(spec: dict, schemes: dict[str, str], cache: str | Path) -> dict:
    """One seed of notebook 08: warm up the policy (cached), evaluate it, then per scheme run GRPO from it and
    evaluate (cached). `spec` holds policy, seed, sft_steps, rl_steps, prompts_per_step, gen_tokens, lr, n, rm and
    judge (the reward models' final dirs). Returns {"before": result, "schemes": {label: saved}}, one thread.
    Used in: 08_rl.ipynb."""
    from brlib.models.judge import ChatLM
    from brlib.serve import rl

    cache = Path(cache)
    seed, n = spec["seed"], spec["n"]
    with single_thread():
        sft_examples, rl_examples, evals = tasks(n, spec["rl_steps"] * spec["prompts_per_step"])
        reward, judge = reward_models(spec["rm"], spec["judge"])
        base_key = {k: spec[k] for k in ("policy", "sft_steps", "seed", "n", "gen")}
        sft_dir = cache / f"sft-{config_hash({**base_key, 'version': VERSION})}"
        if not (sft_dir / "config.json").exists():
            pol = ChatLM.from_pretrained(spec["policy"])

            def sample(rng):
                b = [sft_examples[rng.randrange(len(sft_examples))] for _ in range(16)]
                return [([e.image], e.prompt) for e in b], [e.responses[0] for e in b]

            pol.sft(sample, spec["sft_steps"], 5e-3, seed)
            pol.save_pretrained(sft_dir)
        before, before_outs = evaluate_policy(ChatLM.from_pretrained(sft_dir), evals, judge, spec["gen"])
        out = {"before": before, "schemes": {}}
        for label, scheme in schemes.items():
            path = cache / f"grpo-{config_hash({**spec, 'scheme': scheme, 'version': VERSION})}.json"
            if not path.exists():
                pol = ChatLM.from_pretrained(sft_dir)
                log = []
                trl_log = rl.run_grpo(
                    pol,
                    rl.GRPOReward(scheme, reward, log),
                    rl_examples,
                    seed,
                    spec["rl_steps"],
                    cache / f"trl_tmp-{seed}",
                    lr=spec["lr"],
                    prompts_per_step=spec["prompts_per_step"],
                    max_completion_length=spec["gen"],
                )
                res, outs = evaluate_policy(pol, evals, judge, spec["gen"], before_outs["conversation"])
                saved = {"result": res, "log": log, "trl_log": trl_log, "samples": {k: v[:3] for k, v in outs.items()}}
                tmp = path.with_suffix(".partial")
                tmp.write_text(json.dumps(saved))
                tmp.rename(path)
            out["schemes"][label] = json.loads(path.read_text())
    return out
