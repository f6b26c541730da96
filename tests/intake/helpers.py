"""Builders for real-looking import files (written by the tests themselves, no fixture files)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from kesu.intake.services import save_source

HEADER = [
    "工单号",
    "受理时间",
    "渠道",
    "投诉类别",
    "客户姓名",
    "联系电话",
    "投诉内容",
    "状态",
    "结案时间",
    "处理结果",
]


def crm_source(code: str = "crm-east"):
    """A CRM export with its own codes for channels, categories, departments, statuses and outcomes."""
    return save_source(
        code,
        name="华东呼叫中心 CRM",
        mapping={
            "external_id": ["工单号"],
            "received_at": ["受理时间"],
            "channel": ["渠道"],
            "category": ["投诉类别"],
            "customer_name": ["客户姓名", "客户信息/姓名"],
            "customer_phone": ["联系电话", "客户信息/联系电话"],
            "description": ["投诉内容"],
            "department": ["责任部门"],
            "status": ["状态"],
            "closed_at": ["结案时间"],
            "outcome": ["处理结果"],
            "extra.handler_name": ["原经办人"],
        },
        value_maps={
            "channel": {"01": "phone", "02": "web", "09": "regulator_local"},
            "category": {"A1": "product.defect", "B2": "billing.wrong", "C3": "service.attitude"},
            "department": {"D07": "CLAIMS", "D01": "SERVICE"},
            "status": {"办结": "closed", "在办": "registered", "无效": "invalid"},
            "outcome": {"客户满意": "accepted", "依法维持": "lawful"},
        },
    )


def good_rows(n: int, start: int = 1, *, closed: bool = False) -> list[list[str]]:
    rows = []
    for i in range(start, start + n):
        rows.append(
            [
                f"WO{i:06d}",
                f"2026-03-{(i % 28) + 1:02d} 09:{i % 60:02d}",
                "01",
                "A1",
                f"客户{i}",
                f"139{i:08d}",
                f"热水器第{i}台漏水，要求上门维修。",
                "办结" if closed else "在办",
                f"2026-04-{(i % 28) + 1:02d} 10:00" if closed else "",
                "客户满意" if closed else "",
            ]
        )
    return rows


def write_csv(path: Path, rows: list[list[str]], *, encoding: str = "utf-8", header=HEADER) -> Path:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path
