"""Character n-gram TF-IDF computed with array operations instead of a Python loop per n-gram.

scikit-learn's `TfidfVectorizer(analyzer="char")` builds every n-gram of every text as a Python string
and looks it up in a dict: for complaint texts of ~140 characters and n = 1..4 that is ~550 strings
per text, and it was most of the triage model's time (about 1,400 texts/s on one core). Here all texts
of a batch become one array of code points; the n-grams of one length are hashed at once into 64-bit
keys (FNV-1a over the code points), looked up in the sorted array of the vocabulary's keys
(`np.searchsorted`) and counted into a sparse matrix. The result is the same weighting as
`TfidfVectorizer(sublinear_tf=True, smooth_idf=True, norm="l2")`; two n-grams share a column only if
their 64-bit keys collide, which for a vocabulary of a few million n-grams has a probability of about
one in a million.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import normalize

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


def _codepoints(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All texts as one code-point array (texts joined by NUL), each position's text, its offset in it."""
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    joined = "\x00".join(texts)
    cps = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    starts = np.zeros(len(texts), dtype=np.int64)
    if len(texts) > 1:
        starts[1:] = np.cumsum(lengths + 1)[:-1]
    doc = np.repeat(np.arange(len(texts), dtype=np.int64), lengths + 1)[: len(cps)]
    return cps, doc, lengths


def ngram_keys(texts: Sequence[str], ngram_range: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(text index, 64-bit key) of every character n-gram of every text, n in `ngram_range`."""
    if not texts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    cps, doc, lengths = _codepoints(texts)
    total = len(cps)
    # Offset of each position inside its text: an n-gram starting there fits if offset + n <= length.
    starts = np.zeros(len(texts), dtype=np.int64)
    if len(texts) > 1:
        starts[1:] = np.cumsum(lengths + 1)[:-1]
    offset = np.arange(total, dtype=np.int64) - starts[doc]
    room = lengths[doc] - offset  # characters left in the text from this position (0 on the separator)
    docs, keys = [], []
    lo, hi = ngram_range
    with np.errstate(over="ignore"):
        h = np.full(total, _FNV_OFFSET, dtype=np.uint64)
        for n in range(1, hi + 1):
            m = total - n + 1
            if m <= 0:
                break
            h = (h[:m] ^ cps[n - 1 : n - 1 + m]) * _FNV_PRIME
            if n < lo:
                continue
            ok = room[:m] >= n
            # The length goes into the key so that e.g. a 2-gram and a 3-gram never share one.
            keys.append((h[ok] ^ np.uint64(n)) * _FNV_PRIME)
            docs.append(doc[:m][ok])
    if not keys:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.uint64)
    return np.concatenate(docs), np.concatenate(keys)


class CharNgramTfidf(TransformerMixin, BaseEstimator):
    """Character n-gram TF-IDF (sublinear tf, smoothed idf, l2 rows) over `preprocessor(doc)`."""

    def __init__(
        self,
        ngram_range: tuple[int, int] = (1, 4),
        *,
        min_df: int = 1,
        max_features: int | None = None,
        sublinear_tf: bool = True,
        preprocessor: Callable[[str], str] | None = None,
    ) -> None:
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.sublinear_tf = sublinear_tf
        self.preprocessor = preprocessor

    def _texts(self, docs: Sequence[str]) -> list[str]:
        pre = self.preprocessor
        return [pre(d) for d in docs] if pre is not None else [str(d) for d in docs]

    def fit(self, docs: Sequence[str], y=None) -> CharNgramTfidf:
        self.fit_transform(docs)
        return self

    def fit_transform(self, docs: Sequence[str], y=None) -> sp.csr_matrix:
        texts = self._texts(docs)
        doc, keys = ngram_keys(texts, self.ngram_range)
        vocab, inverse = np.unique(keys, return_inverse=True)
        counts = self._counts(doc, inverse, len(texts), len(vocab))
        df = np.bincount(counts.indices, minlength=len(vocab))
        keep = df >= self.min_df
        if self.max_features is not None and keep.sum() > self.max_features:
            # Like scikit-learn: the most frequent over the whole corpus (ties broken by key order).
            tf = np.bincount(counts.indices, weights=counts.data, minlength=len(vocab))
            tf[~keep] = -1
            top = np.argsort(-tf, kind="stable")[: self.max_features]
            keep = np.zeros(len(vocab), dtype=bool)
            keep[top] = True
        if not keep.any():
            raise ValueError("empty vocabulary; perhaps the documents only contain stop words")
        self.keys_ = vocab[keep]
        n = len(texts)
        self.idf_ = (np.log((1 + n) / (1 + df[keep])) + 1).astype(np.float32)
        counts = counts[:, keep] if not keep.all() else counts
        return self._weight(counts)

    def transform(self, docs: Sequence[str]) -> sp.csr_matrix:
        texts = self._texts(docs)
        doc, keys = ngram_keys(texts, self.ngram_range)
        col, found = self.lookup(keys)
        counts = self._counts(doc[found], col[found], len(texts), len(self.keys_))
        return self._weight(counts)

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Column of each key and whether it is in the vocabulary."""
        vocab = self.keys_
        col = np.searchsorted(vocab, keys)
        col[col >= len(vocab)] = 0
        return col, vocab[col] == keys if len(vocab) else np.zeros(len(keys), dtype=bool)

    def known(self, text: str, n: int) -> tuple[int, int]:
        """How many distinct n-grams of `text` there are and how many of them the vocabulary has."""
        _doc, keys = ngram_keys([text], (n, n))
        keys = np.unique(keys)
        return len(keys), int(self.lookup(keys)[1].sum())

    @staticmethod
    def _counts(doc: np.ndarray, col: np.ndarray, n_rows: int, n_cols: int) -> sp.csr_matrix:
        data = np.ones(len(doc), dtype=np.float32)
        m = sp.csr_matrix((data, (doc, col)), shape=(n_rows, n_cols), dtype=np.float32)
        m.sum_duplicates()
        return m

    def _weight(self, counts: sp.csr_matrix) -> sp.csr_matrix:
        m = counts.tocsr()
        if self.sublinear_tf:
            np.log(m.data, out=m.data)
            m.data += 1
        m.data *= self.idf_[m.indices]
        normalize(m, copy=False)
        return m
