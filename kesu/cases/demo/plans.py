"""Planning a year of complaints: arrival times, customers, categories and repeats, before any is written."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.utils.crypto import salted_hmac

from kesu.cases.demo.company import chinese_name
from kesu.cases.demo.texts import (
    CATEGORY_TEXTS,
    CATEGORY_WEIGHTS,
    CHANNEL_WEIGHTS,
    CITIES,
    DISEASES,
    GROUP_TEXTS,
    INQUIRIES,
    PRODUCTS,
    REASONS,
    REPORTS,
    SUB_BRANCH_OF_CITY,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
CLIENT_KEY_PREFIX = "demo:"


def demo_client_key(seed: int, index: int) -> str:
    """The client key of the demo's `index`-th complaint: stable for a seed (a second run finds its
    cases) but unguessable without the installation's SECRET_KEY — never `demo:<seed>:<n>` in sequence,
    which anyone could enumerate."""
    digest = salted_hmac("kesu.cases.demo.client_key", f"{seed}:{index}").hexdigest()[:32]
    return f"{CLIENT_KEY_PREFIX}{seed}:{digest}"


@dataclass
class Plan:
    index: int
    received_at: dt.datetime
    data: dict[str, Any]
    region: str
    intake: str
    repeat: bool = False


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _phone(rng: random.Random) -> str:
    return rng.choice(["138", "139", "136", "158", "186", "135", "150", "177", "189", "131"]) + "".join(
        rng.choice("0123456789") for _ in range(8)
    )


def _received_times(rng: random.Random, count: int, now: dt.datetime, days: int) -> list[dt.datetime]:
    """Complaint arrival times over the last `days` days: weekday-heavy, business hours, a slight
    upward trend, and a surge (a typhoon in 华南) about four months ago."""
    start = (now - dt.timedelta(days=days)).astimezone(SHANGHAI)
    day_weights = []
    for d in range(days):
        day = start + dt.timedelta(days=d)
        w = 1.0 + 0.4 * d / days
        if day.weekday() >= 5:
            w *= 0.45
        if 115 <= days - d <= 125:
            w *= 2.2
        day_weights.append(w)
    picks = rng.choices(range(days), weights=day_weights, k=count)
    times = []
    for d in picks:
        day = (start + dt.timedelta(days=d)).replace(hour=0, minute=0, second=0, microsecond=0)
        hour = rng.choices(
            range(24), weights=[0.2] * 8 + [6, 9, 9, 8, 4, 7, 8, 8, 7, 5, 3, 2, 1.5, 1] + [0.3] * 2
        )[0]
        t = day + dt.timedelta(hours=hour, minutes=rng.randrange(60), seconds=rng.randrange(60))
        times.append(min(t, now - dt.timedelta(minutes=rng.randrange(5, 120))).astimezone(dt.UTC))
    times.sort()
    return times


def plan_cases(count: int, *, seed: int, now: dt.datetime, days: int = 365, channels: set[str]) -> list[Plan]:
    rng = random.Random(seed)
    times = _received_times(rng, count, now, days)
    channel_weights = {k: v for k, v in CHANNEL_WEIGHTS.items() if k in channels} or {sorted(channels)[0]: 1}
    plans: list[Plan] = []
    earlier: list[tuple[dt.datetime, dict[str, Any], str]] = []  # complaints that can be repeated
    for i, received in enumerate(times):
        region = rng.choices(["华东", "华南", "华北"], weights=[45, 32, 23])[0]
        if 115 <= (now - received).days <= 125 and rng.random() < 0.5:
            region = "华南"  # the typhoon surge
        city = rng.choice(CITIES[region])
        intake = rng.choice(["intake", "intake", "intake2"])
        roll = rng.random()
        channel = _weighted(rng, channel_weights)
        local = received.astimezone(SHANGHAI)
        fill = {
            "date": f"{(local - dt.timedelta(days=rng.randint(10, 60))):%m月%d日}",
            "days": rng.randint(12, 45),
            "city": city,
            "reason": rng.choice(REASONS),
            "disease": rng.choice(DISEASES),
        }
        # A repeat: the same customer, the same matter, within two months of an earlier complaint.
        recent = [e for e in earlier[-300:] if dt.timedelta(days=2) < received - e[0] < dt.timedelta(days=60)]
        if recent and rng.random() < 0.08:
            _t, base, _r = rng.choice(recent)
            data = {
                **{k: v for k, v in base.items() if k not in ("people_count", "flags")},
                "received_at": received.isoformat(),
                "channel": channel
                if rng.random() < 0.5
                else _weighted(rng, {"phone": 3, "regulator_local": 1}),
                "description": "再次投诉：" + base["description"] + " 上次反映后至今没有解决。",
                "client_key": demo_client_key(seed, i),
            }
            plans.append(Plan(i, received, data, _r, intake, repeat=True))
            continue
        customer = {"name": chinese_name(rng), "phone": _phone(rng)}
        if rng.random() < 0.2:
            customer["email"] = f"user{rng.randrange(10**6)}@example.cn"
        data: dict[str, Any] = {
            "channel": channel,
            "received_at": received.isoformat(),
            "customer": customer,
            "region": region,
            "branch": SUB_BRANCH_OF_CITY.get(city, ""),
            "client_key": demo_client_key(seed, i),
        }
        if roll < 0.12 and channel not in ("regulator_local", "regulator_national", "media", "12315"):
            kind, text = rng.choice(INQUIRIES)
            data.update({"kind": kind, "description": text})
        elif roll < 0.135:
            data.update(
                {
                    "kind": "report",
                    "channel": rng.choice(["phone", "letter", "email", "web"]),
                    "category": "other.misc",
                    "description": rng.choice(REPORTS).format(**fill),
                }
            )
            if rng.random() < 0.5:
                data["is_anonymous"] = True
                data.pop("customer")
        else:
            code = _weighted(rng, CATEGORY_WEIGHTS)
            spec = CATEGORY_TEXTS[code]
            product = rng.choice(spec["products"])
            lo, hi = spec["amount"]
            amount = rng.randint(lo, hi) if hi else 0
            fill.update(product=product, amount=max(amount // 2, 100), amount2=max(amount, 300))
            description = rng.choice(spec["texts"]).format(**fill)
            data.update(
                {
                    "kind": "complaint",
                    "category": code,
                    "description": description,
                    "demands": rng.choice(spec["demands"]),
                    "product": product,
                    "business_type": PRODUCTS.get(product, ""),
                    "subject_no": f"P{rng.randint(31, 44)}0{rng.randint(1000000, 9999999)}",
                }
            )
            customer["policy_no"] = data["subject_no"]
            if amount:
                data["claimed_amount"] = str(amount)
            if rng.random() < 0.025:
                people = rng.choice([5, 6, 8, 12, 15, 23, 40])
                data["people_count"] = people
                data["description"] = rng.choice(GROUP_TEXTS).format(people=people, **fill) + description
            flags = []
            if code.startswith("claims") and rng.random() < 0.03:
                flags.append("injury")
            if rng.random() < 0.015:
                flags.append("lawyer")
            if channel == "media" or rng.random() < 0.005:
                flags.append("media")
            if flags:
                data["flags"] = flags
            earlier.append((received, {k: v for k, v in data.items() if k != "client_key"}, region))
        plans.append(Plan(i, received, data, region, intake))
    return plans
