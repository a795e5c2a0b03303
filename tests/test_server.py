import base64
import io
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

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
