"""Small generated data for the insight tests (never the real evaluation data)."""

from __future__ import annotations

import random

PHRASES = {
    "delivery.delay": [
        "快递迟迟没到",
        "物流显示停滞五天",
        "包裹延误一周",
        "配送超时还没送到",
        "订单发货太慢",
    ],
    "billing.wrong": ["账单多收了费用", "重复扣费两次", "信用卡被乱收费", "月费扣错金额", "莫名其妙扣了年费"],
    "service.attitude": [
        "客服态度恶劣",
        "工作人员辱骂我",
        "接线员不耐烦挂电话",
        "柜台人员态度很差",
        "经理说话很难听",
    ],
}
FILLER = [
    "我上周",
    "昨天",
    "本人",
    "家里老人",
    "这次",
    "请尽快处理",
    "非常失望",
    "希望给个说法",
    "已经打了电话",
]


def text_for(label: str, rng: random.Random) -> str:
    parts = rng.sample(PHRASES[label], 2) + rng.sample(FILLER, 2)
    rng.shuffle(parts)
    return "，".join(parts) + f"，单号{rng.randint(1000, 9999)}。"


def labelled(n_per_class: int, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n_per_class):
        for label in PHRASES:
            texts.append(text_for(label, rng))
            labels.append(label)
    return texts, labels
