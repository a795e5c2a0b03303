"""Tiny Qwen2.5-Omni thinkers: the omni backbone transformers ships (text, image, video and audio in), built from a
config and saved in Hub layout with the real `Qwen2_5OmniProcessor` (Qwen-VL image/video processors and a Whisper
feature extractor), so a tiny checkpoint loads through exactly the `from_pretrained` path of `Qwen/Qwen2.5-Omni-7B`.

The reward model uses the thinker alone (`Qwen2_5OmniThinkerModel`, no LM head, no talker): `AutoModel` gives it
for a thinker checkpoint, and `load_thinker` takes it out of a full Qwen2.5-Omni checkpoint (thinker + talker +
token2wav, `model_type: qwen2_5_omni`) without building the speech generator.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

# Qwen2.5-Omni's special tokens (media placeholders and their brackets), in the order the tiny tokenizer gives ids.
OMNI_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|AUDIO|>",
    "<|audio_bos|>",
    "<|audio_eos|>",
    "<|vision_bos|>",
    "<|vision_eos|>",
    "<|IMAGE|>",
    "<|VIDEO|>",
]
TOKEN_ATTRIBUTES = {  # what Qwen2_5OmniProcessor reads off its tokenizer
    "image_token": "<|IMAGE|>",
    "audio_token": "<|AUDIO|>",
    "video_token": "<|VIDEO|>",
    "vision_bos_token": "<|vision_bos|>",
    "vision_eos_token": "<|vision_eos|>",
    "audio_bos_token": "<|audio_bos|>",
    "audio_eos_token": "<|audio_eos|>",
}
DEFAULT_SYSTEM = "You are a helpful assistant."
# The Qwen2.5-Omni chat format: a system turn (the default one when the conversation has none), then turns whose
# content is a string or a list of {"type": "text"|"image"|"video"|"audio"} parts, in any role (a generated image or
# clip stands in the assistant turn of the T2I / T2V / T2A tasks).
OMNI_CHAT_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}"
    "<|im_start|>system\n" + DEFAULT_SYSTEM + "<|im_end|>\n"
    "{% endif %}"
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_bos|><|IMAGE|><|vision_eos|>"
    "{% elif part['type'] == 'video' %}<|vision_bos|><|VIDEO|><|vision_eos|>"
    "{% elif part['type'] == 'audio' %}<|audio_bos|><|AUDIO|><|audio_eos|>"
    "{% elif 'text' in part %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class OmniSize:
    """Widths and depths of one tiny omni thinker."""

    hidden_size: int
    num_layers: int
    num_heads: int
    vision_hidden: int
    vision_depth: int
    audio_hidden: int
    audio_layers: int


OMNI_SIZES = {
    "xxs": OmniSize(32, 1, 2, 32, 1, 32, 1),
    "xs": OmniSize(64, 2, 4, 64, 2, 64, 1),
    "s": OmniSize(128, 3, 4, 96, 2, 64, 2),
}
PATCH_SIZE = 14
IMAGE_SIDE = 84  # tiny-world images: 6 x 6 patches -> 9 image tokens
MEL_BINS = 32  # tiny audio encoder input (the real model: 128)
MAX_AUDIO_SECONDS = 4  # the feature extractor's window: longer clips are refused by the collator, never cut


def train_omni_tokenizer(corpus: list[str], vocab_size: int = 1024):
    """A byte-level BPE tokenizer with Qwen2.5-Omni's special tokens and media-token attributes.

    Used in: 10_omni.ipynb."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=OMNI_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        extra_special_tokens=dict(TOKEN_ATTRIBUTES),
        chat_template=OMNI_CHAT_TEMPLATE,
    )


def build_omni_processor(tokenizer, side: int = IMAGE_SIDE, max_audio_seconds: int = MAX_AUDIO_SECONDS):
    """The real `Qwen2_5OmniProcessor` around `tokenizer`, sized for tiny-world images and short clips."""
    from transformers import (
        Qwen2_5OmniProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
        WhisperFeatureExtractor,
    )

    pixels = dict(min_pixels=side * side, max_pixels=side * side)
    grid = dict(patch_size=PATCH_SIZE, merge_size=2, temporal_patch_size=2)
    return Qwen2_5OmniProcessor(
        image_processor=Qwen2VLImageProcessor(**grid, **pixels),
        video_processor=Qwen2VLVideoProcessor(**grid, **pixels),
        feature_extractor=WhisperFeatureExtractor(feature_size=MEL_BINS, chunk_length=max_audio_seconds),
        tokenizer=tokenizer,
        chat_template=OMNI_CHAT_TEMPLATE,
    )


