"""Procedures of the measurement harness: contract, ladder, tokenizer, training signal."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("open_clip")

from scalecmp.experiments.models import (  # noqa: E402
    CPU_SIZES,
    PROCEDURES,
    SIZE_LADDER,
    CompactTokenizer,
    build_model,
    measure_gflops_per_sample,
    param_counts,
)

pytestmark = pytest.mark.train
torch.set_num_threads(1)

WORDS = [
    "a",
    "an",
    "red",
    "green",
    "blue",
    "circle",
    "square",
    "triangle",
    "and",
    "on",
    "the",
    "left",
    "right",
    "small",
    "large",
    "of",
]
CAPTIONS = [
    "a red circle",
    "a small blue square on the left",
    "a green triangle",
    "a large red square and a blue circle",
    "the triangle on the right",
    "a blue circle",
    "a small green square",
    "a red triangle on the left",
]
SMALLEST = next(iter(SIZE_LADDER))
CONTEXT = 16


@pytest.fixture(scope="module")
def tok() -> CompactTokenizer:
    return CompactTokenizer(WORDS, context_length=CONTEXT)


@pytest.fixture(scope="module")
def batch(tok):
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(len(CAPTIONS), 3, 32, 32, generator=gen)
    return images, tok(CAPTIONS)


def _build(procedure: str, tok: CompactTokenizer, seed: int = 0, size: str = SMALLEST):
    return build_model(
        procedure, size, vocab_size=tok.vocab_size, context_length=CONTEXT, image_size=32, seed=seed
    )


# ---------------------------------------------------------------- contract per procedure
@pytest.mark.parametrize("procedure", PROCEDURES)
def test_forward_backward_and_shapes(procedure, tok, batch):
    images, tokens = batch
    m = _build(procedure, tok)
    assert m.procedure == procedure and m.size == SMALLEST
    out = m(images, tokens)
    assert set(out) == {"loss", "contrastive_loss", "caption_loss"}
    for value in out.values():
        assert value.ndim == 0 and torch.isfinite(value)
    if procedure in ("clip", "siglip"):
        assert out["caption_loss"].item() == 0.0
        assert out["loss"].item() == pytest.approx(out["contrastive_loss"].item())
    else:
        assert out["caption_loss"].item() > 0.0
        total = out["contrastive_loss"] + out["caption_loss"]
        assert out["loss"].item() == pytest.approx(total.item(), rel=1e-6)
    out["loss"].backward()
    grads = [p.grad for p in m.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0

    size = SIZE_LADDER[SMALLEST]
    with torch.no_grad():
        img = m.encode_image(images)
        txt = m.encode_text(tokens)
        raw = m.encode_text(tokens, normalize=False)
        patches = m.image_tokens(images)
    assert img.shape == txt.shape == (len(CAPTIONS), size.embed_dim)
    assert torch.allclose(img.norm(dim=-1), torch.ones(len(CAPTIONS)), atol=1e-5)
    assert torch.allclose(txt.norm(dim=-1), torch.ones(len(CAPTIONS)), atol=1e-5)
    assert not torch.allclose(raw.norm(dim=-1), torch.ones(len(CAPTIONS)))
    n_patches = (32 // size.patch_size) ** 2
    assert patches.shape == (len(CAPTIONS), n_patches, size.vision_width)


@pytest.mark.parametrize("procedure", PROCEDURES)
def test_build_is_deterministic_by_seed(procedure, tok):
    torch.manual_seed(123)
    state_before = torch.get_rng_state()
    a, b, c = (_build(procedure, tok, seed=s) for s in (0, 0, 1))
    assert torch.equal(torch.get_rng_state(), state_before)  # global RNG untouched
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)


def test_caption_loss_weight(tok, batch):
    images, tokens = batch
    m = build_model(
        "mammut",
        SMALLEST,
        vocab_size=tok.vocab_size,
        context_length=CONTEXT,
        caption_loss_weight=0.25,
    )
    out = m(images, tokens)
    expected = out["contrastive_loss"] + 0.25 * out["caption_loss"]
    assert out["loss"].item() == pytest.approx(expected.item(), rel=1e-6)


def test_unknown_procedure_and_size(tok):
    with pytest.raises(ValueError, match="procedure"):
        build_model("blip", SMALLEST, vocab_size=tok.vocab_size, context_length=CONTEXT)
    with pytest.raises(ValueError, match="size"):
        build_model("clip", "huge", vocab_size=tok.vocab_size, context_length=CONTEXT)


# ---------------------------------------------------------------- size ladder and compute
def test_ladder_gflops_increasing_and_span():
    assert len(CPU_SIZES) >= 5 and set(CPU_SIZES) < set(SIZE_LADDER)
    gflops = []
    for name in CPU_SIZES:
        m = build_model("clip", name, vocab_size=64, context_length=32)
        gflops.append(measure_gflops_per_sample(m, 32, 32))
    assert all(b > a for a, b in zip(gflops, gflops[1:], strict=False))
    assert gflops[-1] / gflops[0] >= 30


def test_gflops_counts_attention_and_matches_hand_count():
    """A 1-layer text tower's forward, counted by hand (multiply-add = 2 FLOPs)."""
    m = build_model("clip", SMALLEST, vocab_size=64, context_length=32)
    size = SIZE_LADDER[SMALLEST]
    w, n, tokens = size.vision_width, (32 // size.patch_size) ** 2, (32 // size.patch_size) ** 2 + 1
    patch = 2 * n * (3 * size.patch_size**2) * w
    block = 2 * tokens * 12 * w * w + 2 * 2 * tokens * tokens * w  # qkv/out/mlp + QK^T, AV
    vision = patch + size.vision_layers * block + 2 * w * size.embed_dim
    t, L = size.text_width, 32
    text = size.text_layers * (2 * L * 12 * t * t + 4 * L * L * t) + 2 * t * size.embed_dim
    loss = 2 * 2 * size.embed_dim  # 1x1 logits per image and per text
    measured = measure_gflops_per_sample(m, 32, 32) * 1e9
    assert measured == pytest.approx(vision + text + loss, rel=1e-6)


@pytest.mark.parametrize("size", [SMALLEST, "s"])
def test_mammut_costs_more_than_clip(size, tok):
    clip = build_model("clip", size, vocab_size=tok.vocab_size, context_length=CONTEXT)
    mammut = build_model("mammut", size, vocab_size=tok.vocab_size, context_length=CONTEXT)
    g_clip = measure_gflops_per_sample(clip, 32, CONTEXT)
    g_mammut = measure_gflops_per_sample(mammut, 32, CONTEXT)
    assert g_mammut > 1.2 * g_clip


def test_gflops_restores_training_mode(tok):
    m = _build("clip", tok).eval()
    measure_gflops_per_sample(m, 32, CONTEXT)
    assert not m.training


def test_param_counts(tok):
    for procedure in PROCEDURES:
        m = _build(procedure, tok)
        counts = param_counts(m)
        assert set(counts) == {"params", "image_params", "text_params"}
        assert all(isinstance(v, int) and v > 0 for v in counts.values())
        scalars = 2 if procedure == "siglip" else 1
        assert counts["params"] == counts["image_params"] + counts["text_params"] + scalars
        assert counts["params"] == sum(p.numel() for p in m.parameters())


# ---------------------------------------------------------------- tokenizer
def test_compact_tokenizer_round_trip_and_small_vocab(tok):
    assert tok.vocab_size < 64
    ids = tok(WORDS)
    assert ids.shape == (len(WORDS), CONTEXT) and ids.dtype == torch.long
    assert int(ids.max()) == tok.eot_id == tok.vocab_size - 1  # eot is the largest id
    assert (ids[:, 0] == tok.sot_id).all()
    assert tok.unk_id not in ids.tolist()
    for word, row in zip(WORDS, ids, strict=True):
        assert tok.decode(row).strip() == word
    for caption, row in zip(CAPTIONS, tok(CAPTIONS), strict=True):
        assert tok.decode(row).strip() == caption


def test_compact_tokenizer_padding_unknown_and_truncation(tok):
    row = tok(["a red zebra"])[0]
    known = tok(["a red"])[0]
    n_unk = int((row == tok.unk_id).sum())  # "zebra": one or more unknown BPE pieces
    assert n_unk >= 1 and torch.equal(row[:3], known[:3])
    assert row[3 + n_unk] == tok.eot_id and (row[4 + n_unk :] == tok.pad_id).all()
    long = tok([" ".join(["red"] * 40)])[0]
    assert long.shape == (CONTEXT,) and long[-1] == tok.eot_id and (long != 0).all()
    single = tok("a red circle")
    assert single.shape == (1, CONTEXT)


def test_full_tokenizer_is_open_clip():
    import open_clip

    full = CompactTokenizer(None, context_length=CONTEXT)
    assert full.vocab_size == 49408
    assert torch.equal(full(CAPTIONS), open_clip.tokenize(CAPTIONS, context_length=CONTEXT))
    assert full.decode(full(["a red circle"])[0]).strip() == "a red circle"


# ---------------------------------------------------------------- training signal
@pytest.mark.parametrize("procedure", ["clip", "mammut"])
def test_few_steps_reduce_loss(procedure, tok, batch):
    images, tokens = batch
    m = _build(procedure, tok)
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3, betas=(0.9, 0.95), weight_decay=0.0)
    losses = []
    for _ in range(12):
        loss = m(images, tokens)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        m.clamp_logit_scale()
        losses.append(loss.item())
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.8 * losses[0]


def test_logit_scale_exposed_for_the_trainer(tok):
    m = _build("siglip", tok)
    assert m.logit_scale is m.model.logit_scale and m.logit_bias is m.model.logit_bias
    assert m.logit_scale.item() == pytest.approx(math.log(10.0))
    assert m.logit_bias.item() == pytest.approx(-10.0)
    with torch.no_grad():
        m.logit_scale.fill_(10.0)
    m.clamp_logit_scale()
    assert m.logit_scale.item() == pytest.approx(math.log(100.0))
    assert _build("clip", tok).logit_bias is None
    names = [name for name, _ in m.named_parameters()]
    assert names.count("model.logit_scale") == 1 and "logit_scale" not in names
