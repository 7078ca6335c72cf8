"""Tests of checkpoint evaluation with small fake-but-real models following the contract."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from scalecmp.errors import UsageError  # noqa: E402
from scalecmp.experiments.data import images_to_tensor  # noqa: E402
from scalecmp.experiments.evaluate import (  # noqa: E402
    calibrated_cross_entropy,
    class_iou,
    evaluate_checkpoint,
    expected_hits_at_k,
    retrieval,
    segmentation_probe,
    to_clip_benchmark_json,
    write_clip_benchmark_json,
    zero_shot_classification,
)
from scalecmp.experiments.synthetic import (  # noqa: E402
    RetrievalTask,
    SyntheticWorld,
    WorldConfig,
)

torch.set_num_threads(1)


class WordTokenizer:
    """Whitespace/punctuation tokenizer over a fixed word list (0 = pad, 1 = unknown)."""

    def __init__(self, words: list[str], length: int = 40) -> None:
        self.vocab = {w: i + 2 for i, w in enumerate(words)}
        self.words = {i: w for w, i in self.vocab.items()}
        self.vocab_size, self.length = len(words) + 2, length

    def __call__(self, texts: list[str]) -> torch.Tensor:
        out = torch.zeros(len(texts), self.length, dtype=torch.long)
        for i, text in enumerate(texts):
            ids = [self.vocab.get(w, 1) for w in re.findall(r"[a-z0-9]+|[,.]", text.lower())]
            out[i, : len(ids[: self.length])] = torch.tensor(ids[: self.length], dtype=torch.long)
        return out


class TinyClip(nn.Module):
    """A real (random) model: linear patch embedding + mean pool; bag of token embeddings."""

    def __init__(self, vocab_size: int, dim: int = 32, patch: int = 4, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.patch = nn.Conv2d(3, dim, patch, stride=patch)
        self.proj = nn.Linear(dim, dim)
        self.text = nn.EmbeddingBag(vocab_size, dim, mode="mean", padding_idx=0)

    def image_tokens(self, images: torch.Tensor) -> torch.Tensor:
        return self.patch(images).flatten(2).transpose(1, 2)

    def encode_image(self, images: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        x = self.proj(self.image_tokens(images).mean(1))
        return nn.functional.normalize(x, dim=-1) if normalize else x

    def encode_text(self, tokens: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        x = self.text(tokens)
        return nn.functional.normalize(x, dim=-1) if normalize else x


class ConstantClip(TinyClip):
    """Every image and text gets the same embedding: ranking metrics must be at chance."""

    def encode_image(self, images: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        return torch.ones(len(images), 8) / math.sqrt(8)

    def encode_text(self, tokens: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        return torch.ones(len(tokens), 8) / math.sqrt(8)


class LookupClip(TinyClip):
    """Embeddings looked up from the exact input (an oracle that encodes the label)."""

    def __init__(self, vocab_size: int, image_table: dict[bytes, torch.Tensor],
                 text_fn, token_table: dict[bytes, torch.Tensor] | None = None) -> None:
        super().__init__(vocab_size)
        self.image_table, self.text_fn, self.token_table = image_table, text_fn, token_table
        self.calls_in_train_mode = 0

    def _lookup(self, images: torch.Tensor, table: dict[bytes, torch.Tensor]) -> torch.Tensor:
        self.calls_in_train_mode += int(self.training)
        return torch.stack([table[x.numpy().tobytes()] for x in images])

    def encode_image(self, images: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        return nn.functional.normalize(self._lookup(images, self.image_table), dim=-1)

    def encode_text(self, tokens: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        return nn.functional.normalize(self.text_fn(tokens), dim=-1)

    def image_tokens(self, images: torch.Tensor) -> torch.Tensor:
        return self._lookup(images, self.token_table)


def _keys(images: np.ndarray) -> list[bytes]:
    return [x.numpy().tobytes() for x in images_to_tensor(images)]


@pytest.fixture(scope="module")
def world() -> SyntheticWorld:
    return SyntheticWorld(WorldConfig(seed=0, n_shapes=5, n_colours=6))


@pytest.fixture(scope="module")
def tok(world: SyntheticWorld) -> WordTokenizer:
    return WordTokenizer([*world.caption_words(), *(f"w{i}" for i in range(200))])


def test_expected_hits_handle_ties() -> None:
    scores = torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.2, 0.2], [0.1, 0.5, 0.5]])
    target = torch.tensor([0, 1, 2])
    assert expected_hits_at_k(scores, target, 1).tolist() == pytest.approx([1.0, 1 / 3, 0.5])
    assert expected_hits_at_k(scores, target, 2).tolist() == pytest.approx([1.0, 2 / 3, 1.0])


def test_oracle_classifier_is_perfect(world: SyntheticWorld, tok: WordTokenizer) -> None:
    task = world.classification_task(3)
    n_classes = len(task.classnames)
    eye = torch.eye(n_classes)
    table = dict(zip(_keys(task.images), eye[task.labels], strict=True))
    colours, shapes = world.colour_names, world.shape_names

    def text_fn(tokens: torch.Tensor) -> torch.Tensor:
        rows = []
        for row in tokens.tolist():
            words = [tok.words.get(i, "") for i in row]
            c = next(colours.index(w) for w in words if w in colours)
            s = next(shapes.index(w) for w in words if w in shapes)
            rows.append(eye[c * len(shapes) + s])
        return torch.stack(rows)

    model = LookupClip(tok.vocab_size, table, text_fn)
    model.train()
    out = zero_shot_classification(model, tok, task, batch_size=32)
    ce = out.pop("cross_entropy")  # one-hot cosines: CE -> 0 as s grows
    assert out == {"acc1": 1.0, "acc5": 1.0, "mean_per_class_recall": 1.0}
    assert 0.0 <= ce < 1e-30  # s = 1000 at the best temperature
    assert model.training and model.calls_in_train_mode == 0  # eval inside, restored after


def test_random_and_constant_models_are_at_chance(world: SyntheticWorld,
                                                  tok: WordTokenizer) -> None:
    task = world.classification_task(4)
    n = len(task.classnames)
    random_out = zero_shot_classification(TinyClip(tok.vocab_size, seed=1), tok, task)
    assert random_out["acc1"] < 0.15 and random_out["acc5"] < 0.4
    const = zero_shot_classification(ConstantClip(tok.vocab_size), tok, task)
    assert const["acc1"] == pytest.approx(1 / n) and const["acc5"] == pytest.approx(5 / n)
    assert const["cross_entropy"] == pytest.approx(np.log(n))  # the smooth loss at chance
    assert random_out["cross_entropy"] > 0.9 * np.log(n)
    ret = world.retrieval_task(100)
    r = retrieval(ConstantClip(tok.vocab_size), tok, ret)
    assert r["image_retrieval_recall@1"] == pytest.approx(0.01)
    assert r["text_retrieval_recall@10"] == pytest.approx(0.1)
    assert r["contrastive_loss"] == pytest.approx(np.log(100))
    rr = retrieval(TinyClip(tok.vocab_size, seed=2), tok, ret)
    assert set(rr) == {*(f"{d}_retrieval_recall@{k}" for d in ("image", "text")
                         for k in (1, 5, 10)), "contrastive_loss"}
    assert rr["image_retrieval_recall@1"] < 0.1 and rr["text_retrieval_recall@5"] < 0.25


def test_oracle_retrieval_is_perfect_and_directional(world: SyntheticWorld,
                                                     tok: WordTokenizer) -> None:
    base = world.retrieval_task(60)
    captions = tuple(f"{c} w{i}" for i, c in enumerate(base.captions))
    task = RetrievalTask(images=base.images, captions=captions)
    gen = torch.Generator().manual_seed(0)
    vecs = torch.randn(60, 16, generator=gen)
    table = dict(zip(_keys(task.images), vecs, strict=True))

    def text_fn(tokens: torch.Tensor) -> torch.Tensor:
        ids = [int(tok.words[max(i for i in row if i >= tok.vocab["w0"])][1:]) for row in
               tokens.tolist()]
        return vecs[ids]

    out = retrieval(LookupClip(tok.vocab_size, table, text_fn), tok, task)
    loss = out.pop("contrastive_loss")
    assert all(v == 1.0 for v in out.values())
    assert 0.0 <= loss < 0.05
    # texts leaning towards image 0 (text j = 2 e0 + e_j, image j = e_j): text -> image
    # queries all find image 0 first, image -> text queries still find their own caption
    eye = torch.eye(60)
    lean = dict(zip(_keys(task.images), eye, strict=True))

    def lean_text(tokens: torch.Tensor) -> torch.Tensor:
        ids = [int(tok.words[max(i for i in row if i >= tok.vocab["w0"])][1:]) for row in
               tokens.tolist()]
        return eye[ids] + 2 * eye[0] * (torch.tensor(ids) > 0)[:, None]

    out = retrieval(LookupClip(tok.vocab_size, lean, lean_text), tok, task, ks=(1, 5))
    assert out["image_retrieval_recall@1"] == pytest.approx(1 / 60)
    assert out["text_retrieval_recall@1"] == 1.0


def _mask_tokens(masks: np.ndarray, n_classes: int, patch: int, cls_token: bool) -> torch.Tensor:
    """(B, T, patch * patch * n_classes) tokens: one-hot labels of each patch's pixels."""
    b, h, w = masks.shape
    onehot = torch.nn.functional.one_hot(torch.as_tensor(masks), n_classes).float()
    g = h // patch
    x = onehot.view(b, g, patch, g, patch, n_classes).permute(0, 1, 3, 2, 4, 5)
    x = x.reshape(b, g * g, patch * patch * n_classes)
    if cls_token:
        x = torch.cat([torch.zeros(b, 1, x.shape[-1]), x], dim=1)
    return x


