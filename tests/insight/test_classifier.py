"""The triage classifier itself (no database): it learns, it says "not sure", it never trains on the future."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from kesu.insight import classifier as clf
from tests.insight.synth import labelled


def test_learns_a_separable_set_far_above_the_majority_rate():
    texts, labels = labelled(40, seed=1)
    test_texts, test_labels = labelled(15, seed=2)
    model = clf.train_and_validate(
        [clf.compose(t) for t in texts], labels, [clf.compose(t) for t in test_texts], test_labels
    )
    majority = Counter(test_labels).most_common(1)[0][1] / len(test_labels)
    assert model.info["accuracy"] >= 0.9 > majority + 0.4
    assert set(model.info["per_class"]) == set(labels)
    assert len(model.info["confusion"]) == 3
    pred = model.predict_one(clf.compose("快递迟迟没到，配送超时还没送到"))
    assert pred.sure and pred.label == "delivery.delay"


def test_says_not_sure_on_gibberish():
    texts, labels = labelled(40, seed=3)
    model = clf.train_and_validate(
        [clf.compose(t) for t in texts[:90]], labels[:90], [clf.compose(t) for t in texts[90:]], labels[90:]
    )
    for junk in ("asdkjqwe zxcmn", "。。。！！！", "喵喵喵喵", ""):
        pred = model.predict_one(clf.compose(junk))
        assert not pred.sure and pred.label is None, junk


def test_model_survives_a_round_trip_through_bytes():
    texts, labels = labelled(20, seed=4)
    model = clf.fit([clf.compose(t) for t in texts], labels)
    again = clf.TriageClassifier.loads(model.dumps())
    doc = clf.compose("客服态度恶劣，经理说话很难听")
    assert again.predict_one(doc).best == model.predict_one(doc).best == "service.attitude"


def test_time_ordered_split_keeps_the_future_out_of_training():
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    times = [start + dt.timedelta(hours=h) for h in (5, 1, 9, 3, 7, 2, 8, 0, 6, 4)]
    items = list(range(10))
    train, val = clf.time_ordered_split(items, times, 0.3)
    assert len(val) == 3 and len(train) == 7
    assert max(times[i] for i in train) < min(times[i] for i in val)


def test_keyword_rules_pick_the_category_with_the_strongest_match():
    table = {"delivery.delay": ["延误", "没到"], "billing.wrong": ["多收", "扣错"]}
    assert clf.keyword_predict("快递一直没到，严重延误", table) == ("delivery.delay", 1.0)
    assert clf.keyword_predict("今天天气不错", table) == (None, 0.0)


def test_a_model_stored_before_the_array_ngrams_still_answers():
    """Models pickled with scikit-learn's TfidfVectorizer (before kesu.insight.ngrams) stay usable."""
    texts, labels = labelled(30, seed=5)
    chars = TfidfVectorizer(analyzer="char", ngram_range=(1, 4), preprocessor=clf.text_part, dtype=np.float32)
    meta = TfidfVectorizer(analyzer=clf.meta_tokens, use_idf=False, norm=None)
    pipeline = Pipeline(
        [("features", FeatureUnion([("chars", chars), ("meta", meta)])), ("clf", LinearSVC())]
    )
    old = clf.TriageClassifier.loads(clf.fit([clf.compose(t) for t in texts], labels).dumps())
    old.pipeline = pipeline.fit([clf.compose(t) for t in texts], labels)
    old.labels = [str(c) for c in pipeline.classes_]
    assert old.predict_one(clf.compose("客服态度恶劣，经理说话很难听")).best == "service.attitude"
    assert not old._informative(clf.compose("喵喵喵喵")) and old._informative(clf.compose("客服态度恶劣"))
    assert old.known_features(clf.compose("客服态度恶劣")) > 0
