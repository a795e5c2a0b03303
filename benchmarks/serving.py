"""What users call: the GRPO reward as TRL's GRPOTrainer calls it, and the reward server's POST /score.

Both compare prefix sharing on (a group of completions to one prompt + image in one packed row) against
per-completion scoring (`RewardScorer(prefix_sharing=False)`: every completion on its own sequence, batched by the
token budget), on the same model, the same rows and the same requests.
"""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.client import HTTPConnection
from pathlib import Path

from timing import interleaved, percentile, rates_side, ratio, side

HERE = Path(__file__).resolve().parent


def grpo_rows(pairs, completions: list[list[str]]) -> list[dict]:
    """GRPO dataset rows in TRL's conversational layout: `prompt` messages, an `image` column, an `answer`."""
    return [
        {"prompt": [{"role": "user", "content": p.prompt}], "image": p.images[0], "answer": c[0]}
        for p, c in zip(pairs, completions)
    ]


def trl_call_indices(dataset, G: int, prompts_per_call: int) -> list[list[int]]:
    """Row indices of every reward call in one epoch, in GRPOTrainer's order: its RepeatSampler repeats each prompt
    G times, and its DataLoader batches the sampler (`BatchSampler`, one generation batch per reward call)."""
    from torch.utils.data import BatchSampler
    from trl.trainer.utils import RepeatSampler

    sampler = RepeatSampler(dataset, mini_repeat_count=G, batch_size=prompts_per_call, repeat_count=1, seed=0)
    return list(BatchSampler(sampler, G * prompts_per_call, drop_last=False))


def fetch_rows(dataset, indices: list[int]) -> list[dict]:
    """One call's rows as GRPOTrainer's DataLoader fetches them (`dataset.__getitems__`, then `collate_fn=identity`):
    `datasets` decodes a fresh image object for every row, repeats of a prompt included."""
    from trl.trainer.utils import identity

    return identity(dataset.__getitems__(indices))


def call_like_trl(reward, inputs: list[dict], texts: dict) -> list[float]:
    """One reward call with the arguments GRPOTrainer passes (trl/trainer/grpo_trainer.py, _generate_and_score_
    completions and _calculate_rewards): multimodal prompts with the row's image, conversational completions, and
    every other dataset column repeated per completion."""
    from trl.data_utils import prepare_multimodal_messages

    seen: dict[str, int] = {}
    completions = []
    for x in inputs:
        key = x["prompt"][0]["content"]
        k = seen[key] = seen.get(key, -1) + 1
        completions.append([{"role": "assistant", "content": texts[key][k]}])
    prompts = [prepare_multimodal_messages(x["prompt"], images=[x["image"]]) for x in inputs]
    kwargs = {
        key: [x[key] for x in inputs] for key in inputs[0] if key not in ("prompt", "completion", "completion_ids")
    }
    kwargs.update(trainer_state=None, log_extra=lambda *a, **k: None, log_metric=lambda *a, **k: None)
    return reward(prompts=prompts, completions=completions, completion_ids=[[0]] * len(inputs), **kwargs)


def bench_grpo(rm, pairs, completions, G: int, prompts_per_call: int, repeats: int) -> dict:
    """Seconds of the reward calls of one epoch, GRPOReward("basereward") with prefix sharing on vs off; the arms
    alternate call by call, and every call's rows are fetched afresh outside the timed part."""
    import datasets

    from brlib.serve.rl import GRPOReward
    from brlib.serve.score import RewardScorer

    ds = datasets.Dataset.from_list(grpo_rows(pairs, completions))  # images stored as PNG bytes, decoded per row
    texts = {p.prompt: c for p, c in zip(pairs, completions)}
    calls = trl_call_indices(ds, G, prompts_per_call)
    rewards = {
        "shared": GRPOReward("basereward", RewardScorer(rm)),
        "per_completion": GRPOReward("basereward", RewardScorer(rm, prefix_sharing=False)),
    }
    scores: dict[str, dict] = {k: {} for k in rewards}

    def arm(name):
        def call(u):
            t0 = time.perf_counter()
            inputs = fetch_rows(ds, calls[u])
            t1, c1 = time.perf_counter(), time.process_time()
            scores[name][u] = call_like_trl(rewards[name], inputs, texts)
            return {"reward_s": time.perf_counter() - t1, "reward_cpu_s": time.process_time() - c1, "fetch_s": t1 - t0}

        return call

    times = interleaved({k: arm(k) for k in rewards}, repeats, units=len(calls))
    diff = max(abs(a - b) for u in range(len(calls)) for a, b in zip(scores["shared"][u], scores["per_completion"][u]))
    return {"times": times, "calls": len(calls), "completions": len(pairs) * G, "max_abs_score_diff": diff}