def _seg_model(task, tok, patch: int, cls_token: bool, noise: bool = False) -> LookupClip:
    tokens = {}
    for images, masks in ((task.train_images, task.train_masks),
                          (task.test_images, task.test_masks)):
        t = _mask_tokens(masks, task.n_classes, patch, cls_token)
        if noise:
            t = torch.randn(t.shape, generator=torch.Generator().manual_seed(len(images)))
        tokens.update(zip(_keys(images), t, strict=True))
    return LookupClip(tok.vocab_size, {}, None, token_table=tokens)


def test_segmentation_probe_on_tokens_that_carry_the_mask(world: SyntheticWorld,
                                                          tok: WordTokenizer) -> None:
    task = world.segmentation_task(48, 24)
    # the lookup models have patch tokens only (no image embedding to append)
    kw = {"epochs": 60, "image_embedding": False}
    exact = segmentation_probe(_seg_model(task, tok, 1, False), task, **kw)
    assert exact["miou"] > 0.95
    # tokens of 4 x 4 patches that carry their pixels' labels: the bilinear decoder blurs
    # them to the token grid, the per-patch decoder (the default here) recovers the pixels
    coarse = segmentation_probe(_seg_model(task, tok, 4, True), task, decoder="bilinear", **kw)
    assert 0.5 < coarse["miou"] < exact["miou"] - 0.05
    sharp = segmentation_probe(_seg_model(task, tok, 4, True), task, epochs=200,
                               image_embedding=False)
    assert sharp["miou"] > max(0.9, coarse["miou"] + 0.1)
    assert sharp == segmentation_probe(_seg_model(task, tok, 4, True), task, decoder="patch",
                                       epochs=200, image_embedding=False)
    noise = segmentation_probe(_seg_model(task, tok, 4, True, noise=True), task, **kw)
    assert noise["miou"] < 0.35
    a = segmentation_probe(_seg_model(task, tok, 4, True), task, seed=3, epochs=5, batch_size=16,
                           image_embedding=False)
    b = segmentation_probe(_seg_model(task, tok, 4, True), task, seed=3, epochs=5, batch_size=16,
                           image_embedding=False)
    assert a == b
    with pytest.raises(UsageError, match="decoder"):
        segmentation_probe(_seg_model(task, tok, 4, True), task, decoder="nope")


