"""Notebook tests: structure of every committed notebook, and the papermill runner with SMOKE on."""

import ast
import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_clean_with_a_literal_parameters_cell(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert not any(c.get("outputs") or c.get("execution_count") for c in code), "commit notebooks without outputs"
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    for node in ast.parse("".join(tagged[0]["source"])).body:
        assert isinstance(node, ast.Assign), "the parameters cell holds assignments only"
        ast.literal_eval(node.value)  # literals only: derived values belong in the next cell
    names = {t.id for node in ast.parse("".join(tagged[0]["source"])).body for t in node.targets}
    assert {"PROFILE", "SMOKE"} <= names and names & {"SEED", "SEEDS"}


@pytest.mark.notebooks
def test_runner_executes_every_notebook_with_smoke(tmp_path):
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    import run_all

    figures = tmp_path / "figures"
    assert run_all.main(["--smoke", "--out", str(tmp_path / "out"), "--figures", str(figures)]) == 0
    executed = sorted(p.name for p in (tmp_path / "out" / "tiny").glob("*.ipynb"))
    assert executed == [p.name for p in run_all.notebooks()]
    smoke = figures / "smoke"  # SMOKE results never overwrite real ones
    metrics = json.loads((smoke / "metrics" / "00_quickstart.json").read_text())
    assert metrics["smoke"] is True and 0.0 <= metrics["heldout_acc"] <= 1.0
    for name in [
        "quickstart_learning_curve.png",
        "quickstart_scores.pdf",
        "quickstart_accuracy.tex",
        "runinfo/00_quickstart.json",
    ]:
        assert (smoke / name).exists(), name
    assert json.loads((smoke / "quickstart_accuracy.provenance.json").read_text())["seed"] == 0


@pytest.mark.notebooks
def test_same_seed_gives_identical_numbers(tmp_path, monkeypatch):
    import papermill as pm

    nb = ROOT / "notebooks" / "00_quickstart.ipynb"
    results = []
    for i in range(2):
        out = tmp_path / f"fig{i}"
        out.mkdir()
        monkeypatch.setenv("BRLIB_CACHE", str(tmp_path / f"cache{i}"))  # retrain from scratch, no cached run
        pm.execute_notebook(
            str(nb),
            str(tmp_path / f"run{i}.ipynb"),
            cwd=str(nb.parent),
            progress_bar=False,
            parameters={"SMOKE": True, "OUT_DIR": str(out)},
            kernel_name="python3",
        )
        m = json.loads((out / "smoke" / "metrics" / "00_quickstart.json").read_text())
        results.append({k: v for k, v in m.items() if k != "train_seconds"})
    assert results[0] == results[1]


@pytest.mark.notebooks
def test_ablation_notebook_reruns_identically_from_scratch(tmp_path, monkeypatch):
    """Two runs of an ablation notebook, each building and training everything in its own cache: same numbers."""
    import pandas as pd
    import papermill as pm

    nb = ROOT / "notebooks" / "03_regularization.ipynb"
    tables = []
    for i in range(2):
        out = tmp_path / f"fig{i}"
        out.mkdir()
        monkeypatch.setenv("BRLIB_CACHE", str(tmp_path / f"cache{i}"))
        pm.execute_notebook(
            str(nb),
            str(tmp_path / f"run{i}.ipynb"),
            cwd=str(nb.parent),
            progress_bar=False,
            parameters={"SMOKE": True, "OUT_DIR": str(out)},
            kernel_name="python3",
        )
        df = pd.read_csv(out / "smoke" / "figure01_regularization_runs.csv")
        tables.append(df.drop(columns=["train_s", "config_hash"]))  # the hash covers cache paths
    assert len(tables[0]) == 5
    pd.testing.assert_frame_equal(tables[0], tables[1])


@pytest.mark.notebooks
def test_paper_profile_runs_every_notebook_on_the_hub_replica(tmp_path, monkeypatch):
    """The paper path end to end, offline on CPU: the real loaders read every dataset by Hub id from the replica's
    cache in its real layout, the real benchmark files and rules score, the arm runner trains; tiny Hub-layout
    checkpoints stand in for the 7B backbones (SWAP_BACKBONES) and SMOKE shrinks the budget."""
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    import run_all

    saved = {k: os.environ.get(k) for k in ("HF_HOME", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_HUB_CACHE")}
    monkeypatch.setenv("BRLIB_CACHE", str(tmp_path / "cache"))
    figures = tmp_path / "figures"
    args = ["--profile", "paper", "--smoke", "--keep-going", "--replica", str(tmp_path / "hf")]
    try:
        assert run_all.main(args + ["--out", str(tmp_path / "out"), "--figures", str(figures)]) == 0
    finally:  # run_all points this process at the replica; later tests must not see it
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
    assert len(list((tmp_path / "out" / "paper").glob("*.ipynb"))) == len(run_all.notebooks())
    metrics = json.loads((figures / "smoke" / "metrics" / "00_quickstart.json").read_text())
    assert metrics["profile"] == "paper" and 0.0 <= metrics["mmrlhf_acc"] <= 1.0
