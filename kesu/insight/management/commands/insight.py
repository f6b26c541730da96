"""`kesu insight train|evaluate|backtest|forecast|warn|groups|topics`."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError


def _dump(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=None, default=str)


class Command(BaseCommand):
    help = "文本智能：训练分类模型、评估、回测、预测、预警"

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="sub", required=True)

        p = sub.add_parser("train", help="用已结案案件训练分类模型（不劣于现用模型才替换）")
        p.add_argument("--min-cases", type=int, default=None)
        p.add_argument("--json", action="store_true")

        p = sub.add_parser("evaluate", help="在 CSV 上训练并评估（或用本系统已结案案件按时间切分评估）")
        p.add_argument("--train", "--train-csv", dest="train", help="训练集 CSV")
        p.add_argument("--test", "--csv", dest="test", help="测试集 CSV")
        p.add_argument("--text-column", default="text")
        p.add_argument("--label-column", default="label")
        p.add_argument("--json", action="store_true")

        p = sub.add_parser("backtest", help="滚动起点回测预测模型")
        p.add_argument("series")
        p.add_argument("--date-column", default="date")
        p.add_argument("--count-column", default="count")
        p.add_argument("--horizon", type=int, default=7)
        p.add_argument("--origins", type=int, default=12)
        p.add_argument("--step", type=int, default=7)
        p.add_argument("--calendar", choices=["cn", "us", "none"], default="cn")
        p.add_argument("--json", action="store_true")

        p = sub.add_parser("forecast", help="预测未来 2/7/30 天投诉量")
        p.add_argument("--horizon", type=int, default=30)
        p.add_argument("--top", type=int, default=5)
        p.add_argument("--json", action="store_true")

        p = sub.add_parser("warn", help="激增预警（默认检查昨天；--hourly 检查危机渠道上一小时）")
        p.add_argument("--day", help="YYYY-MM-DD")
        p.add_argument("--hourly", action="store_true")
        p.add_argument("--no-deliver", action="store_true")

        sub.add_parser("groups", help="群体投诉识别")

        p = sub.add_parser("topics", help="新兴主题（默认：截至昨天的一周）")
        p.add_argument("--week-end", help="YYYY-MM-DD")
        p.add_argument("--json", action="store_true")

    def handle(self, *args, **opts) -> None:
        getattr(self, "_" + opts["sub"])(opts)

    # -- subcommands ---------------------------------------------------------------------------------
    def _train(self, opts) -> None:
        from kesu.insight.selectors import model_card
        from kesu.insight.services import train

        result = train(min_cases=opts["min_cases"])
        if opts["json"]:
            card = model_card(result.model) if result.model else None
            if card:
                card.pop("confusion", None)
            self.stdout.write(_dump({"status": result.status, "message": result.message, "model": card}))
            return
        self.stdout.write(result.message)
        if result.model:
            m = result.model.metrics
            self.stdout.write(
                f"v{result.model.version}: 训练 {result.model.n_train} 件 / 验证 {result.model.n_validation} 件，"
                f"准确率 {m.get('accuracy')}，macro-F1 {m.get('macro_f1')}，阈值 {result.model.threshold:.2f}"
            )

    def _evaluate(self, opts) -> None:
        from kesu.insight import evaluation

        if bool(opts["train"]) != bool(opts["test"]):
            raise CommandError("--train 与 --test 须同时给出（或都不给，评估本系统的已结案案件）")
        if opts["train"]:
            try:
                tr = evaluation.read_labelled_csv(opts["train"], opts["text_column"], opts["label_column"])
                te = evaluation.read_labelled_csv(opts["test"], opts["text_column"], opts["label_column"])
            except (OSError, ValueError) as exc:
                raise CommandError(str(exc))
            result = evaluation.evaluate_texts(*tr, *te)
        else:
            result = self._evaluate_db()
        if opts["json"]:
            out = {k: v for k, v in result.items() if k not in ("confusion",)}
            self.stdout.write(_dump(out))
            return
        b = result.get("baseline", {})
        self.stdout.write(
            f"训练 {result['n_train']} 条，测试 {result['n_test']} 条\n"
            f"模型：准确率 {result['accuracy']:.4f}，macro-F1 {result['macro_f1']:.4f}，"
            f"训练 {result.get('seconds_train')} 秒，{result.get('texts_per_second')} 条/秒"
            f"（按 CPU 时间 {result.get('texts_per_cpu_second')} 条/秒）\n"
            + (
                f"基线（字符 TF-IDF + 线性 SVM）：准确率 {b['accuracy']:.4f}，macro-F1 {b['macro_f1']:.4f}\n"
                if b
                else ""
            )
            + f"多数类：准确率 {result['majority']['accuracy']:.4f}"
        )
        if "keywords" in result:
            self.stdout.write(f"关键词规则：准确率 {result['keywords']['accuracy']:.4f}")
        for label, row in result.get("per_class", {}).items():
            self.stdout.write(
                f"  {label}: P {row['precision']:.3f} R {row['recall']:.3f} F1 {row['f1']:.3f} n={row['support']}"
            )

    def _evaluate_db(self) -> dict[str, Any]:
        from kesu.insight import classifier as clf
        from kesu.insight import evaluation
        from kesu.insight.repeats import case_text
        from kesu.insight.services import keyword_table, training_cases

        cases = list(training_cases())
        if len(cases) < 20:
            raise CommandError(f"已结案且已分类的案件只有 {len(cases)} 件，不足以评估")
        train_cases, test_cases = clf.time_ordered_split(cases, [c.received_at for c in cases], 0.2)
        return evaluation.evaluate_texts(
            [case_text(c) for c in train_cases],
            [c.category.code for c in train_cases],
            [case_text(c) for c in test_cases],
            [c.category.code for c in test_cases],
            keywords=keyword_table(),
        )

    def _backtest(self, opts) -> None:
        from kesu.insight import evaluation

        try:
            days, values = evaluation.read_series_csv(
                opts["series"], opts["date_column"], opts["count_column"]
            )
            result = evaluation.backtest_series(
                days,
                values,
                horizon=opts["horizon"],
                origins=opts["origins"],
                step=opts["step"],
                calendar=opts["calendar"],
            )
        except (OSError, ValueError, KeyError) as exc:
            raise CommandError(str(exc))
        if opts["json"]:
            self.stdout.write(_dump(result))
            return
        self.stdout.write(f"回测：{result['origins']} 个起点，预测 {result['horizon']} 天")
        self.stdout.write(
            f"  {result['model']}: MASE {result['mase']} WAPE {result['wape']} 80%覆盖 {result['coverage_80']}"
        )
        for k, v in {**result["baselines"], **result.get("alternatives", {})}.items():
            self.stdout.write(f"  {k}: MASE {v['mase']} WAPE {v['wape']} 80%覆盖 {v['coverage_80']}")
        self.stdout.write(f"胜出：{result['winner']}")

    def _forecast(self, opts) -> None:
        from kesu.insight.services import make_forecast

        run = make_forecast(horizon=opts["horizon"], top=opts["top"])
        if run is None:
            raise CommandError("历史数据不足 70 天，无法预测")
        if opts["json"]:
            self.stdout.write(_dump({"model": run.model_name, "origin": run.origin, "series": run.series}))
            return
        self.stdout.write(f"模型 {run.model_name}（回测胜出），起点 {run.origin}")
        for s in run.series:
            sums = "，".join(f"未来{h}天 {v}" for h, v in s["sums"].items())
            self.stdout.write(f"  {s['label']}: {sums}")

    def _warn(self, opts) -> None:
        from kesu.insight.services import run_hourly_checks, run_surge_checks

        deliver = not opts["no_deliver"]
        if opts["hourly"]:
            warnings = run_hourly_checks(deliver=deliver)
        else:
            day = dt.date.fromisoformat(opts["day"]) if opts["day"] else None
            warnings = run_surge_checks(day, deliver=deliver)
        for w in warnings:
            self.stdout.write(w.message)
        self.stdout.write(f"预警 {len(warnings)} 条")

    def _groups(self, opts) -> None:
        from kesu.insight.services import run_group_detection

        alerts = run_group_detection()
        for a in alerts:
            self.stdout.write(a.title)
        self.stdout.write(f"群体投诉 {len(alerts)} 起")

    def _topics(self, opts) -> None:
        from kesu.insight.services import run_topic_detection

        week_end = dt.date.fromisoformat(opts["week_end"]) if opts["week_end"] else None
        run = run_topic_detection(week_end)
        if opts["json"]:
            self.stdout.write(
                _dump({"week_start": run.week_start, "week_end": run.week_end, "topics": run.topics})
            )
            return
        for t in run.topics:
            self.stdout.write(
                f"{t['label']}: {t['size']} 件，增长 {t['growth']} 倍，涉及 {'、'.join(t['departments'])}"
            )
        self.stdout.write(
            f"{run.week_start}–{run.week_end}：新兴主题 {len(run.topics)} 个（本周 {run.n_recent} 件）"
        )