def test_segmentation_probe_with_the_image_embedding(world: SyntheticWorld,
                                                     tok: WordTokenizer) -> None:
    """The default appends the model's image embedding to every patch token; a model whose
    embedding is the same for every image scores as without it."""
    task = world.segmentation_task(24, 12)
    model = TinyClip(tok.vocab_size)
    got = segmentation_probe(model, task, epochs=20)
    assert 0.0 <= got["miou"] <= 1.0
    assert got == segmentation_probe(model, task, epochs=20)  # deterministic
    const = ConstantClip(tok.vocab_size)  # same patch tokens as TinyClip, constant embedding
    assert segmentation_probe(const, task, epochs=20)["miou"] == pytest.approx(
        segmentation_probe(const, task, epochs=20, image_embedding=False)["miou"], abs=0.005)


def test_class_iou() -> None:
    target = torch.tensor([[0, 0, 1, 1], [2, 2, 0, 0]])
    pred = torch.tensor([[0, 1, 1, 1], [2, 0, 0, 3]])
    iou = class_iou(pred, target, 5)
    assert iou[:3].tolist() == pytest.approx([2 / 5, 2 / 3, 1 / 2])
    # classes absent from the target (3 is only predicted) are NaN: left out of the mean
    assert math.isnan(iou[3].item()) and math.isnan(iou[4].item())


