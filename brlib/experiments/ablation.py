"""Ablation arms: train (cached by config hash), score on every benchmark, tabulate mean ± std beside the paper.

An arm is a name and a dict of TrainConfig overrides. `sweep` trains each arm for each seed (or reuses the cached
run), evaluates it on the five benchmarks with their official rules, and returns one row per (arm, seed) with the
paper's column names, in percent. `summarize` gives mean ± std over seeds; `paper_table` reads the reported numbers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from brlib import bench, evaluate
from brlib.experiments import profiles
from brlib.experiments.runinfo import config_hash
from brlib.experiments.workers import run_jobs, single_thread

PAPER_DIR = profiles.ROOT / "data" / "paper_reported"
MMRB_COLUMNS = {  # paper column -> Multimodal RewardBench subcategory
    "mmrb_correctness": "correctness",
    "mmrb_preference": "preference",
    "mmrb_knowledge": "knowledge",
    "mmrb_math": "math",
    "mmrb_coding": "coding",
    "mmrb_safety_bias": "safety/bias",
    "mmrb_vqa": "vqa",
}
BENCH_MAX_TOKENS = 32768  # padded tokens per scoring batch on a GPU
MM_COLUMNS = ["vl_overall_acc", "mmrlhf_acc", "mmrlhf_acc_plus", "mmrb_overall"]
VL_PAPER_SPLIT = "vl_rewardbench@r1_reward_split"
SWAPPED = "@swapped"  # score-dict key suffix of the swapped-image control
IMAGE_PREFIXES = ("vl_", "mmrlhf_", "mmrb_")  # columns of image benchmarks get a *_swapped control
IMAGE_COLUMNS = {"mm_avg", "overall"}
TEXT_COLUMNS = ["rewardbench", "rm_bench"]


def paper_table(name: str) -> pd.DataFrame:
    """The paper's printed table `name` (e.g. "table02_reward_head"), numbers as floats. Used in: 02_reward_head."""
    df = pd.read_csv(PAPER_DIR / f"{name}.csv", dtype=str, keep_default_na=False)
    for c in df.columns:
        vals = df[c].replace({"-": None, "": None})
        num = pd.to_numeric(vals, errors="coerce")
        if vals.notna().any() and num.notna().sum() == vals.notna().sum():
            df[c] = num
    return df


def flat_metrics(results: dict[str, dict]) -> dict[str, float]:
    """Benchmark metric dicts (brlib.bench) as the paper's columns, in percent. Used in: 02_reward_head.ipynb."""
    out: dict[str, float] = {}
    pct = lambda x: 100.0 * x  # noqa: E731
    if "vl_rewardbench" in results:
        # The paper's VL per-category numbers follow the r1_reward scripts' category split (PAPER.md A.5); beside its
        # columns we put ours on that split, and the official split's under *_official. Overall is the same in both.
        official = results["vl_rewardbench"]
        m = results.get(VL_PAPER_SPLIT, official)
        out["vl_overall_acc"], out["vl_macro_acc"] = pct(m["overall_acc"]), pct(m["macro_acc"])
        out["vl_macro_acc_official"] = pct(official["macro_acc"])
        for c in bench.VL_CATEGORIES:
            if c in m["categories"]:
                out[f"vl_{c}"] = pct(m["categories"][c]["acc"])
            if c in official["categories"]:
                out[f"vl_{c}_official"] = pct(official["categories"][c]["acc"])
        out["vl_avg"] = out["vl_macro_acc"]
    if "mm_rlhf_rewardbench" in results:
        m = results["mm_rlhf_rewardbench"]
        out["mmrlhf_acc"], out["mmrlhf_acc_plus"] = pct(m["acc"]), pct(m["acc_plus"])
        for c, v in m["categories"].items():
            out[f"mmrlhf_{c}"] = pct(v["acc"])
    if "multimodal_rewardbench" in results:
        m = results["multimodal_rewardbench"]
        for col, cat in MMRB_COLUMNS.items():
            if cat in m["categories"]:
                out[col] = pct(m["categories"][cat]["acc"])
        out["mmrb_overall"] = out["mmrb_avg"] = pct(m["overall_mean7"])  # the paper's 7 shown sub-scores
    if "rewardbench" in results:
        out["rewardbench"] = pct(results["rewardbench"]["score"])
    if "rm_bench" in results:
        out["rm_bench"] = pct(results["rm_bench"]["overall"])
    if all(c in out for c in MM_COLUMNS):
        out["mm_avg"] = sum(out[c] for c in MM_COLUMNS) / len(MM_COLUMNS)  # Table 6's rule
    if all(c in out for c in TEXT_COLUMNS):
        out["text_avg"] = sum(out[c] for c in TEXT_COLUMNS) / 2
    if "vl_avg" in out and "mmrb_avg" in out:
        out["overall"] = (out["vl_avg"] + out["mmrb_avg"]) / 2  # Table 1's rule
    return out


