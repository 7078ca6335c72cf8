"""MaMMUT: one decoder, two passes (contrastive: bidirectional, no image; captioning:
causal, cross-attention to the image), padding ignored, zero-initialised vocabulary head."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("open_clip")

from scalecmp.experiments.models import SIZE_LADDER, CompactTokenizer, build_model  # noqa: E402

pytestmark = pytest.mark.train
torch.set_num_threads(1)

WORDS = ["a", "red", "green", "blue", "circle", "square", "triangle", "and", "small", "large"]
CAPTIONS = [
    "a red circle",
    "a small blue square",
    "a green triangle and a red square",
    "a large circle",
]
CONTEXT = 16
SIZE = next(iter(SIZE_LADDER))


@pytest.fixture(scope="module")
def tok() -> CompactTokenizer:
    return CompactTokenizer(WORDS, context_length=CONTEXT)


@pytest.fixture()
def model(tok):
    m = build_model("mammut", SIZE, vocab_size=tok.vocab_size, context_length=CONTEXT, seed=0)
    # the vocabulary head starts at zero (all logits 0); randomise it so logits carry signal
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        torch.nn.init.normal_(m.model.text_decoder.vocab_projection.weight, std=0.5)
    return m.eval()


@pytest.fixture(scope="module")
def batch(tok):
    gen = torch.Generator().manual_seed(0)
    return torch.randn(len(CAPTIONS), 3, 32, 32, generator=gen), tok(CAPTIONS)


def test_structure(model):
    decoder = model.model.text_decoder
    layers = SIZE_LADDER[SIZE].text_layers
    assert len(decoder.transformer.resblocks) == layers
    assert len(decoder.cross_attn) == layers // 2
    assert all(hasattr(block, "ln_1_kv") for block in decoder.cross_attn)  # open_clip x-attn


@torch.no_grad()
def test_contrastive_text_does_not_see_image_but_captions_do(model, batch):
    images, tokens = batch
    other = images.flip(0) + 0.5  # differs from images whatever the global RNG state is
    out_a, out_b = model.model(images, tokens), model.model(other, tokens)
    assert torch.equal(out_a["text_features"], out_b["text_features"])
    assert torch.equal(out_a["text_features"], model.encode_text(tokens))
    assert not torch.allclose(out_a["logits"], out_b["logits"])
    assert not torch.allclose(out_a["image_features"], out_b["image_features"])


@torch.no_grad()
def test_caption_pass_is_causal(model, batch):
    images, tokens = batch
    decoder = model.model.text_decoder
    _, image_tokens = model.model.visual(images)
    inputs = tokens[:, :-1]
    base = decoder.caption_logits(inputs, image_tokens)
    assert base.shape == (*inputs.shape, decoder.vocab_size)
    for k in (1, 3, 6):
        changed = inputs.clone()
        changed[:, k] = (changed[:, k] % (decoder.vocab_size - 3)) + 2  # another real word id
        assert not torch.equal(changed, inputs)
        logits = decoder.caption_logits(changed, image_tokens)
        assert torch.allclose(logits[:, :k], base[:, :k], atol=1e-6)
        assert not torch.allclose(logits[:, k], base[:, k])


@torch.no_grad()
def test_contrastive_pass_is_bidirectional(model, batch):
    _, tokens = batch
    decoder = model.model.text_decoder
    base_hidden, base_embedding = decoder.hidden(tokens), model.encode_text(tokens)
    changed = tokens.clone()
    changed[:, 2] = (changed[:, 2] % (decoder.vocab_size - 3)) + 2
    hidden = decoder.hidden(changed)
    # an earlier position sees the later change (no causal mask) ...
    assert not torch.allclose(hidden[:, 0], base_hidden[:, 0])
    assert not torch.allclose(model.encode_text(changed), base_embedding)


@torch.no_grad()
def test_text_embedding_is_mean_over_non_padding(model, batch):
    _, tokens = batch
    decoder = model.model.text_decoder
    hidden = decoder.hidden(tokens)
    for i in range(len(CAPTIONS)):
        n = int((tokens[i] != 0).sum())
        expected = torch.nn.functional.normalize(hidden[i, :n].mean(0), dim=-1)
        assert torch.allclose(model.encode_text(tokens[i : i + 1])[0], expected, atol=1e-5)


@torch.no_grad()
def test_image_embedding_is_mean_of_patch_tokens(model, batch):
    images, _ = batch
    visual = model.model.visual
    x = visual.transformer(visual._embeds(images))
    expected = visual.ln_post(x[:, 1:].mean(dim=1)) @ visual.proj
    assert torch.allclose(model.encode_image(images, normalize=False), expected, atol=1e-5)


@torch.no_grad()
def test_padding_is_ignored(model, batch):
    """Padding neither enters the caption loss nor the text embedding: the same captions
    padded to 16 or cut right after their longest eot give the same losses."""
    images, tokens = batch
    longest = int((tokens != 0).sum(dim=1).max())
    assert longest < CONTEXT
    short, full = model(images, tokens[:, :longest]), model(images, tokens)
    for key in ("caption_loss", "contrastive_loss", "loss"):
        assert short[key].item() == pytest.approx(full[key].item(), rel=1e-5)
    # and changing the (ignored) pad targets' logits does not matter: hand-made CE agrees
    out = model.model(images, tokens)
    labels = out["labels"]
    keep = labels != 0
    ce = torch.nn.functional.cross_entropy(out["logits"][keep], labels[keep])
    assert full["caption_loss"].item() == pytest.approx(ce.item(), rel=1e-5)


def test_zero_initialised_vocabulary_head(tok, batch):
    images, tokens = batch
    m = build_model("mammut", SIZE, vocab_size=tok.vocab_size, context_length=CONTEXT)
    assert torch.count_nonzero(m.model.text_decoder.vocab_projection.weight) == 0
    with torch.no_grad():
        out = m(images, tokens)
    assert out["caption_loss"].item() == pytest.approx(math.log(tok.vocab_size), rel=1e-5)


def test_decoder_needs_two_layers(tok):
    from dataclasses import replace

    one_layer = replace(SIZE_LADDER[SIZE], name="one", text_layers=1)
    with pytest.raises(ValueError, match="layers"):
        build_model("mammut", one_layer, vocab_size=tok.vocab_size, context_length=CONTEXT)
