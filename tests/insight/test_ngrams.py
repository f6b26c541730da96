"""The array-based character n-gram TF-IDF gives scikit-learn's weighting, only faster."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from kesu.insight.ngrams import CharNgramTfidf, ngram_keys
from tests.insight.synth import labelled


@pytest.mark.parametrize(("ngram_range", "min_df"), [((1, 4), 1), ((1, 4), 2), ((2, 3), 1)])
def test_same_weights_as_scikit_learn(ngram_range, min_df):
    texts, _labels = labelled(30, seed=7)
    train, test = texts[:60] + ["", "a"], texts[60:] + ["", "全新的字符串𠀀", "x y"]
    ours = CharNgramTfidf(ngram_range, min_df=min_df)
    theirs = TfidfVectorizer(
        analyzer="char", ngram_range=ngram_range, min_df=min_df, sublinear_tf=True, lowercase=False
    )
    a_train, b_train = ours.fit_transform(train), theirs.fit_transform(train)
    assert a_train.shape == b_train.shape and a_train.nnz == b_train.nnz
    # Columns are ordered differently (hash keys vs strings): compare what the model sees, the similarities.
    a_test, b_test = ours.transform(test), theirs.transform(test)
    assert np.allclose((a_test @ a_train.T).toarray(), (b_test @ b_train.T).toarray(), atol=1e-5)
    assert np.allclose((a_train @ a_train.T).toarray(), (b_train @ b_train.T).toarray(), atol=1e-5)
    assert np.allclose(ours.idf_.sum(), theirs.idf_.sum(), rtol=1e-5)


def test_ngrams_never_span_two_texts_and_know_their_length():
    doc, keys = ngram_keys(["ab", "ba"], (1, 2))
    # a, b, ab | b, a, ba: "b\x00b" or "ba" across the boundary would add more.
    assert list(np.bincount(doc)) == [3, 3]
    assert len(set(keys[doc == 0].tolist()) & set(keys[doc == 1].tolist())) == 2  # a and b
    assert len(set(ngram_keys(["aa"], (1, 1))[1].tolist()) & set(ngram_keys(["aa"], (2, 2))[1].tolist())) == 0


def test_known_counts_the_ngrams_seen_in_training():
    vec = CharNgramTfidf((1, 2)).fit(["客服态度差", "扣费错误"])
    assert vec.known("客服态度", 2) == (3, 3)
    assert vec.known("喵喵喵喵", 2) == (1, 0)
    assert vec.known("", 2) == (0, 0)