def score_benchmarks(
    model_or_scorer,
    benchmarks: dict[str, str],
    names: list[str] | None = None,
    max_tokens: int | None = None,
    swapped: bool = True,
) -> dict:
    """Raw per-row scores on each benchmark: {name: [[score per response] per row]}, batches of at most 64
    sequences and `max_tokens` padded tokens; with `swapped`, image benchmarks are scored a second time with each
    row's images replaced by another row's of the same category ({name}@swapped: the swapped-image control).
    Used in: 06_ensemble.ipynb."""
    from dataclasses import replace

    out = {}
    for name in names or list(benchmarks):
        rows = bench.load(name, benchmarks[name])
        out[name] = evaluate.benchmark_scores(model_or_scorer, rows, batch_size=64, max_tokens=max_tokens)
        if swapped and any(r.images for r in rows):
            other = evaluate.image_swap(rows, seed=0)
            moved = [replace(r, images=rows[j].images) for r, j in zip(rows, other)]
            out[f"{name}{SWAPPED}"] = evaluate.benchmark_scores(
                model_or_scorer, moved, batch_size=64, max_tokens=max_tokens
            )
    return out


def metrics_from_scores(scores: dict[str, list], benchmarks: dict[str, str], ties: str = "wrong") -> dict[str, float]:
    """Paper columns from raw benchmark scores (as from `score_benchmarks`), plus the share of tied rows per
    benchmark (`ties_<name>`). Used in: 06_ensemble.ipynb."""
    true = {n: s for n, s in scores.items() if not n.endswith(SWAPPED)}
    out = _flat_from_scores(true, benchmarks, ties)
    out.update({f"ties_{n}": 100.0 * _n_tie(s) / max(1, len(s)) for n, s in true.items()})
    swapped = {n.removesuffix(SWAPPED): s for n, s in scores.items() if n.endswith(SWAPPED)}
    if swapped:  # the swapped-image control beside each image category: <column>_swapped
        flat = _flat_from_scores(swapped, benchmarks, ties)
        out.update({f"{k}_swapped": v for k, v in flat.items() if k in IMAGE_COLUMNS or k.startswith(IMAGE_PREFIXES)})
    return out


def _n_tie(scores: list) -> int:
    return sum(len(set(s)) < len(s) for s in scores)


def _flat_from_scores(scores: dict, benchmarks: dict, ties: str) -> dict:
    results = {n: bench.metrics(n, bench.load(n, benchmarks[n]), s, ties) for n, s in scores.items()}
    if "vl_rewardbench" in scores:  # the same scores, grouped by the split the paper's tables used
        rows = bench.load("vl_rewardbench", benchmarks["vl_rewardbench"], split="r1_reward")
        results[VL_PAPER_SPLIT] = bench.metrics("vl_rewardbench", rows, scores["vl_rewardbench"], ties)
    return flat_metrics(results)


def arm(profile, prepared: dict, seed: int, names: list[str] | None = None, progress: bool = False, **overrides):
    """Train (or reuse) one arm for one seed and score it on the benchmarks; scores are cached beside the run.

    Returns (metrics row, run dict). Used in: 02_reward_head.ipynb.
    """
    with single_thread():
        return _arm(profile, prepared, seed, names, progress, **overrides)


