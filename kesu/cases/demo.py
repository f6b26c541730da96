"""Demo data: a believable insurer (华诚保险, fictitious) with a year of complaints.

`ensure_org()` builds the organisation (head office, three branches with sub-branches and
functional departments, staff in every role with a known password). `load_demo_cases()` registers
complaints through `register_case` and walks each one through its lifecycle with `perform`, both
with `now=` in the past, so every timeline is true: the status, the events and their times agree.

The benchmarks reuse `ensure_org()` (see bench/common.py).
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from kesu.errors import DomainError
from kesu.org import roles as R
from kesu.org.models import Department, Staff
from kesu.org.services import create_staff, ensure_role_groups
from kesu.policy.models import Category, Channel

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEMO_PASSWORD = "kesu-demo-2025"
COMPANY_NAME = "华诚保险股份有限公司"
DEMO_PRESET = "insurance"
CLIENT_KEY_PREFIX = "demo:"


def demo_client_key(seed: int, index: int) -> str:
    """The client key of the demo's `index`-th complaint: stable for a seed (a second run finds its
    cases) but unguessable without the installation's SECRET_KEY — never `demo:<seed>:<n>` in sequence,
    which anyone could enumerate."""
    digest = salted_hmac("kesu.cases.demo.client_key", f"{seed}:{index}").hexdigest()[:32]
    return f"{CLIENT_KEY_PREFIX}{seed}:{digest}"


# --- organisation ------------------------------------------------------------------------------------

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
                code=code, name=name, parent=depts.get(parent) if parent else None, kind=kind, region=region
            )
        depts[code] = dept

    User = get_user_model()
    rng = random.Random(seed)
    users: dict[str, Any] = {}

    def person(username, name, dept_code, role_codes, supervisor, title):
        user = User.objects.filter(username=username).first()
        if user is None:
            sup = users[supervisor].staff if supervisor else None
            user = create_staff(
                username=username,
                full_name=name,
                department=depts[dept_code],
                role_codes=role_codes,
                password=DEMO_PASSWORD,
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


# --- texts -----------------------------------------------------------------------------------------

CITIES = {
    "华东": ["上海", "杭州", "南京", "苏州", "宁波", "无锡"],
    "华南": ["广州", "深圳", "佛山", "东莞", "珠海"],
    "华北": ["北京", "天津", "石家庄", "唐山", "保定"],
}
SUB_BRANCH_OF_CITY = {
    "杭州": "EAST-HZ",
    "宁波": "EAST-HZ",
    "南京": "EAST-NJ",
    "无锡": "EAST-NJ",
    "苏州": "EAST-SUZ",
    "上海": "EAST",
    "深圳": "SOUTH-SZ",
    "东莞": "SOUTH-SZ",
    "佛山": "SOUTH-FS",
    "珠海": "SOUTH-FS",
    "广州": "SOUTH",
    "天津": "NORTH-TJ",
    "唐山": "NORTH-TJ",
    "石家庄": "NORTH-SJZ",
    "保定": "NORTH-SJZ",
    "北京": "NORTH",
}
# product → business type (JR/T 0169 axis)
PRODUCTS = {
    "华诚安康重大疾病保险": "health",
    "华诚百万医疗保险": "health",
    "华诚鑫享年金保险": "life",
    "华诚福寿终身寿险": "life",
    "华诚少儿教育金保险": "life",
    "华诚综合意外伤害保险": "life",
    "机动车商业保险": "auto",
    "机动车交通事故责任强制保险": "auto",
    "华诚e家家庭财产保险": "property",
    "企业财产综合险": "property",
}
DISEASES = [
    "甲状腺癌",
    "乳腺癌",
    "急性心肌梗塞",
    "脑梗塞",
    "肺部结节",
    "糖尿病并发症",
    "阑尾炎",
    "腰椎间盘突出",
]
REASONS = ["急性阑尾炎", "骨折", "肺炎", "心脏支架手术", "车祸受伤", "胆结石手术"]

# category → (products, descriptions, demands, remedy, amount range)
CATEGORY_TEXTS: dict[str, dict[str, Any]] = {
    "claims.delay": {
        "products": ["华诚百万医疗保险", "机动车商业保险", "华诚综合意外伤害保险", "华诚安康重大疾病保险"],
        "texts": [
            "我于{date}因{reason}住院，出院后{days}天前就提交了全部理赔材料，至今仍未收到赔款。多次拨打客服电话，只说还在审核中，没有任何明确答复。",
            "我的车{date}在{city}发生追尾事故，定损已经完成半个多月，理赔款迟迟不到账，修理厂天天催我付修理费。",
            "家父去世后申请身故理赔，材料前后补交了三次，每次都说缺不同的材料，已经拖了{days}天，希望给一个明确的赔付时间。",
            "在{city}分公司递交的住院理赔申请已经超过{days}天没有结果，理赔员电话一直打不通。",
            "台风过后车辆被水淹，报案后查勘员三天后才到现场，到现在{days}天了还没有定损结论。",
        ],
        "demands": ["尽快完成理赔并支付赔款", "给出明确的赔付时间并说明拖延原因", "尽快赔付并对拖延给予说明"],
        "remedy": "compensation",
        "amount": (500, 30000),
    },
    "claims.amount": {
        "products": ["华诚百万医疗保险", "机动车商业保险", "华诚e家家庭财产保险", "华诚综合意外伤害保险"],
        "texts": [
            "我的{product}理赔只赔了{amount}元，实际医疗费花了{amount2}元，理赔员没有解释扣除的原因，要求重新核算。",
            "车辆定损金额只有{amount}元，4S店维修报价{amount2}元，定损员拒绝重新定损。",
            "家中漏水造成地板和家具损坏，损失约{amount2}元，公司只同意赔{amount}元，认为定损明显偏低。",
            "意外骨折理赔被扣除了自费药部分，但购买时业务员说全部医疗费用都能报销，对赔付金额{amount}元不认可。",
        ],
        "demands": ["按实际损失重新核定赔付金额", "补足差额赔款", "重新定损并书面说明扣除依据"],
        "remedy": "compensation",
        "amount": (800, 25000),
    },
    "claims.denied": {
        "products": ["华诚安康重大疾病保险", "华诚百万医疗保险", "华诚e家家庭财产保险", "华诚福寿终身寿险"],
        "texts": [
            "投保{product}两年，今年确诊{disease}，公司以投保前未如实告知为由拒赔。投保时业务员根本没有询问健康情况，要求撤销拒赔决定。",
            "家中因暴雨被淹，申请家财险理赔被拒，理由是不属于保险责任，但当初业务员说涵盖水渍损失。",
            "确诊{disease}后申请重疾理赔，公司认为不符合合同约定的疾病定义而拒赔，我认为理由不成立。",
            "住院理赔被拒，理由是在等待期内，但我的保单已经生效超过一年。",
        ],
        "demands": ["撤销拒赔决定，按合同赔付", "给出拒赔的书面依据并重新审核", "全额赔付保险金"],
        "remedy": "compensation",
        "amount": (5000, 200000),
    },
    "underwriting.surrender": {
        "products": ["华诚鑫享年金保险", "华诚福寿终身寿险", "华诚少儿教育金保险"],
        "texts": [
            "要求退保{product}，只能退{amount}元现金价值，而我已经交了{amount2}元保费。业务员当初说随时可以全额退，要求按已交保费退还。",
            "申请退保已经{days}天，退保款还没有到账，客服说在走流程。",
            "业务员离职后保单成了孤儿单，续期保费被扣后无人服务，要求退保并退还全部保费。",
        ],
        "demands": ["全额退还已交保费", "尽快支付退保款", "解除合同并退还保费"],
        "remedy": "refund",
        "amount": (1000, 60000),
    },
    "service.attitude": {
        "products": ["华诚鑫享年金保险", "机动车商业保险", "华诚百万医疗保险"],
        "texts": [
            "今天到{city}柜面办理保全业务，工作人员态度恶劣，不耐烦地让我自己看说明，还当众说我听不懂，要求道歉。",
            "客服热线的坐席语气生硬，没等我说完就挂断了电话，要求对该员工批评教育。",
            "理赔查勘员在事故现场对我大声呵斥，态度非常差。",
            "电话回访人员一天打了五次电话推销新产品，我明确拒绝后还出言不逊。",
        ],
        "demands": ["当面或书面道歉", "对相关人员批评教育并反馈处理结果", "道歉并保证不再发生"],
        "remedy": "explanation",
        "amount": (0, 0),
    },
    "service.efficiency": {
        "products": ["华诚百万医疗保险", "机动车商业保险", "华诚鑫享年金保险"],
        "texts": [
            "拨打客服热线排队等待了四十多分钟无人接听，留言后也一直没有回电。",
            "到{city}营业网点办理保单变更，排队两个多小时，只开了一个窗口。",
            "在App上提交的保单信息变更申请{days}天都没有处理。",
            "车险报案后救援车辆两个小时才到，期间多次催促无果。",
        ],
        "demands": ["尽快办理并说明原因", "改进服务效率", "给予合理补偿"],
        "remedy": "explanation",
        "amount": (0, 0),
    },
    "billing.wrong": {
        "products": ["华诚百万医疗保险", "华诚鑫享年金保险", "机动车商业保险"],
        "texts": [
            "银行卡在{date}被重复扣了两次保费，共{amount}元，要求退还多扣的费用。",
            "已经办理了取消自动续保，本月仍被扣款{amount}元。",
            "保单显示年缴保费{amount2}元，实际扣款{amount}元，金额对不上，要求说明。",
        ],
        "demands": ["退还多扣的费用", "说明扣费依据并更正", "退还扣款并取消自动续保"],
        "remedy": "refund",
        "amount": (100, 5000),
    },
    "billing.refund": {
        "products": ["华诚百万医疗保险", "华诚综合意外伤害保险", "华诚鑫享年金保险"],
        "texts": [
            "犹豫期内申请退保，至今未收到退还的保费{amount}元。",
            "保单批改后应退保费{amount}元，已经一个多月没有到账。",
        ],
        "demands": ["尽快退还保费", "说明退款进度"],
        "remedy": "refund",
        "amount": (200, 8000),
    },
    "sales.misleading": {
        "products": ["华诚鑫享年金保险", "华诚福寿终身寿险", "华诚少儿教育金保险"],
        "texts": [
            "在银行办业务时，业务员推销{product}，称是银行存款、保本保息，三年后可全额取出，现在才知道是保险，要求全额退还保费{amount2}元。",
            "电话销售人员承诺赠送体检卡和高额返利，签单后全部无法兑现，属于虚假宣传。",
            "业务员夸大分红收益，说每年收益不低于6%，实际分红不到1%。",
            "家中老人被业务员误导购买了{product}，老人并不清楚合同内容，要求解除合同。",
        ],
        "demands": ["解除合同并全额退还保费", "对销售人员严肃处理", "按宣传承诺兑现"],
        "remedy": "termination",
        "amount": (3000, 80000),
    },
    "contract.terms": {
        "products": ["华诚安康重大疾病保险", "华诚百万医疗保险", "机动车商业保险"],
        "texts": [
            "保险合同中关于{disease}的定义与医院诊断不一致，公司按条款拒绝赔付，条款解释明显不合理。",
            "车险条款中的免赔规定销售时没有说明，出险后才被告知，认为是格式条款，要求认定无效。",
        ],
        "demands": ["按有利于被保险人的解释处理", "重新审核并赔付"],
        "remedy": "compensation",
        "amount": (2000, 50000),
    },
    "contract.cancel": {
        "products": ["机动车商业保险", "华诚百万医疗保险"],
        "texts": [
            "要求解除自动续保协议，App上找不到入口，客服也说无法办理。",
            "车辆已经转卖，申请解除车险合同被要求提供各种材料，手续繁琐。",
        ],
        "demands": ["尽快解除合同", "退还剩余期间保费"],
        "remedy": "termination",
        "amount": (0, 3000),
    },
    "delivery.delay": {
        "products": ["华诚鑫享年金保险", "机动车商业保险", "企业财产综合险"],
        "texts": [
            "投保已经一个多月，纸质保单和发票仍未寄到，影响报销。",
            "申请补寄保单合同，快递单号查询不到，已经等了{days}天。",
        ],
        "demands": ["尽快寄送保单和发票", "提供电子保单"],
        "remedy": "explanation",
        "amount": (0, 0),
    },
    "other.misc": {
        "products": ["华诚百万医疗保险", "机动车商业保险"],
        "texts": [
            "App更新后一直无法登录，保单信息也查不到。",
            "个人信息被泄露，最近总接到自称贵公司的推销电话，要求查明原因。",
            "积分兑换的礼品迟迟没有发货。",
        ],
        "demands": ["尽快解决", "查明原因并答复"],
        "remedy": "explanation",
        "amount": (0, 0),
    },
}
CATEGORY_WEIGHTS = {
    "claims.delay": 22,
    "claims.amount": 14,
    "claims.denied": 8,
    "underwriting.surrender": 10,
    "service.attitude": 9,
    "service.efficiency": 8,
    "billing.wrong": 7,
    "billing.refund": 4,
    "sales.misleading": 10,
    "contract.terms": 3,
    "contract.cancel": 2,
    "delivery.delay": 2,
    "other.misc": 1,
}
INQUIRIES = [
    ("consultation", "咨询重大疾病保险的等待期是多久，等待期内确诊能否理赔。"),
    ("consultation", "咨询如何变更保单的受益人，需要带哪些材料。"),
    ("consultation", "咨询车险出险后多久内需要报案。"),
    ("query", "查询保单现金价值和历年分红情况。"),
    ("query", "查询理赔进度，报案号已提供。"),
    ("query", "查询续期保费的扣款日期。"),
    ("suggestion", "建议App增加电子发票下载功能。"),
    ("suggestion", "建议理赔进度能短信通知，不用每次打电话查询。"),
]
REPORTS = [
    "举报{city}某业务员私自收取客户保费未交公司入账，涉及多名客户。",
    "举报理赔人员与修理厂串通，虚报维修金额骗取赔款。",
    "举报代理人伪造客户签名办理保单贷款。",
    "举报某营业部负责人要求员工自费购买保险冲业绩。",
]
GROUP_TEXTS = [
    "{city}某小区{people}户业主联名投诉：同一场暴雨造成车辆被淹，理赔迟迟没有进展，要求统一答复。",
    "{people}名客户集体反映，同一业务员销售{product}时承诺高收益，均属误导销售，要求退保。",
    "某企业{people}名员工的团体意外险理赔被统一拒付，员工集体投诉。",
]
REPLIES = {
    "compensation": "经复核，同意按合同约定赔付{amount}元，款项将于3个工作日内到账，并就处理不及时向您致歉。",
    "refund": "经核实，已为您办理退费{amount}元，预计3个工作日内退回原支付账户。",
    "termination": "经核查销售过程存在不规范之处，同意解除合同并退还保费{amount}元，相关销售人员已按规定处理。",
    "explanation": "经调查核实，已对相关人员进行批评教育并向您致歉，我们将改进服务流程。",
}
NOTES = [
    "已电话联系客户，核实情况并告知处理时限。",
    "已调取通话录音和业务档案，正在核实。",
    "客户补充提供了发票和病历资料。",
    "已与分公司理赔部沟通，要求加快审核。",
]
CHANNEL_WEIGHTS = {
    "phone": 34,
    "app": 12,
    "web": 7,
    "chat": 11,
    "visit": 8,
    "letter": 2,
    "email": 4,
    "crm": 7,
    "regulator_local": 2.5,
    "regulator_national": 0.5,
    "12315": 0.8,
    "media": 0.3,
    "internet": 1.2,
}


# --- planning ---------------------------------------------------------------------------------------


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


# --- executing -----------------------------------------------------------------------------------------


class _Stop(Exception):
    """The next step would happen after now (or the case stalls there): the case stays where it is."""


@dataclass
class LoadReport:
    created: int = 0
    existing: int = 0
    failed: int = 0
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)


class _Walker:
    """Walks one case through its lifecycle with times in the past."""

    def __init__(self, case, plan: Plan, org: DemoOrg, rng: random.Random, now: dt.datetime):
        self.case, self.plan, self.org, self.rng, self.now = case, plan, org, rng, now
        self.t = case.events.get(seq=1).created_at

    def later(self, minutes: float = 0, hours: float = 0, days: float = 0, office: bool = True) -> None:
        """Move the clock on; staff act in office hours (08:30–19:30 Beijing time)."""
        self.t = self.t + dt.timedelta(minutes=minutes, hours=hours, days=days)
        if office:
            local = self.t.astimezone(SHANGHAI)
            minute_of_day = local.hour * 60 + local.minute
            if not 510 <= minute_of_day <= 1170:
                next_day = local if minute_of_day < 510 else local + dt.timedelta(days=1)
                local = next_day.replace(hour=8, minute=30, second=0) + dt.timedelta(
                    minutes=self.rng.uniform(0, 150)
                )
                self.t = local.astimezone(dt.UTC)
        if self.t > self.now:
            raise _Stop

    def act(self, action: str, actor, **data):
        from kesu.cases.services import perform

        return perform(self.case, action, actor, now=self.t, **data)

    def u(self, username: str):
        return self.org.users[username]


_ROUTES: dict[str, str] = {}


def _route(plan: Plan, category: str, org: DemoOrg, rng: random.Random) -> str:

    if category not in _ROUTES:
        _ROUTES[category] = (
            Category.objects.filter(code=category).values_list("department_code", flat=True).first()
            or "SERVICE"
        )
    code = _ROUTES[category]
    branch = {"华东": "EAST", "华南": "SOUTH", "华北": "NORTH"}[plan.region]
    if code in ("CLAIMS", "SERVICE") and rng.random() < 0.65:
        return f"{branch}-{code}"
    return code


def _lifecycle(w: _Walker) -> None:
    case, plan, rng, org = w.case, w.plan, w.rng, w.org
    age_days = (w.now - plan.received_at).total_seconds() / 86400
    # Recent cases sometimes stall in an open status (so every queue has something in it).
    stall = (
        rng.choice(
            ["accept", "assign", "start", "start", "propose", "propose", "propose", "approve", "reply"]
        )
        if (age_days < 45 and rng.random() < 0.55) or (age_days < 120 and rng.random() < 0.04)
        else None
    )
    intake = w.u(plan.intake)
    kind = plan.data.get("kind", "complaint")
    is_report = kind == "report"

    if stall == "accept":
        raise _Stop
    w.later(minutes=rng.uniform(5, 90))
    if kind in ("consultation", "query", "suggestion"):
        answers = {
            "consultation": "已向客户详细解释条款规定和办理流程，客户表示清楚。",
            "query": "已为客户查询并告知结果。",
            "suggestion": "感谢建议，已记录并转相关部门研究。",
        }
        w.act("answer_first_contact", intake, answer=answers[kind])
        _maybe_archive(w)
        return
    if not is_report and rng.random() < 0.04:
        reason = rng.choice(["not_specific", "no_contact", "out_of_remit", "anonymous"])
        w.act("mark_invalid", intake, reason=reason, note="经核实不符合有效投诉条件")
        _maybe_archive(w)
        return

    acceptor = w.u("risk") if is_report else intake
    accept_data = {}
    if plan.data.get("business_type"):
        accept_data["business_type"] = plan.data["business_type"]
    w.act("accept", acceptor, **accept_data)
    if stall == "assign":
        raise _Stop
    w.later(minutes=rng.uniform(5, 50))
    category = case.category.code if case.category else "other.misc"
    dept_code = "RISK" if is_report else _route(plan, category, org, rng)
    handler = rng.choice(org.handlers_by_dept.get(dept_code) or org.handlers_by_dept["SERVICE"])
    if is_report:
        handler = w.u("risk2")
    w.act("assign", acceptor, department=dept_code, handler=handler.pk)
    if stall == "start":
        raise _Stop
    w.later(hours=rng.uniform(0.3, 5))
    w.act("start_investigation", handler, contacted_customer=not case.is_anonymous, note=rng.choice(NOTES))
    head = org.heads_by_dept.get(dept_code, w.u("supervisor"))
    if not is_report and case.level == "normal" and rng.random() < 0.02:
        w.later(minutes=rng.uniform(10, 120))
        w.act("regrade", w.u("supervisor"), level="urgent", reason="客户情绪激动，表示将向监管部门和媒体反映")
    if rng.random() < 0.3:
        w.later(hours=rng.uniform(1, 20))
        w.act("add_note", handler, text=rng.choice(NOTES), contacted_customer=not case.is_anonymous)

    if not is_report and rng.random() < 0.12:
        w.later(hours=rng.uniform(2, 30))
        to = rng.choice([c for c in ("FINANCE", "LEGAL", "SALES", "OPERATIONS") if c != dept_code])
        ev = w.act(
            "request_collaboration",
            handler,
            department=to,
            question=rng.choice(
                [
                    "请协助核实该客户的缴费和退费记录。",
                    "请法律事务部就条款解释出具意见。",
                    "请提供该业务员的销售过程记录。",
                    "请核实保单承保及保全操作记录。",
                ]
            ),
        )
        w.later(days=rng.uniform(0.5, 6))
        w.act(
            "answer_collaboration",
            rng.choice(org.handlers_by_dept[to]),
            request_id=ev.payload["request_id"],
            answer="已核实，相关记录见附件说明，情况属实。",
        )

    if not is_report and rng.random() < 0.04:
        # 暂结案: the customer cannot be reached or waits for a third party (e.g. a court ruling).
        w.later(days=rng.uniform(1, 5))
        w.act(
            "suspend",
            handler,
            reason=rng.choice(["客户暂时联系不上", "等待法院判决结果", "等待第三方鉴定结论"]),
        )
        limit = w.t + dt.timedelta(days=92)
        if limit > w.now and rng.random() < 0.6:
            raise _Stop  # still suspended
        if rng.random() < 0.5 or limit > w.now:
            w.later(days=rng.uniform(5, 40))
            w.act("resume", handler, note="客户已恢复联系，继续处理")
        else:
            w.t = limit + dt.timedelta(hours=rng.uniform(1, 30))
            if w.t > w.now:
                raise _Stop
            w.act("expire_suspension", None)
            _maybe_archive(w)
            return

    if not is_report and rng.random() < 0.015:
        w.later(days=rng.uniform(1, 4))
        w.act("request_special_closure", handler, reason="客户诉求远超实际损失，且多次以投诉要挟获取额外利益")
        for role in list(case.proposals.order_by("-pk").first().required_roles):
            w.later(hours=rng.uniform(2, 20))
            w.act("approve", _approver(org, role, rng), comment="同意特殊结案")
        _maybe_archive(w)
        return

    rounds = 0
    while True:
        rounds += 1
        _resolve(w, handler, head, dept_code, stall if rounds == 1 else None)
        w.later(days=rng.uniform(5, 8))
        if kind not in ("complaint", "fault"):
            break
        follower = w.u(rng.choice(["followup", "followup2"]))
        score = (
            rng.choices([5, 4, 3, 2, 1], weights=[40, 30, 15, 10, 5])[0]
            if rounds == 1
            else rng.choice([3, 4, 4, 5])
        )
        ev = w.act(
            "follow_up",
            follower,
            score=score,
            comment={5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意，认为赔付偏低", 1: "非常不满意"}[
                score
            ],
        )
        if ev.payload.get("satisfied") or rounds >= 2:
            break
        w.later(hours=rng.uniform(1, 24))
    _maybe_archive(w)


def _approver(org: DemoOrg, role: str, rng: random.Random):
    return {
        R.SUPERVISOR: lambda: org.users[rng.choice(["supervisor", "supervisor2"])],
        R.CS_MANAGER: lambda: org.users["manager"],
        R.GENERAL_MANAGER: lambda: org.users["gm"],
    }.get(role, lambda: org.users["supervisor"])()


def _resolve(w: _Walker, handler, head, dept_code: str, stall: str | None) -> None:
    """From investigating to closed: (panel review), proposal, approvals, reply, close."""
    case, rng, org = w.case, w.rng, w.org
    if (
        case.level in ("major", "crisis")
        and not case.panel_reviews.filter(state__in=["decided", "confirmed"]).exists()
    ):
        w.later(days=rng.uniform(0.5, 3))
        participants = [handler, head if head.pk != handler.pk else w.u("supervisor2"), w.u("supervisor")]
        ev = w.act(
            "convene_panel",
            handler,
            topic=f"{case.number} {case.get_level_display()}投诉处理方案合议",
            participants=[p.pk for p in participants],
        )
        review_id = ev.payload["review_id"]
        w.later(days=rng.uniform(0.2, 4))
        w.act(
            "decide_panel",
            handler,
            review_id=review_id,
            minutes="参会人员听取了经办人的调查汇报，逐项讨论客户诉求和合同约定。",
            decision="同意在合同约定范围内给予处理，并向客户书面说明理由。",
        )
        for p in participants:
            w.later(hours=rng.uniform(0.5, 8))
            w.act("confirm_panel", p, review_id=review_id, opinion="同意")
    if stall == "propose":
        raise _Stop
    w.later(days=rng.uniform(0.5, 4))
    spec = CATEGORY_TEXTS.get(case.category.code if case.category else "", CATEGORY_TEXTS["other.misc"])
    remedy = spec["remedy"]
    lo, hi = spec["amount"]
    amount = Decimal(0)
    if remedy != "explanation":
        claimed = case.claimed_amount or Decimal(rng.randint(max(lo, 100), max(hi, 200)))
        amount = (claimed * Decimal(rng.choice(["1", "0.8", "0.6", "0.5", "0.3", "0.1"]))).quantize(
            Decimal("1")
        )
    if case.kind == "report":
        remedy, amount = "explanation", Decimal(0)
    data = {
        "remedy_type": remedy,
        "amount": str(amount),
        "description": REPLIES[remedy].format(amount=amount),
    }
    if remedy in ("refund", "termination") and case.business_type == "life":
        data["premium"] = str((amount * Decimal("1.6")).quantize(Decimal("1")))
    w.act("propose_remedy", handler, **data)
    proposal = case.proposals.order_by("-pk").first()
    if proposal.state == "pending":
        if stall == "approve":
            raise _Stop
        for step, role in enumerate(proposal.required_roles):
            w.later(hours=rng.uniform(1, 30))
            approver = _approver(org, role, rng)
            if step == 0 and rng.random() < 0.05:
                w.act("reject", approver, comment="方案依据不充分，请补充调查后重新提出")
                w.later(days=rng.uniform(1, 3))
                data["description"] = "补充调查后重新提出：" + data["description"]
                w.act("propose_remedy", handler, **data)
                proposal = case.proposals.order_by("-pk").first()
                w.later(hours=rng.uniform(1, 20))
            w.act("approve", approver, comment="同意")
        # Approvers after the first may have been needed because of the re-proposal; finish the chain.
        while case.status == "pending_approval":
            role = case.proposals.order_by("-pk").first().next_role
            w.later(hours=rng.uniform(1, 20))
            w.act("approve", _approver(org, role, rng), comment="同意")
    if stall == "reply":
        raise _Stop
    w.later(hours=rng.uniform(2, 40))
    w.act("reply", handler, text=data["description"], method=rng.choice(["phone", "phone", "letter", "sms"]))
    if stall == "close":
        raise _Stop
    w.later(hours=rng.uniform(0.5, 30))
    criterion = "accepted" if rng.random() < 0.85 else "lawful"
    w.act(
        "close",
        handler,
        criterion=criterion,
        note="客户已确认" if criterion == "accepted" else "依法依规处理完毕",
    )


def _maybe_archive(w: _Walker) -> None:
    """Archive most finished cases after one to three months (as the archive keeper does in batches)."""
    if w.case.kind == "report" or w.rng.random() < 0.15:
        return  # whistle-blowing files stay with risk/compliance; some files are not archived yet
    w.later(days=w.rng.uniform(30, 90))
    w.act("archive", w.u("archivist"))


def load_demo_cases(
    count: int,
    *,
    seed: int = 2025,
    now: dt.datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> LoadReport:
    """Register `count` complaints over the last year and walk each through its lifecycle."""
    from kesu.cases.models import Case
    from kesu.cases.services import register_case

    now = now or timezone.now()
    load_started = timezone.now()
    org = ensure_org()
    channels = set(Channel.objects.filter(is_active=True).values_list("code", flat=True))
    plans = plan_cases(count, seed=seed, now=now, channels=channels)
    report = LoadReport()
    batch = 50
    for start in range(0, len(plans), batch):
        with transaction.atomic():
            for plan in plans[start : start + batch]:
                rng = random.Random(f"{seed}:{plan.index}")
                intake = org.users[plan.intake]
                registered = plan.received_at + dt.timedelta(minutes=rng.uniform(2, 180))
                registered = min(registered, now)
                # A second run: the case of this plan exists (its body differs — the dates are relative to
                # now —, so register_case would refuse the key as reused rather than replay it).
                if Case.objects.filter(client_key=plan.data["client_key"], created_by=intake).exists():
                    report.existing += 1
                    continue
                try:
                    reg = register_case(actor=intake, data=plan.data, now=registered)
                except DomainError as exc:
                    report.failed += 1
                    report.errors[f"register: {exc.code}: {exc.message[:60]}"] += 1
                    continue
                if not reg.created:
                    report.existing += 1
                    continue
                report.created += 1
                case = reg.case
                walker = _Walker(case, plan, org, rng, now)
                try:
                    _lifecycle(walker)
                except _Stop:
                    pass
                except DomainError as exc:
                    report.errors[f"{exc.code}: {exc.message[:80]}"] += 1
            if progress:
                progress(min(start + batch, len(plans)), len(plans))
    # `registered_at` is set by the database to the real time; the demo registered in the past.
    from django.db.models import OuterRef, Subquery

    from kesu.cases.models import CaseEvent

    first_event = CaseEvent.objects.filter(case=OuterRef("pk"), seq=1).values("created_at")[:1]
    Case.objects.filter(client_key__startswith=f"{CLIENT_KEY_PREFIX}{seed}:").update(
        registered_at=Subquery(first_event)
    )
    _drop_historical_notifications(load_started)
    report.statuses = Counter(
        Case.objects.filter(client_key__startswith=CLIENT_KEY_PREFIX).values_list("status", flat=True)
    )
    return report


def _drop_historical_notifications(since: dt.datetime) -> None:
    """The history was made up just now: its notifications (e-mails about events months ago) are not
    sent. Background tasks enqueued during the load and not yet run are dropped."""
    try:
        from django_tasks_db.models import DBTaskResult
    except ImportError:  # another tasks backend
        return
    DBTaskResult.objects.filter(status="READY", enqueued_at__gte=since).delete()


def demo_case_count() -> int:
    from kesu.cases.models import Case

    return Case.objects.filter(client_key__startswith=CLIENT_KEY_PREFIX).count()


def staff_count() -> int:
    return Staff.objects.count()
