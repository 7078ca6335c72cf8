"""Real-benchmark evaluation through clip_benchmark's own dataset builder and metrics, on
tiny sets in clip_benchmark's webdataset layout written to tmp dirs (no download)."""

from __future__ import annotations

import io
import json
import math
import shutil
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("open_clip")
pytest.importorskip("clip_benchmark")
from PIL import Image  # noqa: E402
from torch import nn  # noqa: E402

from scalecmp.errors import DataError, UsageError  # noqa: E402
from scalecmp.experiments.benchmark_eval import (  # noqa: E402
    BenchmarkDataset,
    GridImageTransform,
    SegmentationDataset,
    _clip_benchmark_patched,
    check_benchmark_dataset,
    clip_benchmark_filename,
    evaluate_benchmark,
    evaluate_benchmarks,
    load_segmentation,
    load_segmentation_task,
    metric_rows,
)
from scalecmp.experiments.data import decode_image, images_to_tensor  # noqa: E402
from scalecmp.experiments.evaluate import (  # noqa: E402
    retrieval,
    segmentation_probe,
    zero_shot_classification,
)
from scalecmp.experiments.models import CompactTokenizer, build_model  # noqa: E402
from scalecmp.experiments.synthetic import (  # noqa: E402
    CLASSIFICATION_TEMPLATES,
    ClassificationTask,
    RetrievalTask,
    SyntheticWorld,
    WorldConfig,
)

pytestmark = pytest.mark.train
torch.set_num_threads(1)

WORLD = SyntheticWorld(WorldConfig(seed=0, n_shapes=3, n_colours=2))  # 6 classes, 32 px
TEMPLATES = tuple(t.replace("{}", "{c}") for t in CLASSIFICATION_TEMPLATES)
#: images kept per class (unbalanced, so mean_per_class_recall differs from acc1)
PER_CLASS = (4, 3, 4, 2, 4, 1)
N_RET = 10
CONTEXT = 24


# ----------------------------------------------------------------------------- writers

def _encode(image: np.ndarray, fmt: str) -> bytes:
    buf = io.BytesIO()
    kwargs = {"lossless": True, "quality": 100} if fmt == "webp" else {}
    Image.fromarray(image).save(buf, format=fmt.upper(), **kwargs)
    return buf.getvalue()


