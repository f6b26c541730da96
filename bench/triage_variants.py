"""Model choice for the triage classifier without touching the test splits.

黑猫: 5-fold cross-validation on heimao/train.csv (dev.csv is never read). online_shopping: the same
stratified 80% training part as bench_insight.py (seed 0), split again into 80% train / 20% validation
(seed 1); its held-out 20% is never read. Prints the macro-F1 of each variant and of a few z-scored
score ensembles. Usage: `.venv/bin/python bench/triage_variants.py [heimao|shop] [--words]` (`--words`
adds jieba word variants; jieba is not a dependency of the product). Takes minutes on one core.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"
ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("KESU_SHARED_DATA", ROOT.parent / "shared" / "data"))
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold, train_test_split  # noqa: E402
from sklearn.naive_bayes import ComplementNB  # noqa: E402
from sklearn.svm import LinearSVC  # noqa: E402


class NBSVM:
    """One-vs-rest linear SVMs on features scaled by the class's log-count ratio (Wang & Manning 2012)."""

    def __init__(self, C: float = 0.3, alpha: float = 1.0) -> None:
        self.C, self.alpha = C, alpha

    def fit(self, X, y):
        self.classes_ = np.array(sorted(set(y)))
        binary = X.copy()
        binary.data[:] = 1
        self.parts_ = []
        for k in self.classes_:
            pos = y == k
            p = np.asarray(binary[pos].sum(0)).ravel() + self.alpha
            q = np.asarray(binary[~pos].sum(0)).ravel() + self.alpha
            r = np.log((p / p.sum()) / (q / q.sum())).astype(np.float32)
            svm = LinearSVC(C=self.C, class_weight="balanced").fit(X.multiply(r).tocsr(), pos)
            self.parts_.append((r, svm))
        return self

    def decision_function(self, X):
        return np.column_stack([svm.decision_function(X.multiply(r).tocsr()) for r, svm in self.parts_])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data", choices=["heimao", "shop"])
    parser.add_argument("--words", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kesu.settings")
    import django

    django.setup()
    from kesu.insight import evaluation
    from kesu.insight.classifier import normalize
    from kesu.insight.ngrams import CharNgramTfidf

    if args.data == "heimao":
        texts, labels = evaluation.read_labelled_csv(DATA / "heimao" / "train.csv")
        folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(texts, labels))
    else:
        all_texts, all_labels = evaluation.read_labelled_csv(
            DATA / "online_shopping" / "train.csv", "text", "category"
        )
        texts, _, labels, _ = train_test_split(
            all_texts, all_labels, test_size=0.2, random_state=0, stratify=all_labels
        )
        folds = [
            tuple(train_test_split(np.arange(len(texts)), test_size=0.2, random_state=1, stratify=labels))
        ]
    X = np.array([normalize(t) for t in texts], dtype=object)
    y = np.array(labels)
    classes = np.array(sorted(set(labels)))
    words = None
    if args.words:
        import jieba

        jieba.setLogLevel(60)
        words = np.array([" ".join(jieba.lcut(t)) for t in X], dtype=object)

    def block(kind, arg):
        if kind == "char":
            return lambda: CharNgramTfidf(arg, min_df=2), X
        if kind == "head":
            return lambda: CharNgramTfidf((1, 3), min_df=2, preprocessor=lambda t: t[:arg]), X
        return lambda: TfidfVectorizer(
            token_pattern=r"\S+", ngram_range=arg, sublinear_tf=True, min_df=2, dtype=np.float32
        ), words

    def oof(blocks, make):
        scores = np.zeros((len(X), len(classes)))
        for tr, va in folds:
            a, b = [], []
            for kind, arg, weight in blocks:
                new, source = block(kind, arg)
                vec = new()
                a.append(vec.fit_transform(list(source[tr])) * weight)
                b.append(vec.transform(list(source[va])) * weight)
            model = make().fit(sp.hstack(a).tocsr(), y[tr])
            va_x = sp.hstack(b).tocsr()
            scores[va] = (
                model.decision_function(va_x)
                if hasattr(model, "decision_function")
                else model.predict_log_proba(va_x)
            )
        return scores

    seen = np.concatenate([va for _, va in folds])

    def f1(scores):
        return f1_score(y[seen], classes[scores[seen].argmax(1)], average="macro")

    def svc(c):
        return lambda: LinearSVC(C=c, class_weight="balanced")

    c14, c13 = [("char", (1, 4), 1.0)], [("char", (1, 3), 1.0)]
    variants = {
        "char 1-4 SVM C=0.3 (shipped)": (c14, svc(0.3)),
        "char 1-4 SVM C=0.1": (c14, svc(0.1)),
        "char 1-4 SVM C=0.2": (c14, svc(0.2)),
        "char 1-4 SVM C=0.6": (c14, svc(0.6)),
        "char 1-3 SVM C=0.2": (c13, svc(0.2)),
        "char 1-5 SVM C=0.3": ([("char", (1, 5), 1.0)], svc(0.3)),
        "char 2-4 SVM C=0.2": ([("char", (2, 4), 1.0)], svc(0.2)),
        "char 1-4 + first 60 chars SVM C=0.2": (c14 + [("head", 60, 0.7)], svc(0.2)),
        "char 1-4 LogReg C=10": (
            c14,
            lambda: LogisticRegression(C=10, class_weight="balanced", max_iter=3000),
        ),
        "char 1-4 ComplementNB a=0.3": (c14, lambda: ComplementNB(alpha=0.3)),
        "char 1-4 NB-SVM C=0.3": (c14, lambda: NBSVM(0.3)),
        "char 1-3 NB-SVM C=0.1": (c13, lambda: NBSVM(0.1)),
    }
    if words is not None:
        variants["words 1-2 SVM C=0.2"] = ([("word", (1, 2), 1.0)], svc(0.2))
        variants["char 1-4 + words 1 SVM C=0.2"] = (c14 + [("word", (1, 1), 0.7)], svc(0.2))
    scores = {}
    for name, (blocks, make) in variants.items():
        t0 = time.perf_counter()
        scores[name] = oof(blocks, make)
        print(
            f"{args.data} {name:40s} macro-F1 {f1(scores[name]):.4f}  ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )

    def z(s):
        return (s - s.mean(1, keepdims=True)) / (s.std(1, keepdims=True) + 1e-9)

    for combo in (
        ["char 1-4 SVM C=0.2", "char 1-4 NB-SVM C=0.3"],
        ["char 1-4 SVM C=0.2", "char 1-3 SVM C=0.2", "char 1-3 NB-SVM C=0.1"],
        ["char 1-3 SVM C=0.2", "char 1-4 NB-SVM C=0.3"],
    ):
        print(
            f"{args.data} ensemble {' + '.join(combo)}: macro-F1 {f1(sum(z(scores[k]) for k in combo)):.4f}"
        )


if __name__ == "__main__":
    main()
