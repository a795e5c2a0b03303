"""Tiny Qwen-VL backbones: real architectures, real tokenizer and processor, saved in Hub layout.

A tiny checkpoint loads through exactly the `from_pretrained` path of the 7B models; only its size differs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

# The Qwen special tokens, in the order the Qwen tokenizers give them ids.
SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]

# A Qwen-style ChatML template: content is a string or a list of {"type": "image"|"video"|"text"} parts.
CHAT_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' or 'image' in part %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'video' or 'video' in part %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in part %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class TinySize:
    """Widths and depths of one tiny backbone size."""

    hidden_size: int
    num_layers: int
    num_heads: int
    vision_hidden: int
    vision_depth: int


SIZES = {
    "xxs": TinySize(hidden_size=32, num_layers=1, num_heads=2, vision_hidden=32, vision_depth=1),
    "xs": TinySize(hidden_size=64, num_layers=2, num_heads=4, vision_hidden=64, vision_depth=2),
    "s": TinySize(hidden_size=128, num_layers=3, num_heads=4, vision_hidden=96, vision_depth=2),
    "m": TinySize(hidden_size=192, num_layers=4, num_heads=6, vision_hidden=128, vision_depth=3),
}

PATCH_SIZE = 14  # the real Qwen-VL patch size; tiny images are 84 x 84 -> 6 x 6 patches -> 9 image tokens
IMAGE_SIDE = 84
# The tiny world's pixel statistics (mean / std per channel over its images, measured on 600 scenes). CLIP's
# normalisation (the real checkpoints') maps the world's bright background to about +1.6 in every channel, and Adam
# then drives the patch embedding's output to one constant in a few steps (core_numerics.md A.2); centred on the
# world's own statistics, the background is about 0. Set in the processor, so it travels with every checkpoint.
WORLD_MEAN = [0.90, 0.89, 0.88]
WORLD_STD = [0.17, 0.18, 0.20]


def train_tokenizer(corpus: list[str], vocab_size: int = 1024):
    """Train a byte-level BPE tokenizer with the Qwen special tokens. Used in: 00_quickstart.ipynb."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS[1:],
        chat_template=CHAT_TEMPLATE,
    )


def _text_config(size: TinySize, vocab_size: int, ids: dict, family: str) -> dict:
    head_dim = size.hidden_size // size.num_heads
    # M-RoPE splits head_dim / 2 rotary frequencies into (temporal, height, width) sections.
    half = head_dim // 2
    section = [half - 2 * (half // 4), half // 4, half // 4]
    return dict(
        vocab_size=vocab_size,
        hidden_size=size.hidden_size,
        intermediate_size=2 * size.hidden_size,
        num_hidden_layers=size.num_layers,
        num_attention_heads=size.num_heads,
        num_key_value_heads=max(1, size.num_heads // 2),
        max_position_embeddings=2048,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": section},
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )


def tiny_config(family: str, size: str, tokenizer):
    """Config of a tiny Qwen2.5-VL, Qwen2-VL or (text-only) Qwen2 model sized `size`. Used in: 00_quickstart.ipynb."""
    from transformers import Qwen2_5_VLConfig, Qwen2Config, Qwen2VLConfig

    s = SIZES[size]
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    text = _text_config(s, len(tokenizer), ids, family)
    if family == "qwen2":  # the language model alone: the text-only RM of Figure 2 and Table 7
        text["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0}
        return Qwen2Config(**text, tie_word_embeddings=False)
    token_ids = dict(
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    if family == "qwen2_5_vl":
        vision = dict(
            depth=s.vision_depth,
            hidden_size=s.vision_hidden,
            intermediate_size=2 * s.vision_hidden,
            num_heads=4,
            patch_size=PATCH_SIZE,
            out_hidden_size=s.hidden_size,
            window_size=2 * 2 * PATCH_SIZE,
            fullatt_block_indexes=[s.vision_depth - 1],
        )
        return Qwen2_5_VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=False, **token_ids)
    if family == "qwen2_vl":
        vision = dict(
            depth=s.vision_depth,
            embed_dim=s.vision_hidden,
            hidden_size=s.hidden_size,
            mlp_ratio=2,
            num_heads=4,
            patch_size=PATCH_SIZE,
        )
        return Qwen2VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=False, **token_ids)
    raise ValueError(f"unknown tiny family {family!r}; expected 'qwen2_5_vl', 'qwen2_vl' or 'qwen2'")


def build_processor(tokenizer, family: str = "qwen2_5_vl"):
    """The real Qwen-VL processor around `tokenizer`, sized for 84 x 84 tiny-world images."""
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLProcessor, Qwen2VLVideoProcessor

    side = IMAGE_SIDE
    pixels = dict(min_pixels=side * side, max_pixels=side * side, image_mean=WORLD_MEAN, image_std=WORLD_STD)
    image_processor = Qwen2VLImageProcessor(patch_size=PATCH_SIZE, merge_size=2, temporal_patch_size=2, **pixels)
    video_processor = Qwen2VLVideoProcessor(patch_size=PATCH_SIZE, merge_size=2, temporal_patch_size=2, **pixels)
    cls = Qwen2_5_VLProcessor if family == "qwen2_5_vl" else Qwen2VLProcessor
    return cls(
        image_processor=image_processor,
        video_processor=video_processor,
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
    )


def build_tiny_backbone(
    out_dir: str | Path, corpus: list[str], family: str = "qwen2_5_vl", size: str = "s", seed: int = 0
) -> Path:
    """Build and save a randomly initialised tiny Qwen-VL checkpoint in Hub layout. Used in: 00_quickstart.ipynb."""
    from transformers import Qwen2_5_VLForConditionalGeneration, Qwen2ForCausalLM, Qwen2VLForConditionalGeneration

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_tokenizer(corpus)
    config = tiny_config(family, size, tokenizer)
    torch.manual_seed(seed)
    classes = {
        "qwen2_5_vl": Qwen2_5_VLForConditionalGeneration,
        "qwen2_vl": Qwen2VLForConditionalGeneration,
        "qwen2": Qwen2ForCausalLM,
    }
    model = classes[family](config)
    model.save_pretrained(out, safe_serialization=True)
    # A text-only model ships its tokenizer alone, as the real Qwen2/Qwen3 LLM checkpoints do.
    (tokenizer if family == "qwen2" else build_processor(tokenizer, family)).save_pretrained(out)
    # Qwen2Tokenizer is the class the real checkpoints name; it reads our tokenizer.json unchanged.
    cfg_path = out / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["tokenizer_class"] = "Qwen2Tokenizer"
    cfg_path.write_text(json.dumps(cfg, indent=2))
    return out


def count_parameters(model: torch.nn.Module) -> int:
    """Number of parameters. Used in: 00_quickstart.ipynb."""
    return sum(p.numel() for p in model.parameters())
