"""The demo company 华诚保险 (fictitious): departments, staff in every role, the known password.

`ensure_org()` builds it idempotently; the benchmarks reuse it (see bench/).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

from kesu.org import roles as R
from kesu.org.models import Department, Staff
from kesu.org.services import create_staff, ensure_role_groups

DEMO_PASSWORD = "kesu-demo-2025"
COMPANY_NAME = "华诚保险股份有限公司"
DEMO_PRESET = "insurance"


# (code, name, parent, kind, region)
DEPARTMENTS: list[tuple[str, str, str | None, str, str]] = [
    ("HQ", "华诚保险总公司", None, "head_office", "上海"),
    ("SERVICE", "客户服务部", "HQ", "functional", "上海"),
    ("QUALITY", "服务质量管理部", "HQ", "functional", "上海"),
    ("LEGAL", "法律事务部", "HQ", "functional", "上海"),
    ("LOGISTICS", "单证物流部", "HQ", "functional", "上海"),
    ("FINANCE", "财务部", "HQ", "functional", "上海"),
    ("SALES", "销售管理部", "HQ", "functional", "上海"),
    ("RISK", "风险合规部", "HQ", "functional", "上海"),
    ("CLAIMS", "理赔部", "HQ", "functional", "上海"),
    ("OPERATIONS", "运营管理部", "HQ", "functional", "上海"),
    ("EAST", "华东分公司", "HQ", "branch", "华东"),
    ("EAST-CLAIMS", "华东分公司理赔部", "EAST", "functional", "华东"),
    ("EAST-SERVICE", "华东分公司客户服务部", "EAST", "functional", "华东"),
    ("EAST-HZ", "杭州中心支公司", "EAST", "sub_branch", "华东"),
    ("EAST-NJ", "南京中心支公司", "EAST", "sub_branch", "华东"),
    ("EAST-SUZ", "苏州支公司", "EAST", "sub_branch", "华东"),
    ("SOUTH", "华南分公司", "HQ", "branch", "华南"),
    ("SOUTH-CLAIMS", "华南分公司理赔部", "SOUTH", "functional", "华南"),
    ("SOUTH-SERVICE", "华南分公司客户服务部", "SOUTH", "functional", "华南"),
    ("SOUTH-SZ", "深圳支公司", "SOUTH", "sub_branch", "华南"),
    ("SOUTH-FS", "佛山支公司", "SOUTH", "sub_branch", "华南"),
    ("NORTH", "华北分公司", "HQ", "branch", "华北"),
    ("NORTH-CLAIMS", "华北分公司理赔部", "NORTH", "functional", "华北"),
    ("NORTH-SERVICE", "华北分公司客户服务部", "NORTH", "functional", "华北"),
    ("NORTH-TJ", "天津支公司", "NORTH", "sub_branch", "华北"),
    ("NORTH-SJZ", "石家庄支公司", "NORTH", "sub_branch", "华北"),
]

# The departments' English names (the English UI; kesu.org.i18n.display_name).
DEPARTMENT_NAMES_EN: dict[str, str] = {
    "HQ": "Huacheng Insurance Head Office",
    "SERVICE": "Customer Service",
    "QUALITY": "Service Quality Management",
    "LEGAL": "Legal Affairs",
    "LOGISTICS": "Documents and Logistics",
    "FINANCE": "Finance",
    "SALES": "Sales Management",
    "RISK": "Risk and Compliance",
    "CLAIMS": "Claims",
    "OPERATIONS": "Operations Management",
    "EAST": "East China Branch",
    "EAST-CLAIMS": "East China Branch Claims",
    "EAST-SERVICE": "East China Branch Customer Service",
    "EAST-HZ": "Hangzhou Central Sub-branch",
    "EAST-NJ": "Nanjing Central Sub-branch",
    "EAST-SUZ": "Suzhou Sub-branch",
    "SOUTH": "South China Branch",
    "SOUTH-CLAIMS": "South China Branch Claims",
    "SOUTH-SERVICE": "South China Branch Customer Service",
    "SOUTH-SZ": "Shenzhen Sub-branch",
    "SOUTH-FS": "Foshan Sub-branch",
    "NORTH": "North China Branch",
    "NORTH-CLAIMS": "North China Branch Claims",
    "NORTH-SERVICE": "North China Branch Customer Service",
    "NORTH-TJ": "Tianjin Sub-branch",
    "NORTH-SJZ": "Shijiazhuang Sub-branch",
}

# The logins shown after loading: (username, name, department, roles, supervisor, title)
KEY_STAFF: list[tuple[str, str, str, list[str], str | None, str]] = [
    ("admin", "系统管理员", "HQ", [R.ADMIN], None, "系统管理员"),
    ("gm", "王建国", "HQ", [R.GENERAL_MANAGER], None, "总经理"),
    ("manager", "李红梅", "SERVICE", [R.CS_MANAGER], "gm", "客户服务部总经理"),
    ("supervisor", "张伟", "SERVICE", [R.SUPERVISOR], "manager", "投诉管理主管"),
    ("supervisor2", "陈晓燕", "SERVICE", [R.SUPERVISOR], "manager", "投诉管理主管"),
    ("intake", "刘洋", "SERVICE", [R.INTAKE], "supervisor", "客服受理专员"),
    ("intake2", "黄丽", "SERVICE", [R.INTAKE], "supervisor", "客服受理专员"),
    ("claims_head", "马志强", "CLAIMS", [R.DEPT_HEAD, R.HANDLER], "manager", "理赔部负责人"),
    ("handler", "林晓峰", "CLAIMS", [R.HANDLER], "claims_head", "理赔经办"),
    ("followup", "赵敏", "SERVICE", [R.FOLLOWUP], "supervisor", "回访专员"),
    ("followup2", "吴倩", "SERVICE", [R.FOLLOWUP], "supervisor", "回访专员"),
    ("analyst", "孙磊", "HQ", [R.ANALYST], "gm", "投诉数据分析师"),
    ("risk", "郑洁", "RISK", [R.RISK, R.HANDLER, R.DEPT_HEAD], "gm", "风险合规部负责人"),
    ("risk2", "冯强", "RISK", [R.RISK, R.HANDLER], "risk", "合规专员"),
    ("archivist", "何静", "HQ", [R.ARCHIVIST], "manager", "档案管理员"),
    ("chairman", "周正", "HQ", [R.CHAIRMAN], None, "董事长"),
]

# Departments that handle cases: a head (dept_head + handler) and handlers with generated names.
HANDLING_DEPARTMENTS: dict[str, int] = {
    "CLAIMS": 2,  # plus claims_head and handler above
    "OPERATIONS": 3,
    "SERVICE": 3,
    "FINANCE": 2,
    "SALES": 2,
    "LEGAL": 2,
    "QUALITY": 2,
    "LOGISTICS": 2,
    "EAST-CLAIMS": 3,
    "SOUTH-CLAIMS": 3,
    "NORTH-CLAIMS": 3,
    "EAST-SERVICE": 2,
    "SOUTH-SERVICE": 2,
    "NORTH-SERVICE": 2,
}

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = (
    "伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀兰 霞 平 刚 桂英 华 建华 文 玉兰 辉 建国 红 鑫 "
    "晓东 丹 萍 海燕 志刚 雪梅 俊 婷 宇 浩 欣怡 子涵 梓轩 一鸣 思远 佳怡 雨涵 晨 博文 晓燕 建平 国强 "
    "立新 春梅 秋菊 德明 淑珍 宏伟 美玲 志红 亚楠 嘉怡 天宇 文静 凯 琳 兵 斌 蕾 凤英 永强"
).split()


def chinese_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


@dataclass
class DemoOrg:
    departments: dict[str, Department]
    users: dict[str, Any]  # username → User
    handlers_by_dept: dict[str, list[Any]] = field(default_factory=dict)
    heads_by_dept: dict[str, Any] = field(default_factory=dict)

    def user(self, username: str):
        return self.users[username]


def ensure_org(seed: int = 7) -> DemoOrg:
    """Create (or find) the demo company's departments and staff. Idempotent."""
    ensure_role_groups()
    depts: dict[str, Department] = {}
    for code, name, parent, kind, region in DEPARTMENTS:
        dept = Department.objects.filter(code=code).first()
        if dept is None:
            dept = Department.objects.create(
                code=code,
                name=name,
                name_en=DEPARTMENT_NAMES_EN.get(code, ""),
                parent=depts.get(parent) if parent else None,
                kind=kind,
                region=region,
            )
        elif not dept.name_en and dept.name == name and code in DEPARTMENT_NAMES_EN:
            dept.name_en = DEPARTMENT_NAMES_EN[code]
            dept.save(update_fields=["name_en"])
        depts[code] = dept

    User = get_user_model()
    rng = random.Random(seed)
    users: dict[str, Any] = {}
    # Hashed once for all the accounts (they share the documented demo password): a hash per account
    # was 62 key derivations, about 20 s of CPU of `make demo` (issue 19).
    hashed: list[str] = []

    def person(username, name, dept_code, role_codes, supervisor, title):
        user = User.objects.filter(username=username).first()
        if user is None:
            sup = users[supervisor].staff if supervisor else None
            if not hashed:
                hashed.append(make_password(DEMO_PASSWORD))
            user = create_staff(
                username=username,
                full_name=name,
                department=depts[dept_code],
                role_codes=role_codes,
                password_hash=hashed[0],
                supervisor=sup,
                email=f"{username}@huacheng-demo.cn",
                title=title,
            ).user
            if R.ADMIN in role_codes:
                user.is_superuser = user.is_staff = True
                user.save(update_fields=["is_superuser", "is_staff"])
        users[username] = user
        return user

    for row in KEY_STAFF:
        person(*row)

    handlers: dict[str, list[Any]] = {"CLAIMS": [users["claims_head"], users["handler"]]}
    heads: dict[str, Any] = {"CLAIMS": users["claims_head"], "RISK": users["risk"]}
    for code, count in HANDLING_DEPARTMENTS.items():
        slug = code.lower().replace("-", "_")
        if code != "CLAIMS":
            head = person(
                f"{slug}_head",
                chinese_name(rng),
                code,
                [R.DEPT_HEAD, R.HANDLER],
                "manager",
                f"{depts[code].name}负责人",
            )
            heads[code] = head
            handlers.setdefault(code, []).append(head)
        for n in range(1, count + 1):
            u = person(
                f"{slug}_{n}",
                chinese_name(rng),
                code,
                [R.HANDLER],
                f"{slug}_head" if code != "CLAIMS" else "claims_head",
                "经办人",
            )
            handlers.setdefault(code, []).append(u)
    handlers["RISK"] = [users["risk"], users["risk2"]]
    return DemoOrg(departments=depts, users=users, handlers_by_dept=handlers, heads_by_dept=heads)


def demo_logins() -> list[tuple[str, str, str, str]]:
    """(username, password, name, role labels) of the key demo accounts."""
    return [
        (u, DEMO_PASSWORD, name, "、".join(str(R.ROLE_LABELS[r]) for r in role_codes))
        for u, name, _dept, role_codes, _sup, _title in KEY_STAFF
    ]


def staff_count() -> int:
    return Staff.objects.count()
