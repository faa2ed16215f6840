"""The BM25 vocabulary of a served index (token -> bm25s token id) in three arrays instead of a dict.

bm25s loads ``bm25.vocab.json`` as a dict: about 200 bytes per distinct token (the string, the int,
the dict entry, and bm25s's set of the ids). A corpus's vocabulary grows with it (a million passages:
a million tokens and more, numbers and names above all), so :func:`rsiqa.index.store.load_bm25` keeps
it as one UTF-8 blob of the tokens in sorted order, their offsets and their ids (about 20 bytes per
token) and looks a token up by binary search. It answers as the dict did: the same ids for the same
tokens, ``in``, ``get``, ``len``; it iterates in sorted order (:attr:`Vocabulary.sorted`, which the
retriever's search for another form of a word needs anyway).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping, Sequence

import numpy as np


def _encode(token: str) -> bytes:
    # UTF-8 keeps code-point order, so the blob's byte order is Python's string order.
    return token.encode("utf-8", "surrogatepass")


class SortedTokens(Sequence):
    """The tokens of a :class:`Vocabulary` in sorted order, decoded when asked for (for ``bisect``)."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        self._vocabulary = vocabulary

    def __len__(self) -> int:
        return len(self._vocabulary)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        i = int(index) + (len(self) if int(index) < 0 else 0)
        if not 0 <= i < len(self):
            raise IndexError(index)
        return self._vocabulary._token(i).decode("utf-8", "surrogatepass")


class Vocabulary(Mapping):
    """token -> id, as the dict it is made from (see the module docstring)."""

    def __init__(self, vocab: Mapping[str, int]) -> None:
        tokens = sorted(vocab)
        encoded = [_encode(t) for t in tokens]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
        self._blob = b"".join(encoded)
        self._ids = np.fromiter((vocab[t] for t in tokens), dtype=np.int64, count=len(tokens))
        #: Where each token starts and ends in the blob (a lookup indexes them ~20 times: an array is faster than NumPy).
        self._bounds = array("q", offsets.tobytes())
        #: The tokens in sorted order (a sequence for ``bisect``).
        self.sorted = SortedTokens(self)

    def _token(self, i: int) -> bytes:
        return self._blob[self._bounds[i] : self._bounds[i + 1]]

    def _find(self, token: object) -> int:
        """The sorted position of ``token``, -1 when the vocabulary lacks it."""
        if not isinstance(token, str):
            return -1
        key = _encode(token)
        lo, hi = 0, len(self._ids)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._token(mid) < key:
                lo = mid + 1
            else:
                hi = mid
        return lo if lo < len(self._ids) and self._token(lo) == key else -1

    def __getitem__(self, token: str) -> int:
        at = self._find(token)
        if at < 0:
            raise KeyError(token)
        return int(self._ids[at])

    def __contains__(self, token: object) -> bool:
        return self._find(token) >= 0

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[str]:
        return iter(self.sorted)

    def ids(self) -> np.ndarray:
        """The ids, in the tokens' sorted order."""
        return self._ids
