"""Profiles (`tiny`, `paper`) and the SMOKE switch, resolved into training configs.

Notebooks call `load(PROFILE, smoke=SMOKE, seed=SEED)` in the cell after their parameters, then `prepare` and
`train_config`. Same code path in both profiles; only these values differ.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from brlib.experiments.runinfo import config_hash
from brlib.train import TrainConfig

ROOT = Path(__file__).resolve().parents[2]  # the repository: configs/, data/ and notebooks/ live here
CONFIG_DIR = ROOT / "configs"


@dataclass
class Profile:
    """A resolved profile: what to build or download, and how to train."""

    name: str
    backbone: dict
    train: dict
    seeds: list[int]
    smoke: bool = False
    world: dict = field(default_factory=dict)
    pretrain: dict = field(default_factory=dict)  # tiny profile: the "-Instruct" stage's recipe (steps 0: none)
    workers: int = 1  # arms trained at once by ablation.sweep, each in its own single-threaded process
    train_data: list[dict] = field(default_factory=list)
    eval_data: list[dict] = field(default_factory=list)
    bench: dict = field(default_factory=dict)
    benchmarks: dict = field(default_factory=dict)  # paper profile: Hub ids (or local files) of the benchmarks
    source_options: dict = field(default_factory=dict)  # per-source options ({data_dir} = $BRLIB_DATA_DIR)
    swap_backbones: dict = field(default_factory=dict)  # family -> a stand-in checkpoint (CI: tiny Hub-layout ones)
    launch: dict = field(default_factory=dict)  # `accelerate launch` options: each arm then trains in a subprocess
    omni: dict = field(default_factory=dict)  # notebook 10 (Omni-Reward): its data, benchmark, backbones, budget

    def to_dict(self) -> dict:
        return copy.deepcopy(self.__dict__)


def resolve_smoke(smoke: bool | None) -> bool:
    """SMOKE=None reads BRLIB_SMOKE from the environment (nbval cannot pass parameters)."""
    if smoke is None:
        return os.environ.get("BRLIB_SMOKE", "").lower() in {"1", "true", "yes"}
    return bool(smoke)


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load(
    profile: str = "tiny",
    smoke: bool | None = None,
    steps: int | None = None,
    ablation: bool = False,
    swap_backbones: dict | None = None,
) -> Profile:
    """Read configs/<profile>.yaml; `ablation` applies the per-arm budget of notebooks 01-07, then SMOKE its
    overrides. `swap_backbones` ({family: Hub id or folder}) replaces the paper's backbones of those families, e.g.
    by tiny checkpoints in Hub layout so the paper path runs on a CPU (CI does this on the Hub replica).
    Used in: 00_quickstart.ipynb."""
    path = CONFIG_DIR / f"{profile}.yaml"
    if not path.exists():
        raise ValueError(f"unknown profile {profile!r}: no {path}")
    raw = yaml.safe_load(path.read_text())
    smoke_over = raw.pop("smoke", {})
    ablation_over = raw.pop("ablation", {})
    if ablation:
        raw = _merge(raw, ablation_over)
    is_smoke = resolve_smoke(smoke)
    if is_smoke:
        raw = _merge(raw, smoke_over)
    if steps is not None:
        raw["train"]["num_steps"] = int(steps)
    raw["name"] = raw.pop("profile")
    return Profile(smoke=is_smoke, swap_backbones=dict(swap_backbones or {}), **raw)


def cache_dir() -> Path:
    """Where built backbones, tiny worlds and trained arms are cached (git-ignored)."""
    return Path(os.environ.get("BRLIB_CACHE", ROOT / "data" / "cache"))


def _build_once(name: str, spec: dict, build) -> Path:
    """Build into cache/<name>-<hash(spec)> unless it exists; the build goes to a temp dir first."""
    from filelock import FileLock

    out = cache_dir() / f"{name}-{config_hash(spec)}"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out) + ".lock"):  # built by another process meanwhile: reuse it
        if out.exists():
            return out
        tmp = out.with_name(out.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        build(tmp)
        tmp.rename(out)
    return out


def world_dirs(profile: Profile) -> tuple[Path, Path]:
    """The tiny world (train, held-out, benchmark files) and the tiny version of every source and benchmark in its
    real schema, built into the cache if missing."""
    from brlib import world
    from brlib.world import catalog

    w = profile.world
    world_dir = _build_once("world", {**w, "version": world.VERSION}, lambda d: world.write_world(d, seed=0, **w))

    def write_files(d: Path) -> None:  # every tiny source and benchmark, each in its real schema
        src = catalog.write_sources(d / "sources", seed=0, scale=scale)
        ben = catalog.write_benchmarks(d / "benchmarks", seed=0, scale=scale)
        # Stored relative to the cache entry, so a moved cache still resolves.
        (d / "sources.json").write_text(json.dumps({k: str(Path(v).relative_to(d)) for k, v in src.items()}))
        (d / "benchmarks.json").write_text(json.dumps({k: str(Path(v).relative_to(d)) for k, v in ben.items()}))

    scale = 0.1 if profile.smoke else 1.0
    return world_dir, _build_once("world_files", {"scale": scale, "version": world.VERSION}, write_files)


def _prebuild_job(profile: Profile, what: tuple) -> str:
    return str(world_dirs(profile)[0]) if what == ("world",) else backbone(profile, *what)


def prebuild(profile: Profile, backbones: list[tuple[str, str]]) -> dict:
    """Build the tiny world and these (family, size) backbones with their -Instruct stages before any notebook runs,
    side by side in `profile.workers` single-threaded processes, largest first; a notebook then finds them cached.
    Nothing to do in the paper profile. Used in: scripts/run_all.py (make reproduce)."""
    if profile.name != "tiny":
        return {}
    from brlib.experiments.workers import run_jobs
    from brlib.models.backbones import SIZES

    rank = {size: k for k, size in enumerate(SIZES)}
    todo = [("world",)] + sorted(dict.fromkeys(backbones), key=lambda fs: -rank.get(fs[1], 0))
    return run_jobs(_prebuild_job, {w: ((profile, w), {}) for w in todo}, profile.workers, desc="prebuild")


def prepare(profile: Profile) -> dict:
    """Model path and data specs for `profile`; in the tiny profile, build the backbone and world if missing."""
    if profile.name != "tiny":
        from brlib.data.hub import data_dir

        options = {k: {o: str(v).format(data_dir=data_dir()) for o, v in opts.items()}
                   for k, opts in profile.source_options.items()}  # fmt: skip
        bb = profile.backbone
        return {
            "model": profile.swap_backbones.get(bb.get("family"), bb["model"]),
            "train_data": profile.train_data,
            "eval_data": profile.eval_data,
            "bench": profile.bench,
            "sources": {},
            "source_options": options,
            "benchmarks": profile.benchmarks,
        }
    bb = profile.backbone
    world_dir, files_dir = world_dirs(profile)
    model_dir = Path(backbone(profile, bb.get("family", "qwen2_5_vl"), bb.get("size", "s")))
    sources = {k: str(files_dir / v) for k, v in json.loads((files_dir / "sources.json").read_text()).items()}
    # A spec without a path names a tiny source by its format key (the ablation profile's default set).
    train_data = [{"path": sources[s["format"]], **s} for s in profile.train_data] or [
        {"format": "rlaif_v", "path": str(world_dir / "train" / "rlaif_v.parquet"), "source": "tiny_rlaif_v"},
        {"format": "skywork", "path": str(world_dir / "train" / "text.parquet"), "source": "tiny_text"},
    ]
    return {
        "model": str(model_dir),
        "train_data": train_data,
        "eval_data": [
            {"format": "rlaif_v", "path": str(world_dir / "heldout" / "rlaif_v.parquet"), "source": "heldout"},
            {"format": "skywork", "path": str(world_dir / "heldout" / "text.parquet"), "source": "heldout_text"},
        ],
        "bench": {"format": "mm_rlhf_rewardbench", "path": str(world_dir / "bench" / "mm_reward_bench.jsonl")},
        "sources": sources,
        "benchmarks": {
            k: str(files_dir / v) for k, v in json.loads((files_dir / "benchmarks.json").read_text()).items()
        },
    }


def train_config(profile: Profile, prepared: dict, seed: int, output_dir: str | Path, **overrides) -> TrainConfig:
    """The TrainConfig of one arm: profile defaults, then `overrides` (head=..., loss=..., train_data=...)."""
    fields = {
        "model": prepared["model"],
        "train_data": prepared["train_data"],
        "eval_data": prepared["eval_data"],
        **profile.train,
        **overrides,  # may replace the model (backbone ablations) or the data (data ablations) too
    }
    return TrainConfig(output_dir=str(output_dir), seed=seed, **fields)


def run_arm(profile: Profile, prepared: dict, seed: int, progress: bool = True, **overrides) -> dict:
    """Train one arm, or reuse its cached run: the output dir is keyed by the arm's config hash."""
    import json

    from filelock import FileLock

    from brlib.train import train

    probe = train_config(profile, prepared, seed, "", **overrides)
    key = config_hash({k: v for k, v in probe.__dict__.items() if k != "output_dir"})
    out = cache_dir() / "runs" / key
    final = out / "final"
    out.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out) + ".lock"):  # another notebook training the same arm: wait for it, then reuse its run
        if (final / "reward_config.json").exists():
            history = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
            return {"history": history, "final": final, "cached": True, "config_hash": key}
        cfg = train_config(profile, prepared, seed, out, **overrides)
        result = launch(cfg, profile.launch) if profile.launch else train(cfg, progress=progress)
    return {**result, "cached": False, "config_hash": key}