def _arm(profile, prepared: dict, seed: int, names, progress: bool, **overrides):
    from filelock import FileLock

    run = profiles.run_arm(profile, prepared, seed, progress=progress, **overrides)
    benchmarks = prepared["benchmarks"]
    names = names or list(benchmarks)
    key = config_hash({"benchmarks": {n: benchmarks[n] for n in names}, "swapped": True})
    path = Path(run["final"]).parent / f"bench_scores-{key}.json"
    with FileLock(str(path) + ".lock"):  # scored by another notebook meanwhile: reuse its scores
        scores = _scores(run, benchmarks, names, path)
    row = metrics_from_scores(scores, benchmarks)
    last = run["history"][-1] if run["history"] else {}
    row.update(
        seed=seed,
        config_hash=run["config_hash"],
        heldout_acc=100.0 * last.get("eval_acc", math.nan),
        train_s=last.get("elapsed_s", math.nan),
    )
    return row, {**run, "scores": scores}


def _scores(run: dict, benchmarks: dict, names: list[str], path: Path) -> dict:
    """The run's benchmark scores from `path`, or scored now and written there."""
    import torch

    from brlib.models.reward_model import RewardModel

    if path.exists():
        return json.loads(path.read_text())
    # On a GPU worker: the accelerator, bf16, and a token budget per batch (a 7B on 64 long sequences with 12-MP
    # images would run out of memory; on the CPU it would take days).
    gpu = torch.cuda.is_available()
    model = RewardModel.from_pretrained(run["final"], dtype=torch.bfloat16 if gpu else None)
    model = model.to("cuda") if gpu else model
    scores = score_benchmarks(model, benchmarks, names, max_tokens=BENCH_MAX_TOKENS if gpu else None)
    tmp = path.with_suffix(".partial")
    tmp.write_text(json.dumps(scores))
    tmp.rename(path)
    return scores


def sweep(profile, prepared: dict, arms: dict[str, dict], seeds: list[int], names=None, progress=True, workers=None):
    """Every arm x seed (cached runs reused): one row per (arm, seed) with paper columns, in the order of `arms`
    then `seeds`. Arms train in `workers` processes at once (default: the profile's; each single-threaded, so the
    numbers do not depend on how many run side by side). Used in: 02_reward_head.ipynb."""
    jobs = {(a, s): ((profile, prepared, s, names, False), arms[a]) for a in arms for s in seeds}
    done = run_jobs(arm, jobs, profile.workers if workers is None else workers, progress, desc="arms")
    rows = [{"arm": a, **done[(a, s)][0]} for a, s in jobs]
    return pd.DataFrame(rows), {job: done[job][1] for job in jobs}


def summarize(df: pd.DataFrame, columns: list[str], by: str = "arm") -> pd.DataFrame:
    """Mean and std over seeds of `columns` per arm, arms in first-seen order; an image column's swapped-image
    control (`<column>_swapped`) comes along when the runs have it. Used in: 02_reward_head.ipynb."""
    columns = list(dict.fromkeys(columns))
    columns += [f"{c}_swapped" for c in columns if f"{c}_swapped" in df and f"{c}_swapped" not in columns]
    order = list(dict.fromkeys(df[by]))
    g = df.groupby(by, sort=False)[columns]
    mean, std = g.mean().reindex(order), g.std(ddof=1).reindex(order).fillna(0.0)
    out = pd.DataFrame({by: order})
    for c in columns:
        out[c] = mean[c].to_numpy()
        out[f"{c}_std"] = std[c].to_numpy()
    out["n_seeds"] = g.size().reindex(order).to_numpy()
    return out


def pm_table(summary: pd.DataFrame, columns: list[str], by: str = "arm", digits: int = 1) -> pd.DataFrame:
    """`summarize` output as "mean ± std" strings, for Markdown/LaTeX. Used in: 02_reward_head.ipynb."""
    out = summary[[by]].copy()
    for c in columns:
        out[c] = [f"{m:.{digits}f} ± {s:.{digits}f}" for m, s in zip(summary[c], summary[f"{c}_std"])]
    return out


