"""CLI: `python -m brlib.server --model PATH [--host 127.0.0.1] [--port 8000] [--allowed-root DIR]`.

The app (`create_app`) and its request rules live in `brlib.serve.app`; see its docstring for the API.
"""

from brlib.serve.app import main

if __name__ == "__main__":
    main()