def launch(cfg: TrainConfig, options: dict) -> dict:
    """Train `cfg` with `accelerate launch [options] -m brlib.train CONFIG.yaml` (GPU workers, DeepSpeed/FSDP from
    the options' config_file); the YAML is written into the run dir first. Used in: 02_reward_head.ipynb."""
    import subprocess
    import sys

    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    yaml_path = cfg.to_yaml(out / "train_config.yaml")
    args = []
    for k, v in options.items():
        flag = "--" + k
        if v is True:
            args.append(flag)
        elif v not in (False, None):
            args += [flag, str(ROOT / v) if k == "config_file" and not Path(str(v)).is_absolute() else str(v)]
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        *args,
        "-m",
        "brlib.train",
        str(yaml_path),
        "--no-progress",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"accelerate launch failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-4000:]}")
    history = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    return {"history": history, "final": out / "final", "launched": cmd}


def resolve_mixture(spec_path: str | Path, prepared: dict):
    """A mixture YAML with its sources' paths filled from the profile (tiny files, or Hub ids when None)."""
    from brlib.data.mixture import MixtureSpec

    spec = MixtureSpec.from_yaml(spec_path)
    for s in spec.sources:
        if s.path is None and s.key in prepared.get("sources", {}):
            s.path = prepared["sources"][s.key]
    return spec