def side_by_side(
    summary: pd.DataFrame,
    reported: pd.DataFrame,
    arm_to_label: dict[str, str],
    label: str,
    columns: list[str],
    by: str = "arm",
) -> pd.DataFrame:
    """Long table: arm, metric, paper (reported, 7B, real benchmarks), ours mean and std (tiny). Used in: 02."""
    rep = reported.set_index(label)
    rows = []
    for a, lab in arm_to_label.items():
        ours = summary.set_index(by).loc[a]
        for c in columns:
            paper = rep.loc[lab, c] if (lab is not None and lab in rep.index and c in rep.columns) else math.nan
            rows.append(
                {by: a, "paper_row": lab, "metric": c, "paper": paper, "ours": ours[c], "ours_std": ours[f"{c}_std"]}
            )
    return pd.DataFrame(rows)


def plot_side_by_side(long: pd.DataFrame, metrics: list[str], by: str = "arm", title: str = ""):
    """One panel per metric: the paper's bars (reported) beside ours (mean ± std over seeds). Used in: 02."""
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, len(metrics), figsize=(3.3 * len(metrics), 3.4), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        d = long[long.metric == m]
        x = np.arange(len(d))
        ax.bar(x - 0.2, d["paper"], 0.4, label="paper (reported, 7B)", color="#bbbbbb", hatch="//")
        ax.bar(
            x + 0.2, d["ours"], 0.4, yerr=d["ours_std"], capsize=2, label="ours (tiny, mean ± std)", color="#3b75af"
        )
        ax.set_xticks(x, d[by], rotation=45, ha="right", fontsize=7)
        ax.set_title(m, fontsize=9)
        ax.set_ylim(0, 100)
        ax.axhline(50, color="grey", lw=0.8, ls="--")
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def provenance(profile, notebook: str, df: pd.DataFrame, **extra) -> dict:
    """Provenance of a table built from many arms: their config hashes and seeds. Used in: 02_reward_head.ipynb."""
    from brlib.experiments import runinfo

    runs = {f"{a}/seed{s}": h for a, s, h in zip(df["arm"], df["seed"], df["config_hash"])}
    return runinfo.provenance(
        config={"profile": profile.to_dict(), "runs": runs, **extra},
        seed=sorted(set(int(s) for s in df["seed"])),
        notebook=notebook,
        run=config_hash(runs),
    )


def wide_table(
    summary: pd.DataFrame,
    columns: list[str],
    reported: pd.DataFrame | None = None,
    arm_to_label: dict | None = None,
    label: str | None = None,
    by: str = "arm",
    digits: int = 1,
) -> pd.DataFrame:
    """One row per arm: for each metric the paper's printed value (if any) and ours as mean ± std, and beside an
    image metric ours with each row's image swapped for another's of the same category (if the summary has it).

    Used in: 02_reward_head.ipynb.
    """
    rep = reported.set_index(label) if reported is not None else None
    rows = []
    for _, s in summary.iterrows():
        lab = (arm_to_label or {}).get(s[by])
        row = {by: s[by]}
        for c in columns:
            if rep is not None:
                v = rep.loc[lab, c] if lab is not None and lab in rep.index and c in rep.columns else None
                row[f"{c} (paper)"] = "–" if v is None or pd.isna(v) else f"{v:.{digits}f}"
            row[f"{c} (ours)"] = f"{s[c]:.{digits}f} ± {s[f'{c}_std']:.{digits}f}"
            if f"{c}_swapped" in s:  # the swapped-image control: a model that reads the image scores lower there
                row[f"{c} (ours, swapped image)"] = (
                    f"{s[c + '_swapped']:.{digits}f} ± {s[c + '_swapped_std']:.{digits}f}"
                )
        rows.append(row)
    return pd.DataFrame(rows)