def _write_shards(folder: Path, samples: list[dict[str, bytes]], n_shards: int) -> None:
    """clip_benchmark's layout: <folder>/0.tar .. and nshards.txt; sample i is key %06d."""
    folder.mkdir(parents=True)
    for s, chunk in enumerate(np.array_split(np.arange(len(samples)), n_shards)):
        with tarfile.open(folder / f"{s}.tar", "w") as tar:
            for i in chunk:
                for ext, data in samples[i].items():
                    info = tarfile.TarInfo(f"{i:06d}.{ext}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    (folder / "nshards.txt").write_text(f"{n_shards}\n")


def _classification_set() -> ClassificationTask:
    full = WORLD.classification_task(max(PER_CLASS))
    rank = np.arange(len(full.labels)) % max(PER_CLASS)
    keep = rank < np.asarray(PER_CLASS)[full.labels]
    return ClassificationTask(images=full.images[keep], labels=full.labels[keep],
                              classnames=full.classnames, templates=CLASSIFICATION_TEMPLATES)


CLS = _classification_set()


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """synth6 (classification, png + lossless webp shards), ret1 / ret2 (retrieval with one
    and two captions per image)."""
    root = tmp_path_factory.mktemp("benchmarks")
    cls = root / "synth6"
    samples = [{("png" if i < 9 else "webp"): _encode(img, "png" if i < 9 else "webp"),
                "cls": str(int(label)).encode(), "txt": CLS.classnames[label].encode()}
               for i, (img, label) in enumerate(zip(CLS.images, CLS.labels, strict=True))]
    _write_shards(cls / "test", samples, 2)
    (cls / "classnames.txt").write_text("\n".join(CLS.classnames) + "\n")
    (cls / "zeroshot_classification_templates.txt").write_text("\n".join(TEMPLATES) + "\n")

    detailed, plain = WORLD.retrieval_task(N_RET), WORLD.retrieval_task(N_RET, detailed=False)
    for name, two in (("ret1", False), ("ret2", True)):
        caps = [f"{d}\n{p}" if two else d for d, p in zip(detailed.captions, plain.captions,
                                                           strict=True)]
        samples = [{"png": _encode(img, "png"), "txt": c.encode()}
                   for img, c in zip(detailed.images, caps, strict=True)]
        _write_shards(root / name / "test", samples, 1)
        (root / name / "dataset_type.txt").write_text("retrieval\n")
    return root


@pytest.fixture(scope="module")
def tok() -> CompactTokenizer:
    return CompactTokenizer(WORLD.caption_words(), context_length=CONTEXT)


def _model(tok: CompactTokenizer, procedure: str = "clip", seed: int = 0) -> nn.Module:
    return build_model(procedure, "xxs", vocab_size=tok.vocab_size, context_length=CONTEXT,
                       image_size=32, seed=seed)


def _cls_ds(root: Path, **kw) -> BenchmarkDataset:
    return BenchmarkDataset("synth6", "zeroshot_classification", str(root / "synth6"), **kw)


def _ret_ds(root: Path, name: str = "ret1", **kw) -> BenchmarkDataset:
    return BenchmarkDataset(name, "zeroshot_retrieval", str(root / name), **kw)


def test_transform_is_the_grid_image_pipeline() -> None:
    """Evaluation images are prepared exactly like webdataset training images (decode,
    shorter side to 32 bicubic, centre crop, CLIP normalisation)."""
    rng = np.random.default_rng(0)
    for shape in ((48, 80, 3), (90, 40, 3), (32, 32, 3)):
        data = _encode(rng.integers(0, 256, shape, dtype=np.uint8), "png")
        with Image.open(io.BytesIO(data)) as img:
            got = GridImageTransform(32)(img)
        want = images_to_tensor(np.array(decode_image(data, 32)[None]))[0]
        assert got.shape == (3, 32, 32) and torch.equal(got, want)
    with pytest.raises(UsageError):
        GridImageTransform(0)


# ----------------------------------------------------------------------------- rigged model

class RiggedClip(nn.Module):
    """Puts each image's true class at a chosen rank: the image embedding scores classes
    1, 0.9, 0.8, .. in an order where the true class sits at ``ranks[i]``; the text
    embedding of a prompt is the one-hot of the class it names. Images are looked up by
    their exact normalised tensor, so any difference in decoding or transform fails."""

    def __init__(self, task: ClassificationTask, ranks: list[int], tok: CompactTokenizer):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))
        n = len(task.classnames)
        self.table: dict[bytes, torch.Tensor] = {}
        for img, label, r in zip(task.images, task.labels, ranks, strict=True):
            others = [int(label + d) % n for d in range(1, n)]
            order = others[: r - 1] + [int(label)] + others[r - 1:]
            v = torch.zeros(n)
            v[order] = 1.0 - 0.1 * torch.arange(n, dtype=torch.float32)
            self.table[images_to_tensor(img[None])[0].numpy().tobytes()] = v
        self.classnames, self.tok = task.classnames, tok

    def encode_image(self, images: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        x = torch.stack([self.table[x.numpy().tobytes()] for x in images])
        return nn.functional.normalize(x, dim=-1)

    def encode_text(self, tokens: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        eye = torch.eye(len(self.classnames))
        hits = [[c for c, name in enumerate(self.classnames) if name in self.tok.decode(row)]
                for row in tokens]
        assert all(len(h) == 1 for h in hits), hits
        return eye[[h[0] for h in hits]]


RANKS = [(1, 2, 1, 6, 1, 3, 5, 1)[i % 8] for i in range(len(CLS.labels))]


def _expected(ranks: list[int], labels: np.ndarray) -> dict[str, float]:
    r, y = np.asarray(ranks), np.asarray(labels)
    recall = [np.mean(r[y == c] == 1) for c in np.unique(y)]
    return {"acc1": float(np.mean(r == 1)), "acc5": float(np.mean(r <= 5)),
            "mean_per_class_recall": float(np.mean(recall))}


# ----------------------------------------------------------------------------- classification

def test_rigged_classification_gives_the_known_metrics(data_root: Path, tok) -> None:
    model = RiggedClip(CLS, RANKS, tok)
    model.train()
    out = evaluate_benchmark(model, tok, _cls_ds(data_root), image_size=32, batch_size=5)
    want = _expected(RANKS, CLS.labels)
    assert want["acc1"] != pytest.approx(want["mean_per_class_recall"])  # a real check
    ce = out.pop("cross_entropy")  # the smooth loss, from clip_benchmark's own logits
    assert out == pytest.approx(want, abs=1e-12)
    assert model.training  # eval mode inside, restored after
    # our own implementation gives the same numbers on the same images and prompts
    ours = zero_shot_classification(model, tok, CLS)
    assert ours == pytest.approx({**want, "cross_entropy": ce}, abs=1e-6)
    assert 0.0 < ce < np.log(len(CLS.classnames))


def test_max_samples_takes_the_first_samples_of_the_stream(data_root: Path, tok) -> None:
    model = RiggedClip(CLS, RANKS, tok)
    ds = _cls_ds(data_root, max_samples=7)
    out = evaluate_benchmark(model, tok, ds, image_size=32, batch_size=4)
    out.pop("cross_entropy")
    assert out == pytest.approx(_expected(RANKS[:7], CLS.labels[:7]), abs=1e-12)
    # two workers read one shard each (samples 0-8 and 9-17); DataLoader alternates their
    # batches of 4, so the first 7 samples are 0-3 and 9-11
    out = evaluate_benchmark(model, tok, ds, image_size=32, batch_size=4, num_workers=2)
    out.pop("cross_entropy")
    first = [0, 1, 2, 3, 9, 10, 11]
    want = _expected([RANKS[i] for i in first], CLS.labels[first])
    assert out == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("procedure", ["clip", "mammut"])
def test_real_model_agrees_with_our_zero_shot_classification(data_root: Path, tok,
                                                             procedure: str) -> None:
    model = _model(tok, procedure, seed=3)
    out = evaluate_benchmark(model, tok, _cls_ds(data_root), batch_size=5)
    assert set(out) == {"acc1", "acc5", "mean_per_class_recall", "cross_entropy"}
    assert all(0.0 <= v <= 1.0 for k, v in out.items() if k != "cross_entropy")
    assert out == pytest.approx(zero_shot_classification(model, tok, CLS), abs=1e-6)
    again = evaluate_benchmark(model, tok, _cls_ds(data_root), batch_size=7)
    assert again == pytest.approx(out, abs=1e-6)  # batch size: float rounding only


def test_fewer_than_five_classes_has_nan_acc5(tmp_path: Path, tok) -> None:
    keep = CLS.labels < 3
    samples = [{"png": _encode(img, "png"), "cls": str(int(y)).encode()}
               for img, y in zip(CLS.images[keep], CLS.labels[keep], strict=True)]
    _write_shards(tmp_path / "test", samples, 1)
    (tmp_path / "classnames.txt").write_text("\n".join(CLS.classnames[:3]))
    (tmp_path / "zeroshot_classification_templates.txt").write_text("\n".join(TEMPLATES))
    ds = BenchmarkDataset("three", "zeroshot_classification", str(tmp_path))
    out = evaluate_benchmark(_model(tok), tok, ds)
    assert math.isnan(out["acc5"]) and 0.0 <= out["acc1"] <= 1.0
    assert [r["metric"] for r in metric_rows(ds.table_task, out)] == [
        "acc1", "mean_per_class_recall", "cross_entropy"]


# ----------------------------------------------------------------------------- retrieval

def test_retrieval_agrees_with_our_retrieval(data_root: Path, tok) -> None:
    model = _model(tok, seed=1)
    out = evaluate_benchmark(model, tok, _ret_ds(data_root), batch_size=4)
    assert set(out) == {f"{d}_retrieval_recall@{k}" for d in ("image", "text")
                        for k in (1, 5, 10)}
    task = WORLD.retrieval_task(N_RET)
    ours = retrieval(model, tok, RetrievalTask(images=task.images, captions=task.captions))
    assert out == pytest.approx({k: ours[k] for k in out}, abs=1e-6)
    assert out["image_retrieval_recall@10"] == 1.0  # 10 images


def test_retrieval_with_several_captions_per_image(data_root: Path, tok) -> None:
    model = _model(tok, seed=2)
    out = evaluate_benchmark(model, tok, _ret_ds(data_root, "ret2", recall_k=[5, 1]))
    assert list(out) == ["image_retrieval_recall@1", "text_retrieval_recall@1",
                         "image_retrieval_recall@5", "text_retrieval_recall@5"]
    assert all(0.0 <= v <= 1.0 for v in out.values())
    assert out["image_retrieval_recall@1"] <= out["image_retrieval_recall@5"]
    assert out["text_retrieval_recall@1"] <= out["text_retrieval_recall@5"]
    # 20 captions: image retrieval is scored per caption, in steps of 1/20
    assert (out["image_retrieval_recall@1"] * 20) == pytest.approx(
        round(out["image_retrieval_recall@1"] * 20))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_model_gives_the_cpu_metrics(data_root: Path, tok, monkeypatch) -> None:
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)  # fp32 patch embedding
    model = _model(tok, seed=3)
    datasets = [_cls_ds(data_root), _ret_ds(data_root), _ret_ds(data_root, "ret2")]
    on_cpu = [evaluate_benchmark(model, tok, ds) for ds in datasets]
    model = model.to("cuda")
    for ds, want in zip(datasets, on_cpu, strict=True):
        assert evaluate_benchmark(model, tok, ds, batch_size=4) == pytest.approx(want, abs=1e-6)
        half = evaluate_benchmark(model, tok, ds, amp=True)  # clip_benchmark's CLI default
        assert set(half) == set(want) and all(0.0 <= v <= 1.0 for v in half.values())
    assert next(model.parameters()).device.type == "cuda"


# ----------------------------------------------------------------------------- JSON records

@pytest.mark.filterwarnings("ignore:WebDataset\\(shardshuffle")
def test_json_record_is_what_the_clip_benchmark_cli_writes(data_root: Path, tok, tmp_path,
                                                           monkeypatch) -> None:
    """Run clip_benchmark's own CLI (`clip_benchmark eval`) on the same model and compare."""
    pytest.importorskip("pycocoevalcap")  # the CLI imports its captioning metrics
    from clip_benchmark import cli

    model = _model(tok, seed=4)
    monkeypatch.setattr(cli, "load_clip", lambda **kw: (model, GridImageTransform(32), tok))
    cases = [(_cls_ds(data_root), ["--task", "zeroshot_classification"]),
             (_ret_ds(data_root), ["--task", "zeroshot_retrieval", "--recall_k", "1", "5",
                                   "10"])]
    for ds, extra in cases:
        theirs = tmp_path / f"cli_{ds.name}.json"
        monkeypatch.setattr(sys, "argv", [
            "clip_benchmark", "eval", "--dataset", f"wds/{ds.name}", "--dataset_root",
            ds.path, "--model", "clip-xxs", "--pretrained", "demo:const:4096", "--no_amp",
            "--num_workers", "0", "--batch_size", "64", "--output", str(theirs), "--quiet",
            *extra])
        _, args = cli.get_parser_args()
        with _clip_benchmark_patched():  # clip_benchmark 1.6.2's accuracy under NumPy 2.4
            cli.main_eval(args)
        ours = tmp_path / "ours" / f"{ds.name}.json"
        metrics = evaluate_benchmark(model, tok, ds, output=ours, model_name="clip-xxs",
                                     pretrained="demo:const:4096")
        record = json.loads(ours.read_text())
        assert list(record) == ["dataset", "model", "pretrained", "task", "metrics", "language"]
        # the record holds clip_benchmark's metrics; the table also gets the smooth loss
        theirs_metrics = {k: v for k, v in metrics.items() if k != "cross_entropy"}
        assert record["dataset"] == f"wds/{ds.name}" and record["metrics"] == theirs_metrics
        assert ours.read_text() == theirs.read_text()


def test_evaluate_benchmarks_writes_the_cli_file_names(data_root: Path, tok, tmp_path) -> None:
    model = _model(tok)
    datasets = [_cls_ds(data_root), _ret_ds(data_root)]
    out = evaluate_benchmarks(model, tok, datasets, out_dir=tmp_path, pretrained="a/b:10")
    assert list(out) == ["synth6", "ret1"]
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["ret1_a_b:10_clip-xxs_en_zeroshot_retrieval.json",
                     "synth6_a_b:10_clip-xxs_en_zeroshot_classification.json"]
    assert names[1] == clip_benchmark_filename(datasets[0], "clip-xxs", "a/b:10")
    rows = metric_rows(datasets[0].table_task, out["synth6"])
    assert {r["task"] for r in rows} == {"zeroshot_classification/synth6"}
    assert len(rows) == 4  # acc1, acc5, mean_per_class_recall, cross_entropy
    with pytest.raises(UsageError, match="unique"):
        evaluate_benchmarks(model, tok, [datasets[0], datasets[0]])
    with pytest.raises(UsageError, match="image_size 64 differs from the model's 32"):
        evaluate_benchmark(model, tok, datasets[0], image_size=64)


# ----------------------------------------------------------------------------- errors

def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def _copy(data_root: Path, name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(data_root / name, tmp_path / name))


def test_bad_folders_give_one_line_data_errors(data_root: Path, tok, tmp_path: Path) -> None:
    model = _model(tok)
    with pytest.raises(DataError) as exc:
        evaluate_benchmark(model, tok, BenchmarkDataset(
            "nope", "zeroshot_classification", str(tmp_path / "missing")))
    assert "dataset folder not found" in _one_line(exc)

    root = _copy(data_root, "synth6", tmp_path)
    (root / "classnames.txt").unlink()
    with pytest.raises(DataError) as exc:
        evaluate_benchmark(model, tok, _cls_ds(tmp_path))
    assert "classnames.txt not found" in _one_line(exc)

    (root / "classnames.txt").write_text("\n".join(CLS.classnames))
    (root / "zeroshot_classification_templates.txt").write_text("a photo of a {}.\n")
    with pytest.raises(DataError) as exc:
        evaluate_benchmark(model, tok, _cls_ds(tmp_path))
    assert "'{c}'" in _one_line(exc)

    with pytest.raises(DataError) as exc:
        check_benchmark_dataset(_cls_ds(tmp_path, split="train"))
    assert "nshards.txt not found" in _one_line(exc)

    (root / "test" / "1.tar").unlink()
    with pytest.raises(DataError, match=r"1\.tar is missing"):
        check_benchmark_dataset(_cls_ds(tmp_path))

    ret = _copy(data_root, "ret1", tmp_path)
    (ret / "dataset_type.txt").unlink()
    with pytest.raises(DataError) as exc:
        evaluate_benchmark(model, tok, _ret_ds(tmp_path))
    assert "dataset_type.txt" in _one_line(exc)

    with pytest.raises(DataError) as exc:
        evaluate_benchmark(model, tok, _ret_ds(data_root, recall_k=(1, 20)))
    assert "recall@20 needs at least 20 images; the set has 10" in _one_line(exc)


def test_shards_without_usable_samples(tmp_path: Path, tok) -> None:
    _write_shards(tmp_path / "test", [{"txt": b"no image here"}], 1)
    (tmp_path / "classnames.txt").write_text("a\nb\n")
    (tmp_path / "zeroshot_classification_templates.txt").write_text("{c}\n")
    ds = BenchmarkDataset("broken", "zeroshot_classification", str(tmp_path))
    with pytest.raises(DataError) as exc:
        evaluate_benchmark(_model(tok), tok, ds)
    assert "no usable samples" in _one_line(exc)


def test_spec_entries_are_checked() -> None:
    ds = BenchmarkDataset.from_mapping(
        {"name": "imagenet1k", "task": "zeroshot_classification", "path": "wds/in1k",
         "max_samples": 500}, where="eval.benchmarks[0]", base_dir="/data")
    assert ds.path == "/data/wds/in1k" and ds.max_samples == 500 and ds.split == "test"
    assert ds.table_task == "zeroshot_classification/imagenet1k"
    assert ds.clip_benchmark_name == "wds/imagenet1k"
    assert BenchmarkDataset.from_mapping(
        {"name": "coco", "task": "zeroshot_retrieval", "path": "/x", "recall_k": [10, 5, 5]}
    ).recall_k == (5, 10)
    bad = [
        ({"name": "x", "task": "captioning", "path": "/x"}, "unknown task"),
        ({"name": "x", "path": "/x"}, "missing key task"),
        ({"name": "x", "task": "zeroshot_retrieval", "path": "/x", "root": 1}, "unknown key"),
        ({"name": "a/b", "task": "zeroshot_retrieval", "path": "/x"}, "name must be"),
        ({"name": "x", "task": "zeroshot_retrieval", "path": "/x", "max_samples": 0},
         "max_samples"),
        ({"name": "x", "task": "zeroshot_retrieval", "path": "/x", "recall_k": [0]},
         "recall_k"),
        ({"name": "x", "task": "zeroshot_retrieval"}, "missing key"),
    ]
    for raw, message in bad:
        with pytest.raises(UsageError, match=message) as exc:
            BenchmarkDataset.from_mapping(raw, where="eval.benchmarks[1]")
        assert _one_line(exc).startswith("eval.benchmarks[1]: ")
    seg = SegmentationDataset.from_mapping({"name": "ade20k", "path": "ade", "max_test": 5},
                                           base_dir="/data")
    assert seg.path == "/data/ade" and seg.table_task == "segmentation/ade20k"
    with pytest.raises(UsageError, match="unknown key"):
        SegmentationDataset.from_mapping({"name": "ade20k", "path": "x", "split": "val"})


# ----------------------------------------------------------------------------- segmentation

PALETTE = np.array([[0, 0, 0], [230, 30, 30], [30, 230, 30], [30, 30, 230], [230, 230, 30]],
                   dtype=np.uint8)


def _write_ade(root: Path, n_train: int = 5, n_test: int = 3) -> None:
    """ADE20K layout; 64 x 40 (w x h) label maps of 8 x 8 blocks of labels 0, 1 and 4 (any
    interpolation would create 2 or 3), images painted with the colour of each pixel's
    label (train: png, validation: jpg)."""
    rng = np.random.default_rng(0)
    for split, n, ext in (("training", n_train, "png"), ("validation", n_test, "jpg")):
        (root / "images" / split).mkdir(parents=True)
        (root / "annotations" / split).mkdir(parents=True)
        for i in range(n):
            blocks = np.array([0, 1, 4])[rng.integers(0, 3, (5, 8))]
            labels = np.kron(blocks, np.ones((8, 8), dtype=np.int64))
            stem = f"ADE_{split}_{i:08d}"
            Image.fromarray(PALETTE[labels]).save(root / "images" / split / f"{stem}.{ext}")
            Image.fromarray(labels.astype(np.uint8), mode="L").save(
                root / "annotations" / split / f"{stem}.png")
    (root / "objectInfo150.txt").write_text(
        "Idx\tRatio\tTrain\tVal\tName\n" + "".join(
            f"{i}\t0.1\t1\t1\t{n}\n" for i, n in enumerate(
                ["wall", "building;edifice", "sky", "floor;flooring"], 1)))


def test_segmentation_loader_aligns_masks_with_images(tmp_path: Path, tok) -> None:
    _write_ade(tmp_path)
    task = load_segmentation_task(tmp_path, 32)
    assert task.train_images.shape == (5, 32, 32, 3) and task.train_images.dtype == np.uint8
    assert task.test_masks.shape == (3, 32, 32) and task.test_masks.dtype == np.int64
    assert task.n_classes == 5
    assert task.class_names == ("other", "wall", "building", "sky", "floor")
    for images, masks in ((task.train_images, task.train_masks),
                          (task.test_images, task.test_masks)):
        dist = ((images[..., None, :].astype(float) - PALETTE.astype(float)) ** 2).sum(-1)
        agree = np.mean(dist.argmin(-1) == masks)
        assert agree > 0.85  # bicubic blur and jpeg only touch block edges
        assert set(np.unique(masks)) == {0, 1, 4}  # nearest neighbour: labels stay labels
    capped = load_segmentation(SegmentationDataset("ade20k", str(tmp_path), max_train=2,
                                                   max_test=1), 16)
    assert capped.train_images.shape == (2, 16, 16, 3) and len(capped.test_masks) == 1
    assert set(np.unique(capped.train_masks)) <= {0, 1, 4}
    np.testing.assert_array_equal(capped.train_masks[0], load_segmentation_task(
        tmp_path, 16, max_train=1).train_masks[0])
    out = segmentation_probe(_model(tok), task, epochs=3)
    assert 0.0 <= out["miou"] <= 1.0


def test_ade20k_label_0_is_ignored_as_in_the_official_protocol(tmp_path: Path, tok) -> None:
    from scalecmp.experiments.evaluate import class_iou

    # class_iou: pixels labelled 0 neither count for nor against any class
    target = torch.tensor([0, 0, 1, 1, 2, 2])
    pred = torch.tensor([1, 2, 1, 1, 2, 0])
    iou = class_iou(pred, target, 3, ignore_index=0)
    assert torch.isnan(iou[0]) and iou[1] == 1.0 and iou[2] == 0.5
    plain = class_iou(pred, target, 3)
    assert plain[1] == 2 / 3 and plain[0] == 0.0  # without it, 0 is a class
    _write_ade(tmp_path)
    task = load_segmentation_task(tmp_path, 32)
    assert task.ignore_index == 0  # ADE20K's default
    kept = load_segmentation(SegmentationDataset("ade20k", str(tmp_path), ignore_label=None), 32)
    assert kept.ignore_index is None
    model = _model(tok)
    a = segmentation_probe(model, task, epochs=3)["miou"]
    b = segmentation_probe(model, kept, epochs=3)["miou"]
    assert a != b  # the probe scores a different set of classes
    with pytest.raises(UsageError, match="ignore_label"):
        SegmentationDataset("ade20k", str(tmp_path), ignore_label=-1)


def test_segmentation_loader_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="folder not found"):
        load_segmentation_task(tmp_path / "missing", 32)
    _write_ade(tmp_path)
    with pytest.raises(DataError, match="label 4 .* 3 classes"):
        load_segmentation_task(tmp_path, 32, n_classes=3)
    with pytest.raises(DataError, match="images/test"):
        load_segmentation_task(tmp_path, 32, test_split="test")
    ann = tmp_path / "annotations" / "validation" / "ADE_validation_00000001.png"
    Image.fromarray(np.zeros((40, 64, 3), dtype=np.uint8)).save(ann)
    with pytest.raises(DataError) as exc:
        load_segmentation_task(tmp_path, 32)
    assert "single-channel" in _one_line(exc)
    ann.unlink()
    with pytest.raises(DataError) as exc:
        load_segmentation_task(tmp_path, 32)
    assert "no annotation" in _one_line(exc)