def png_b64(img) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def score_bodies(pairs, completions) -> list[bytes]:
    """POST /score bodies: one prompt, its image inline, and its G completions."""
    return [
        json.dumps({"prompt": p.prompt, "responses": c, "images": [{"base64": png_b64(p.images[0])}]}).encode()
        for p, c in zip(pairs, completions)
    ]


class Server:
    """`benchmarks/bench_server.py` in a child process, on 127.0.0.1 at an ephemeral port; a context manager."""

    def __init__(self, model_dir: Path, threads: int, image_side: int, log: Path, start_timeout: float = 120):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        cmd = [sys.executable, str(HERE / "bench_server.py"), "--model", str(model_dir), "--fd"]
        cmd += [str(self.sock.fileno()), "--threads", str(threads), "--image-side", str(image_side)]
        self.log = open(log, "w")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            cmd, pass_fds=[self.sock.fileno()], stdout=self.log, stderr=subprocess.STDOUT, env=dict(os.environ)
        )
        self.sock.close()  # the child holds the listening socket now
        self.start_timeout = start_timeout

    def __enter__(self) -> Server:
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the benchmark server exited ({self.proc.returncode}); see {self.log.name}")
            try:
                conn = HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/shared/health")
                if conn.getresponse().status == 200:
                    conn.close()
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the benchmark server did not answer in {self.start_timeout:.0f} s")
            time.sleep(0.2)

    def cpu_seconds(self) -> float | None:
        """CPU seconds (user + system) the server process has used so far; None where /proc is missing."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self.log.close()

    def __exit__(self, *exc) -> None:
        self.stop()


def load(port, path, bodies: list[bytes], concurrency: int, n_requests: int, time_limit: float, first=0) -> dict:
    """Closed-loop load: `concurrency` clients, each with its own keep-alive connection, send POSTs back to back
    until `n_requests` are sent or `time_limit` seconds have passed; returns wall seconds, latencies and scores.
    Request i carries body `first + i` (cyclically)."""
    lock = threading.Lock()
    state = {"next": 0, "errors": 0}
    latencies: list[float] = []
    scores: dict[int, list] = {}
    deadline = time.perf_counter() + time_limit

    def client():
        conn = HTTPConnection("127.0.0.1", port, timeout=max(1.0, time_limit))
        try:
            while True:
                with lock:
                    if state["next"] >= n_requests or time.perf_counter() > deadline:
                        return
                    i = first + state["next"]
                    state["next"] += 1
                t0 = time.perf_counter()
                try:
                    conn.request(
                        "POST", path, body=bodies[i % len(bodies)], headers={"Content-Type": "application/json"}
                    )
                    resp = conn.getresponse()
                    data = resp.read()
                    ok = resp.status == 200
                except OSError as e:
                    conn.close()
                    conn = HTTPConnection("127.0.0.1", port, timeout=max(1.0, time_limit))
                    ok, data = False, repr(e).encode()
                dt = time.perf_counter() - t0
                with lock:
                    if ok:
                        latencies.append(dt)
                        scores[i] = json.loads(data)["scores"]
                    else:
                        state["errors"] += 1
                        state.setdefault("first_error", data[:300].decode(errors="replace"))
        finally:
            conn.close()

    t0 = time.perf_counter()
    workers = [threading.Thread(target=client, daemon=True) for _ in range(concurrency)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=time_limit + 30)
    wall = time.perf_counter() - t0
    return {
        "s": wall,
        "latencies": latencies,
        "ok": len(latencies),
        "errors": state["errors"],
        "first_error": state.get("first_error"),
        "scores": scores,
    }


def merge(results: list[dict]) -> dict:
    """One run's totals from its bursts: seconds, CPU seconds, counts, latencies and scores."""
    cpu = [r["server_cpu_s"] for r in results]
    return {
        "s": sum(r["s"] for r in results),
        "server_cpu_s": None if None in cpu else sum(cpu),
        "ok": sum(r["ok"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "latencies": [x for r in results for x in r["latencies"]],
        "scores": {i: v for r in results for i, v in r["scores"].items()},
    }


def bench_server(
    model_dir: Path, log_dir: Path, bodies, threads, image_side, concurrencies, n_requests, repeats, time_limit
) -> dict:
    """Requests/s and latency of POST /score at each concurrency, prefix sharing on vs off; the arms alternate
    burst by burst (c requests at concurrency c)."""
    paths = {"shared": "/shared/score", "per_completion": "/per_completion/score"}
    out: dict = {}
    with Server(model_dir, threads, image_side, log_dir / "bench_server.log") as srv:
        for path in paths.values():  # warm-up: every request body once per path
            res = load(srv.port, path, bodies, 1, len(bodies), time_limit)
            if res["errors"]:
                raise RuntimeError(f"POST {path} failed in the warm-up: {res['first_error']}")
        for c in concurrencies:
            n = n_requests(c)
            units = max(1, n // c)  # a unit: a burst of c requests, one per client
            done: dict[str, list] = {k: [] for k in paths}

            def arm(name, c=c, done=done):
                def burst(u):
                    c0 = srv.cpu_seconds()
                    res = load(srv.port, paths[name], bodies, c, c, time_limit, first=u * c)
                    res["server_cpu_s"] = None if c0 is None else srv.cpu_seconds() - c0
                    done[name].append(res)

                return burst

            interleaved({k: arm(k) for k in paths}, repeats, units=units, warmup=0)
            runs = {k: [merge(v[r * units : (r + 1) * units]) for r in range(repeats)] for k, v in done.items()}
            diff = max(
                abs(a - b)
                for r_on, r_off in zip(runs["shared"], runs["per_completion"])
                for i in set(r_on["scores"]) & set(r_off["scores"])
                for a, b in zip(r_on["scores"][i], r_off["scores"][i])
            )
            out[c] = {
                "n_requests": units * c,
                "max_abs_score_diff": diff,
                **{
                    k: {
                        "requests_per_s": [r["ok"] / r["s"] for r in v],
                        "seconds": [r["s"] for r in v],
                        "server_cpu_s": [r["server_cpu_s"] for r in v],
                        "ok": [r["ok"] for r in v],
                        "errors": sum(r["errors"] for r in v),
                        "cut_by_time_limit": any(r["ok"] + r["errors"] < units * c for r in v),
                        "p50_ms": 1000 * percentile([x for r in v for x in r["latencies"]], 50),
                        "p99_ms": 1000 * percentile([x for r in v for x in r["latencies"]], 99),
                    }
                    for k, v in runs.items()
                },
            }
    return out


def grpo_ratio(rm, pairs, completions, p: dict, base: dict) -> dict:
    """grpo_reward_call_shared_over_per_completion: completions scored per second through GRPOReward."""
    G = len(completions[0])
    gp = bench_grpo(rm, pairs[: p["grpo_prompts"]], completions, G=G, prompts_per_call=2, repeats=p["repeats"])
    t = gp["times"]
    settings = {
        **base,
        "callable": 'brlib.serve.rl.GRPOReward("basereward")',
        "prompts": p["grpo_prompts"],
        "completions_per_prompt": G,
        "prompts_per_call": 2,
        "reward_calls": gp["calls"],
        "rows": "datasets.Dataset (PNG image column) through TRL's RepeatSampler + identity collate",
        "timed": "the reward calls only; row fetch and image decoding timed apart (fetch_s)",
        "scorer_max_tokens": 16384,
        "max_abs_score_diff": gp["max_abs_score_diff"],
        "fetch_s": t["shared"]["fetch_s"] + t["per_completion"]["fetch_s"],
    }
    return {
        "grpo_reward_call_shared_over_per_completion": ratio(
            side(t["shared"]["reward_s"], gp["completions"], "completions/s"),
            side(t["per_completion"]["reward_s"], gp["completions"], "completions/s"),
            ("shared", "per_completion"),
            settings,
            cpu=(t["shared"]["reward_cpu_s"], t["per_completion"]["reward_cpu_s"]),
        )
    }


def server_ratios(rm, tmp: Path, pairs, completions, p: dict, base: dict, image_side: int, time_limit: float):
    """server_requests_per_s_shared_over_per_completion_c{N}, and per concurrency the requests/s and latencies."""
    rm_dir = rm.save_pretrained(tmp / "rm_for_server")
    bodies = score_bodies(pairs[: p["groups"]], completions)
    srv = bench_server(
        rm_dir,
        tmp,
        bodies,
        base["threads"],
        image_side,
        p["concurrencies"],
        p["server_requests"],
        p["repeats"],
        time_limit,
    )
    ratios, server = {}, {}
    for c, res in srv.items():
        on, off = res["shared"], res["per_completion"]
        cpu = None if None in on["server_cpu_s"] + off["server_cpu_s"] else (on["server_cpu_s"], off["server_cpu_s"])
        settings = {
            **base,
            "endpoint": "POST /score",
            "server": "uvicorn, one process, 127.0.0.1, ephemeral port",
            "concurrency": c,
            "requests_per_run": res["n_requests"],
            "completions_per_request": len(completions[0]),
            "request_bodies": len(bodies),
            "image": "inline base64 PNG",
            "client": "closed loop, keep-alive",
            "max_abs_score_diff": res["max_abs_score_diff"],
        }
        ratios[f"server_requests_per_s_shared_over_per_completion_c{c}"] = ratio(
            rates_side(on["requests_per_s"], "requests/s", seconds=on["seconds"]),
            rates_side(off["requests_per_s"], "requests/s", seconds=off["seconds"]),
            ("shared", "per_completion"),
            settings,
            cpu=cpu,
        )
        server[str(c)] = {k: {m: v for m, v in res[k].items() if m != "seconds"} for k in ("shared", "per_completion")}
        server[str(c)]["n_requests_per_run"] = res["n_requests"]
    return ratios, server