def rank_agreement(
    summary: pd.DataFrame, reported: pd.DataFrame, arm_to_label: dict, label: str, columns: list[str], by: str = "arm"
) -> pd.DataFrame:
    """Per metric: the paper's best arm, ours, and the Spearman correlation of the two orderings. Used in: 02."""
    rep = reported.set_index(label)
    both = [a for a, lab in arm_to_label.items() if lab is not None and lab in rep.index]
    ours = summary.set_index(by).loc[both]
    rows = []
    for c in columns:
        if c not in rep.columns:
            continue
        paper = pd.Series([rep.loc[arm_to_label[a], c] for a in both], index=both, dtype=float)
        rows.append(
            {
                "metric": c,
                "paper_best": paper.idxmax(),
                "ours_best": ours[c].idxmax(),
                "spearman": paper.rank().corr(ours[c].rank()),
                "n_arms": len(both),
            }
        )
    return pd.DataFrame(rows)


FINAL_MIXTURE = profiles.CONFIG_DIR / "mixtures" / "basereward_final.yaml"


def source_data(prepared: dict, keys: list[str]) -> list[dict]:
    """Training-data specs for these source keys: tiny files in the tiny profile, Hub ids in the paper profile;
    per-source options (e.g. Ultra-Hard's min_gap) as in the final mixture. Used in: 04_data.ipynb."""
    import yaml

    options = {s["key"]: s.get("options", {}) for s in yaml.safe_load(FINAL_MIXTURE.read_text())["sources"]}
    splits = {s["key"]: s["split"] for s in yaml.safe_load(FINAL_MIXTURE.read_text())["sources"] if s.get("split")}
    extra = prepared.get("source_options", {})
    return [
        {"format": k, "path": prepared["sources"].get(k), "source": k, **options.get(k, {}), **extra.get(k, {})}
        | ({"split": splits[k]} if k in splits and not prepared["sources"].get(k) else {})
        for k in keys
    ]


def final_mixture_keys() -> list[str]:
    """The source keys of the final BaseReward mixture (configs/mixtures/basereward_final.yaml). Used in: 04_data."""
    import yaml

    return [s["key"] for s in yaml.safe_load(FINAL_MIXTURE.read_text())["sources"]]


def validation_pairs(prepared: dict, keys: list[str], n: int = 1000, seed: int = 0):
    """`n` pairs sampled uniformly from these training sources (the paper's 1,000-pair ensemble validation set;
    like the paper's, it overlaps the members' training data). Used in: 06_ensemble.ipynb."""
    import random

    from brlib.train import load_pairs

    pool = [p for spec in source_data(prepared, keys) for p in load_pairs(spec)]
    return random.Random(seed).sample(pool, min(n, len(pool)))


def member_stats(model, pairs) -> dict:
    """A member's score mean/std on the reference pairs (for normalisation), its accuracy and mean normalised
    margin there (the accuracy and confidence weights of Table 7). Used in: 06_ensemble.ipynb."""
    import torch

    from brlib import data

    collator = data.PairCollator(model.processor, max_length=1 << 30)
    kept, _ = collator.filter(pairs)  # a text-only member sees only the text pairs
    c, r = evaluate.score_pairs(model, collator, kept, batch_size=64)
    both = torch.cat([c, r])
    mean, std = float(both.mean()), float(both.std().clamp_min(1e-6))
    return {
        "mean": mean,
        "std": std,
        "acc": float((c > r).float().mean()),
        "margin": float(((c - r) / std).mean()),
        "n": len(kept),
    }


def combine(scores: list[dict], stats: list[dict], weights: list[float] | None = None) -> dict:
    """Weighted mean of members' normalised benchmark scores ((s - mean) / std on the reference set); a member
    missing a benchmark (a text-only RM on image benchmarks) is left out there. Used in: 06_ensemble.ipynb."""
    weights = weights or [1.0] * len(scores)
    out = {}
    for name in set().union(*scores):
        members = [(s[name], st, w) for s, st, w in zip(scores, stats, weights) if name in s]
        total = sum(w for _, _, w in members)
        out[name] = [
            [
                sum(w * (rows[i][j] - st["mean"]) / st["std"] for rows, st, w in members) / total
                for j in range(len(members[0][0][i]))
            ]
            for i in range(len(members[0][0]))
        ]
    return out
