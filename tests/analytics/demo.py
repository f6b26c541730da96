"""A small demo-like data set: two months of complaints over categories, branches and channels."""

from __future__ import annotations

import datetime as dt

from kesu.cases.services import perform
from tests.analytics.util import at, close, register
from tests.factories import department

# (category, branch, product, channel, count in October 2025, count in November 2025)
PLAN = [
    ("service.attitude", "EAST", "家用热水器", "phone", 4, 9),
    ("service.attitude", "SOUTH", "家用热水器", "phone", 1, 2),
    ("product.defect", "EAST", "净水器", "web", 6, 5),
    ("product.defect", "SOUTH", "净水器", "app", 3, 3),
    ("billing.wrong", "SOUTH", "延保服务", "phone", 5, 2),
    ("delivery.delay", "EAST", "净水器", "chat", 2, 2),
    ("contract.cancel", "SOUTH", "延保服务", "internet", 0, 1),
]


def build(org) -> dict:
    department("SOUTH", "华南分公司", org.hq, kind="branch")
    made = []
    for month, index in ((10, 4), (11, 5)):
        day = 1
        for category, branch, product, channel, *counts in PLAN:
            for i in range(counts[index - 4]):
                when = at(2025, month, 1 + (day % 27), 9 + i % 8)
                day += 1
                made.append(
                    register(
                        org,
                        when,
                        category=category,
                        branch=branch,
                        product=product,
                        channel=channel,
                        region="上海" if branch == "EAST" else "广州",
                        subject=f"{product}问题",
                    )
                )
    # Close the first half of each month's cases a day after receipt.
    for case in made[::2]:
        if case.level not in ("normal", "urgent"):  # major/crisis cases need a panel review first
            continue
        close(org, case, case.received_at + dt.timedelta(days=1))
    # One group complaint, one overdue case.
    group = register(org, at(2025, 11, 20), category="product.safety", branch="EAST", people_count=6)
    perform(group, "accept", org.intake, now=at(2025, 11, 20, 11))
    return {"cases": made, "group": group}
