"""Tests of the data loaders: tensors, webdataset shards, CSV files, batching, sources."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("webdataset")
Image = pytest.importorskip("PIL.Image")

from scalecmp.errors import DataError  # noqa: E402
from scalecmp.experiments.data import (  # noqa: E402
    IMAGE_MEAN,
    IMAGE_STD,
    CsvPairSource,
    StreamPairSource,
    SyntheticPairSource,
    WebDatasetPairSource,
    batched,
    images_to_tensor,
    iter_csv_pairs,
    iter_webdataset,
    pair_batches,
)
from scalecmp.experiments.synthetic import SyntheticWorld, WorldConfig  # noqa: E402

torch.set_num_threads(1)

COLOURS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]


def _encoded(colour: tuple[int, int, int], fmt: str, size: tuple[int, int] = (24, 24)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format=fmt)
    return buf.getvalue()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _write_shard(path: Path, first: int, n: int, extra_json: bool = True) -> list[str]:
    """A DataComp-layout shard: key.{jpg|png|webp}, key.txt, key.json per sample."""
    captions = []
    with tarfile.open(path, "w") as tar:
        for i in range(first, first + n):
            key = f"{i:09d}"
            ext, fmt = [("png", "PNG"), ("jpg", "JPEG"), ("webp", "WEBP")][i % 3]
            _add(tar, f"{key}.{ext}", _encoded(COLOURS[i % len(COLOURS)], fmt))
            caption = f"sample number {i}"
            _add(tar, f"{key}.txt", caption.encode())
            if extra_json:
                _add(tar, f"{key}.json", b'{"uid": "%d"}' % i)
            captions.append(caption)
    return captions


@pytest.fixture()
def shards(tmp_path: Path) -> tuple[Path, list[str]]:
    caps = _write_shard(tmp_path / "00000.tar", 0, 5) + _write_shard(tmp_path / "00001.tar", 5, 4)
    return tmp_path, caps


def test_images_to_tensor_normalises() -> None:
    images = np.zeros((2, 4, 5, 3), dtype=np.uint8)
    images[0, :, :, 0] = 255
    images[1, 1, 2] = (10, 20, 30)
    x = images_to_tensor(images)
    assert x.shape == (2, 3, 4, 5) and x.dtype == torch.float32
    assert x[0, 0, 0, 0].item() == pytest.approx((1.0 - IMAGE_MEAN[0]) / IMAGE_STD[0])
    assert x[0, 1, 3, 4].item() == pytest.approx(-IMAGE_MEAN[1] / IMAGE_STD[1])
    expected = [(v / 255 - m) / s for v, m, s in zip((10, 20, 30), IMAGE_MEAN, IMAGE_STD,
                                                     strict=True)]
    assert x[1, :, 1, 2].tolist() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(DataError):
        images_to_tensor(np.zeros((4, 5, 3), dtype=np.uint8))
    with pytest.raises(DataError):
        images_to_tensor(np.zeros((1, 4, 5, 3), dtype=np.float32))


def test_iter_webdataset_reads_shard(shards: tuple[Path, list[str]]) -> None:
    root, captions = shards
    pairs = list(iter_webdataset(str(root / "00000.tar"), image_size=16))
    assert [c for _, c in pairs] == captions[:5]
    for i, (img, _) in enumerate(pairs):
        assert img.shape == (16, 16, 3) and img.dtype == np.uint8
        assert np.abs(img.astype(int) - COLOURS[i]).max() <= 8  # jpg/webp are lossy
    both = list(iter_webdataset(str(root / "0000{0..1}.tar"), image_size=8))
    assert [c for _, c in both] == captions
    listed = list(iter_webdataset([root / "00001.tar", root / "00000.tar"], image_size=8))
    assert [c for _, c in listed] == captions[5:] + captions[:5]


def test_iter_webdataset_shuffle_is_seeded(shards: tuple[Path, list[str]]) -> None:
    root, captions = shards
    url = str(root / "0000{0..1}.tar")
    a = [c for _, c in iter_webdataset(url, 8, shuffle=4, seed=1)]
    b = [c for _, c in iter_webdataset(url, 8, shuffle=4, seed=1)]
    orders = {tuple(c for _, c in iter_webdataset(url, 8, shuffle=4, seed=s)) for s in range(6)}
    assert a == b and sorted(a) == sorted(captions)
    assert len(orders) > 1


def test_resize_keeps_centre(tmp_path: Path) -> None:
    img = Image.new("RGB", (60, 20), (255, 0, 0))
    img.paste((0, 255, 0), (20, 0, 40, 20))  # green centre third
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    with tarfile.open(tmp_path / "wide.tar", "w") as tar:
        _add(tar, "a.png", buf.getvalue())
        _add(tar, "a.txt", b"  wide   image \n")
    [(out, caption)] = list(iter_webdataset(str(tmp_path / "wide.tar"), 10))
    assert caption == "wide image"
    assert out.shape == (10, 10, 3)
    assert (out[:, 2:8, 1] > 200).all() and (out[:, 2:8, 0] < 60).all()


def test_webdataset_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        list(iter_webdataset(str(tmp_path / "missing.tar"), 8))
    (tmp_path / "empty.tar").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        list(iter_webdataset(str(tmp_path / "empty.tar"), 8))
    with tarfile.open(tmp_path / "nopairs.tar", "w") as tar:
        _add(tar, "x.json", b"{}")
        _add(tar, "y.txt", b"caption without image")
    with pytest.raises(DataError, match="no image-caption pairs"):
        list(iter_webdataset(str(tmp_path / "nopairs.tar"), 8))
    (tmp_path / "junk.tar").write_bytes(b"\x00not a tar file" * 100)
    with pytest.raises(DataError):
        list(iter_webdataset(str(tmp_path / "junk.tar"), 8))
    with tarfile.open(tmp_path / "corrupt.tar", "w") as tar:
        _add(tar, "z.png", b"not an image")
        _add(tar, "z.txt", b"broken")
    with pytest.raises(DataError, match="cannot decode"):
        list(iter_webdataset(str(tmp_path / "corrupt.tar"), 8))


def _write_csv(root: Path, sep: str = ",") -> list[str]:
    (root / "imgs").mkdir()
    captions = []
    lines = [f"filepath{sep}caption{sep}other"]
    for i in range(4):
        Image.new("RGB", (30, 40), COLOURS[i]).save(root / "imgs" / f"{i}.png")
        captions.append(f"csv caption {i}")
        lines.append(f"imgs/{i}.png{sep}csv caption {i}{sep}x")
    (root / "pairs.csv").write_text("\n".join(lines) + "\n")
    return captions


def test_iter_csv_pairs(tmp_path: Path) -> None:
    captions = _write_csv(tmp_path)
    pairs = list(iter_csv_pairs(tmp_path / "pairs.csv", 12))
    assert [c for _, c in pairs] == captions
    for i, (img, _) in enumerate(pairs):
        assert img.shape == (12, 12, 3) and (img == COLOURS[i]).all()
    tsv = tmp_path / "tsv"
    tsv.mkdir()
    _write_csv(tsv, sep="\t")
    assert len(list(iter_csv_pairs(tsv / "pairs.csv", 8, sep="\t"))) == 4


def test_csv_errors(tmp_path: Path) -> None:
    _write_csv(tmp_path)
    with pytest.raises(DataError, match="not found"):
        list(iter_csv_pairs(tmp_path / "nope.csv", 8))
    with pytest.raises(DataError, match="'text'.*columns found: 'filepath', 'caption'"):
        list(iter_csv_pairs(tmp_path / "pairs.csv", 8, caption_col="text"))
    (tmp_path / "bad.csv").write_text("filepath,caption\nimgs/missing.png,hello\n")
    with pytest.raises(DataError, match="line 2: image file not found"):
        list(iter_csv_pairs(tmp_path / "bad.csv", 8))
    (tmp_path / "norows.csv").write_text("filepath,caption\n")
    with pytest.raises(DataError, match="no rows"):
        list(iter_csv_pairs(tmp_path / "norows.csv", 8))


def test_batched() -> None:
    pairs = [(np.full((4, 4, 3), i, dtype=np.uint8), str(i)) for i in range(7)]
    out = list(batched(iter(pairs), 3))
    assert [b[0].shape for b in out] == [(3, 4, 4, 3), (3, 4, 4, 3), (1, 4, 4, 3)]
    assert [b[1] for b in out] == [["0", "1", "2"], ["3", "4", "5"], ["6"]]
    assert out[1][0][2, 0, 0, 0] == 5
    assert len(list(batched(iter(pairs), 3, drop_last=True))) == 2


def test_synthetic_source_and_pair_batches() -> None:
    world = SyntheticWorld(WorldConfig(seed=4))
    gen = pair_batches(world, 10, 5)
    first, second = next(gen), next(gen)
    ref = world.train_batch(10, 10)
    assert np.array_equal(np.concatenate([first[0], second[0]]), ref.images)
    assert first[1] + second[1] == ref.captions
    src = SyntheticPairSource(world)
    images, captions = src.batch(15, 5)
    assert np.array_equal(images, second[0]) and captions == second[1]


def test_stream_source_resume_and_epochs(shards: tuple[Path, list[str]]) -> None:
    root, captions = shards
    url = str(root / "0000{0..1}.tar")
    src = WebDatasetPairSource(url, 8)
    seen = []
    for _, caps in (next(g) for g in [pair_batches(src, 0, 4)] * 5):
        seen += caps
    assert seen == (captions * 3)[:20]  # 9 pairs per epoch, epochs repeat
    resumed = WebDatasetPairSource(url, 8).batch(12, 4)[1]
    assert resumed == seen[12:16]
    assert src.batch(2, 3)[1] == captions[2:5]  # going back restarts the stream
    shuffled = WebDatasetPairSource(url, 8, shuffle=4, seed=3)
    epoch0, epoch1 = shuffled.batch(0, 9)[1], shuffled.batch(9, 9)[1]
    assert sorted(epoch0) == sorted(captions) == sorted(epoch1)
    again = WebDatasetPairSource(url, 8, shuffle=4, seed=3).batch(9, 9)[1]
    assert again == epoch1


def test_csv_source_and_empty_stream(tmp_path: Path) -> None:
    captions = _write_csv(tmp_path)
    src = CsvPairSource(tmp_path / "pairs.csv", 8)
    images, caps = src.batch(2, 4)
    assert caps == captions[2:] + captions[:2] and images.shape == (4, 8, 8, 3)
    with pytest.raises(DataError, match="no pairs"):
        StreamPairSource(lambda epoch: iter([])).batch(0, 2)
    with pytest.raises(DataError, match="not found"):
        WebDatasetPairSource(str(tmp_path / "x{0..2}.tar"), 8)
