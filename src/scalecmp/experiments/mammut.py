"""MaMMUT built from open_clip blocks (open_clip does not ship it).

Architecture (method notes, "MaMMUT architecture"):

* image: open_clip ``VisionTransformer`` with ``pool_type="avg"``, ``final_ln_after_pool``
  and ``output_tokens``: pooled embedding = ``ln_post(mean of the patch tokens) @ proj``
  (open_clip's average pool leaves out the class token, which still takes part in
  attention); the unpooled patch tokens feed the decoder.
* text: ONE decoder (token + position embeddings, ``layers`` open_clip
  ``ResidualAttentionBlock`` self-attention blocks, one cross-attention
  ``ResidualAttentionBlock(is_cross_attention=True)`` after every second self-attention block,
  a final LayerNorm), used in two passes per step:

  1. contrastive pass: bidirectional self-attention (padding keys masked, no causal mask),
     no cross-attention; text embedding = mean of the final layer-normed outputs over the
     non-padding positions (then ``@ text_projection`` when the decoder width differs from
     the embedding width), L2-normalised by the caller;
  2. captioning pass: causal self-attention and cross-attention to the image tokens
     (``LayerNorm(Linear(patch tokens))``, mapped to the decoder width); input
     ``tokens[:, :-1]``, targets ``tokens[:, 1:]``; logits = ``ln_final(x) @ W_vocab`` with
     ``W_vocab`` zero-initialised.

The loss (applied by the procedure wrapper with open_clip's ``CoCaLoss``):
``L = ClipLoss(img, txt) + w * CE(logits, tokens[:, 1:], ignore_index=pad)``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F
from open_clip.model import CLIPVisionCfg, _build_vision_tower
from open_clip.transformer import LayerNorm, ResidualAttentionBlock, Transformer
from torch import nn

__all__ = ["MaMMUT", "MaMMUTDecoder", "init_residual_block"]


def init_residual_block(block: ResidualAttentionBlock, width: int, layers: int) -> None:
    """open_clip's text-tower initialisation of one residual block."""
    proj_std = (width**-0.5) * ((2 * layers) ** -0.5)
    nn.init.normal_(block.attn.in_proj_weight, std=width**-0.5)
    nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
    nn.init.normal_(block.mlp.c_fc.weight, std=(2 * width) ** -0.5)
    nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)


