"""Every table and figure is written here: atomic writes, stable names, a provenance stamp on each."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

DISPLAY_NAMES = {
    "perception": "Perception (short)",
    "hallucination": "Hallucination (long)",
    "reasoning": "Reasoning (mcq)",
    "safety": "Safety",
    "text": "Text-only",
    "acc": "Acc",
    "acc_plus": "Acc+",
    "mmrlhf_acc": "MM-RLHF Acc",
    "mmrlhf_acc_plus": "MM-RLHF Acc+",
}


def configure() -> None:
    """House style for matplotlib figures. Used in: 00_quickstart.ipynb."""
    import matplotlib as mpl

    mpl.rcParams.update(
        {
            "figure.dpi": 110,
            "savefig.dpi": 150,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "font.size": 10,
        }
    )


def atomic_write(path: Path, write) -> Path:
    """Call write(tmp_path) then move tmp over `path`, so readers never see a half-written file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _out_dir(out_dir) -> Path:
    out = Path(out_dir)
    if not out.is_dir():
        raise FileNotFoundError(f"output directory {out} does not exist")
    return out


def _stamp_line(prov: dict) -> str:
    return f"git {prov.get('git_sha')} | config {prov.get('config_hash')} | seed {prov.get('seed')}"


def save_figure(fig, name: str, prov: dict, out_dir="figures") -> list[Path]:
    """Write `name`.png and `name`.pdf (tight bbox) plus `name`.provenance.json. Used in: 00_quickstart.ipynb."""
    out = _out_dir(out_dir)
    stamp = json.dumps(prov, sort_keys=True)
    paths = [
        atomic_write(
            out / f"{name}.png",
            lambda p: fig.savefig(p, format="png", bbox_inches="tight", metadata={"Description": stamp}),
        ),
        atomic_write(
            out / f"{name}.pdf",
            lambda p: fig.savefig(p, format="pdf", bbox_inches="tight", metadata={"Subject": stamp}),
        ),
    ]
    paths.append(save_json(prov, f"{name}.provenance", out))
    return paths


def save_table(df, name: str, prov: dict, out_dir="figures", floatfmt: str = ".3f") -> list[Path]:
    """Write `name`.csv, .md and a booktabs .tex, each stamped with provenance. Used in: 00_quickstart.ipynb."""
    out = _out_dir(out_dir)
    stamp = _stamp_line(prov)
    paths = [
        atomic_write(out / f"{name}.csv", lambda p: df.to_csv(p, index=False)),
        atomic_write(
            out / f"{name}.md",
            lambda p: p.write_text(_markdown(df, floatfmt) + f"\n\n<!-- {stamp} -->\n"),
        ),
        atomic_write(
            out / f"{name}.tex",
            lambda p: p.write_text(
                f"% {stamp}\n" + df.to_latex(index=False, float_format=lambda x: format(x, floatfmt))
            ),
        ),
    ]
    paths.append(save_json(prov, f"{name}.provenance", out))
    return paths


def _markdown(df, floatfmt: str) -> str:
    """Floats formatted with `floatfmt`; strings (e.g. "71.2 ± 1.3", printed paper values) kept as written."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype.kind == "f":
            out[c] = [format(v, floatfmt) if v == v else "" for v in out[c]]
    return out.to_markdown(index=False, disable_numparse=True)


def save_json(obj, name: str, out_dir="figures") -> Path:
    """Write `name`.json atomically (headline metrics, run info); NaN and infinities become null (strict JSON)."""
    out = _out_dir(out_dir)
    text = json.dumps(_finite(obj), indent=2, default=str, allow_nan=False)
    return atomic_write(out / f"{name}.json", lambda p: p.write_text(text + "\n"))


def _finite(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj
