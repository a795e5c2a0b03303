"""Scoring under a criterion and with media responses: the scorer (same scores grouped or one by one, the criterion
in the system turn), the reward server (optional `criterion`, media responses, the prompt's clip and sounds, within
its byte and pixel budgets; a clip over the frame budget or a sound over the audio window is a 413, never cut) and
the demo's request function."""

import base64
import io
import random

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from brlib.data import PairCollator  # noqa: E402
from brlib.data.media import Media, wav_bytes  # noqa: E402
from brlib.serve.app import create_app  # noqa: E402
from brlib.serve.score import InputError, OverBudget, RewardScorer  # noqa: E402
from brlib.serve.widgets import score_request  # noqa: E402
from brlib.world import omni_media  # noqa: E402

CRIT = "Prefer the concise answer."


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _beep(seconds=0.5):
    t = np.arange(int(seconds * 16000)) / 16000
    return wav_bytes(0.5 * np.sin(2 * np.pi * 440 * t))


def _gif(n=8):
    frames = omni_media.clip("circle", "red", "right", True, random.Random(0), n=n)
    return omni_media.gif(frames)


@pytest.fixture(scope="module")
def vl(rm):
    return RewardScorer(rm)


@pytest.fixture(scope="module")
def omni(tmp_path_factory):
    from brlib.models.omni_backbone import build_tiny_omni_backbone

    d = build_tiny_omni_backbone(tmp_path_factory.mktemp("omni"), ["prefer the concise answer, beeps"] * 20, "xxs")
    return RewardScorer.from_pretrained(d)


def test_the_criterion_moves_scores_and_grouped_equals_one_by_one(vl):
    img = Image.new("RGB", (84, 84), (200, 20, 20))
    plain = vl.score([img], "What colour?", ["Red.", "It is blue, I think."])
    judged = vl.score([img], "What colour?", ["Red.", "It is blue, I think."], criterion=CRIT)
    alone = vl.score_items(
        [("What colour?", r, [img], [], (), {"system": CRIT}) for r in ("Red.", "It is blue, I think.")]
    )
    assert np.allclose(judged, alone, atol=1e-4) and not np.allclose(plain, judged)
    # the scores are those of the model on the collator's sequence with the criterion as its system turn
    col = PairCollator(vl.model.processor)
    with torch.no_grad():
        direct = vl.model(**col.encode([("What colour?", "Red.", [img], [], (), {"system": CRIT})]))
    assert abs(direct.item() - judged[0]) < 1e-4
    assert vl.compare([img], "What colour?", "Red.", "Blue.", criterion=CRIT) == pytest.approx(
        1 / (1 + np.exp(-np.subtract(*vl.score([img], "What colour?", ["Red.", "Blue."], criterion=CRIT)))), abs=1e-6
    )
    with pytest.raises(InputError, match="criterion is empty"):
        vl.score([], "q", ["a", "b"], criterion=" ")


def test_media_responses_and_the_budgets(vl, omni):
    red, blue = Image.new("RGB", (84, 84), (200, 20, 20)), Image.new("RGB", (84, 84), (20, 20, 200))
    s = vl.score([], "Draw a red square.", [Media("image", red), Media("image", blue)], criterion="Red wins.")
    assert len(s) == 2 and s[0] != s[1]
    clip = {"bytes": _gif(8), "path": None}
    assert len(vl.score([], "A circle moving right.", [Media("video", clip), Media("video", clip, n_frames=4)])) == 2
    with pytest.raises(OverBudget, match="frame budget"):
        vl.score([], "q", [Media("video", {"bytes": _gif(40), "path": None}), "a"])
    with pytest.raises(InputError, match="has no audio encoder"):
        vl.score([], "How many beeps?", ["Two.", "Three."], audio=[{"bytes": _beep()}])
    got = omni.score([], "How many beeps?", ["Two.", "Three."], audio=[{"bytes": _beep()}], criterion=CRIT)
    assert len(got) == 2
    sounds = [Media("audio", {"bytes": _beep(0.3)}), Media("audio", {"bytes": _beep(0.6)})]
    assert len(omni.score([], "Make two beeps.", sounds)) == 2
    with pytest.raises(OverBudget, match="never cut"):
        omni.score([], "q", ["a", "b"], audio=[{"bytes": _beep(5.0)}])
    with pytest.raises(InputError, match="unreadable audio"):
        omni.score([], "q", ["a", "b"], audio=[{"bytes": b"RIFFnot really"}])


