"""CLI: `python -m brlib.server --model PATH [--host 127.0.0.1] [--port 8000] [--allowed-root DIR] [--docs]`,
plus one flag per request budget (`--max-tokens`, `--max-total-pixels`, `--max-queue`, `--timeout`, ...; `--help`).

The app (`create_app`) and its request rules live in `brlib.serve.app`; see its docstring for the API, and
`brlib.serve.limits` / `brlib.serve.worker` for the budgets and the bounded scoring queue.
"""

from brlib.serve.app import main

if __name__ == "__main__":
    main()
