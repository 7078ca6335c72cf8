"""A compact-vocabulary view of open_clip's BPE tokenizer.

Why: open_clip's ``SimpleTokenizer`` has 49,408 ids. A tiny model (width 32) that carries
a 49,408 x 32 token embedding and, for captioning procedures, a 32 x 49,408 projection to
the vocabulary spends most of its parameters and most of its CPU time per step (the
vocabulary projection is computed at every caption position, and AdamW updates every row)
on ids the synthetic captions never produce. ``CompactTokenizer`` runs the very same BPE,
then remaps the ids that the given word list can produce to a small contiguous range.

Layout of the compact vocabulary (``n`` = number of distinct BPE ids of the word list)::

    0        pad  (``pad_id``; also what ``ignore_index`` of the caption loss refers to)
    1        unk  (any BPE id the word list cannot produce)
    2..n+1   the word-list BPE ids, in increasing BPE-id order
    n+2      start of text (``sot_id``)
    n+3      end of text (``eot_id``), the largest id

The end-of-text id is the largest id, as in open_clip's vocabulary, so open_clip's default
``argmax`` text pooling (which takes the features at the largest id of each sequence) works
unchanged. With ``words=None`` the tokenizer is open_clip's full tokenizer (ids unchanged,
``vocab_size`` 49,408, pad 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from open_clip.tokenizer import SimpleTokenizer

__all__ = ["CachedTokenizer", "CompactTokenizer", "pack_ids"]

PAD_ID = 0
UNK_ID = 1


def pack_ids(id_lists: Sequence[Sequence[int]], context_length: int, sot_id: int,
             eot_id: int, pad_id: int) -> torch.Tensor:
    """``LongTensor (B, context_length)``: each ``[sot, *ids, eot]`` padded with ``pad_id``;
    a sequence too long is cut and keeps its eot as the last token."""
    out = torch.full((len(id_lists), context_length), pad_id, dtype=torch.long)
    for i, body in enumerate(id_lists):
        ids = [sot_id, *body, eot_id]
        if len(ids) > context_length:
            ids = ids[:context_length]
            ids[-1] = eot_id
        out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out


class CompactTokenizer:
    """open_clip BPE with ids remapped to a compact vocabulary built from ``words``.

    ``tok(texts)`` returns a ``LongTensor (B, context_length)``: ``[sot, bpe..., eot, pad...]``,
    truncated like open_clip (the last kept id is replaced by eot), padded with ``pad_id`` = 0.
    """

    def __init__(self, words: Iterable[str] | None = None, context_length: int = 32) -> None:
        if context_length < 2:
            raise ValueError("context_length must be at least 2 (sot and eot)")
        self.context_length = int(context_length)
        self.base = SimpleTokenizer(context_length=self.context_length)
        self.pad_id = PAD_ID
        self.compact = words is not None
        if words is None:
            self.vocab_size = int(self.base.vocab_size)
            self.sot_id = int(self.base.sot_token_id)
            self.eot_id = int(self.base.eot_token_id)
            self.unk_id: int | None = None
            self._to_compact: torch.Tensor | None = None
            self._to_bpe: torch.Tensor | None = None
            return
        bpe_ids: set[int] = set()
        for word in words:
            bpe_ids.update(self.base.encode(str(word)))
        ordered = sorted(bpe_ids)
        self.unk_id = UNK_ID
        self.sot_id = len(ordered) + 2
        self.eot_id = len(ordered) + 3
        self.vocab_size = len(ordered) + 4
        to_compact = torch.full((int(self.base.vocab_size),), UNK_ID, dtype=torch.long)
        to_compact[torch.tensor(ordered, dtype=torch.long)] = torch.arange(2, len(ordered) + 2)
        to_compact[self.base.sot_token_id] = self.sot_id
        to_compact[self.base.eot_token_id] = self.eot_id
        self._to_compact = to_compact
        to_bpe = torch.full((self.vocab_size,), -1, dtype=torch.long)
        to_bpe[2 : len(ordered) + 2] = torch.tensor(ordered, dtype=torch.long)
        to_bpe[self.sot_id] = self.base.sot_token_id
        to_bpe[self.eot_id] = self.base.eot_token_id
        self._to_bpe = to_bpe

    def encode(self, text: str) -> list[int]:
        """Ids of one text without sot/eot (unknown pieces map to ``unk_id``)."""
        ids = self.base.encode(text)
        if self._to_compact is None:
            return ids
        return self._to_compact[torch.tensor(ids, dtype=torch.long)].tolist() if ids else []

    def __call__(self, texts: str | Sequence[str]) -> torch.Tensor:
        """Tokenise ``texts`` to a ``LongTensor (B, context_length)`` padded with 0."""
        if isinstance(texts, str):
            texts = [texts]
        return pack_ids([self.encode(t) for t in texts], self.context_length, self.sot_id,
                        self.eot_id, self.pad_id)

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        """Text of one id sequence up to its eot; sot and pad are dropped, unk shows as
        ``<unk>``. ``decode(tok([s])[0])`` gives back the cleaned text of ``s`` (lower case,
        single spaces, one trailing space) when every piece of ``s`` is known."""
        ids = [int(i) for i in (ids.tolist() if isinstance(ids, torch.Tensor) else ids)]
        pieces: list[str] = []
        run: list[int] = []
        for i in ids:
            if i == self.eot_id:
                break
            if i == self.sot_id or (self.compact and i == self.pad_id):
                continue
            if self.compact and i == self.unk_id:
                if run:
                    pieces.append(self.base.decode(run))
                    run = []
                pieces.append("<unk> ")
                continue
            run.append(int(self._to_bpe[i]) if self._to_bpe is not None else i)
        if run:
            pieces.append(self.base.decode(run))
        return "".join(pieces)

    def __repr__(self) -> str:
        kind = "compact" if self.compact else "full"
        return (
            f"CompactTokenizer({kind}, vocab_size={self.vocab_size}, "
            f"context_length={self.context_length})"
        )


class CachedTokenizer:
    """Fast, exact tokenisation of many captions: ids are cached per whitespace-separated
    chunk (BPE works per regex token, so a caption's ids are the concatenation of its
    chunks' ids for plain lower-case ASCII text). The first captions of every run are
    also tokenised the slow way and compared; any mismatch turns the fast path off."""

    _CHECK = 256

    def __init__(self, tok: CompactTokenizer, max_items: int = 500_000) -> None:
        self.tok = tok
        self.vocab_size = tok.vocab_size
        self.context_length = tok.context_length
        self.sot_id, self.eot_id, self.pad_id = tok.sot_id, tok.eot_id, tok.pad_id
        self._chunks: dict[str, list[int]] = {}
        self.max_items = max_items
        self.fast = hasattr(tok, "encode")
        self._checked = 0

    def _ids(self, text: str) -> list[int]:
        ids: list[int] = []
        for chunk in text.split():
            got = self._chunks.get(chunk)
            if got is None:
                if len(self._chunks) >= self.max_items:
                    self._chunks.clear()
                got = self._chunks[chunk] = list(self.tok.encode(chunk))
            ids.extend(got)
        return ids

    def __call__(self, texts: str | Sequence[str]) -> torch.Tensor:
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not self.fast:
            return self.tok(texts)
        out = pack_ids([self._ids(t) for t in texts], self.context_length, self.sot_id,
                       self.eot_id, self.pad_id)
        if self._checked < self._CHECK:
            n = min(len(texts), self._CHECK - self._checked)
            self._checked += n
            slow = self.tok(texts[:n])
            if not torch.equal(slow, out[:n]):
                self.fast = False
                return self.tok(texts)
        return out

