"""The interactive scoring demo: pure functions the tests call, and thin ipywidgets wrappers around them."""

from __future__ import annotations

import io
import math

from PIL import Image


def read_upload(content: bytes) -> Image.Image:
    """Decode uploaded image bytes; a clear ValueError for anything that is not an image. Used in: 09_demo.ipynb."""
    try:
        im = Image.open(io.BytesIO(bytes(content)))
        im.load()
        return im.convert("RGB")
    except Exception as e:  # PIL raises several types for corrupt input
        raise ValueError(f"the uploaded file is not a readable image ({e.__class__.__name__})") from e


def score_request(scorer, image: Image.Image | None, prompt: str, responses: list[str]) -> dict:
    """Scores, pairwise preference probabilities and (for an ensemble) per-member scores. Used in: 09_demo.ipynb."""
    responses = [r.strip() for r in responses if r.strip()]
    if len(responses) < 2:
        raise ValueError("type at least two responses")
    if not prompt.strip():
        raise ValueError("type a question")
    images = [image] if image is not None else []
    if hasattr(scorer, "score_with_breakdown"):
        out = scorer.score_with_breakdown(images, prompt, responses)
        scores, members = out["scores"], out["members"]
    else:
        scores, members = scorer.score(images, prompt, responses), {}
    best = max(range(len(scores)), key=lambda i: scores[i])
    prefs = {
        f"{i + 1} over {j + 1}": 1.0 / (1.0 + math.exp(scores[j] - scores[i]))
        for i in range(len(scores))
        for j in range(i + 1, len(scores))
    }
    return {"responses": responses, "scores": scores, "best": best, "preference": prefs, "members": members}


def plot_result(result: dict, ax=None):
    """Bar chart of each response's reward (and each ensemble member's normalised score)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 2.8))
    n = len(result["scores"])
    width = 0.8 / (1 + len(result["members"]))
    xs = range(n)
    ax.bar([x - 0.4 + width / 2 for x in xs], result["scores"], width, label="reward")
    for k, (name, s) in enumerate(result["members"].items(), start=1):
        ax.bar([x - 0.4 + width / 2 + k * width for x in xs], s, width, label=name)
    ax.set_xticks(list(xs), [f"response {i + 1}" for i in xs])
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_ylabel("score")
    ax.legend(fontsize=8)
    return ax


def build_demo(scorer, examples: list):
    """The widget: pick a tiny-world image or upload one, type a question and responses, press Score."""
    import ipywidgets as w
    import matplotlib.pyplot as plt

    choices = [("(none: text only)", -1)] + [(f"{i}: {e.family} — {e.prompt[:40]}", i) for i, e in enumerate(examples)]
    pick = w.Dropdown(options=choices, value=0 if examples else -1, description="image")
    upload = w.FileUpload(accept="image/*", multiple=False, description="upload")
    preview = w.Image(format="png", width=168, height=168)
    prompt = w.Text(description="question", layout=w.Layout(width="95%"))
    boxes = [w.Textarea(description=f"response {i + 1}", layout=w.Layout(width="95%"), rows=2) for i in range(3)]
    button = w.Button(description="Score", button_style="primary")
    status = w.HTML()
    result_box = w.HTML()
    plot = w.Output()
    state = {"image": None}

    def show(img):
        state["image"] = img
        if img is None:
            preview.value = b""
            return
        buf = io.BytesIO()
        img.resize((168, 168), Image.NEAREST).save(buf, format="PNG")
        preview.value = buf.getvalue()

    def on_pick(change=None):
        ex = examples[pick.value] if pick.value >= 0 else None
        show(ex.image if ex is not None else None)
        if ex is not None:
            prompt.value = ex.prompt
            for box, text in zip(boxes, ex.responses[:2] + [""]):
                box.value = text

    def on_upload(change):
        files = list(upload.value)
        if not files:
            return
        try:
            show(read_upload(files[0]["content"]))
            status.value = ""
        except ValueError as e:
            status.value = f"<span class='demo-error' style='color:#b00'>{e}</span>"

    def on_score(_):
        try:
            res = score_request(scorer, state["image"], prompt.value, [b.value for b in boxes])
        except ValueError as e:
            status.value = f"<span class='demo-error' style='color:#b00'>{e}</span>"
            return
        status.value = ""
        rows = "".join(
            f"<li class='demo-score' data-index='{i}'>response {i + 1}: <b>{s:.4f}</b>"
            f"{' (best)' if i == res['best'] else ''}</li>"
            for i, s in enumerate(res["scores"])
        )
        prefs = "".join(f"<li>P({k}) = {v:.3f}</li>" for k, v in res["preference"].items())
        result_box.value = f"<ul class='demo-scores'>{rows}</ul><ul>{prefs}</ul>"
        plot.clear_output(wait=True)
        with plot:
            from IPython.display import display

            fig, ax = plt.subplots(figsize=(6, 2.8))
            plot_result(res, ax)
            display(fig)  # works under any backend (Voila pages run with agg)
            plt.close(fig)

    pick.observe(on_pick, names="value")
    upload.observe(on_upload, names="value")
    button.on_click(on_score)
    on_pick()
    return w.VBox([w.HBox([w.VBox([pick, upload]), preview]), prompt, *boxes, button, status, result_box, plot])