def tiny_omni_config(size: str, tokenizer):
    """Config of a tiny Qwen2.5-Omni thinker sized `size` (text, vision and audio towers). Used in: 10_omni.ipynb."""
    from transformers import Qwen2_5OmniThinkerConfig

    s = OMNI_SIZES[size]
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in OMNI_SPECIAL_TOKENS}
    head_dim = s.hidden_size // s.num_heads
    half = head_dim // 2
    section = [half - 2 * (half // 4), half // 4, half // 4]  # M-RoPE (temporal, height, width)
    text = dict(
        vocab_size=len(tokenizer),
        hidden_size=s.hidden_size,
        intermediate_size=2 * s.hidden_size,
        num_hidden_layers=s.num_layers,
        num_attention_heads=s.num_heads,
        num_key_value_heads=max(1, s.num_heads // 2),
        max_position_embeddings=4096,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": section},
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
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
    audio = dict(
        num_mel_bins=MEL_BINS,
        encoder_layers=s.audio_layers,
        encoder_attention_heads=4,
        encoder_ffn_dim=2 * s.audio_hidden,
        d_model=s.audio_hidden,
        output_dim=s.hidden_size,
        max_source_positions=1500,
        n_window=50,
    )
    return Qwen2_5OmniThinkerConfig(
        text_config=text,
        vision_config=vision,
        audio_config=audio,
        audio_token_index=ids["<|AUDIO|>"],
        image_token_index=ids["<|IMAGE|>"],
        video_token_index=ids["<|VIDEO|>"],
        audio_start_token_id=ids["<|audio_bos|>"],
        audio_end_token_id=ids["<|audio_eos|>"],
        vision_start_token_id=ids["<|vision_bos|>"],
        vision_end_token_id=ids["<|vision_eos|>"],
        user_token_id=ids["<|im_start|>"],
    )


def build_tiny_omni_backbone(out_dir: str | Path, corpus: list[str], size: str = "s", seed: int = 0) -> Path:
    """Build and save a randomly initialised tiny Qwen2.5-Omni thinker (with its LM head, as an -Instruct checkpoint
    ships) and its processor in Hub layout. Used in: 10_omni.ipynb."""
    from transformers import Qwen2_5OmniThinkerForConditionalGeneration

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_omni_tokenizer(corpus)
    config = tiny_omni_config(size, tokenizer)
    torch.manual_seed(seed)
    Qwen2_5OmniThinkerForConditionalGeneration(config).save_pretrained(out, safe_serialization=True)
    build_omni_processor(tokenizer).save_pretrained(out)
    cfg_path = out / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["tokenizer_class"] = "Qwen2Tokenizer"  # the class the real checkpoints name; it reads tokenizer.json as is
    cfg_path.write_text(json.dumps(cfg, indent=2))
    return out


def build_tiny_full_omni(out_dir: str | Path, corpus: list[str], size: str = "xxs", seed: int = 0) -> Path:
    """A tiny checkpoint in the layout of `Qwen/Qwen2.5-Omni-7B` (`model_type: qwen2_5_omni`, thinker weights under
    `thinker.`, a speaker file), without talker weights: what `load_thinker` reads in the Hub replica."""
    from transformers import Qwen2_5OmniConfig, Qwen2_5OmniForConditionalGeneration

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = train_omni_tokenizer(corpus)
    thinker = tiny_omni_config(size, tokenizer)
    config = Qwen2_5OmniConfig(thinker_config=thinker.to_dict(), enable_audio_output=False)
    torch.manual_seed(seed)
    Qwen2_5OmniForConditionalGeneration(config).save_pretrained(out, safe_serialization=True)
    torch.save({}, out / "spk_dict.pt")  # the real repository ships its speakers; from_pretrained requires the file
    build_omni_processor(tokenizer).save_pretrained(out)
    return out


def is_full_omni(path_or_id: str | Path) -> bool:
    """True for a full Qwen2.5-Omni checkpoint (thinker + talker), whose thinker `load_thinker` takes out."""
    from transformers import AutoConfig

    return getattr(AutoConfig.from_pretrained(str(path_or_id)), "model_type", "") == "qwen2_5_omni"


def load_thinker(path_or_id: str | Path, dtype=None, **kwargs):
    """The `Qwen2_5OmniThinkerModel` of a full Qwen2.5-Omni checkpoint, loaded without the speech generator
    (`enable_audio_output=False`: the talker and token2wav are never built; their weights are skipped)."""
    from transformers import Qwen2_5OmniForConditionalGeneration

    want_info = kwargs.pop("output_loading_info", False)  # its from_pretrained cannot return the info itself
    full = Qwen2_5OmniForConditionalGeneration.from_pretrained(
        str(path_or_id), dtype=dtype, enable_audio_output=False, **kwargs
    )
    thinker = full.thinker.model
    if not want_info:
        return thinker
    # Checkpoints keep the towers beside the text model (thinker.audio_tower.*, thinker.model.layers.*) where this
    # transformers nests them (model.audio_tower.*, model.language_model.*): compare names without those levels.
    flat = lambda k: k.removeprefix("thinker.").replace("language_model.", "").replace("model.", "")  # noqa: E731
    saved = {flat(k) for k in _checkpoint_keys(path_or_id)}
    return thinker, {"missing_keys": [k for k in thinker.state_dict() if flat(k) not in saved], "mismatched_keys": []}


def _checkpoint_keys(path_or_id: str | Path) -> set[str]:
    """Weight names stored in a checkpoint's safetensors files (a local folder, or the Hub cache's snapshot)."""
    from huggingface_hub import snapshot_download
    from safetensors import safe_open

    folder = Path(path_or_id)
    if not folder.is_dir():
        folder = Path(snapshot_download(str(path_or_id), allow_patterns=["*.safetensors"], local_files_only=True))
    keys = set()
    for f in folder.glob("*.safetensors"):
        with safe_open(str(f), "pt") as st:
            keys.update(st.keys())
    return keys


def is_omni_model(backbone) -> bool:
    """Whether a backbone is a Qwen2.5-Omni thinker (audio input, its own 3-D position rule)."""
    return getattr(backbone.config, "model_type", "") == "qwen2_5_omni_thinker"
