"""The tiny omni world: all nine Omni-RewardBench tasks, generated procedurally, with free-form criteria that flip
the preference of the same response pair, and ties.

Every response pair has attributes (is the claim right, is the answer long, is it formal; is the colour, shape or
position of a generated image right; is a clip's motion smooth; ...). A criterion names one attribute and the value
it wants; under it the pair is decided (one response has the value, the other not) or tied (both or neither).

- **style** criteria (length: "concise" / "detailed"; tone: "formal" / "casual") read the response text only, and
  the same attribute appears in both directions, so the same pair flips with the wording of the criterion;
- **content** criteria (the claim about the image, clip or beeps is right; the generated media match the prompt)
  need the media (or, in T2T, the arithmetic).

Pairs are *shifted* (two criteria that decide the pair in opposite directions: exactly one per direction, so any
criterion-blind scorer gets exactly half of them right) or *invariant* (both criteria agree); a third, tied
criterion is added at the real benchmark's per-task tie rate. Which response is `response1` is a coin flip, and
every style attribute and claim is drawn independently of the label, so no text rule that ignores the criterion
(length, tone, position, word overlap) beats chance on the shifted pairs, and no text at all decides a content
criterion of an image, clip or audio task (tests/test_omni_world.py checks both).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from PIL import ImageFilter

from brlib.world import omni_media as M
from brlib.world.scenes import COLORS, POSITIONS, SHAPES, Obj

VERSION = 1  # bump when generated data change: cache keys include it
TASKS = ["T2T", "TI2T", "TV2T", "TA2T", "T2I", "T2V", "T2A", "T23D", "TI2I"]
TIE_RATE = {  # Omni-RewardBench's tie share per task (OMNI.md 1.1)
    "T2T": 0.122,
    "TI2T": 0.186,
    "TV2T": 0.142,
    "TA2T": 0.064,
    "T2I": 0.134,
    "T2V": 0.119,
    "T2A": 0.036,
    "T23D": 0.126,
    "TI2I": 0.096,
}
SHIFTED_RATE = 0.6
NUMBERS = ["one", "two", "three", "four"]
STYLE = {  # attribute -> {wanted value: criterion phrasings}
    "long": {
        False: ["Prefer the more concise response.", "The answer should be short and to the point.",
                "Brevity matters most here: the shorter answer is better."],
        True: ["Prefer the response that explains in more detail.", "The answer should be thorough and elaborate.",
               "A fuller answer with more explanation is better."],
    },
    "formal": {
        True: ["Prefer a formal, professional tone.", "The response should be written in formal language.",
               "Polite, formal wording is what matters here."],
        False: ["Prefer a casual, friendly tone.", "The response should sound relaxed and chatty.",
                "Informal, playful wording is what matters here."],
    },
}  # fmt: skip


@dataclass
class Asset:
    """One media file of an item: kind ("image", "video", "audio"), file bytes and extension."""

    kind: str
    data: bytes
    ext: str


@dataclass
class OmniItem:
    """One benchmark item: a response pair under one criterion, with the preference under it."""

    task: str
    prompt: str
    response1: object  # str or Asset
    response2: object
    criterion: str
    label: str  # "response1", "response2" or "tie"
    pair_id: str
    criterion_kind: str  # "style" or "content"
    shifted: bool  # the pair's decided criteria disagree
    inputs: dict = field(default_factory=dict)  # the prompt's media: {"image"|"video"|"audio": Asset}


@dataclass
class Attr:
    """A pair attribute a criterion can name: its kind, and the criterion phrasings per wanted value."""

    name: str
    kind: str
    wants: dict


def _content(task: str) -> dict[str, Attr]:
    text = {
        "T2T": "The answer must be arithmetically correct.|The computed result has to be right.",
        "TI2T": "The response must name the colour of the shape correctly.|Only a correct colour counts.",
        "TV2T": "The response must describe the direction of motion correctly.|The direction stated has to be right.",
        "TA2T": "The response must count the beeps correctly.|The number of beeps stated has to be right.",
    }
    media = {
        "T2I": {"colour": "The colour must match the prompt.", "shape": "The shape must match the prompt.",
                "place": "The position must match the prompt."},
        "T2V": {"direction": "The motion must go in the requested direction.",
                "smooth": "The motion should be smooth, without jumps.",
                "colour": "The colour must match the prompt."},
        "T2A": {"count": "The number of beeps must match the prompt.", "pitch": "The pitch must move as asked.",
                "clean": "The audio should be clean, without hiss."},
        "T23D": {"consistent": "The object must look like the same shape from every view.",
                 "colour": "The colour must match the prompt.", "solid": "It must be the requested kind of object."},
        "TI2I": {"applied": "The requested edit must be applied.",
                 "kept": "Everything else in the picture must stay unchanged.",
                 "sharp": "The edited picture must be sharp, not blurred."},
    }  # fmt: skip
    if task in text:
        return {"right": Attr("right", "content", {True: text[task].split("|")})}
    return {k: Attr(k, "content", {True: [v]}) for k, v in media[task].items()}


def attributes(task: str) -> dict[str, Attr]:
    """The attributes of a task's response pairs; text-response tasks add the style ones."""
    out = _content(task)
    if task in ("T2T", "TI2T", "TV2T", "TA2T"):
        out.update({k: Attr(k, "style", v) for k, v in STYLE.items()})
    return out


