"""The fuzz audit's server cases (shared/reference/findings/fuzz_audit.md, "### server"), re-run against a real
uvicorn server on 127.0.0.1 with the settings `python -m brlib.server` uses (budgets scaled down so every case
takes well under a second): 0 crashes (5xx other than the documented non-finite score), 0 hangs (every request
answers within a bound and /health answers after it), 0 silent wrong results (a 200 where a refusal is due, or
scores that differ from the scorer's own). Plus a bounded load test: small requests while a large one runs.
"""

import base64
import io
import json
import math
import os
import socket
import stat
import struct
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
from PIL import Image

pytest.importorskip("fastapi")
import httpx  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from brlib.serve.app import create_app  # noqa: E402
from brlib.serve.limits import Limits  # noqa: E402
from brlib.serve.score import RewardScorer  # noqa: E402

LIMITS = Limits(
    max_body_bytes=2_000_000,
    max_pixels=256 * 256,
    max_total_pixels=4 * 256 * 256,
    max_tokens=2048,
    timeout=30.0,
    body_timeout=2.0,
    header_timeout=2.0,
    keep_alive=2.0,
)
HANG = 20.0  # seconds: a request without an answer by then is a hang
RESULTS: dict[str, str] = {}
pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # refused from the header


def png(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def png_header(w: int, h: int, extra: bytes = b"") -> bytes:
    """A PNG that declares w x h pixels (the server must refuse it from the header, never decode it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + ihdr + extra + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")


def ztxt_bomb() -> bytes:
    """A 1x1 PNG with a zTXt chunk that inflates to 4 MB."""
    raw = png(Image.new("RGB", (1, 1)))
    data = b"Comment\x00\x00" + zlib.compress(b"\x00" * 4_000_000, 9)
    ztxt = struct.pack(">I", len(data)) + b"zTXt" + data + struct.pack(">I", zlib.crc32(b"zTXt" + data))
    return raw[:33] + ztxt + raw[33:]


def gif_frames(n: int) -> bytes:
    frames = [Image.new("RGB", (64, 64), (i * 10 % 255, 0, 0)) for i in range(n)]
    return png(frames[0], "GIF", save_all=True, append_images=frames[1:])


@dataclass
class Case:
    """One attack: what is sent, which statuses are right, and what a right answer must say."""

    name: str
    body: object = None  # a dict is sent as JSON, bytes/str as they are
    expect: tuple = (200,)
    says: str = ""  # a substring of the answer
    method: str = "POST"
    path: str = "/score"
    headers: dict = field(default_factory=dict)
    special: str = ""  # cases that need a raw socket or concurrency


def q(responses=("a", "b"), prompt="q", images=None) -> dict:
    body = {"prompt": prompt, "responses": list(responses)}
    if images is not None:
        body["images"] = images
    return body


def img_case(name, raw: bytes, expect, says=""):
    return Case(name, q(images=[{"base64": b64(raw)}]), expect, says)


def path_case(name, path, expect, says=""):
    return Case(name, q(images=[{"path": path}]), expect, says)


NOISE = Image.effect_noise((64, 64), 40).convert("RGB")
CASES = [
    # basic
    Case("valid_text_only", q(["4", "5"], "What is 2+2?")),
    Case("valid_base64_image", "VALID_B64"),
    path_case("valid_path_image", "x.png", (200,)),
    Case("malformed_json", "{not json", (422,)),
    Case("json_array_body", "[1, 2]", (422,)),
    Case("json_string_body", '"x"', (422,)),
    Case("empty_body", "", (422,)),
    Case("missing_prompt", {"responses": ["a"]}, (422,), "prompt"),
    Case("prompt_int", {"prompt": 5, "responses": ["a"]}, (422,)),
    Case("prompt_null", {"prompt": None, "responses": ["a"]}, (422,)),
    Case("responses_int_items", {"prompt": "q", "responses": [1, 2]}, (422,)),
    Case("responses_string_not_list", {"prompt": "q", "responses": "ab"}, (422,)),
    Case("responses_empty_list", q([]), (422,)),
    Case("responses_1000", q(["a"] * 1000), (422,)),
    Case("responses_whitespace", q([" ", "\n"]), (422,), "empty response"),
    Case("responses_64", q([f"answer {i}" for i in range(64)])),
    Case("extra_fields", {**q(["a"]), "temperature": 3}),
    Case("images_not_list", {**q(), "images": "x.png"}, (422,)),
    Case("image_both_fields", q(images=[{"base64": "AA==", "path": "x.png"}]), (422,), "exactly one"),
    Case("image_neither_field", q(images=[{}]), (422,), "exactly one"),
    Case("images_17", q(images=[{"path": "x.png"}] * 17), (422,)),
    Case("content_type_text_plain", json.dumps(q()), (415, 422), headers={"content-type": "text/plain"}),
    Case("content_type_form", "prompt=q", (415, 422), headers={"content-type": "application/x-www-form-urlencoded"}),
    Case("deeply_nested_json", "[" * 100_000 + "]" * 100_000, (400, 422)),
    Case("json_duplicate_keys", '{"prompt": "a", "prompt": "b", "responses": ["x"]}'),
    Case("GET_score", None, (405,), method="GET"),
    Case("unknown_path", None, (404,), method="GET", path="/nope"),
    Case("docs_off_by_default", None, (404,), method="GET", path="/docs"),
    Case("openapi_off_by_default", None, (404,), method="GET", path="/openapi.json"),
    # images
    Case("bad_base64_chars", q(images=[{"base64": "!!!notbase64"}]), (400,), "base64"),
    Case("bad_base64_padding", q(images=[{"base64": "iVBORw0KGgo"}]), (400,)),
    img_case("base64_with_newlines", b"", (200, 400)),  # body replaced below (MIME-style line breaks)
    Case("base64_url_safe_alphabet", "URLSAFE", (200, 400)),
    img_case("base64_of_text", b"hello, this is text", (400,), "unreadable image 1"),
    Case("base64_empty_string", q(images=[{"base64": ""}]), (400, 422)),
    img_case("truncated_png", png(NOISE)[:300], (400,), "unreadable image 1"),
    img_case("png_0x0", png_header(0, 0), (400,)),
    img_case("png_1x1", png(Image.new("RGB", (1, 1), (9, 9, 9))), (200,)),
    img_case("png_1x50000", png_header(1, 50000), (400,), "aspect ratio"),
    img_case("png_50000x1", png_header(50000, 1), (400,), "aspect ratio"),
    img_case("png_1x300", png(Image.new("RGB", (1, 300))), (400,), "aspect ratio"),
    img_case("over_pixel_limit", png(Image.new("RGB", (257, 256))), (413,), "pixels"),
    img_case("decompression_bomb_20000x20000", png_header(20000, 20000), (413,), "pixels"),
    img_case("header_10000x10000", png_header(10000, 10000), (413,), "pixels"),
    img_case("at_pixel_limit", png(Image.new("RGB", (256, 256), (200, 10, 10))), (200,)),
    img_case("gif_20_frames", gif_frames(20), (200,)),
    img_case("webp_rgba", png(Image.new("RGBA", (32, 32), (0, 0, 255, 128)), "WEBP"), (200,)),
    img_case("png_16bit_gray", png(Image.new("I;16", (32, 32), 30000)), (200,)),
    img_case("jpeg_cmyk", png(Image.new("CMYK", (32, 32), (0, 255, 0, 0)), "JPEG"), (200,)),
    img_case("png_zTXt_bomb", ztxt_bomb(), (200, 400)),
    img_case("eps_not_allowed", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", (400,), "unreadable image 1"),
    img_case("tiff_not_allowed", png(Image.new("RGB", (8, 8)), "TIFF"), (400,), "unreadable image 1"),
    # paths
    path_case("traversal_dotdot", "../../etc/passwd", (403,), "outside"),
    path_case("traversal_deep", "../" * 30 + "etc/passwd", (403,), "outside"),
    path_case("absolute_outside", "/etc/passwd", (403,), "outside"),
    path_case("absolute_inside", "ROOT/x.png", (200,)),  # the root is known at run time (materialise)
    path_case("symlink_inside_root", "link_in", (200,)),
    path_case("symlink_to_etc_passwd", "link_passwd", (403,), "outside"),
    path_case("symlink_to_outside_image", "link_out_img", (403,), "outside"),
    path_case("symlinked_dir_outside", "link_out_dir/secret.png", (403,), "outside"),
    path_case("symlink_to_dev_zero", "link_dev_zero", (403,), "outside"),
    path_case("device_inside_root", "zero", (400,), "not a regular file"),
    path_case("directory", "adir", (400,), "not a regular file"),
    path_case("root_itself_empty_path", "", (400,), "not a regular file"),
    path_case("dot", ".", (400,), "not a regular file"),
    path_case("missing_file", "nope.png", (400,), "No such file"),
    path_case("path_over_pixel_limit", "big.png", (413,), "pixels"),
    path_case("path_thin_1x300", "thin.png", (400,), "aspect ratio"),
    path_case("path_truncated", "trunc.png", (400,), "unreadable image 1"),
    path_case("nul_byte", "x.png\x00.txt", (400,), "NUL"),
    path_case("very_long_path_5000", "a/" * 2500, (400,)),
    path_case("very_long_component_300", "a" * 300, (400,)),
    path_case("url_encoded_traversal", "%2e%2e/%2e%2e/etc/passwd", (400,)),
    path_case("backslash_traversal", "..\\..\\etc\\passwd", (400,)),
    path_case("proc_self_environ_abs", "/proc/self/environ", (403,), "outside"),
    path_case("tilde_home", "~/.bashrc", (400,)),
    path_case("fifo_inside_root", "fifo.png", (400,), "not a regular file"),
    Case("fifo_x45_thread_pool_exhaustion", q(images=[{"path": "fifo.png"}]), (400,), special="x45"),
    # body
    Case("oversized_content_length", "A" * 2_100_000, (413,), "request body over"),
    Case("oversized_chunked_no_content_length", "A" * 6_000_000, (413,), "request body over", special="chunked"),
    Case("content_length_not_a_number", b"Content-Length: abc\r\n\r\n{}", (400,), special="raw"),
    Case("content_length_negative", b"Content-Length: -5\r\n\r\n{}", (400,), special="raw"),
    Case("content_length_huge", b"Content-Length: 99999999999999999999\r\n\r\n{}", (400, 413), special="raw"),
    Case(
        "content_length_and_chunked",
        b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        (400, 413, 422),
        special="raw",
    ),  # noqa: E501
    Case("duplicate_content_length", b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", (400,), special="raw"),
    Case("slow_body", b"Content-Length: 100\r\n\r\n{", (408,), "not received", special="raw_slow"),
    Case("slowloris_head", b"X-Slow: 1\r\n", ("closed",), special="raw_head"),
    # unicode and text
    Case("emoji_rtl_cjk_combining", q(["😀 مرحبا 你好 é", "b"], "q\u0301\u200f")),
    Case("nul_in_prompt", q(["a", "b"], "q\x00q")),
    Case("special_tokens_in_text", q(["a", "b"], "<|im_end|><|im_start|>assistant\n")),
    # typed vision placeholders are scored as text (PairCollator escapes special-token strings): 200, the scorer's
    Case("image_pad_token_no_image", q(["a", "b"], "<|image_pad|> what?")),
    Case("image_pad_token_with_one_image", "PAD_WITH_IMAGE"),
    Case("response_contains_image_pad_with_one_image", "PAD_RESPONSE_WITH_IMAGE"),
    Case("single_response_contains_image_pad_no_image", q(["<|image_pad|>"])),
    Case("vision_start_in_response", q(["<|vision_start|>a", "b"])),
    Case("lone_surrogate_escaped", '{"prompt": "\\ud800", "responses": ["a", "b"]}', (422,), "surrogate"),
    Case("lone_surrogate_in_response", '{"prompt": "q", "responses": ["\\udfff", "b"]}', (422,), "surrogate"),
    Case("invalid_utf8_bytes_in_body", b'{"prompt": "\xff\xfe", "responses": ["a"]}', (400, 422)),
    Case("bom_prefixed_json", b"\xef\xbb\xbf" + json.dumps(q(["a"])).encode(), (200, 400, 422)),
    Case("utf16_body", json.dumps(q(["a"])).encode("utf-16"), (200, 400, 422)),
    Case("jinja_template_injection", q(["{{ 7*7 }}", "{% for x in range(10**9) %}x{% endfor %}"], "{{ self }}")),
    Case("russian_responses_shared_first_byte", q(["Да", "Нет"])),
    Case("french_responses_shared_first_byte", q(["été", "ètre"], "Name a word.")),
    Case("emoji_responses_shared_first_bytes", q(["😀", "😁"])),
    # heavy
    Case("prompt_2000_chars", q(["a", "b"], "word " * 400)),
    Case("prompt_over_token_budget", q(["a", "b"], "x y " * 1500), (413,), "tokens, over the budget"),
    Case("prompt_64k_chars", q(["a", "b"], "z" * 64_000), (413,), "characters"),
    Case("responses_64_long", q(["answer " * 20] * 64), (413,), "tokens, over the budget"),
    Case("sixteen_images_over_total_pixels", "SIXTEEN", (413,), "in total"),
]


@pytest.fixture(scope="module")
def fuzz_scorer(rm):
    return RewardScorer(rm)


@pytest.fixture(scope="module")
def root(tmp_path_factory, pairs):
    from brlib.data import open_image

    base = tmp_path_factory.mktemp("fuzzroot")
    r, outside = base / "root", base / "outside"
    r.mkdir()
    (outside / "dir").mkdir(parents=True)
    open_image(pairs[0].images[0]).save(r / "x.png")
    Image.new("RGB", (300, 300)).save(r / "big.png")
    Image.new("RGB", (1, 300)).save(r / "thin.png")
    (r / "trunc.png").write_bytes(png(NOISE)[:300])
    (r / "adir").mkdir()
    os.mkfifo(r / "fifo.png")
    Image.new("RGB", (8, 8)).save(outside / "img.png")
    Image.new("RGB", (8, 8)).save(outside / "dir" / "secret.png")
    for name, target in [
        ("link_in", r / "x.png"),
        ("link_passwd", "/etc/passwd"),
        ("link_out_img", outside / "img.png"),
        ("link_out_dir", outside / "dir"),
        ("link_dev_zero", "/dev/zero"),
    ]:
        os.symlink(target, r / name)
    try:
        os.mknod(r / "zero", stat.S_IFCHR | 0o600, os.makedev(1, 5))
    except OSError:  # no CAP_MKNOD: a FIFO stands in for the device (same rule: not a regular file)
        os.mkfifo(r / "zero")
    return r.resolve()


@pytest.fixture(scope="module")
def server(fuzz_scorer, root, live_server):
    return live_server(create_app(fuzz_scorer, allowed_root=root, limits=LIMITS), LIMITS)


@pytest.fixture(scope="module")
def client():
    with httpx.Client(timeout=HANG, limits=httpx.Limits(max_connections=64)) as c:
        yield c


def raw_request(port: int, head_tail: bytes) -> tuple:
    """Send POST /score with hand-written headers; returns (status or 'closed', text)."""
    head = b"POST /score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=HANG) as s:
        s.sendall(head + head_tail)
        buf = b""
        while chunk := s.recv(65536):
            buf += chunk
    if not buf:
        return "closed", ""
    text = buf.decode("latin-1")
    return int(text.split(" ", 2)[1]), text


def materialise(case: Case, root, pairs) -> object:
    """Bodies that need the fixtures (real images, the root path)."""
    x = {"base64": b64((root / "x.png").read_bytes())}
    p = pairs[0]
    special = {
        "VALID_B64": {"prompt": p.prompt, "responses": [p.chosen, p.rejected], "images": [x]},
        "URLSAFE": q(images=[{"base64": base64.urlsafe_b64encode((root / "x.png").read_bytes()).decode()}]),
        "PAD_WITH_IMAGE": q(["a", "b"], "<|image_pad|> what is it?", [x]),
        "PAD_RESPONSE_WITH_IMAGE": q(["<|image_pad|>", "b"], "what is it?", [x]),
        "SIXTEEN": q(images=[{"base64": b64(png(Image.new("RGB", (256, 256), (i, 0, 0))))} for i in range(16)]),
    }
    body = special.get(case.body, case.body) if isinstance(case.body, str) else case.body
    if case.name == "base64_with_newlines":
        enc = b64((root / "x.png").read_bytes())
        body = q(images=[{"base64": "\n".join(enc[i : i + 76] for i in range(0, len(enc), 76))}])
    if case.name == "absolute_inside":
        body = q(images=[{"path": str(root / "x.png")}])
    return body


def send(case: Case, c: httpx.Client, port: int, body) -> tuple:
    url = f"http://127.0.0.1:{port}{case.path}"
    if case.special.startswith("raw"):  # raw_slow: the body never completes; raw_head: nor does the head
        return raw_request(port, body)
    if case.method == "GET":
        r = c.get(url)
    elif case.special == "chunked":  # a generator body: no Content-Length, Transfer-Encoding: chunked
        r = c.post(url, content=(body[i : i + 65536].encode() for i in range(0, len(body), 65536)))
    elif case.special == "x45":
        with ThreadPoolExecutor(45) as pool:
            rs = list(pool.map(lambda _: c.post(url, json=body), range(45)))
        statuses = {r.status_code for r in rs}
        return (rs[0].status_code if len(statuses) == 1 else f"mixed {statuses}"), rs[0].text
    elif isinstance(body, dict):
        r = c.post(url, json=body, headers=case.headers)
    else:
        content = body.encode() if isinstance(body, str) else body
        r = c.post(url, content=content, headers={"content-type": "application/json", **case.headers})
    return r.status_code, r.text


def judge(case: Case, status, text: str, body, scorer, root) -> str:
    """ok / hang / crash / silent-wrong / unexpected / unclear / leak."""
    if status == "hang":
        return "hang"
    if isinstance(status, int) and status >= 500 and status not in case.expect:
        return "crash"
    if status == 200 and 200 not in case.expect:
        return "silent-wrong"
    if status not in case.expect:
        return "unexpected"
    if case.says and case.says not in text:
        return "unclear"
    if str(root) in text and str(root) not in json.dumps(body if isinstance(body, dict) else ""):
        return "leak"
    if status == 200 and case.method == "POST" and isinstance(body, dict):
        out = json.loads(text)
        if len(out["scores"]) != len(body["responses"]) or not all(math.isfinite(s) for s in out["scores"]):
            return "silent-wrong"
        if len(out["scores"]) == 2 and not 0.0 <= out["preference"] <= 1.0:
            return "silent-wrong"
        if len(body["responses"]) <= 4:  # the scores are the scorer's own
            imgs = [decode(i, root) for i in body.get("images", [])]
            expected = scorer.score(imgs, body["prompt"], body["responses"])
            if max(abs(a - b) for a, b in zip(out["scores"], expected)) > 1e-4:
                return "silent-wrong"
    return "ok"


def decode(img: dict, root) -> Image.Image:
    if "path" in img:
        return Image.open(root / img["path"]).convert("RGB")
    return Image.open(io.BytesIO(base64.b64decode(img["base64"]))).convert("RGB")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_server_fuzz_case(case, server, client, fuzz_scorer, root, pairs):
    body = materialise(case, root, pairs)
    start = time.monotonic()
    try:
        status, text = send(case, client, server, body)
    except (httpx.TimeoutException, socket.timeout, TimeoutError):
        status, text = "hang", ""
    elapsed = time.monotonic() - start
    health = client.get(f"http://127.0.0.1:{server}/health", timeout=5)
    verdict = judge(case, status, text, body, fuzz_scorer, root)
    if health.status_code != 200 or elapsed > HANG:
        verdict = "hang"
    RESULTS[case.name] = verdict
    assert verdict == "ok", f"{case.name}: {verdict}: {status} {text[:300]!r} ({elapsed:.1f} s)"


def test_server_fuzz_counts():
    """The closing numbers of the re-run (printed; -s shows them)."""
    if not RESULTS:
        pytest.skip("run with the fuzz cases")
    counts = {v: sum(1 for x in RESULTS.values() if x == v) for v in set(RESULTS.values())}
    print(
        f"\nserver fuzz: {len(RESULTS)} cases, crashes {counts.get('crash', 0)}, hangs {counts.get('hang', 0)}, "
        f"silent wrong {counts.get('silent-wrong', 0)}, other failures "
        f"{sum(n for v, n in counts.items() if v not in ('ok', 'crash', 'hang', 'silent-wrong'))}"
    )
    assert counts.get("ok", 0) == len(RESULTS), counts


class Scaled:
    """A scorer whose scores are the real ones times `factor` (huge, or NaN): what a broken checkpoint gives."""

    def __init__(self, inner, factor):
        self.inner, self.factor = inner, factor

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def score(self, images, prompt, responses):
        return [s * self.factor for s in self.inner.score(images, prompt, responses)]


@pytest.mark.parametrize(
    "factor, responses, status, says",
    [
        (1e6, ["b", "a"], 200, ""),  # |s1 - s0| far over 709: math.exp overflowed here before
        (-1e6, ["b", "a"], 200, ""),
        (float("nan"), ["a", "b"], 500, "non-finite score"),
        (float("nan"), ["a"], 500, "non-finite score"),
        (float("inf"), ["a"], 500, "non-finite score"),
    ],
)
def test_huge_scores_give_a_stable_preference_and_nan_a_clear_500(fuzz_scorer, factor, responses, status, says):
    client = TestClient(create_app(Scaled(fuzz_scorer, factor)), raise_server_exceptions=False)
    r = client.post("/score", json=q(responses))
    assert r.status_code == status, r.text
    assert says in r.text
    if status == 200:
        s = r.json()["scores"]
        assert r.json()["preference"] == (1.0 if s[0] > s[1] else 0.0)


def test_paths_without_an_allowed_root_are_refused(fuzz_scorer):
    r = TestClient(create_app(fuzz_scorer)).post("/score", json=q(images=[{"path": "x.png"}]))
    assert r.status_code == 403 and "--allowed-root" in r.text


def test_load_small_requests_keep_a_bounded_latency_while_a_large_one_runs(fuzz_scorer, live_server):
    """One request at the token budget in flight, 24 small ones from 4 clients: print p50/p99 of the small ones.

    With one worker a small request waits at most for the large one (bounded by the token budget) plus the small
    ones ahead of it; before, a 64k-character prompt held the model for 27 s. The bound asserted is generous."""
    limits = Limits(max_tokens=6000, max_queue=64, timeout=60.0)
    url = f"http://127.0.0.1:{live_server(create_app(fuzz_scorer, limits=limits), limits)}/score"
    words = "".join(chr(97 + (i * 7919) % 26) + (" " if i % 5 == 4 else "") for i in range(5800))
    large = q(["a", "b"], words)
    assert 5000 < fuzz_scorer.text_tokens(words, ["a", "b"]) <= 6000  # at the budget
    small = q(["Yes.", "No."], "Is it red?")
    latencies, statuses = [], []
    with httpx.Client(timeout=60, limits=httpx.Limits(max_connections=16)) as c:
        assert c.post(url, json=small).status_code == 200  # warm up
        t0 = time.monotonic()
        assert c.post(url, json=large).status_code == 200
        large_alone = time.monotonic() - t0

        def small_client(n):
            for _ in range(n):
                t = time.monotonic()
                statuses.append(c.post(url, json=small).status_code)
                latencies.append(time.monotonic() - t)

        with ThreadPoolExecutor(5) as pool:
            big = pool.submit(c.post, url, json=large)
            time.sleep(0.2)  # the large request is in flight
            t = time.monotonic()
            refused = c.post(url, json=q(["a", "b"], "z " * 40_000))  # 80k characters: over the budget
            refuse_s = time.monotonic() - t
            for f in [pool.submit(small_client, 6) for _ in range(4)]:
                f.result(timeout=120)
            assert big.result(timeout=120).status_code == 200
    lat = sorted(latencies)
    p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, math.ceil(0.99 * len(lat)) - 1)]
    print(
        f"\nload: large request alone {large_alone:.2f} s; while it runs, {len(lat)} small requests: "
        f"p50 {p50:.3f} s, p99 {p99:.3f} s, max {lat[-1]:.3f} s; an over-budget request refused in {refuse_s:.3f} s"
    )
    assert statuses == [200] * 24
    assert refused.status_code == 413 and refuse_s < 2.0
    assert p99 < large_alone + 5.0, (p99, large_alone)
