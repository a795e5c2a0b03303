import datetime
import io

import pytest
from PIL import Image

from brlib import world
from brlib.serve.score import RewardScorer
from brlib.serve.widgets import build_demo, read_upload, score_request


@pytest.fixture(scope="module")
def scorer(rm):
    return RewardScorer(rm)


def test_read_upload_decodes_images_and_rejects_junk():
    buf = io.BytesIO()
    Image.new("RGB", (5, 4), (9, 9, 9)).save(buf, format="PNG")
    assert read_upload(buf.getvalue()).size == (5, 4)
    with pytest.raises(ValueError, match="not a readable image"):
        read_upload(b"definitely not an image")


def test_score_request_matches_the_scorer(scorer):
    ex = world.generate(1, seed=3, families=["perception"])[0]
    responses = ex.responses[:2] + ["I am not sure."]
    res = score_request(scorer, ex.image, ex.prompt, responses + ["  "])
    assert res["responses"] == responses  # blank boxes are ignored
    assert res["scores"] == pytest.approx(scorer.score([ex.image], ex.prompt, responses), abs=1e-5)
    assert set(res["preference"]) == {"1 over 2", "1 over 3", "2 over 3"}
    assert res["best"] == max(range(3), key=lambda i: res["scores"][i])
    with pytest.raises(ValueError, match="two responses"):
        score_request(scorer, ex.image, ex.prompt, ["only one"])


def test_widget_click_and_bad_upload_show_results_or_errors_not_tracebacks(scorer):
    pytest.importorskip("ipywidgets")
    examples = [e for e in world.generate(8, seed=1) if e.image is not None]
    demo = build_demo(scorer, examples)
    button = next(c for c in demo.children if getattr(c, "description", "") == "Score")
    status, result_box = demo.children[-3], demo.children[-2]
    button.click()
    assert "demo-score" in result_box.value and status.value == ""
    upload = demo.children[0].children[0].children[1]
    upload.value = (
        {
            "name": "bad.png",
            "type": "image/png",
            "size": 4,
            "content": memoryview(b"junk"),
            "last_modified": datetime.datetime(2026, 1, 1),
        },
    )
    assert "not a readable image" in status.value
