"""RewardModel: a Qwen-VL backbone without its LM head, plus a reward head read at the last real token."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from brlib.models.head import HeadConfig, RewardHead

HEAD_WEIGHTS = "reward_head.safetensors"
HEAD_CONFIG = "reward_config.json"


def _quiet_transformers():
    import transformers

    transformers.logging.set_verbosity_error()  # the "lm_head UNEXPECTED" load report is expected here
    return transformers


class RewardModel(nn.Module):
    """Backbone (no vocabulary logits are ever computed) + `RewardHead`. Used in: 00_quickstart.ipynb."""

    def __init__(self, backbone: nn.Module, head: RewardHead, processor=None):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.processor = processor
        # Sharded training: text-only batches still run the vision tower (on a dummy image, weight 0), so every
        # rank runs the same collectives and DDP/FSDP/ZeRO-3 see every parameter used.
        self.vision_in_every_batch = False
        self.length_norm = False  # reward = r / log(len + 1): the length-normalisation arm of Figure 1

    @property
    def _no_split_modules(self) -> list[str]:
        """The backbone's block classes: FSDP wraps each as its own unit, whichever Qwen-VL family it is."""
        return list(getattr(self.backbone, "_no_split_modules", None) or [])

    @classmethod
    def from_pretrained(
        cls,
        path_or_id: str | Path,
        head_config: HeadConfig | None = None,
        dtype: torch.dtype | str | None = None,
        trust_remote_code: bool = False,
        seed: int = 0,
        processor_kwargs: dict | None = None,
        **kwargs,
    ) -> RewardModel:
        """Load a backbone checkpoint (Hub id or local dir) and its reward head if the checkpoint has one.

        A plain VLM checkpoint gets a fresh head built from `head_config`, initialised from `seed`.
        `processor_kwargs` reach the processor (e.g. `min_pixels` / `max_pixels`, which then travel with a saved
        checkpoint). A reward-model
        checkpoint (it has `reward_config.json`) must hold its head and every backbone weight: anything missing is
        an error naming the file, never a random initialisation.
        """
        transformers = _quiet_transformers()
        if "brlib_flex" in str(kwargs.get("attn_implementation")):
            from brlib.models.prefix import register_flex

            register_flex()
        local = Path(path_or_id)
        head_file, head_meta = local / HEAD_WEIGHTS, local / HEAD_CONFIG
        if head_file.exists() != head_meta.exists():
            missing, present = (head_file, head_meta) if head_meta.exists() else (head_meta, head_file)
            raise FileNotFoundError(f"{missing} is missing: {present.name} says {local} is a trained reward model")
        from brlib.models import omni_backbone

        load = dict(dtype=dtype, use_safetensors=True, output_loading_info=True, **kwargs)
        if omni_backbone.is_full_omni(path_or_id):  # Qwen2.5-Omni: its thinker, without the speech generator
            backbone, info = omni_backbone.load_thinker(path_or_id, **load)
        else:
            backbone, info = transformers.AutoModel.from_pretrained(
                str(path_or_id), trust_remote_code=trust_remote_code, **load
            )
        # The load report is silenced (the dropped lm_head is expected), so read it: a weight the checkpoint lacks
        # would otherwise stay randomly initialised.
        missing = sorted(info["missing_keys"]) + sorted(k for k, *_ in info.get("mismatched_keys", ()))
        if missing:
            raise ValueError(f"{path_or_id}: the checkpoint lacks or mismatches {len(missing)} weights: {missing[:5]}")
        processor = transformers.AutoProcessor.from_pretrained(
            str(path_or_id), trust_remote_code=trust_remote_code, **(processor_kwargs or {})
        )
        if head_file.exists():
            saved = json.loads(head_meta.read_text())
            if head_config is not None and head_config.to_dict() != saved["head"]:
                raise ValueError(f"{local} holds a head {saved['head']}, not the requested {head_config.to_dict()}")
            head = RewardHead(_hidden_size(backbone), HeadConfig(**saved["head"]))
            try:
                head.load_state_dict(load_file(str(head_file)))
            except RuntimeError as e:
                raise ValueError(f"{head_file} does not match the head in {head_meta}: {e}") from e
        else:
            with torch.random.fork_rng():
                torch.manual_seed(seed)
                head = RewardHead(_hidden_size(backbone), head_config)
        head.to(dtype=next(backbone.parameters()).dtype)
        model = cls(backbone, head, processor)
        if head_file.exists():
            model.length_norm = bool(saved.get("length_norm", False))
        return model

    def save_pretrained(self, out_dir: str | Path, state_dict: dict | None = None) -> Path:
        """Write backbone, head and processor in Hub layout, safetensors only.

        `state_dict` (this module's keys) replaces the live weights, e.g. the full state gathered from a
        ZeRO-3/FSDP run whose local parameters are only shards.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        state = state_dict if state_dict is not None else self.state_dict()
        part = lambda prefix: {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}  # noqa: E731
        self.backbone.save_pretrained(out, safe_serialization=True, state_dict=part("backbone."))
        if self.processor is not None:
            self.processor.save_pretrained(out)
        save_file({k: v.contiguous() for k, v in part("head.").items()}, str(out / HEAD_WEIGHTS))
        meta = {
            "head": self.head.config.to_dict(),
            "backbone_class": type(self.backbone).__name__,
            "length_norm": self.length_norm,
        }
        (out / HEAD_CONFIG).write_text(json.dumps(meta, indent=2))
        return out

    def position_ids(
        self,
        input_ids,
        attention_mask,
        image_grid_thw=None,
        video_grid_thw=None,
        second_per_grid_ts=None,
        feature_attention_mask=None,
    ):
        """Positions that depend only on the real tokens, so left and right padding give the same scores."""
        text_pos = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)  # (B, T)
        if not hasattr(self.backbone, "get_rope_index"):
            return text_pos
        if image_grid_thw is None and video_grid_thw is None:
            return text_pos.unsqueeze(0).expand(3, -1, -1)  # (3, B, T) M-RoPE with equal sections
        if getattr(self.backbone.config, "model_type", "") == "qwen2_5_omni_thinker":  # its own rule (audio spans)
            seqlens = None if feature_attention_mask is None else feature_attention_mask.sum(-1)
            pos, _ = self.backbone.get_rope_index(
                input_ids, image_grid_thw, video_grid_thw, attention_mask, False, seqlens, second_per_grid_ts
            )
            return pos  # (3, B, T)
        cfg = self.backbone.config
        mm_types = (input_ids == cfg.image_token_id).long() + 2 * (input_ids == cfg.video_token_id).long()
        pos, _ = self.backbone.get_rope_index(
            input_ids,
            mm_token_type_ids=mm_types,
            image_grid_thw=image_grid_thw,
            video_grid_thw=video_grid_thw,
            second_per_grid_ts=second_per_grid_ts,  # seconds per temporal patch: the video's time axis
            attention_mask=attention_mask,
        )
        return pos  # (3, B, T)

    def attn_implementation(self) -> str | None:
        """The language model's attention implementation ("sdpa", "eager", "flex_attention", "flash_attention_2")."""
        cfg = self.backbone.config
        cfg = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
        return getattr(cfg, "_attn_implementation", None)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        pixel_values: torch.Tensor | None = None,
        image_grid_thw: torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        video_grid_thw: torch.Tensor | None = None,
        second_per_grid_ts: torch.Tensor | None = None,
        read_index: torch.Tensor | None = None,
        flat_mask: torch.Tensor | None = None,
        branch_shift: torch.Tensor | None = None,
        response_len: torch.Tensor | None = None,
        input_features: torch.Tensor | None = None,
        feature_attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Rewards (B,) read at each sequence's last non-padding token; divided by log(len + 1) of the response when
        the model was trained with length normalisation (so evaluation ranks what training ranked).

        With `read_index` (B, G) from `brlib.models.prefix.SharedPrefixCollator`, each row is a packed group: the
        4-D `attention_mask` keeps branches apart, positions restart per branch, and the (G * B,) scores come back
        branch-major (all first responses, then all second ones, ...). Unknown keyword arguments are an error: a
        misspelt `pixel_value=` must not quietly give a text-only score.
        """
        if read_index is not None:
            video = (pixel_values_videos, video_grid_thw, second_per_grid_ts)
            scores = self._forward_shared(
                input_ids, attention_mask, flat_mask, branch_shift, read_index, pixel_values, image_grid_thw, *video
            )
        else:
            video = (pixel_values_videos, video_grid_thw, second_per_grid_ts)
            audio = (input_features, feature_attention_mask)
            scores = self._forward_naive(input_ids, attention_mask, pixel_values, image_grid_thw, *video, *audio)
        if self.length_norm:
            if response_len is None:
                raise ValueError("this reward model is length-normalised: pass response_len (the collators do)")
            scores = scores / torch.log(response_len.to(scores.device).float() + 1.0)
        return scores

    def _forward_naive(
        self,
        input_ids,
        attention_mask,
        pixel_values,
        image_grid_thw,
        pixel_values_videos,
        video_grid_thw,
        sec_per_t,
        input_features=None,
        feature_attention_mask=None,
    ):
        vision = {}
        if pixel_values is not None:
            vision.update(pixel_values=pixel_values, image_grid_thw=image_grid_thw)
        if pixel_values_videos is not None:
            vision.update(pixel_values_videos=pixel_values_videos, video_grid_thw=video_grid_thw)
        anchor = self._vision_anchor(input_ids) if self.vision_in_every_batch and not vision else None
        if input_features is not None:  # an omni backbone's audio clips (mel features, their valid frames)
            vision.update(input_features=input_features, feature_attention_mask=feature_attention_mask)
        grids = (image_grid_thw, video_grid_thw, sec_per_t, feature_attention_mask)
        out = self.backbone(
            input_ids=input_ids,
            attention_mask=attention_mask,
            position_ids=self.position_ids(input_ids, attention_mask, *grids),
            use_cache=False,
            **vision,
        )
        hidden = out.last_hidden_state  # (B, T, d)
        T = attention_mask.shape[1]
        last = T - 1 - attention_mask.flip(-1).long().argmax(-1)  # (B,) index of the last real token
        pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]  # (B, d)
        scores = self.head(pooled).float()  # (B,)
        return scores if anchor is None else scores + anchor

    def _forward_shared(
        self,
        input_ids,
        mask4d,
        flat_mask,
        branch_shift,
        read_index,
        pixel_values,
        image_grid_thw,
        pixel_values_videos=None,
        video_grid_thw=None,
        sec_per_t=None,
    ):
        from brlib.models.prefix import attention_for

        vision = {} if pixel_values is None else {"pixel_values": pixel_values, "image_grid_thw": image_grid_thw}
        if pixel_values_videos is not None:  # the prompt's clip, encoded once in the shared prefix
            vision.update(pixel_values_videos=pixel_values_videos, video_grid_thw=video_grid_thw)
        pos = self.position_ids(input_ids, flat_mask, image_grid_thw, video_grid_thw, sec_per_t)
        pos = pos - branch_shift  # (3, B, T) or (B, T)
        pos = pos.clamp(min=0)
        dtype = (
            torch.get_autocast_dtype(input_ids.device.type)
            if torch.is_autocast_enabled(input_ids.device.type)
            else None
        )
        mask = attention_for(mask4d.to(input_ids.device), self.attn_implementation(), dtype or self.head_dtype())
        anchor = self._vision_anchor(input_ids) if self.vision_in_every_batch and not vision else None
        out = self.backbone(input_ids=input_ids, attention_mask=mask, position_ids=pos, use_cache=False, **vision)
        hidden = out.last_hidden_state  # (B, T, d)
        rows = torch.arange(hidden.shape[0], device=hidden.device).unsqueeze(1).expand_as(read_index)
        pooled = hidden[rows, read_index]  # (B, G, d)
        scores = self.head(pooled).float().T.reshape(-1)  # (G * B,) branch-major
        return scores if anchor is None else scores + anchor

    def head_dtype(self) -> torch.dtype:
        """The dtype the model computes in (its head's weights)."""
        return next(self.head.parameters()).dtype

    def _vision_anchor(self, like: torch.Tensor) -> torch.Tensor:
        """0 x the vision tower's output on a one-token dummy image: same graph on every rank, scores unchanged.

        It runs before the language model, as real images do, so that FSDP and ZeRO-3 gather the blocks in the same
        order on a rank with images and a rank without (a different order pairs unrelated collectives)."""
        if not hasattr(self.backbone, "get_image_features"):
            return torch.zeros((), device=like.device)
        v = self.backbone.config.vision_config
        m = v.spatial_merge_size
        # fp32 like the processor's pixel values; the patch embedding casts to its own dtype.
        pixels = torch.zeros(m * m, v.in_channels * v.temporal_patch_size * v.patch_size**2, device=like.device)
        grid = torch.tensor([[1, m, m]], device=like.device)
        feats = self.backbone.get_image_features(pixels, grid, return_dict=True).pooler_output
        return 0.0 * sum(f.float().sum() for f in feats)


def _hidden_size(backbone: nn.Module) -> int:
    cfg = backbone.config
    text = cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg
    return text.hidden_size