# Paper-profile backbones by (family, size): the Hub checkpoints of Tables 6-10 and Figure 2.
PAPER_BACKBONES = {
    ("qwen2_5_vl", "3B"): "Qwen/Qwen2.5-VL-3B-Instruct",
    ("qwen2_5_vl", "7B"): "Qwen/Qwen2.5-VL-7B-Instruct",
    ("qwen2_5_vl", "32B"): "Qwen/Qwen2.5-VL-32B-Instruct",
    ("qwen2_vl", "2B"): "Qwen/Qwen2-VL-2B-Instruct",
    ("qwen2_vl", "7B"): "Qwen/Qwen2-VL-7B-Instruct",
    ("qwen2_vl", "72B"): "Qwen/Qwen2-VL-72B-Instruct",
    ("qwen2", "7B"): "Qwen/Qwen2.5-7B-Instruct",
    ("qwen2_5_omni", "3B"): "Qwen/Qwen2.5-Omni-3B",  # notebook 10: the omni backbone (audio in); the reward
    ("qwen2_5_omni", "7B"): "Qwen/Qwen2.5-Omni-7B",  # model reads its thinker (brlib.models.omni_backbone)
}


def backbone(profile: Profile, family: str, size: str, instruct: bool = True) -> str:
    """The backbone checkpoint of (family, size): a tiny one built into the cache (after its "-Instruct"
    pre-training stage unless `instruct` is False or the family is the text-only qwen2), or the paper's Hub id.

    Used in: 04_data.ipynb, 05_backbones.ipynb.
    """
    if profile.name != "tiny":
        if (family, size) not in PAPER_BACKBONES:
            raise ValueError(f"no paper backbone for {(family, size)}; known: {sorted(PAPER_BACKBONES)}")
        return profile.swap_backbones.get(family, PAPER_BACKBONES[(family, size)])
    from brlib import world
    from brlib.models import backbones

    if family == "qwen2_5_omni":  # a tiny Qwen2.5-Omni thinker; its tokenizer also learns the omni world's text
        from brlib.models import omni_backbone
        from brlib.world import omni

        key = {"family": family, "size": size, "version": world.VERSION, "omni_version": omni.VERSION}
        corpus = lambda: world.corpus() + omni.omni_corpus()  # noqa: E731
        build = lambda d: omni_backbone.build_tiny_omni_backbone(d, corpus(), size=size)  # noqa: E731
        return str(_build_once("backbone", key, build))
    spec = {**profile.backbone, "family": family, "size": size}
    base = _build_once(
        "backbone",
        {**spec, "version": world.VERSION},
        lambda d: backbones.build_tiny_backbone(d, world.corpus(), **spec),
    )
    if not instruct or family == "qwen2" or not profile.pretrain.get("steps"):
        return str(base)
    return str(instruct_backbone(base, profile.pretrain, {**spec, "version": world.VERSION}))


def instruct_backbone(base: Path, recipe: dict, base_spec: dict) -> Path:
    """The cached "-Instruct" checkpoint pre-trained from `base` with `recipe` (brlib.experiments.pretrain)."""
    from brlib.experiments import pretrain
    from brlib.experiments.workers import single_thread

    recipe = {**pretrain.DEFAULTS, **recipe}

    def build(d: Path) -> None:  # one thread wherever it is built (a notebook or run_all's prebuild): same weights
        with single_thread():
            pretrain.build_instruct(base, d, **recipe)

    return _build_once("instruct", {"base": base_spec, **recipe}, build)
