"""Benchmark of kesu.insight on real public data (../shared/data, never committed).

- triage classification: heimao (financial complaints, 6 labels) train → dev; online_shopping
  (reviews, 10 product categories) on a fixed stratified 80/20 split (seed 0); the model against
  the plain baseline (char 1–3 TF-IDF + LinearSVC), the majority class and hand-written keyword rules;
- volume forecasts: NYC 311 daily counts, rolling-origin backtests at horizons 2, 7 and 30 days,
  the model against seasonal-naive and the 28-day moving average (MASE, WAPE, 80% coverage).

Needs no database. Writes bench/results/insight.json. Usage: `python bench/bench_insight.py`
(`--db` is accepted for `bench/run_all.py` and ignored: the results do not depend on the database;
with `--db postgresql` the script exits at once so that the work is done only once).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("KESU_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results" / "insight.json"
sys.path.insert(0, str(ROOT))

# Hand-written keyword rules, as a company would first put them in its policy (the cold-start path).
HEIMAO_KEYWORDS = {
    "催收行为类": ["催收", "暴力催收", "骚扰", "威胁", "恐吓", "通讯录", "爆通讯录", "家人", "辱骂"],
    "合同条款类": ["合同", "条款", "协议", "提前还款", "注销", "解约", "退保"],
    "定价收费类": ["利息", "费用", "收费", "高利贷", "砍头息", "年化", "会员费", "扣款", "手续费", "服务费"],
    "客户服务类": ["客服", "态度", "打不通", "不处理", "没人管", "推诿", "不回复"],
    "营销宣传类": ["宣传", "营销", "短信", "广告", "推销", "诱导", "额度", "循环额度"],
}
SHOPPING_KEYWORDS = {
    "书籍": ["书", "作者", "印刷", "纸张", "内容", "故事"],
    "平板": ["平板", "ipad", "pad"],
    "手机": ["手机", "电池", "屏幕", "信号", "充电"],
    "水果": ["水果", "新鲜", "甜", "苹果", "橙子", "坏果"],
    "洗发水": ["洗发", "头发", "头皮", "去屑", "香味"],
    "热水器": ["热水器", "加热", "安装", "水温", "出水"],
    "蒙牛": ["牛奶", "蒙牛", "奶", "特仑苏", "酸奶"],
    "衣服": ["衣服", "尺码", "面料", "颜色", "穿", "裤"],
    "计算机": ["电脑", "笔记本", "键盘", "系统", "硬盘", "内存"],
    "酒店": ["酒店", "房间", "前台", "入住", "早餐", "服务员"],
}


def classification() -> dict:
    from kesu.insight import evaluation

    out = {}
    heimao = DATA / "heimao"
    if (heimao / "train.csv").exists():
        t0 = time.perf_counter()
        tr = evaluation.read_labelled_csv(heimao / "train.csv")
        te = evaluation.read_labelled_csv(heimao / "dev.csv")
        r = evaluation.evaluate_texts(*tr, *te, keywords=HEIMAO_KEYWORDS)
        r["took_s"] = round(time.perf_counter() - t0, 1)
        out["heimao"] = r
        print(_line("heimao train→dev", r), flush=True)
    else:
        out["heimao"] = {"skipped": f"{heimao} not found"}
    shop = DATA / "online_shopping" / "train.csv"
    if shop.exists():
        from sklearn.model_selection import train_test_split

        t0 = time.perf_counter()
        texts, labels = evaluation.read_labelled_csv(shop, "text", "category")
        a_x, b_x, a_y, b_y = train_test_split(texts, labels, test_size=0.2, random_state=0, stratify=labels)
        r = evaluation.evaluate_texts(a_x, a_y, b_x, b_y, keywords=SHOPPING_KEYWORDS)
        r["split"] = "stratified 80/20 of online_shopping/train.csv, random_state=0"
        r["took_s"] = round(time.perf_counter() - t0, 1)
        out["online_shopping"] = r
        print(_line("online_shopping category", r), flush=True)
    else:
        out["online_shopping"] = {"skipped": f"{shop} not found"}
    return out


def _line(name: str, r: dict) -> str:
    b, m = r["baseline"], r["majority"]
    k = r.get("keywords", {})
    return (
        f"{name}: model acc {r['accuracy']:.4f} macro-F1 {r['macro_f1']:.4f} | "
        f"baseline acc {b['accuracy']:.4f} F1 {b['macro_f1']:.4f} | majority acc {m['accuracy']:.4f} | "
        f"keywords acc {k.get('accuracy', float('nan')):.4f} F1 {k.get('macro_f1', float('nan')):.4f} | "
        f"sure {r['not_sure']['coverage']:.0%} at precision {r['not_sure']['precision_when_sure']:.3f} | "
        f"texts/s wall (CPU) model {r['texts_per_second']:.0f} ({r['texts_per_cpu_second']:.0f}), "
        f"baseline {b['texts_per_second']:.0f} ({b['texts_per_cpu_second']:.0f})"
    )


def escalation_risk() -> dict:
    """Precision/recall of the escalation-risk rules on the hand-labelled 黑猫 rows (bench/risk_labels.json)."""
    from kesu.insight import evaluation

    heimao = DATA / "heimao"
    if not (heimao / "train.csv").exists():
        return {"skipped": f"{heimao} not found"}
    labels = json.loads((ROOT / "bench" / "risk_labels.json").read_text(encoding="utf-8"))
    rows = []  # every data row, empty or not: the labels' keys are raw row indices
    for name in ("train.csv", "dev.csv"):
        with open(heimao / name, newline="", encoding="utf-8-sig") as f:
            rows += [row["text"] for row in csv.DictReader(f)]
    out = {"about": labels["about"]}
    for split in ("dev", "test"):
        ids = list(labels[split])
        out[split] = evaluation.evaluate_risk([rows[int(i)] for i in ids], [labels[split][i] for i in ids])
        a = out[split]["any"]
        print(f"escalation risk ({split}, {len(ids)} texts): precision {a['precision']} recall {a['recall']}")
    return out


def forecasting() -> dict:
    from kesu.insight import evaluation

    path = DATA / "volume" / "nyc311_daily_2016_2018h1.csv"
    if not path.exists():
        return {"skipped": f"{path} not found"}
    days, values = evaluation.read_series_csv(path)
    out = {"series": path.name, "days": len(days), "calendar": "US public holidays + weekends"}
    for horizon, origins, step in ((2, 52, 7), (7, 52, 7), (30, 26, 14)):
        t0 = time.perf_counter()
        r = evaluation.backtest_series(
            days, values, horizon=horizon, origins=origins, step=step, calendar="us"
        )
        r["took_s"] = round(time.perf_counter() - t0, 2)
        out[f"h{horizon}"] = r
        base = ", ".join(f"{k} {v['mase']}" for k, v in {**r["baselines"], **r["alternatives"]}.items())
        print(
            f"NYC 311 h={horizon} ({r['origins']} origins): {r['model']} MASE {r['mase']} WAPE {r['wape']} "
            f"cov80 {r['coverage_80']} | {base}",
            flush=True,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="sqlite")
    args = parser.parse_args()
    if args.db != "sqlite":
        print("bench_insight: database-independent, run once with --db sqlite; skipping")
        return
    if not DATA.exists():
        print(f"bench_insight: evaluation data not found at {DATA}; skipping (see ../shared/data/README.md)")
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kesu.settings")
    # kesu.insight reads text helpers from kesu.cases, whose modules define models: Django must be set up.
    import django

    django.setup()
    t0 = time.perf_counter()
    result = {
        "name": "insight",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            # The machine may be shared: the wall-clock speeds depend on it, the CPU-time ones much less.
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "classification": classification(),
        "escalation_risk": escalation_risk(),
        "forecast": forecasting(),
    }
    result["took_s"] = round(time.perf_counter() - t0, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(ROOT)} in {result['took_s']} s")


if __name__ == "__main__":
    main()