def _label(a1: dict, a2: dict, attr: str, want: bool) -> str:
    if a1[attr] == a2[attr]:
        return "tie"
    return "response1" if a1[attr] == want else "response2"


def _criteria(attrs: dict[str, Attr], rng: random.Random, tie_rate: float):
    """Attribute values of the two responses and the (attribute, wanted value) criteria judging them."""
    names = list(attrs)
    a1 = {k: rng.random() < 0.5 for k in names}
    a2 = {k: rng.random() < 0.5 for k in names}
    shifted = rng.random() < SHIFTED_RATE
    two_way = [k for k in names if len(attrs[k].wants) == 2]
    if shifted and two_way and rng.random() < 0.5:  # one attribute, both wordings: the pair flips with the words
        x = rng.choice(two_way)
        a1[x], a2[x] = True, False
        crits = [(x, True), (x, False)]
    else:  # two attributes: the same or opposite winners
        x, y = rng.sample(names, 2)
        wx, wy = rng.choice(list(attrs[x].wants)), rng.choice(list(attrs[y].wants))
        a1[x], a2[x] = wx, not wx
        a1[y], a2[y] = (not wy, wy) if shifted else (wy, not wy)
        crits = [(x, wx), (y, wy)]
    free = [k for k in names if all(k != c for c, _ in crits)]
    if free and rng.random() < tie_rate * len(crits) / (1 - tie_rate):  # expected tie share: tie_rate
        z = rng.choice(free)
        a2[z] = a1[z]
        crits.append((z, rng.choice(list(attrs[z].wants))))
    if rng.random() < 0.5:  # response order is a coin flip
        a1, a2 = a2, a1
    return a1, a2, crits, shifted


LONG_FORMAL = [
    " Having examined the input carefully, I can state that the {s} is {c}.",
    " This is clearly visible, and I am confident that the {s} is {c}.",
]
LONG_CASUAL = ["! yeah pretty sure the {s}'s {c}, super easy one haha", "! ok so the {s} is totally {c}, no doubt tbh"]


def _say(subject: str, claim: str, long: bool, formal: bool, rng: random.Random) -> str:
    """A text answer stating `claim` about `subject`, short or long, formal or casual."""
    s = f"The {subject} is {claim}." if formal else rng.choice([f"it's {claim} lol", f"{claim}, easy"])
    if long:
        s += rng.choice(LONG_FORMAL if formal else LONG_CASUAL).format(s=subject, c=claim)
    return s


def _other(options: list, exclude, rng: random.Random):
    return rng.choice([o for o in options if o != exclude])


def _text_task(task: str, a: dict, rng: random.Random, state: dict):
    """Prompt, prompt media and the text of each response of a text-response task."""
    if not state:
        if task == "T2T":
            x, y = rng.randint(2, 9), rng.randint(2, 9)
            state.update(prompt=f"What is {x} plus {y}?", subject="answer", truth=str(x + y),
                         options=[str(v) for v in range(4, 19)])  # fmt: skip
        elif task == "TI2T":
            objs = [
                Obj(s, c, k)
                for s, c, k in zip(rng.sample(SHAPES, 2), rng.sample(list(COLORS), 2), rng.sample(range(9), 2))
            ]
            o, img = objs[0], Asset("image", M.png(M.scene(objs, rng)), "png")
            state.update(prompt=f"What colour is the {o.shape} at the {POSITIONS[o.cell]}?", subject=o.shape,
                         truth=o.color, options=list(COLORS), inputs={"image": img})  # fmt: skip
        elif task == "TV2T":
            shape, colour, d = rng.choice(SHAPES), rng.choice(list(COLORS)), rng.choice(list(M.DIRECTIONS))
            video = Asset("video", M.gif(M.clip(shape, colour, d, True, rng)), "gif")
            state.update(prompt=f"Which way does the {colour} {shape} move?", subject="direction", truth=d,
                         options=list(M.DIRECTIONS), inputs={"video": video})  # fmt: skip
        else:
            n = rng.randint(1, 4)
            audio = M.beeps(n, rng.choice(["rising", "falling", "flat"]), True, rng)
            state.update(prompt="How many beeps are in the clip?", subject="number of beeps", truth=NUMBERS[n - 1],
                         options=NUMBERS, inputs={"audio": Asset("audio", M.wav(audio), "wav")})  # fmt: skip
    claim = state["truth"] if a["right"] else _other(state["options"], state["truth"], rng)
    return _say(state["subject"], claim, a["long"], a["formal"], rng)


