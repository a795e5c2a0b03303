"""The interactive scoring demo: pure functions the tests call, and thin ipywidgets wrappers around them.

The chart is a PNG in a `widgets.Image` (rendered with matplotlib's `Figure`, no pyplot backend involved), so it
shows the same in JupyterLab and in Voila; errors are messages in the widget, never tracebacks on the page.
"""

from __future__ import annotations

import contextlib
import html
import io
import random

from PIL import Image

from brlib.serve.score import sigmoid

MAX_PIXELS = 4096 * 4096  # the reward server's per-image limit (brlib.serve.limits.Limits.max_pixels)


@contextlib.contextmanager
def quiet():
    """Keep loading and training chatter (progress bars, prints, warnings) off the demo page; errors still raise.
    Used in: 09_demo.ipynb."""
    import datasets
    from transformers.utils import logging as hf_logging

    bars = [
        (hf_logging.is_progress_bar_enabled, hf_logging.disable_progress_bar, hf_logging.enable_progress_bar),
        (datasets.is_progress_bar_enabled, datasets.disable_progress_bars, datasets.enable_progress_bars),
    ]
    was_on = [is_on() for is_on, _, _ in bars]
    for _, off, _ in bars:
        off()
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        for on_before, (_, _, on) in zip(was_on, bars):
            if on_before:
                on()


