"""Preflight: `python -m brlib.preflight CONFIG [--rows N] [--backbone ID] [--launch ACCELERATE.yaml]`.

Run it once before the first multi-GPU job. CONFIG is a profile (configs/paper.yaml), a TrainConfig YAML or a
mixture spec. For every source and benchmark the config reads it loads a few rows (from the Hub cache by id, as the
training code does), opens their images and frames, tokenizes them with the configured processor and pixel limits,
and prints per dataset: rows found / kept / dropped with reasons / token-length percentiles / share over
`max_length`; then the static checks of the accelerate config against the model. Exit code 1 when anything would
fail (a layout that matches no known variant, an unextracted archive, no usable rows, an invalid engine config).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml


def plan(config: Path, backbone: str | None) -> dict:
    """What the config reads: model, processor pixel limits, max_length, data specs, benchmarks, launch options."""
    raw = yaml.safe_load(config.read_text())
    if not isinstance(raw, dict):
        raise ValueError(f"{config}: not a YAML mapping")
    if "profile" in raw:  # a notebook profile: everything its notebooks read (all sources for notebook 04)
        from brlib.data.sources import SOURCES
        from brlib.experiments import ablation, profiles

        prof = profiles.load(raw["profile"], smoke=False)
        prepared = profiles.prepare(prof)
        specs = list(prepared["train_data"]) + list(prof.train_data)
        specs += profiles.load(raw["profile"], smoke=False, ablation=True).train_data
        specs += ablation.source_data(prepared, sorted(SOURCES))
        train = prof.train
        model, launch = prepared["model"], prof.launch
        benchmarks = dict(prepared["benchmarks"])
    elif "sources" in raw:  # a mixture
        specs = [{"format": s["key"], "path": s.get("path"), "split": s.get("split"), **s.get("options", {})}
                 for s in raw["sources"]]  # fmt: skip
        train, model, launch, benchmarks = {}, None, {}, {}
    else:  # a TrainConfig
        from brlib.train import TrainConfig

        cfg = TrainConfig.from_yaml(config)
        specs = list(cfg.train_data) + list(cfg.eval_data)
        if cfg.mixture is not None:
            mix = cfg.mixture if isinstance(cfg.mixture, dict) else yaml.safe_load(Path(cfg.mixture).read_text())
            specs += [{"format": s["key"], "path": s.get("path"), **s.get("options", {})} for s in mix["sources"]]
        train, model, launch, benchmarks = vars(cfg), cfg.model, {}, {}
    from brlib.data.sources import SOURCES

    seen, unique = set(), []
    for s in specs:  # one check per (source, dataset, split); a source named by its Hub id or by None is one dataset
        fmt = s.get("format")
        path = s.get("path") or (SOURCES[fmt].hub_id if fmt in SOURCES else None)
        key = (fmt, path, str(s.get("split")))
        if key not in seen:
            seen.add(key)
            unique.append(s)
    model = backbone or model
    if model is None:
        raise ValueError("a mixture spec names no model: pass --backbone (a Hub id or checkpoint folder)")
    pixels = {k: train[k] for k in ("min_pixels", "max_pixels") if train.get(k)}
    return {"model": model, "pixels": pixels, "max_length": int(train.get("max_length", 4096)),
            "specs": unique, "benchmarks": benchmarks, "launch": launch, "train": train}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; prints the table and returns 1 when any check fails."""
    from brlib.data.hub import no_datasets_bars

    with no_datasets_bars():  # one "Generating train split" bar per file would bury the table
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    from transformers import AutoProcessor

    from brlib.data.collate import PairCollator
    from brlib.preflight.checks import check_benchmark, check_source, table

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", type=Path)
    ap.add_argument("--rows", type=int, default=16, help="rows read per source (benchmarks are read whole)")
    ap.add_argument("--backbone", help="model whose processor tokenizes (default: the config's model)")
    ap.add_argument("--launch", help="accelerate config to check (default: the profile's launch config)")
    ap.add_argument("--json", type=Path, help="also write the checks as JSON here")
    args = ap.parse_args(argv)
    p = plan(args.config, args.backbone)
    from brlib.data.hub import hub_cache

    cache = {} if Path(p["model"]).exists() else {"cache_dir": hub_cache()}  # HF_HOME as set now, like the data
    processor = AutoProcessor.from_pretrained(p["model"], **cache, **p["pixels"])
    collator = PairCollator(processor, p["max_length"])
    pixels = p["pixels"] or "processor default"
    print(f"preflight {args.config}: model {p['model']}, max_length {p['max_length']}, pixels {pixels}")
    checks = [check_source(s, collator, args.rows) for s in p["specs"]]
    checks += [check_benchmark(n, path, collator, args.rows) for n, path in p["benchmarks"].items()]
    checks += engine_checks(args.launch or (p["launch"] or {}).get("config_file"), p)
    print(table(checks))
    if args.json:
        args.json.write_text(json.dumps([vars(c) for c in checks], indent=1, default=str))
    failed = [c for c in checks if c.status == "FAIL"]
    print(f"\n{len(checks)} checks: {len(failed)} failed, {sum(c.status == 'WARN' for c in checks)} warnings")
    return 1 if failed else 0


def meta_model(model_id: str):
    """The reward model of `model_id` on the meta device (no weights read): enough for the static engine checks."""
    import torch
    from transformers import AutoConfig, AutoModel

    from brlib.data.hub import hub_cache
    from brlib.models.head import RewardHead
    from brlib.models.reward_model import RewardModel, _hidden_size

    cache = {} if Path(model_id).exists() else {"cache_dir": hub_cache()}
    config = AutoConfig.from_pretrained(model_id, **cache)
    with torch.device("meta"):
        backbone = AutoModel.from_config(config, dtype=torch.float32)
        return RewardModel(backbone, RewardHead(_hidden_size(backbone)))


def engine_checks(launch_config: str | None, p: dict) -> list:
    """Static checks of an accelerate config against the model and the training config (brlib.train.engines):
    micro-batch x accumulation x processes = global batch, the engine installed, wrap classes present in the model,
    trainable weights in fp32."""
    from brlib.experiments.profiles import ROOT
    from brlib.preflight.checks import Check
    from brlib.train import TrainConfig, engines

    if not launch_config:
        return []
    path = Path(launch_config) if Path(launch_config).is_absolute() else ROOT / launch_config
    fields = {k: v for k, v in p["train"].items() if k in TrainConfig.__dataclass_fields__}
    cfg = TrainConfig(**{**fields, "model": p["model"], "output_dir": fields.get("output_dir") or "preflight"})
    try:
        model = meta_model(p["model"])
    except Exception as e:  # the checks without a model still run
        model = None
        note = [Check("engine", f"{path.name}: model", "WARN", message=f"no meta model ({e.__class__.__name__})")]
    else:
        note = []
    return note + [
        Check("engine", f"{path.name}: {name}", "OK" if ok else "FAIL", message=msg)
        for name, ok, msg in engines.check(path, cfg, model)
    ]


if __name__ == "__main__":
    sys.exit(main())