def test_server_takes_a_criterion_and_media_responses(vl, omni):
    client = TestClient(create_app(vl, max_pixels=200 * 200, max_total_pixels=120_000))
    body = {"prompt": "What colour?", "responses": ["Red.", "Blue, I think."], "criterion": CRIT}
    r = client.post("/score", json=body)
    assert r.status_code == 200 and np.allclose(r.json()["scores"], vl.score([], **{k: body[k] for k in body}))
    assert client.post("/score", json={**body, "criterion": "  "}).status_code == 422
    red = _png(Image.new("RGB", (84, 84), (200, 20, 20)))
    media = [{"type": "image", "base64": _b64(red)}, {"type": "image", "base64": _b64(red[:40])}]
    assert client.post("/score", json={"prompt": "Draw.", "responses": media}).status_code == 400  # truncated
    blue = Image.new("RGB", (84, 84), (20, 20, 200))
    media[1] = {"type": "image", "base64": _b64(_png(blue))}
    r = client.post("/score", json={"prompt": "Draw.", "responses": media, "criterion": "Red wins."})
    pictures = [Media("image", Image.open(io.BytesIO(red)).convert("RGB")), Media("image", blue)]
    want = vl.score([], "Draw.", pictures, criterion="Red wins.")
    assert r.status_code == 200 and np.allclose(r.json()["scores"], want, atol=1e-5)
    clip = {"type": "video", "base64": _b64(_gif(8))}
    assert client.post("/score", json={"prompt": "A circle.", "responses": [clip, clip]}).status_code == 200
    # two 8-frame clips: 112,896 pixels; 40 frames of 84 x 84 (282,240) are over 120,000: refused before decoding
    many = {"type": "video", "base64": _b64(_gif(40)), "frames": 4}
    r = client.post("/score", json={"prompt": "A circle.", "responses": [many, "a"]})
    assert r.status_code == 413 and "pixels" in r.json()["detail"]
    big = TestClient(create_app(vl))
    r = big.post("/score", json={"prompt": "A circle.", "responses": [{**many, "frames": None}, "a"]})
    assert r.status_code == 413 and "frame budget" in r.json()["detail"]  # 40 frames, budget 32: never cut
    assert big.post("/score", json={"prompt": "A circle.", "responses": [many, "a"]}).status_code == 200  # sampled
    sound = {"type": "audio", "base64": _b64(_beep())}
    r = big.post("/score", json={"prompt": "How many beeps?", "responses": ["Two.", "One."], "audio": [sound]})
    assert r.status_code == 400 and "audio encoder" in r.json()["detail"]
    audio_server = TestClient(create_app(omni))
    r = audio_server.post(
        "/score", json={"prompt": "How many beeps?", "responses": ["Two.", "One."], "audio": [sound]}
    )
    assert r.status_code == 200 and len(r.json()["scores"]) == 2
    long = {"type": "audio", "base64": _b64(_beep(5.0))}
    r = audio_server.post("/score", json={"prompt": "q", "responses": ["a", "b"], "audio": [long]})
    assert r.status_code == 413 and "never cut" in r.json()["detail"]
    junk = {"type": "audio", "base64": _b64(b"RIFF....WAVEjunk")}
    assert (
        audio_server.post("/score", json={"prompt": "q", "responses": ["a", "b"], "audio": [junk]}).status_code == 400
    )


def test_demo_request_with_a_criterion_and_pictures(vl):
    out = score_request(vl, None, "What colour?", ["Red.", "Blue.", ""], criterion=CRIT)
    assert out["criterion"] == CRIT and len(out["scores"]) == 2
    assert np.allclose(out["scores"], vl.score([], "What colour?", ["Red.", "Blue."], criterion=CRIT))
    assert "criterion" not in score_request(vl, None, "What colour?", ["Red.", "Blue."], criterion="  ")
    pics = [Image.new("RGB", (84, 84), (200, 20, 20)), Image.new("RGB", (84, 84), (20, 20, 200))]
    out = score_request(vl, None, "Draw a red square.", pics, criterion="Red wins.")
    assert out["responses"] == ["(picture 1)", "(picture 2)"] and len(out["scores"]) == 2


def test_a_clip_prompt_scores_the_same_grouped_or_one_by_one(vl):
    clip = Media("video", {"bytes": _gif(8), "path": None}, n_frames=4)
    responses = ["Right.", "It moves left, slowly."]
    grouped = vl.score([], "Which way does it move?", responses, video=clip, criterion=CRIT)
    alone = vl.score_items([("Which way does it move?", r, [], clip, (), {"system": CRIT}) for r in responses])
    assert np.allclose(grouped, alone, atol=1e-4)
    with pytest.raises(OverBudget, match="frame budget"):
        vl.score([], "q", responses, video=Media("video", {"bytes": _gif(40), "path": None}))
