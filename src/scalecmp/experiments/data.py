"""Image-caption data for the harness: synthetic, webdataset shards and CSV files.

Every source yields ``(uint8 image (H, W, 3), caption str)`` pairs, squared to
``image_size`` by resizing the shorter side (bicubic) and cropping the centre. The
trainer reads any source through one protocol, ``source.batch(start, size) -> (uint8
(B, H, W, 3), list[str])`` indexed by sample position (see :func:`pair_batches`):

* :class:`SyntheticPairSource`: a pure function of the position (exact resume for free);
* :class:`WebDatasetPairSource`, :class:`CsvPairSource`: deterministic streams (fixed shard
  order and seeded shuffle buffer), positions reached by skipping forward, epochs repeated
  with the shuffle seed ``seed + epoch``.

torch, PIL and webdataset are imported lazily, inside the functions that need them.
"""

from __future__ import annotations

import csv
import io
import os
import random
import tarfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from scalecmp.errors import DataError, UsageError
from scalecmp.experiments.synthetic import SyntheticWorld

if TYPE_CHECKING:
    import torch
    from PIL import Image as PILImage

__all__ = [
    "IMAGE_EXTENSIONS",
    "IMAGE_MEAN",
    "IMAGE_STD",
    "CsvPairSource",
    "PairSource",
    "StreamPairSource",
    "SyntheticPairSource",
    "WebDatasetPairSource",
    "batched",
    "decode_image",
    "expand_shards",
    "images_to_tensor",
    "check_csv",
    "iter_csv_pairs",
    "iter_webdataset",
    "pair_batches",
    "resize_center_crop",
]

#: per-channel RGB mean and standard deviation of OpenAI CLIP / open_clip preprocessing
IMAGE_MEAN: tuple[float, float, float] = (0.48145466, 0.4578275, 0.40821073)
IMAGE_STD: tuple[float, float, float] = (0.26862954, 0.26130258, 0.27577711)

#: sample keys of a webdataset shard that hold an image, in order of preference
IMAGE_EXTENSIONS: tuple[str, ...] = ("jpg", "jpeg", "png", "webp")
_REMOTE_PREFIXES = ("http://", "https://", "pipe:", "s3://", "gs://", "hf://")

Pair = tuple[np.ndarray, str]


# ----------------------------------------------------------------------------- tensors