# ----------------------------------------------------------------------------- in a grid

def test_grid_evaluates_benchmarks_by_path_end_to_end(data_root: Path, tmp_path: Path) -> None:
    """A grid whose evaluation is clip_benchmark on folders and the probe on an ADE20K-layout
    folder: rows per benchmark task, clip_benchmark records under evals/, a bad folder
    refused before anything trains."""
    from scalecmp.experiments.grid import parse_spec, run_grid
    from scalecmp.experiments.store import read_measurements

    ade = tmp_path / "ade"
    _write_ade(ade)
    raw = {
        "procedures": ["clip"], "sizes": ["xxs"], "samples_seen": [32, 64], "batch_size": 16,
        "warmup": 1, "schedules": ["cosine"], "lr": 3e-3,
        "data": {"type": "synthetic", "n_shapes": 3, "n_colours": 2},
        "eval": {"tasks": [], "seg_epochs": 2, "benchmarks": [
            {"name": "synth6", "task": "zeroshot_classification", "path": "b/synth6"},
            {"name": "ret1", "task": "zeroshot_retrieval", "path": str(data_root / "ret1"),
             "recall_k": [1, 5]}],
            "segmentation_data": {"name": "ade20k", "path": str(ade), "n_classes": 5}},
        "train": {"context_length": CONTEXT},
    }
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "synth6").symlink_to(data_root / "synth6")
    spec = parse_spec(raw, base_dir=tmp_path)  # relative paths: to the spec's folder
    assert spec.table_tasks == ("train", "zeroshot_classification/synth6",
                                "zeroshot_retrieval/ret1", "segmentation/ade20k")
    out = tmp_path / "grid"
    summary = run_grid(spec, out, device="cpu", progress=False)
    assert summary["done_after"] == 2
    table = read_measurements(out)
    got = {(t, m) for t, m in zip(table["task"], table["metric"], strict=True)}
    assert ("zeroshot_classification/synth6", "acc1") in got
    assert ("zeroshot_classification/synth6", "mean_per_class_recall") in got
    assert ("zeroshot_retrieval/ret1", "image_retrieval_recall@5") in got
    assert ("segmentation/ade20k", "miou") in got
    evals = table[table["task"] != "train"]
    fractions = evals[evals["metric"] != "cross_entropy"]
    assert fractions["value"].between(0, 1).all() and len(evals) == 2 * (4 + 4 + 1)
    assert ("zeroshot_classification/synth6", "cross_entropy") in got
    records = sorted(p.name for p in (out / "evals").rglob("*.json"))
    assert len(records) == 2 * 3
    assert any(r.startswith("synth6_synthetic:cosine:64_clip-xxs_en_zeroshot_classification")
               for r in records)
    again = run_grid(spec, out, device="cpu", progress=False)
    assert again["evaluated"] == 0  # done cells need every benchmark's rows: they have them

    bad = {**raw, "eval": {**raw["eval"], "benchmarks": [
        {"name": "nope", "task": "zeroshot_classification", "path": str(tmp_path / "nope")}]}}
    with pytest.raises(DataError, match="nope"):
        run_grid(parse_spec(bad, base_dir=tmp_path), tmp_path / "bad", device="cpu",
                 progress=False)
    assert not (tmp_path / "bad" / "checkpoints").exists()  # refused before training
