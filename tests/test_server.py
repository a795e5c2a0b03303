import base64
import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from brlib.data import open_image  # noqa: E402
from brlib.serve.app import create_app  # noqa: E402
from brlib.serve.score import RewardScorer  # noqa: E402


def _b64(img):
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture(scope="module")
def scorer(rm):
    return RewardScorer(rm)


@pytest.fixture(scope="module")
def image_root(tmp_path_factory, pairs):
    root = tmp_path_factory.mktemp("served")
    from brlib.data import open_image

    open_image(pairs[0].images[0]).save(root / "x.png")
    Image.new("RGB", (300, 300)).save(root / "big.png")
    return root


@pytest.fixture(scope="module")
def client(scorer, image_root):
    return TestClient(create_app(scorer, allowed_root=image_root, max_pixels=200 * 200))


def test_scores_match_the_scorer(client, scorer, pairs, image_root):
    p = pairs[0]
    body = {"prompt": p.prompt, "responses": [p.chosen, p.rejected], "images": [{"path": "x.png"}]}
    r = client.post("/score", json=body)
    assert r.status_code == 200, r.text
    expected = scorer.score([Image.open(image_root / "x.png")], p.prompt, [p.chosen, p.rejected])
    assert r.json()["scores"] == pytest.approx(expected, abs=1e-5)
    assert 0.0 < r.json()["preference"] < 1.0
    img = Image.open(image_root / "x.png")
    r2 = client.post("/score", json={**body, "images": [{"base64": _b64(img)}]})
    assert r2.json()["scores"] == pytest.approx(r.json()["scores"], abs=1e-5)
    assert client.get("/health").json()["status"] == "ok"


@pytest.mark.parametrize(
    "body,status,message",
    [
        ("{not json", 422, ""),
        (json.dumps({"responses": ["a"]}), 422, "prompt"),
        (json.dumps({"prompt": "q", "responses": ["a"], "images": [{"base64": "!!!notbase64"}]}), 400, "base64"),
        (
            json.dumps({"prompt": "q", "responses": ["a"], "images": [{"base64": base64.b64encode(b"xx").decode()}]}),
            400,
            "unreadable image",
        ),
        (json.dumps({"prompt": "q", "responses": ["a"], "images": [{"path": "big.png"}]}), 413, "over"),
        (json.dumps({"prompt": "q", "responses": ["a"], "images": [{"path": "../../etc/passwd"}]}), 403, "outside"),
        (json.dumps({"prompt": "q", "responses": ["a"], "images": [{"path": "missing.png"}]}), 400, "unreadable"),
        (json.dumps({"prompt": "q", "responses": [" "]}), 422, "empty response"),
    ],
)
def test_bad_requests_get_a_4xx_and_the_server_stays_up(client, body, status, message):
    r = client.post("/score", content=body, headers={"content-type": "application/json"})
    assert r.status_code == status, r.text
    assert message in r.text
    assert client.get("/health").status_code == 200


def test_body_size_limit(scorer):
    small = TestClient(create_app(scorer, max_body_bytes=100))
    r = small.post("/score", json={"prompt": "q" * 200, "responses": ["a"]})
    assert r.status_code == 413


def test_50_concurrent_requests_equal_sequential_scoring(scorer, pairs):
    import socket

    import httpx
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(scorer), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 30
        while not server.started:
            assert time.time() < deadline
            time.sleep(0.05)
        bodies = []
        for i in range(50):
            p = pairs[i % len(pairs)]
            imgs = [{"base64": _b64(open_image(p.images[0]))}] if p.images else []
            bodies.append({"prompt": p.prompt, "responses": [p.chosen, p.rejected], "images": imgs})
        url = f"http://127.0.0.1:{port}/score"
        with httpx.Client(timeout=60) as c:
            sequential = [c.post(url, json=b).json()["scores"] for b in bodies]
        with ThreadPoolExecutor(max_workers=50) as pool, httpx.Client(timeout=120) as c:
            concurrent = list(pool.map(lambda b: c.post(url, json=b), bodies))
        assert all(r.status_code == 200 for r in concurrent)
        for seq, con in zip(sequential, concurrent):
            assert con.json()["scores"] == pytest.approx(seq, abs=1e-5)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class Slow:
    """The real scorer, `delay` seconds slower per call, recording the thread each call runs on."""

    def __init__(self, inner, delay):
        self.inner, self.delay, self.threads = inner, delay, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def score(self, images, prompt, responses):
        self.threads.append(threading.current_thread().name)
        time.sleep(self.delay)
        return self.inner.score(images, prompt, responses)