def read_upload(content: bytes, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode uploaded image bytes; a clear ValueError for anything that is not an image or has too many pixels
    (checked from the header, before decoding). Used in: 09_demo.ipynb."""
    try:
        im = Image.open(io.BytesIO(bytes(content)))
    except Image.DecompressionBombError as e:
        raise ValueError(f"the uploaded image has too many pixels (over {max_pixels})") from e
    except Exception as e:  # PIL raises several types for corrupt input
        raise ValueError(f"the uploaded file is not a readable image ({e.__class__.__name__})") from e
    if im.size[0] * im.size[1] > max_pixels:
        raise ValueError(f"the uploaded image has {im.size[0]}x{im.size[1]} pixels, over the limit of {max_pixels}")
    try:
        im.load()
        return im.convert("RGB")
    except Exception as e:
        raise ValueError(f"the uploaded file is not a readable image ({e.__class__.__name__})") from e


def swap_example(seed: int = 0):
    """One question, two answers and two pictures that differ only where the answers do: with the first picture
    the first answer is right, with the second the second. A model that reads the image flips its winner when the
    picture is swapped. Used in: 09_demo.ipynb."""
    from brlib.world import Example
    from brlib.world.scenes import Obj, background, draw_scene

    pictures = [
        draw_scene([Obj("circle", colour, 4), Obj("square", "green", 0)], background(random.Random(seed)))
        for colour in ("red", "blue")
    ]
    prompt = "What color is the circle at the center?"
    responses = ["It is red.", "It is blue."]
    meta = {"pictures": pictures, "captions": ["a red circle", "a blue circle"], "right": [0, 1]}
    return Example("perception", prompt, responses, pictures[0], meta)


def score_request(
    scorer,
    image: Image.Image | None,
    prompt: str,
    responses: list,
    max_pixels: int = MAX_PIXELS,
    criterion: str | None = None,
):
    """Scores, the winner, pairwise preference probabilities and (for an ensemble) per-member scores; a
    ValueError with a message for the page on bad input. A response is text or a picture (a generated image, as in
    Omni-RewardBench's T2I); an optional free-form `criterion` (blank: none) is what the preference is judged under.
    Used in: 09_demo.ipynb, 10_omni.ipynb."""
    from brlib.data.media import Media

    responses = [r.strip() if isinstance(r, str) else r for r in responses]
    responses = [r if isinstance(r, str) else Media("image", r) for r in responses if not isinstance(r, str) or r]
    if not prompt.strip():
        raise ValueError("type a question")
    if len(responses) < 2:
        raise ValueError("type at least two responses")
    for im in [image] + [r.source for r in responses if isinstance(r, Media)]:
        if im is not None and im.size[0] * im.size[1] > max_pixels:
            raise ValueError(f"an image has {im.size[0]}x{im.size[1]} pixels, over the limit of {max_pixels}")
    images = [image] if image is not None else []
    kw = {"criterion": criterion.strip()} if criterion and criterion.strip() else {}
    if hasattr(scorer, "score_with_breakdown"):  # an InputError (bad text, aspect ratio) is a ValueError too
        out = scorer.score_with_breakdown(images, prompt, responses, **kw)
        scores, members = out["scores"], out["members"]
    else:
        scores, members = scorer.score(images, prompt, responses, **kw), {}
    best = max(range(len(scores)), key=lambda i: scores[i])
    prefs = {
        f"{i + 1} over {j + 1}": sigmoid(scores[i] - scores[j])
        for i in range(len(scores))
        for j in range(i + 1, len(scores))
    }
    shown = [r if isinstance(r, str) else f"(picture {i + 1})" for i, r in enumerate(responses)]
    return {"responses": shown, "scores": scores, "best": best, "preference": prefs, "members": members, **kw}


def plot_result(result: dict, ax=None):
    """Bar chart of each response's reward, labelled with its value (and each ensemble member's normalised score).

    Rewards are defined up to an offset, so when the offset dwarfs the differences (5.761 against 5.779) the axis
    is zoomed onto the scores, and says so, instead of drawing two equal-looking bars from zero."""
    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(6, 2.8)).subplots()
    scores = result["scores"]
    n = len(scores)
    width = 0.8 / (1 + len(result["members"]))
    xs = range(n)
    colours = ["#2a7" if i == result["best"] else "#889" for i in xs]
    bars = ax.bar([x - 0.4 + width / 2 for x in xs], scores, width, label="reward", color=colours)
    ax.bar_label(bars, labels=[f"{s:.4f}" for s in scores], fontsize=8, padding=2)
    for k, (name, s) in enumerate(result["members"].items(), start=1):
        ax.bar([x - 0.4 + width / 2 + k * width for x in xs], s, width, label=name)
    ax.set_xticks(list(xs), [f"response {i + 1}" for i in xs])
    lo, hi = min(scores), max(scores)
    spread = hi - lo
    if not result["members"] and (lo > 0 or hi < 0) and spread < 0.2 * max(abs(lo), abs(hi)):
        pad = max(spread, 1e-3 * max(abs(lo), abs(hi)), 1e-6)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_ylabel("reward (zoomed)")
    else:
        ax.axhline(0, color="grey", lw=0.8)
        ax.margins(y=0.15)  # room for the value labels
        ax.set_ylabel("reward")
    if result["members"]:
        ax.legend(fontsize=8)
    return ax


def chart_png(result: dict) -> bytes:
    """The bar chart as PNG bytes: shows in any front end (a `widgets.Image`, `IPython.display.Image`), whatever
    the matplotlib backend (Voila runs with agg, where displaying a figure prints `<Figure size ...>`)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 2.8), dpi=100)
    plot_result(result, fig.subplots())
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _png(img: Image.Image, side: int = 168) -> bytes:
    buf = io.BytesIO()
    img.resize((side, side), Image.NEAREST).save(buf, format="PNG")
    return buf.getvalue()


def _error(message: str) -> str:
    return f"<span class='demo-error' style='color:#b00'>{html.escape(message)}</span>"


