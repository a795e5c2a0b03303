# Every target bootstraps .venv when it is missing (or when pyproject.toml / constraints.txt change).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.brlib-installed
PROFILE ?= tiny
export PATH := $(CURDIR)/$(BIN):$(PATH)
export MPLBACKEND ?= agg

.PHONY: reproduce test bench lab demo serve format clean-cache data preflight

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[notebooks,dev,serve]"
	$(BIN)/python -m ipykernel install --sys-prefix --name brlib --display-name "brlib (.venv)" >/dev/null
	touch $(STAMP)

reproduce: $(STAMP)  ## run every notebook with papermill (tiny: backbones prebuilt, two lanes); outputs/ gets the executed copies
	$(BIN)/python scripts/run_all.py --profile $(PROFILE)

test: $(STAMP)  ## lint, unit tests, notebook tests (papermill + nbval, SMOKE on)
	$(BIN)/ruff check brlib tests scripts benchmarks
	$(BIN)/python -m pytest -q
	BRLIB_SMOKE=1 $(BIN)/python -m pytest -q --nbval-lax --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider notebooks/

data: $(STAMP)  ## fetch, join, extract and verify every Hub dataset of PROFILE (paper): a GPU worker's one-time step
	$(BIN)/python -m brlib.prepare configs/$(PROFILE).yaml

preflight: $(STAMP)  ## every source, benchmark and the engine config of PROFILE checked on a few rows; exit 1 on failure
	$(BIN)/python -m brlib.preflight configs/$(PROFILE).yaml

bench: $(STAMP)  ## speed ratios, same work on both sides, 5 interleaved runs each (prefix sharing, GRPO reward, /score server, vs TRL, vs a long-CoT judge); JSON on the last line
	$(BIN)/python benchmarks/speed.py --out outputs/bench.json

lab: $(STAMP)  ## JupyterLab on this environment (kernel "brlib (.venv)"), bound to localhost
	$(BIN)/jupyter lab --ip 127.0.0.1 --notebook-dir notebooks

demo: $(STAMP)  ## the widget demo as a page (Voila) on http://127.0.0.1:8866
	cd notebooks && $(CURDIR)/$(BIN)/voila 09_demo.ipynb --no-browser --port 8866 --Voila.ip=127.0.0.1

serve: $(STAMP)  ## reward server on 127.0.0.1:8000 for MODEL=<checkpoint dir or Hub id>
	$(BIN)/python -m brlib.server --model $(MODEL) --host 127.0.0.1 --port 8000

format: $(STAMP)  ## ruff format + autofix
	$(BIN)/ruff format brlib tests scripts benchmarks
	$(BIN)/ruff check --fix brlib tests scripts benchmarks

clean-cache:
	rm -rf data/cache outputs