def test_a_full_queue_answers_503_with_retry_after_and_frees_its_slots(scorer, live_server):
    from brlib.serve.limits import Limits

    limits = Limits(max_queue=1, timeout=30)
    slow = Slow(scorer, 1.5)
    url = f"http://127.0.0.1:{live_server(create_app(slow, limits=limits), limits)}"
    body = {"prompt": "q", "responses": ["a", "b"]}
    with ThreadPoolExecutor(2) as pool:
        running = pool.submit(httpx.post, url + "/score", json=body, timeout=30)
        time.sleep(0.5)  # scoring
        waiting = pool.submit(httpx.post, url + "/score", json=body, timeout=30)
        time.sleep(0.3)  # queued: the queue (1) is full
        t = time.monotonic()
        refused = httpx.post(url + "/score", json=body, timeout=30)
        assert time.monotonic() - t < 1.0  # refused at once, not after the queue drained
        assert refused.status_code == 503 and "queue is full" in refused.text, refused.text
        assert int(refused.headers["retry-after"]) >= 1
        assert running.result().status_code == 200 and waiting.result().status_code == 200
    assert httpx.post(url + "/score", json=body, timeout=30).status_code == 200  # slots were given back
    assert set(slow.threads) == {"brlib-scoring"}  # every forward on the one scoring worker


def test_a_request_past_its_timeout_answers_504_and_leaves_the_queue(scorer, live_server):
    from brlib.serve.limits import Limits

    limits = Limits(max_queue=4, timeout=0.6)
    slow = Slow(scorer, 1.2)
    url = f"http://127.0.0.1:{live_server(create_app(slow, limits=limits), limits)}"
    body = {"prompt": "q", "responses": ["a", "b"]}
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(httpx.post, url + "/score", json=body, timeout=30)
        time.sleep(0.2)
        second = pool.submit(httpx.post, url + "/score", json=body, timeout=30)
        r1, r2 = first.result(), second.result()
    assert r1.status_code == 504 and "while scoring" in r1.text, r1.text
    assert r2.status_code == 504 and "waiting in the queue" in r2.text, r2.text
    time.sleep(1.5)  # the first forward finishes and its result is dropped; the second never runs
    assert len(slow.threads) == 1
    assert httpx.get(url + "/health").json()["queued"] == 0


def test_images_are_decoded_on_the_scoring_worker(scorer, image_root, monkeypatch):
    from brlib.serve import app as app_module

    threads = []
    decode = app_module.decode_image
    monkeypatch.setattr(
        app_module, "decode_image", lambda im, k: threads.append(threading.current_thread().name) or decode(im, k)
    )
    client = TestClient(create_app(scorer, allowed_root=image_root))
    r = client.post("/score", json={"prompt": "q", "responses": ["a"], "images": [{"path": "x.png"}] * 3})
    assert r.status_code == 200, r.text
    assert threads == ["brlib-scoring"] * 3


def test_chunked_body_over_the_limit_is_refused_while_it_streams(scorer):
    client = TestClient(create_app(scorer, max_body_bytes=1000))
    sent = []

    def body():
        for _ in range(100):
            sent.append(1)
            yield b"x" * 500

    r = client.post("/score", content=body(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "request body over 1000 bytes" in r.text
    assert client.get("/health").status_code == 200


def test_cli_flags_set_every_limit_and_docs_stay_off(monkeypatch):
    import uvicorn

    from brlib.serve import app as app_module
    from brlib.serve.limits import Limits

    seen = {}
    monkeypatch.setattr(RewardScorer, "from_pretrained", classmethod(lambda cls, p: seen.setdefault("model", p)))
    monkeypatch.setattr(app_module, "create_app", lambda s, root, limits, docs: seen.update(limits=limits, docs=docs))
    monkeypatch.setattr(app_module, "uvicorn_config", lambda app, host, port, limits: seen.update(host=host))
    monkeypatch.setattr(uvicorn.Server, "__init__", lambda self, config: None)
    monkeypatch.setattr(uvicorn.Server, "run", lambda self: None)
    app_module.main(["--model", "m", "--max-tokens", "123", "--timeout", "2.5", "--max-total-pixels", "99"])
    assert seen["limits"] == Limits(max_tokens=123, timeout=2.5, max_total_pixels=99)
    assert seen["docs"] is False and seen["host"] == "127.0.0.1" and seen["model"] == "m"
