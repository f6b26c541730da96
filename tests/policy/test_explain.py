"""`kesu policy show PRESET --explain`, the README's preset table, and penalties stated per preset."""

from __future__ import annotations

import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from kesu.policy import loader
from kesu.policy.loader import PolicyError, resolve_preset
from kesu.policy.rules import Rules

README = Path(__file__).resolve().parents[2] / "README.md"


def run(*args: str) -> str:
    out = StringIO()
    call_command("policy", *args, stdout=out)
    return out.getvalue()


def test_readme_table_is_the_one_the_presets_generate():
    text = README.read_text(encoding="utf-8")
    start, end = "<!-- preset-table:start -->\n", "<!-- preset-table:end -->"
    in_readme = text[text.index(start) + len(start) : text.index(end)]
    assert in_readme == run("table"), (
        "README preset table is stale: paste `kesu policy table` between the markers"
    )


def test_readme_table_shows_the_main_numbers():
    rows = {line.split("|")[1].strip(): line for line in run("table").splitlines()[2:]}
    assert "15 个工作日（普通、紧急）；30 日（重大、危机）" in rows["`insurance`"]
    assert "地方监管转办 100/100" in rows["`insurance`"] and "国家监管转办 200/200" in rows["`insurance`"]
    assert "15 日［nfra］" in rows["`insurance --with nfra`"]
    assert "不罚款，只提醒" in rows["`hotel`"] and "3 个工作日" in rows["`hotel`"]
    assert "2 小时" in rows["`general`"] and "总时限不超过 20 个工作日" in rows["`securities`"]


def test_explain_prints_every_rule_with_its_clock_and_seed():
    out = run("show", "insurance", "--with", "nfra", "--explain")
    lines = out.splitlines()
    assert lines[0] == "保险公司客户投诉处理制度（insurance）"
    assert any("国家金融监督管理总局" in line for line in lines)
    rules = resolve_preset("insurance", ["nfra"])["sla"]["rules"]
    rule_lines = [line for line in lines if line.startswith("  ")]
    assert len(rule_lines) == len(rules)
    first_contact = next(line for line in rule_lines if line.startswith("  首次联系客户"))
    assert "2 小时（自然时间，按钟点连续计算，不扣除下班和节假日）" in first_contact
    assert "001 篇9 四2.1" in first_contact and "［general］" in first_contact
    nfra = next(line for line in rule_lines if line.endswith("［nfra］"))
    assert "15 日（自然日" in nfra and "第十九条" in nfra
    assert any("个工作日（只计工作日" in line for line in rule_lines)
    assert any(line.startswith("罚款") and "000 第2篇 第九条" in line for line in lines)
    assert "未注明" not in out


def test_explain_states_the_extension_decision_and_its_seeds():
    # insurance --with nfra: the company's cap and the NFRA tiers disagree; the preset follows the stricter.
    lines = run("show", "insurance", "--with", "nfra", "--explain").splitlines()
    (decision,) = [line for line in lines if line.startswith("延期规则冲突的处理")]
    assert "从严适用" in decision and "20 个工作日" in decision and "30 日、60 日" in decision
    assert "000 第7篇 第十二条" in decision and "银保监会令2020年第3号 第十九条" in decision
    teamwork = [line for line in lines if line.startswith(("协办须经", "合议："))]
    assert len(teamwork) == 2 and all("003 恒康天安" in line for line in teamwork)
    assert "客服部经理、总经理" in teamwork[1]
    # general --with nfra states no such decision: the NFRA tiers replace the company's total.
    (general,) = [
        line
        for line in run("show", "general", "--with", "nfra", "--explain").splitlines()
        if line.startswith("延期规则冲突的处理")
    ]
    assert "取代公司延期总时限" in general and "从严" not in general
    # Without a regulator layer there is nothing to decide.
    assert "延期规则冲突" not in run("show", "insurance", "--explain")


@pytest.mark.django_db
def test_show_without_a_preset_explains_the_active_policy():
    run("load", "hotel")
    out = run("show", "--explain")
    assert out.startswith("酒店宾客投诉处理管理办法（hotel）")
    assert "001 篇8" in out and "不罚款，只提醒" in out


def test_penalties_are_never_inherited(tmp_path, monkeypatch):
    shutil.copy(loader.PRESET_DIR / "general.toml", tmp_path / "general.toml")
    (tmp_path / "shop.toml").write_text(
        '[meta]\ncode = "shop"\nname = "商店"\nextends = "general"\n', encoding="utf-8"
    )
    monkeypatch.setattr(loader, "PRESET_DIR", tmp_path)
    with pytest.raises(PolicyError) as exc:
        resolve_preset("shop")
    assert "must state its own [penalties]" in exc.value.errors[0]
    (tmp_path / "shop.toml").write_text(
        '[meta]\ncode = "shop"\nname = "商店"\nextends = "general"\n\n[penalties.major]\nperson = 30\n',
        encoding="utf-8",
    )
    penalties = resolve_preset("shop")["penalties"]
    assert penalties == {"major": {"person": 30}}  # nothing of general's schedule leaks in


def test_each_preset_states_its_own_penalties():
    insurance = Rules(resolve_preset("insurance"))
    # 000 第2篇 第九条二1: a local regulator transfer 100 / 100, the national regulator 200 / 200.
    local = insurance.penalty_for(level="crisis", channel="regulator_local")
    national = insurance.penalty_for(level="crisis", channel="regulator_national")
    assert (local["person"], local["supervisor"], local["basis"]) == (100, 100, "channel:regulator_local")
    assert (national["person"], national["supervisor"]) == (200, 200)
    # A crisis with no source entry keeps the crisis line; a major case via a regulator takes the heavier.
    assert insurance.penalty_for(level="crisis", channel="phone")["person"] == 200
    major_local = insurance.penalty_for(level="major", channel="regulator_local")
    assert (major_local["person"], major_local["supervisor"]) == (100, 100)
    for code in ("hotel", "telecom", "securities", "auto_dealer"):
        pen = Rules(resolve_preset(code)).penalty_for(level="crisis", channel="regulator_local")
        assert (pen["person"], pen["supervisor"], pen["reminder"]) == (0, 0, True), code


def test_explain_states_the_approval_matrix_with_its_seed():
    # 003 恒康天安 第四条: the tiers, the cash value, and the remedies with their own approvers.
    line = next(
        line for line in run("show", "insurance", "--explain").splitlines() if line.startswith("方案审批：")
    )
    assert "投诉主管（2000 元以内且不超过保费的 70%）" in line
    assert "协议解除的金额按高于现金价值的部分计" in line
    assert "回调保费：客服部经理" in line and "免滞纳金：投诉主管" in line
    assert line.endswith("依据：003 恒康天安 第四条")
    # A preset with its own tiers states its own source, not the general rules'.
    hotel = next(
        line for line in run("show", "hotel", "--explain").splitlines() if line.startswith("方案审批：")
    )
    assert "500 元以内" in hotel and "001 篇8" in hotel and "恒康天安" not in hotel