def images_to_tensor(
    images: np.ndarray,
    mean: Sequence[float] = IMAGE_MEAN,
    std: Sequence[float] = IMAGE_STD,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Normalised float32 tensor (B, 3, H, W) of uint8 images (B, H, W, 3).

    Computes ``(x / 255 - mean[c]) / std[c]`` per channel ``c``; the defaults are CLIP's
    ``IMAGE_MEAN`` and ``IMAGE_STD``.
    """
    import torch

    arr = np.asarray(images)
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise DataError(f"images must be uint8 (B, H, W, 3); got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise DataError(f"images must be uint8 (B, H, W, 3); got dtype {arr.dtype}")
    x = torch.from_numpy(np.ascontiguousarray(arr)).to(device).permute(0, 3, 1, 2)
    x = x.float().div_(255.0)
    m = torch.tensor(mean, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return x.sub_(m).div_(s).contiguous()


# ----------------------------------------------------------------------------- decoding

def resize_crop(image: PILImage.Image, image_size: int, resample: int) -> PILImage.Image:
    """``image`` with its shorter side resized to ``image_size`` (``resample``: a PIL
    resampling filter), then the centre ``image_size`` square cropped."""
    w, h = image.size
    scale = image_size / min(w, h)
    new_w, new_h = max(image_size, round(w * scale)), max(image_size, round(h * scale))
    if (new_w, new_h) != (w, h):
        image = image.resize((new_w, new_h), resample)
    left, top = (new_w - image_size) // 2, (new_h - image_size) // 2
    return image.crop((left, top, left + image_size, top + image_size))


def resize_center_crop(image: PILImage.Image, image_size: int) -> np.ndarray:
    """uint8 (image_size, image_size, 3): RGB, shorter side resized to ``image_size``
    (bicubic), then the centre square cropped."""
    from PIL import Image

    img = resize_crop(image.convert("RGB"), image_size, Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.uint8)


def decode_image(data: bytes, image_size: int) -> np.ndarray:
    """Decode encoded image bytes (jpg/png/webp, anything PIL reads) with
    :func:`resize_center_crop`."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return resize_center_crop(img, image_size)


def _decode_text(data: bytes | str) -> str:
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else str(data)
    return " ".join(text.split())


# ----------------------------------------------------------------------------- webdataset

def expand_shards(urls: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """Shard list from a brace pattern ("shards/{00000..00009}.tar", "::"-separated lists
    allowed) or an iterable of paths; local shards must exist and be non-empty."""
    if isinstance(urls, str | os.PathLike):
        from webdataset.shardlists import expand_urls

        shards = list(expand_urls(os.fspath(urls)))
    else:
        shards = [os.fspath(u) for u in urls]
    if not shards:
        raise DataError("no webdataset shards given")
    for shard in shards:
        if shard.startswith(_REMOTE_PREFIXES):
            continue
        path = Path(shard[len("file:"):] if shard.startswith("file:") else shard)
        if not path.is_file():
            raise DataError(f"webdataset shard not found: {shard}")
        if path.stat().st_size == 0:
            raise DataError(f"webdataset shard is empty (0 bytes): {shard}")
    return shards


def _sample_pair(sample: dict, image_size: int) -> Pair | None:
    """(image, caption) of one webdataset sample, None when it lacks an image or a text."""
    keys = {k.lower(): k for k in sample if not k.startswith("__")}
    image_key = next((keys[e] for e in IMAGE_EXTENSIONS if e in keys), None)
    if image_key is None or "txt" not in keys:
        return None
    try:
        image = decode_image(sample[image_key], image_size)
    except Exception as exc:  # PIL raises many types on corrupt data
        url = sample.get("__url__", "?")
        raise DataError(f"cannot decode image {sample.get('__key__')!r} in {url}: {exc}") from exc
    return image, _decode_text(sample[keys["txt"]])


def _shard_samples(shard: str) -> Iterator[dict]:
    """Samples (dicts of extension -> bytes, plus ``__key__``/``__url__``) of one shard, read
    with webdataset's tar iterator and key grouping; the shard's stream is always closed."""
    from webdataset.gopen import gopen
    from webdataset.tariterators import group_by_keys, tar_file_iterator

    def files(stream) -> Iterator[dict]:
        for entry in tar_file_iterator(stream):
            entry["__url__"] = shard
            yield entry

    with gopen(shard, "rb") as stream:
        yield from group_by_keys(files(stream))


def _shuffle_buffer(items: Iterable[Pair], size: int, seed: int) -> Iterator[Pair]:
    """Seeded buffer shuffle: fill ``size`` items, then emit a random one per new item."""
    rng, buf = random.Random(seed), []
    for item in items:
        buf.append(item)
        if len(buf) >= size:
            k = rng.randrange(len(buf))
            buf[k], buf[-1] = buf[-1], buf[k]
            yield buf.pop()
    rng.shuffle(buf)
    yield from buf


def _webdataset_pairs(shards: Sequence[str], image_size: int) -> Iterator[Pair]:
    for shard in shards:
        try:
            for sample in _shard_samples(shard):
                pair = _sample_pair(sample, image_size)
                if pair is not None:
                    yield pair
        except DataError:
            raise
        except (tarfile.TarError, OSError, ValueError) as exc:
            raise DataError(f"cannot read webdataset shard {shard}: {exc}") from exc


def iter_webdataset(
    urls: str | os.PathLike | Iterable[str | os.PathLike],
    image_size: int,
    shuffle: int = 0,
    seed: int = 0,
) -> Iterator[Pair]:
    """Yield (uint8 (image_size, image_size, 3), caption) from DataComp-layout shards.

    Shards are read with webdataset's tar iterator (``webdataset.gopen`` opens local paths,
    ``pipe:`` commands and URLs).

    Parameters
    ----------
    urls : brace pattern or list of ``.tar`` shards; a sample is the files sharing a key, with
        an image (``jpg``/``jpeg``/``png``/``webp``) and a ``txt`` caption (others such as
        ``json`` are ignored, samples without image or caption are skipped).
    image_size : output side: shorter side resized (bicubic), centre crop.
    shuffle : 0 reads shards and samples in order; ``n > 0`` shuffles the shard order and the
        samples through a buffer of ``n`` samples, both seeded by ``seed`` (deterministic).
    seed : seed of the shuffles.

    Raises
    ------
    DataError : missing or 0-byte local shard, unreadable tar, undecodable image, or no
        image-caption pair at all.
    """
    shards = expand_shards(urls)
    if shuffle > 0:
        random.Random(seed).shuffle(shards)
    pairs = _webdataset_pairs(shards, image_size)
    if shuffle > 0:
        pairs = _shuffle_buffer(pairs, shuffle, seed)
    n_pairs = 0
    for pair in pairs:
        n_pairs += 1
        yield pair
    if n_pairs == 0:
        raise DataError(
            f"no image-caption pairs in webdataset shards {_short(shards)} "
            f"(a sample needs one of {', '.join(IMAGE_EXTENSIONS)} and a txt file)"
        )


def _short(shards: Sequence[str]) -> str:
    return shards[0] if len(shards) == 1 else f"{shards[0]} .. {shards[-1]} ({len(shards)})"


# ----------------------------------------------------------------------------- CSV

def _open_csv(csv_path: Path):  # noqa: ANN202 - a text file object
    if not csv_path.is_file():
        raise DataError(f"CSV file not found: {csv_path}")
    try:
        return csv_path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read CSV {csv_path}: {exc.strerror or exc}") from None


def _check_csv_columns(csv_path: Path, columns: Sequence[str] | None, image_col: str,
                       caption_col: str) -> None:
    missing = [c for c in (image_col, caption_col) if c not in (columns or [])]
    if missing:
        raise DataError(
            f"CSV {csv_path} lacks column(s) {', '.join(map(repr, missing))}; "
            f"columns found: {', '.join(map(repr, columns or [])) or 'none'}"
        )


def check_csv(path: str | os.PathLike, image_col: str = "filepath",
              caption_col: str = "caption", sep: str = ",") -> None:
    """What :func:`iter_csv_pairs` needs, checked without decoding an image: the file, its
    two columns and at least one row (one-line :class:`DataError` otherwise)."""
    csv_path = Path(path)
    with _open_csv(csv_path) as fh:
        reader = csv.DictReader(fh, delimiter=sep)
        _check_csv_columns(csv_path, reader.fieldnames, image_col, caption_col)
        if next(reader, None) is None:
            raise DataError(f"CSV {csv_path} has no rows")


def iter_csv_pairs(
    path: str | os.PathLike,
    image_size: int,
    image_col: str = "filepath",
    caption_col: str = "caption",
    sep: str = ",",
) -> Iterator[Pair]:
    """Yield (uint8 (image_size, image_size, 3), caption) from a CSV of image paths.

    Relative image paths are resolved against the CSV's folder. Images are resized on the
    shorter side (bicubic) and centre-cropped.

    Raises
    ------
    DataError : missing CSV, missing column (the message lists the columns found), missing or
        undecodable image file, or a CSV without rows.
    """
    from PIL import Image

    csv_path = Path(path)
    root = csv_path.parent
    with _open_csv(csv_path) as fh:
        reader = csv.DictReader(fh, delimiter=sep)
        _check_csv_columns(csv_path, reader.fieldnames, image_col, caption_col)
        n_rows = 0
        for line, row in enumerate(reader, start=2):
            image_path = root / (row[image_col] or "")
            if not row[image_col] or not image_path.is_file():
                raise DataError(f"{csv_path}, line {line}: image file not found: {image_path}")
            try:
                with Image.open(image_path) as img:
                    image = resize_center_crop(img, image_size)
            except Exception as exc:
                raise DataError(f"{csv_path}, line {line}: cannot decode {image_path}: {exc}")\
                    from exc
            n_rows += 1
            yield image, _decode_text(row[caption_col] or "")
    if n_rows == 0:
        raise DataError(f"CSV {csv_path} has no rows")


# ----------------------------------------------------------------------------- batching

def batched(
    pairs: Iterable[Pair], batch_size: int, drop_last: bool = False
) -> Iterator[tuple[np.ndarray, list[str]]]:
    """Group (image, caption) pairs into (uint8 (B, H, W, 3), list of B captions).

    The last, smaller batch is yielded unless ``drop_last``.
    """
    if batch_size < 1:
        raise UsageError("batch_size must be >= 1")
    images: list[np.ndarray] = []
    captions: list[str] = []
    for image, caption in pairs:
        images.append(image)
        captions.append(caption)
        if len(images) == batch_size:
            yield np.stack(images), captions
            images, captions = [], []
    if images and not drop_last:
        yield np.stack(images), captions


class PairSource(Protocol):
    """Training pairs by sample position."""

    def batch(self, start: int, size: int) -> tuple[np.ndarray, list[str]]:
        """Pairs at positions ``start .. start + size - 1``: (uint8 (B, H, W, 3), captions)."""
        ...


class SyntheticPairSource:
    """:class:`PairSource` of a :class:`SyntheticWorld`'s training stream (a pure function
    of the position: any batch can be produced in any order, resume is exact)."""

    def __init__(self, world: SyntheticWorld) -> None:
        self.world = world

    def batch(self, start: int, size: int) -> tuple[np.ndarray, list[str]]:
        b = self.world.train_batch(start, size)
        return b.images, b.captions


class StreamPairSource:
    """:class:`PairSource` over a deterministic, restartable stream of pairs.

    ``factory(epoch)`` returns the pairs of one pass (it must yield the same sequence for
    the same epoch every time). Position ``p`` is the ``p``-th pair of the concatenated
    passes ``epoch = 0, 1, ...``. Consecutive batches continue the open stream; a jump
    backwards (or a fresh source resuming at ``start > 0``) restarts at epoch 0 and skips
    forward, reading and decoding the skipped pairs.
    """

    def __init__(self, factory: Callable[[int], Iterator[Pair]]) -> None:
        self.factory = factory
        self._it: Iterator[Pair] | None = None
        self._pos = 0
        self._epoch = 0
        self._in_epoch = 0

    def batch(self, start: int, size: int) -> tuple[np.ndarray, list[str]]:
        if start < 0 or size < 1:
            raise UsageError("start must be >= 0 and size >= 1")
        if self._it is None or start < self._pos:
            self._restart()
        while self._pos < start:
            self._next()
        images, captions = zip(*(self._next() for _ in range(size)), strict=True)
        return np.stack(images), list(captions)

    def close(self) -> None:
        """Close the open stream (its files); the next ``batch`` restarts at epoch 0."""
        close = getattr(self._it, "close", None)
        if close is not None:
            close()
        self._it = None

    def _restart(self) -> None:
        self.close()
        self._it, self._pos, self._epoch, self._in_epoch = self.factory(0), 0, 0, 0

    def _next(self) -> Pair:
        assert self._it is not None
        for _ in range(2):
            try:
                item = next(self._it)
            except StopIteration:
                if self._in_epoch == 0:
                    raise DataError("the data source yielded no pairs") from None
                self._epoch += 1
                self._it, self._in_epoch = self.factory(self._epoch), 0
                continue
            self._pos += 1
            self._in_epoch += 1
            return item
        raise DataError("the data source yielded no pairs in a new epoch")


class WebDatasetPairSource(StreamPairSource):
    """:class:`StreamPairSource` over webdataset shards (see :func:`iter_webdataset`);
    epoch ``e`` is shuffled with seed ``seed + e`` when ``shuffle > 0``."""

    def __init__(self, urls: str | Iterable[str], image_size: int, shuffle: int = 0,
                 seed: int = 0) -> None:
        shards = expand_shards(urls)
        super().__init__(lambda epoch: iter_webdataset(shards, image_size, shuffle, seed + epoch))


class CsvPairSource(StreamPairSource):
    """:class:`StreamPairSource` over a CSV of image paths and captions, in file order."""

    def __init__(self, path: str | os.PathLike, image_size: int, image_col: str = "filepath",
                 caption_col: str = "caption", sep: str = ",") -> None:
        check_csv(path, image_col, caption_col, sep)
        super().__init__(
            lambda epoch: iter_csv_pairs(path, image_size, image_col, caption_col, sep))


def pair_batches(
    source: PairSource | SyntheticWorld, start_sample: int, batch_size: int
) -> Iterator[tuple[np.ndarray, list[str]]]:
    """Endless consecutive batches ``source.batch(start_sample + k * batch_size,
    batch_size)`` for ``k = 0, 1, ...``; a :class:`SyntheticWorld` is wrapped in a
    :class:`SyntheticPairSource`."""
    if isinstance(source, SyntheticWorld):
        source = SyntheticPairSource(source)
    position = int(start_sample)
    while True:
        yield source.batch(position, batch_size)
        position += batch_size