class MaMMUTDecoder(nn.Module):
    """The shared text decoder: self-attention stack with interleaved cross-attention.

    ``cross_every`` = 2 puts a cross-attention block after self-attention blocks 2, 4, ...
    """

    def __init__(
        self,
        *,
        vocab_size: int,
        context_length: int,
        width: int,
        layers: int,
        heads: int,
        image_width: int,
        embed_dim: int,
        mlp_ratio: float = 4.0,
        cross_every: int = 2,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        if layers < cross_every:
            raise ValueError(f"MaMMUT decoder needs at least {cross_every} layers, got {layers}")
        self.context_length = context_length
        self.vocab_size = vocab_size
        self.width = width
        self.heads = heads
        self.cross_every = cross_every
        self.pad_id = pad_id
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(torch.empty(context_length, width))
        self.transformer = Transformer(width=width, layers=layers, heads=heads, mlp_ratio=mlp_ratio)
        self.cross_attn = nn.ModuleList(
            ResidualAttentionBlock(width, heads, mlp_ratio, is_cross_attention=True)
            for _ in range(layers // cross_every)
        )
        self.image_map = nn.Linear(image_width, width)
        self.image_ln = LayerNorm(width)
        self.ln_final = LayerNorm(width)
        self.text_projection = (
            nn.Parameter(torch.empty(width, embed_dim)) if width != embed_dim else None
        )
        self.vocab_projection = nn.Linear(width, vocab_size, bias=False)
        causal = torch.full((context_length, context_length), float("-inf")).triu_(1)
        self.register_buffer("causal_mask", causal, persistent=False)
        self.init_parameters()

    def init_parameters(self) -> None:
        """open_clip text-tower initialisation; the vocabulary projection starts at zero."""
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        n_layers = len(self.transformer.resblocks)
        for block in [*self.transformer.resblocks, *self.cross_attn]:
            init_residual_block(block, self.width, n_layers)
        if self.text_projection is not None:
            nn.init.normal_(self.text_projection, std=self.width**-0.5)
        nn.init.zeros_(self.vocab_projection.weight)

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        length = tokens.shape[1]
        if length > self.context_length:
            raise ValueError(f"{length} tokens exceed context_length {self.context_length}")
        return self.token_embedding(tokens) + self.positional_embedding[:length]

    def _padding_mask(self, tokens: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Additive (B*heads, L, L) mask: -inf on padding keys (bidirectional attention)."""
        batch, length = tokens.shape
        mask = torch.zeros(batch, 1, 1, length, dtype=dtype, device=tokens.device)
        mask = mask.masked_fill((tokens == self.pad_id)[:, None, None, :], float("-inf"))
        return mask.expand(batch, self.heads, length, length).reshape(-1, length, length)

    def hidden(
        self, tokens: torch.Tensor, image_tokens: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Final layer-normed outputs (B, L, W).

        ``image_tokens is None``: contrastive pass (bidirectional, padding keys masked, no
        cross-attention). Otherwise: captioning pass (causal, cross-attention to
        ``LayerNorm(Linear(image_tokens))`` after every ``cross_every``-th block).
        """
        x = self._embed(tokens)
        if image_tokens is None:
            mask = self._padding_mask(tokens, x.dtype)
            for block in self.transformer.resblocks:
                x = block(x, attn_mask=mask)
            return self.ln_final(x)
        length = tokens.shape[1]
        mask = self.causal_mask[:length, :length]
        memory = self.image_ln(self.image_map(image_tokens))
        for i, block in enumerate(self.transformer.resblocks):
            x = block(x, attn_mask=mask)
            if (i + 1) % self.cross_every == 0:
                x = self.cross_attn[i // self.cross_every](x, k_x=memory, v_x=memory)
        return self.ln_final(x)

    def embed_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """Contrastive text embedding (B, D): mean of the final outputs over non-padding
        positions, projected when width != embed_dim (not normalised)."""
        x = self.hidden(tokens)
        valid = (tokens != self.pad_id).unsqueeze(-1).to(x.dtype)
        pooled = (x * valid).sum(dim=1) / valid.sum(dim=1).clamp_min(1.0)
        if self.text_projection is not None:
            pooled = pooled @ self.text_projection
        return pooled

    def caption_logits(self, tokens: torch.Tensor, image_tokens: torch.Tensor) -> torch.Tensor:
        """Next-token logits (B, L, vocab) of the captioning pass on ``tokens`` (teacher
        forcing: pass ``tokens[:, :-1]`` and compare with ``tokens[:, 1:]``)."""
        return self.vocab_projection(self.hidden(tokens, image_tokens))


class MaMMUT(nn.Module):
    """Image encoder + one shared text decoder (two passes); see the module docstring.

    ``forward(images, tokens)`` returns open_clip CoCa's output dictionary:
    ``image_features``, ``text_features`` (both L2-normalised), ``logits`` (B, L-1, vocab),
    ``labels`` (``tokens[:, 1:]``) and ``logit_scale`` (exp of the learnt temperature).
    """

    def __init__(
        self,
        embed_dim: int,
        vision_cfg: CLIPVisionCfg,
        *,
        vocab_size: int,
        context_length: int,
        text_width: int,
        text_layers: int,
        text_heads: int,
        mlp_ratio: float = 4.0,
        pad_id: int = 0,
        init_logit_scale: float = float(np.log(1 / 0.07)),
    ) -> None:
        super().__init__()
        vision_cfg = dataclasses.replace(
            vision_cfg, pool_type="avg", final_ln_after_pool=True, output_tokens=True
        )
        self.visual = _build_vision_tower(embed_dim, vision_cfg)
        self.text_decoder = MaMMUTDecoder(
            vocab_size=vocab_size,
            context_length=context_length,
            width=text_width,
            layers=text_layers,
            heads=text_heads,
            image_width=vision_cfg.width,
            embed_dim=embed_dim,
            mlp_ratio=mlp_ratio,
            pad_id=pad_id,
        )
        self.logit_scale = nn.Parameter(torch.ones([]) * init_logit_scale)
        self.logit_bias = None
        self.pad_id = pad_id
        self.context_length = context_length
        self.vocab_size = vocab_size

    def _encode_image(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled, tokens = self.visual(images)
        return pooled, tokens

    def encode_image(self, images: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        pooled, _ = self._encode_image(images)
        return F.normalize(pooled, dim=-1) if normalize else pooled

    def encode_text(self, tokens: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        features = self.text_decoder.embed_text(tokens)
        return F.normalize(features, dim=-1) if normalize else features

    def forward(self, images: torch.Tensor, tokens: torch.Tensor) -> dict[str, torch.Tensor]:
        pooled, image_tokens = self._encode_image(images)
        text_features = self.encode_text(tokens, normalize=True)
        logits = self.text_decoder.caption_logits(tokens[:, :-1], image_tokens)
        return {
            "image_features": F.normalize(pooled, dim=-1),
            "text_features": text_features,
            "logits": logits,
            "labels": tokens[:, 1:],
            "logit_scale": self.logit_scale.exp(),
        }