def build_demo(scorer, examples: list, first=None):
    """The widget: the model's name, a picture (the swap example `first`, a tiny-world image or an upload) with a
    Swap button when the example has two pictures, a question and responses, Score; results and a bar chart."""
    import ipywidgets as w

    first = first if first is not None else swap_example()
    examples = [first, *examples]
    name = html.escape(getattr(scorer, "name", "") or "reward model")
    header = w.HTML(f"<div class='demo-model'>Model: <b>{name}</b></div>")
    choices = [("(none: text only)", -1)] + [(f"{i}: {e.family} — {e.prompt[:40]}", i) for i, e in enumerate(examples)]
    pick = w.Dropdown(options=choices, value=0, description="image")
    upload = w.FileUpload(accept="image/*", multiple=False, description="upload")
    swap = w.Button(description="Swap picture", icon="exchange", tooltip="show the other picture and score again")
    preview = w.Image(format="png", width=168, height=168)
    caption = w.HTML()
    prompt = w.Text(description="question", layout=w.Layout(width="95%"))
    criterion = w.Text(
        description="criterion", placeholder="optional, e.g. Prefer the concise answer.", layout=w.Layout(width="95%")
    )
    boxes = [w.Textarea(description=f"response {i + 1}", layout=w.Layout(width="95%"), rows=2) for i in range(3)]
    pictures = w.FileUpload(accept="image/*", multiple=True, description="pictures")  # responses that are images
    pictures.tooltip = "score uploaded pictures as the responses (a generated-image task) instead of the texts"
    button = w.Button(description="Score", button_style="primary")
    status = w.HTML()
    result_box = w.HTML()
    chart = w.Image(format="png", layout=w.Layout(display="none", max_width="620px"))
    chart.add_class("demo-chart")
    state = {"image": None, "example": None, "picture": 0, "runs": 0}

    def show(img, text=""):
        state["image"] = img
        preview.value = _png(img) if img is not None else b""
        caption.value = f"<div class='demo-picture'>{html.escape(text)}</div>"

    def on_pick(change=None):
        ex = examples[pick.value] if pick.value >= 0 else None
        state["example"], state["picture"] = ex, 0
        pictures = ex.meta.get("pictures") if ex is not None else None
        swap.disabled = not pictures
        show(ex.image if ex is not None else None, _caption(ex, 0))
        if ex is not None:
            prompt.value = ex.prompt
            for box, text in zip(boxes, ex.responses[:2] + [""]):
                box.value = text

    def on_upload(change):
        files = list(upload.value)
        if not files:
            return
        try:
            show(read_upload(files[0]["content"]), f"uploaded: {files[0].get('name', '')}")
            state["example"], swap.disabled = None, True
            status.value = ""
        except ValueError as e:
            status.value = _error(str(e))

    def on_swap(_):
        ex = state["example"]
        if ex is None or not ex.meta.get("pictures"):
            return
        state["picture"] = 1 - state["picture"]
        show(ex.meta["pictures"][state["picture"]], _caption(ex, state["picture"]))
        on_score()

    def on_score(_=None):
        try:
            uploaded = [read_upload(f["content"]) for f in pictures.value]
            answers = uploaded or [b.value for b in boxes]
            res = score_request(scorer, state["image"], prompt.value, answers, criterion=criterion.value)
        except ValueError as e:
            status.value = _error(str(e))
            return
        except Exception as e:  # a bug or a broken model: a message on the page, the traceback in the log
            status.value = _error(f"scoring failed: {e.__class__.__name__}: {e}")
            return
        status.value = ""
        rows = "".join(
            f"<li class='demo-score' data-index='{i}'>response {i + 1}: <b>{s:.4f}</b>"
            f"{' (best)' if i == res['best'] else ''}</li>"
            for i, s in enumerate(res["scores"])
        )
        prefs = "".join(f"<li>P({k}) = {v:.3f}</li>" for k, v in res["preference"].items())
        won = html.escape(res["responses"][res["best"]])
        winner = f"<p class='demo-winner'>Winner: response {res['best'] + 1} — “{won}”</p>"
        state["runs"] += 1  # lets a reader (the browser test) tell a new result from an identical old one
        chart.value = chart_png(res)  # before the scores: widget messages arrive in order
        chart._dom_classes = ("demo-chart", f"demo-chart-run-{state['runs']}")
        chart.layout.display = None
        result_box.value = (
            f"<div class='demo-result' data-run='{state['runs']}'>{winner}"
            f"<ul class='demo-scores'>{rows}</ul><ul>{prefs}</ul></div>"
        )

    pick.observe(on_pick, names="value")
    upload.observe(on_upload, names="value")
    swap.on_click(on_swap)
    button.on_click(on_score)
    on_pick()
    picture = w.HBox([w.VBox([pick, upload, swap]), w.VBox([preview, caption])])
    return w.VBox([header, picture, prompt, criterion, *boxes, pictures, button, status, result_box, chart])


def _caption(ex, k: int) -> str:
    if ex is None:
        return ""
    captions = ex.meta.get("captions")
    return f"picture {k + 1} of 2: {captions[k]}" if captions else ex.family