def test_evaluate_checkpoint_rows(world: SyntheticWorld, tok: WordTokenizer) -> None:
    model = TinyClip(tok.vocab_size)
    rows = evaluate_checkpoint(model, tok, world, n_per_class=2, n_retrieval=50,
                               n_seg_train=16, n_seg_test=8, seed=0, seg_epochs=5)
    got = {(r["task"], r["dataset"], r["metric"]) for r in rows}
    assert ("zeroshot_classification", "synthetic_classification", "acc1") in got
    assert ("zeroshot_retrieval", "synthetic_retrieval", "image_retrieval_recall@5") in got
    assert ("segmentation", "synthetic_segmentation", "miou") in got
    assert len(rows) == 4 + 7 + 1
    losses = {"cross_entropy", "contrastive_loss"}  # nats, lower is better
    assert {r["metric"] for r in rows} >= losses
    assert all(isinstance(r["value"], float) for r in rows)
    assert all(0.0 <= r["value"] <= 1.0 for r in rows if r["metric"] not in losses)
    assert all(r["value"] > 0.0 for r in rows if r["metric"] in losses)
    assert model.training
    again = evaluate_checkpoint(model, tok, world, n_per_class=2, n_retrieval=50,
                                n_seg_train=16, n_seg_test=8, seed=0, seg_epochs=5)
    assert rows == again


def test_clip_benchmark_json(tmp_path: Path) -> None:
    metrics = {"acc1": 0.5, "acc5": np.float32(0.75)}
    rec = to_clip_benchmark_json("synthetic_classification", "clip-S", "ckpt-1000.pt",
                                 "zeroshot_classification", metrics)
    assert rec == {"dataset": "synthetic_classification", "model": "clip-S",
                   "pretrained": "ckpt-1000.pt", "task": "zeroshot_classification",
                   "metrics": {"acc1": 0.5, "acc5": 0.75}}
    path = write_clip_benchmark_json(tmp_path / "a" / "b.json", "synthetic_classification",
                                     "clip-S", "ckpt-1000.pt", "zeroshot_classification", metrics)
    assert json.loads(path.read_text()) == rec


def test_calibrated_cross_entropy_is_the_minimum_over_temperatures() -> None:
    gen = torch.Generator().manual_seed(0)
    cos = torch.nn.functional.normalize(torch.randn(300, 16, generator=gen), dim=-1)
    target = torch.randint(0, 16, (300,), generator=gen)
    cos = cos + 0.3 * torch.nn.functional.one_hot(target, 16)  # an informative embedding
    got = calibrated_cross_entropy(cos, target)
    grid = np.geomspace(0.1, 1000.0, 4001)
    brute = min(float(torch.nn.functional.cross_entropy(s * cos.double(), target))
                for s in grid)
    assert got <= brute + 1e-9 and got == pytest.approx(brute, rel=1e-5)
    assert got < np.log(16)
    # constant similarities: chance, log n, at every temperature
    assert calibrated_cross_entropy(torch.zeros(50, 16), target[:50]) == pytest.approx(
        np.log(16))