def _media_task(task: str, a: dict, rng: random.Random, state: dict) -> Asset:
    """The prompt (in `state`) and one generated response of an image, video, audio or 3-D task."""
    if task == "T2I":
        if not state:
            o = Obj(rng.choice(SHAPES), rng.choice(list(COLORS)), rng.randrange(9))
            state.update(prompt=f"Draw a {o.color} {o.shape} at the {POSITIONS[o.cell]}.", o=o)
        o = state["o"]
        got = Obj(o.shape if a["shape"] else _other(SHAPES, o.shape, rng),
                  o.color if a["colour"] else _other(list(COLORS), o.color, rng),
                  o.cell if a["place"] else _other(list(range(9)), o.cell, rng))  # fmt: skip
        return Asset("image", M.png(M.scene([got], rng)), "png")
    if task == "T2V":
        if not state:
            s, c, d = rng.choice(SHAPES), rng.choice(list(COLORS)), rng.choice(list(M.DIRECTIONS))
            state.update(prompt=f"A {c} {s} moving {d}.", s=s, c=c, d=d)
        d = state["d"] if a["direction"] else _other(list(M.DIRECTIONS), state["d"], rng)
        c = state["c"] if a["colour"] else _other(list(COLORS), state["c"], rng)
        return Asset("video", M.gif(M.clip(state["s"], c, d, a["smooth"], rng)), "gif")
    if task == "T2A":
        if not state:
            n, p = rng.randint(2, 4), rng.choice(["rising", "falling"])
            state.update(prompt=f"{NUMBERS[n - 1].capitalize()} beeps, {p} in pitch.", n=n, p=p)
        n = state["n"] if a["count"] else _other([1, 2, 3, 4], state["n"], rng)
        p = state["p"] if a["pitch"] else _other(["rising", "falling", "flat"], state["p"], rng)
        return Asset("audio", M.wav(M.beeps(n, p, a["clean"], rng)), "wav")
    if task == "T23D":
        if not state:
            solid, c = rng.choice(M.SOLIDS), rng.choice(list(COLORS))
            state.update(prompt=f"A {c} {solid}.", solid=solid, c=c)
        solid = state["solid"] if a["solid"] else _other(M.SOLIDS, state["solid"], rng)
        c = state["c"] if a["colour"] else _other(list(COLORS), state["c"], rng)
        odd = None if a["consistent"] else _other(M.SOLIDS, solid, rng)
        return Asset("image", M.png(M.multiview(solid, c, odd, rng.randrange(4))), "png")
    if not state:  # TI2I
        cells = rng.sample(range(9), 3)
        objs = [Obj(rng.choice(SHAPES), rng.choice(list(COLORS)), k) for k in cells]
        new = _other(list(COLORS), objs[0].color, rng)
        bg = rng.randrange(1 << 30)
        source = Asset("image", M.png(M.scene(objs, random.Random(bg))), "png")
        state.update(prompt=f"Make the {objs[0].shape} at the {POSITIONS[objs[0].cell]} {new}.", objs=objs, new=new,
                     bg=bg, inputs={"image": source})  # fmt: skip
    objs = [Obj(o.shape, o.color, o.cell) for o in state["objs"]]
    if a["applied"]:
        objs[0].color = state["new"]
    if not a["kept"]:
        k = rng.choice([1, 2])
        objs[k].color = _other(list(COLORS), objs[k].color, rng)
    img = M.scene(objs, random.Random(state["bg"]))
    return Asset("image", M.png(img if a["sharp"] else img.filter(ImageFilter.GaussianBlur(1.5))), "png")


def generate_task(task: str, n_pairs: int, seed: int) -> list[OmniItem]:
    """`n_pairs` response pairs of `task`, each with its criteria: one item per (pair, criterion)."""
    rng = random.Random(f"{task}:{seed}")
    attrs = attributes(task)
    items = []
    for i in range(n_pairs):
        a1, a2, crits, shifted = _criteria(attrs, rng, TIE_RATE[task])
        state: dict = {}
        make = _text_task if task in ("T2T", "TI2T", "TV2T", "TA2T") else _media_task
        r1 = make(task, a1, rng, state)
        r2 = make(task, a2, rng, state)
        pid = hashlib.sha1(f"{task}:{seed}:{i}".encode()).hexdigest()[:12]
        for attr, want in crits:
            items.append(OmniItem(
                task, state["prompt"], r1, r2, rng.choice(attrs[attr].wants[want]), _label(a1, a2, attr, want),
                pid, attrs[attr].kind, shifted, dict(state.get("inputs", {})),
            ))  # fmt: skip
    return items


def generate_omni(n_pairs: int, seed: int, tasks: list[str] | None = None) -> list[OmniItem]:
    """Items of every task (or `tasks`), `n_pairs` response pairs each. Used in: 10_omni.ipynb."""
    return [it for t in tasks or TASKS for it in generate_task(t, n_pairs, seed)]


def omni_corpus(seed: int = 0, n_pairs: int = 40) -> list[str]:
    """Text of the omni world (prompts, text responses, criteria) for a tiny tokenizer. Used in: 10_omni.ipynb."""
    out = ["system user assistant", "You are a helpful assistant."]
    for it in generate_omni(n_pairs, seed):
        out += [it.prompt, it.criterion] + [r for r in (it.response1, it.response2) if isinstance(r, str)]
    return out
