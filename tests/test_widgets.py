import datetime
import io

import pytest
from PIL import Image

from brlib import world
from brlib.serve.score import RewardScorer
from brlib.serve.widgets import build_demo, chart_png, read_upload, score_request, swap_example

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def scorer(rm):
    return RewardScorer(rm, name="tiny-rm")


def _png(size, colour=(9, 9, 9)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def test_read_upload_decodes_images_and_rejects_junk_and_too_many_pixels():
    assert read_upload(_png((5, 4))).size == (5, 4)
    with pytest.raises(ValueError, match="not a readable image"):
        read_upload(b"definitely not an image")
    with pytest.raises(ValueError, match="60x50 pixels, over the limit of 2000"):
        read_upload(_png((60, 50)), max_pixels=2000)


def test_score_request_matches_the_scorer_and_explains_bad_input(scorer):
    ex = world.generate(1, seed=3, families=["perception"])[0]
    responses = ex.responses[:2] + ["I am not sure."]
    res = score_request(scorer, ex.image, ex.prompt, responses + ["  "])
    assert res["responses"] == responses  # blank boxes are ignored
    assert res["scores"] == pytest.approx(scorer.score([ex.image], ex.prompt, responses), abs=1e-5)
    assert set(res["preference"]) == {"1 over 2", "1 over 3", "2 over 3"}
    assert res["best"] == max(range(3), key=lambda i: res["scores"][i])
    for args, says in [
        ((ex.image, ex.prompt, ["only one", " "]), "two responses"),
        ((ex.image, " ", responses), "type a question"),
        ((Image.new("RGB", (1, 300)), ex.prompt, responses), "aspect ratio"),
        ((ex.image, "\ud800", responses), "surrogate"),
    ]:
        with pytest.raises(ValueError, match=says):
            score_request(scorer, *args)
    with pytest.raises(ValueError, match="over the limit of 100"):
        score_request(scorer, ex.image, ex.prompt, responses, max_pixels=100)


def test_preferences_do_not_overflow(monkeypatch, scorer):
    monkeypatch.setattr(scorer, "score", lambda images, prompt, responses: [0.0, 5000.0])
    assert score_request(scorer, None, "q", ["a", "b"])["preference"] == {"1 over 2": 0.0}


def test_the_chart_is_a_png_whatever_the_backend(scorer):
    from brlib.serve.widgets import plot_result

    res = score_request(scorer, None, "q", ["a", "b"])
    png = chart_png(res)
    assert png.startswith(PNG) and Image.open(io.BytesIO(png)).size[0] > 300
    close = {"scores": [5.7611, 5.7787], "best": 1, "members": {}}  # a large offset, a small difference
    assert plot_result(close).get_ylim()[0] > 5.7  # zoomed onto the scores, not two equal bars from zero
    spread = {"scores": [-1.3, 0.5], "best": 1, "members": {}}
    assert plot_result(spread).get_ylim()[0] < -1.3 < 0.5 < plot_result(spread).get_ylim()[1]


def test_swap_example_pictures_differ_only_where_the_answers_do():
    ex = swap_example()
    a, b = ex.meta["pictures"]
    assert ex.image is a and a.size == b.size and a.tobytes() != b.tobytes()
    assert ex.responses == ["It is red.", "It is blue."] and ex.meta["right"] == [0, 1]
    assert a.getpixel((42, 42)) != b.getpixel((42, 42)) and a.getpixel((0, 0)) == b.getpixel((0, 0))


def _parts(demo):
    import ipywidgets as w

    def walk(x):
        yield x
        for c in getattr(x, "children", ()):
            yield from walk(c)

    every = list(walk(demo))
    button = lambda d: next(c for c in every if isinstance(c, w.Button) and c.description == d)  # noqa: E731
    return {
        "score": button("Score"),
        "swap": button("Swap picture"),
        "upload": next(c for c in every if isinstance(c, w.FileUpload)),
        "boxes": [c for c in every if isinstance(c, w.Textarea)],
        "header": demo.children[0],
        "caption": next(c for c in every if isinstance(c, w.HTML) and "demo-picture" in c.value),
        "status": demo.children[-3],
        "result": demo.children[-2],
        "chart": demo.children[-1],
    }


def test_widget_shows_the_model_by_name_scores_with_a_chart_and_swaps_the_picture(scorer, tmp_path):
    pytest.importorskip("ipywidgets")
    examples = [e for e in world.generate(8, seed=1) if e.image is not None]
    demo = build_demo(scorer, examples)
    p = _parts(demo)
    assert "Model: <b>tiny-rm</b>" in p["header"].value
    assert not p["chart"].value and p["chart"].layout.display == "none"  # no empty chart before a result
    assert [b.value for b in p["boxes"]] == ["It is red.", "It is blue.", ""]
    p["score"].click()
    assert "demo-score" in p["result"].value and "demo-winner" in p["result"].value and p["status"].value == ""
    assert bytes(p["chart"].value).startswith(PNG) and p["chart"].layout.display is None
    assert "demo-chart-run-1" in p["chart"]._dom_classes  # the page can tell this chart from the last one
    first = p["result"].value
    p["swap"].click()  # the other picture, scored again
    assert "picture 2 of 2: a blue circle" in p["caption"].value
    assert "data-run='1'" in first and "data-run='2'" in p["result"].value  # scored again with the new picture
    p["swap"].click()
    assert "picture 1 of 2" in p["caption"].value


def test_widget_errors_are_messages_not_tracebacks(scorer):
    pytest.importorskip("ipywidgets")
    demo = build_demo(scorer, [])
    p = _parts(demo)
    for b in p["boxes"]:
        b.value = ""
    p["score"].click()
    assert "demo-error" in p["status"].value and "two responses" in p["status"].value
    upload = {"name": "bad.png", "type": "image/png", "size": 4, "last_modified": datetime.datetime(2026, 1, 1)}
    p["upload"].value = ({**upload, "content": memoryview(b"junk")},)
    assert "not a readable image" in p["status"].value
    huge = Image.new("1", (5000, 5000))
    buf = io.BytesIO()
    huge.save(buf, format="PNG")
    p["upload"].value = ({**upload, "name": "huge.png", "content": memoryview(buf.getvalue())},)
    assert "5000x5000 pixels, over the limit" in p["status"].value


def test_swapping_the_picture_flips_the_winner(trained_checkpoint):
    scorer = RewardScorer.from_pretrained(trained_checkpoint)
    ex = swap_example()
    winners = [score_request(scorer, pic, ex.prompt, ex.responses)["best"] for pic in ex.meta["pictures"]]
    assert winners == ex.meta["right"], winners


def test_quiet_keeps_loader_output_off_the_page_and_restores_the_bars(capfd):
    import datasets
    from transformers.utils import logging as hf_logging

    from brlib.serve.widgets import quiet

    with quiet():
        print("scoring with /tmp/somewhere/final")
        for _ in hf_logging.tqdm(range(3), desc="Loading weights"):
            pass
    out, err = capfd.readouterr()
    assert "scoring with" not in out + err and "Loading weights" not in out + err
    assert hf_logging.is_progress_bar_enabled() and datasets.is_progress_bar_enabled()
