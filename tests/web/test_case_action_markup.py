"""The case page's action forms are built in Python (`{% case_action_forms %}`, kesu.web.templatetags
.kesu_web) rather than by the template loop they replaced (issue 19: most of the page's rendering time).
The markup must stay the loop's, byte for byte: both are rendered here from the same page context for
cases in many states, each viewer, a refused form with its posted values, reply templates and English."""

from __future__ import annotations

import re

import pytest
from django.http import QueryDict
from django.middleware.csrf import get_token
from django.template import engines
from django.test import RequestFactory
from django.utils import translation

from kesu.cases.models import Kind
from kesu.web import views
from kesu.web.models import ReplyTemplate
from tests import factories
from tests.web.test_desk_affordances import investigating, responding, visit_window

pytestmark = pytest.mark.django_db

# The loop as case.html had it before `{% case_action_forms %}` (99a02dd).
OLD_LOOP = r"""{% load i18n kesu_web %}{% for f in forms %}
    <details class="action" id="action-{{ f.action }}"{% if f.action == open_action %} open{% endif %}>
      <summary>{{ f.label }}</summary>
      {% if f.quick %}<div class="quick-actions">{% for qlabel, qvalues, qdanger in f.quick %}<form method="post" action="{% url 'web:case_action' case.number f.action %}" class="inline">{% csrf_token %}<input type="hidden" name="expected_version" value="{{ case.version }}">{% for k, v in qvalues.items %}<input type="hidden" name="{{ k }}" value="{{ v }}">{% endfor %}<button type="submit" class="btn btn-sm{% if qdanger %} btn-danger{% else %} btn-quick{% endif %}" data-quick="{{ f.action }}-{{ forloop.counter }}">{{ qlabel }}</button></form> {% endfor %}</div>{% endif %}
      <form method="post" action="{% url 'web:case_action' case.number f.action %}"{% for fld in f.fields %}{% if fld.kind == "file" %} enctype="multipart/form-data"{% endif %}{% endfor %}>
        {% csrf_token %}
        <input type="hidden" name="expected_version" value="{{ case.version }}">
        {% if errors.action == f.action %}<div class="alert alert-error" role="alert">{{ errors.message }}</div>{% endif %}
        {% if f.hint %}<div class="alert alert-info small">{{ f.hint }}</div>{% endif %}
        {% with groups=reply_templates|get_item:f.action %}{% if groups %}<div class="field reply-templates"><label for="{{ f.action }}-template">{% translate "答复模板" %}</label><select id="{{ f.action }}-template" data-fill-target="{{ f.action }}-{% if f.action == 'reply' %}text{% else %}answer{% endif %}"><option value="">{% translate "（选择模板填入答复内容）" %}</option>{% for label, items in groups %}<optgroup label="{{ label }}">{% for name, text in items %}<option value="{{ forloop.counter }}" data-text="{{ text }}">{{ name }}</option>{% endfor %}</optgroup>{% endfor %}</select></div>{% endif %}{% endwith %}
        {% for fld in f.fields %}
          {% if fld.kind == "hidden" %}<input type="hidden" name="{{ fld.name }}" value="{{ fld.value }}">
          {% else %}
          <div class="field">
            {% if fld.kind == "checkbox" %}<label class="checks"><input type="checkbox" id="{{ f.action }}-{{ fld.name }}" name="{{ fld.name }}" value="1"{% if fld.value %} checked{% endif %}> {{ fld.label }}</label>
            {% else %}
            <label for="{{ f.action }}-{{ fld.name }}"{% if fld.required %} class="req"{% endif %}>{{ fld.label }}</label>
            {% if fld.kind == "textarea" %}<textarea id="{{ f.action }}-{{ fld.name }}" name="{{ fld.name }}" rows="3"{% if fld.required %} required{% endif %}>{{ fld.value }}</textarea>
            {% elif fld.kind == "select" %}<select id="{{ f.action }}-{{ fld.name }}" name="{{ fld.name }}"{% if fld.required %} required{% endif %}>{% select_options fld.choices fld.value as_text=True %}</select>
            {% elif fld.kind == "multiselect" %}<select id="{{ f.action }}-{{ fld.name }}" name="{{ fld.name }}" multiple size="6"{% if fld.required %} required{% endif %}>{% select_options fld.choices %}</select>
            {% elif fld.kind == "members" %}<div class="member-filter" data-member-filter="{{ f.action }}-{{ fld.name }}"><label for="{{ f.action }}-{{ fld.name }}-dept" class="sr-only">{% translate "按部门筛选" %}</label><select id="{{ f.action }}-{{ fld.name }}-dept"><option value="">{% translate "全部部门" %}</option>{% select_options fld.groups %}</select><label for="{{ f.action }}-{{ fld.name }}-q" class="sr-only">{% translate "搜索姓名" %}</label><input type="search" id="{{ f.action }}-{{ fld.name }}-q" placeholder="{% translate '搜索姓名' %}"></div>
            <select id="{{ f.action }}-{{ fld.name }}" name="{{ fld.name }}" multiple size="8"{% if fld.required %} required{% endif %}>{% member_options fld.choices fld.value %}</select>
            {% elif fld.kind == "datetime" %}<input type="datetime-local" id="{{ f.action }}-{{ fld.name }}" name="{{ fld.name }}" value="{{ fld.value }}"{% if fld.required %} required{% endif %}>
            {% elif fld.kind == "number" %}<input type="number" step="0.01" min="0" id="{{ f.action }}-{{ fld.name }}" name="{{ fld.name }}" value="{{ fld.value }}"{% if fld.required %} required{% endif %}>
            {% elif fld.kind == "file" %}<input type="file" id="{{ f.action }}-{{ fld.name }}" name="{{ fld.name }}"{% if fld.required %} required{% endif %}>
            {% else %}<input type="text" id="{{ f.action }}-{{ fld.name }}" name="{{ fld.name }}" value="{{ fld.value }}"{% if fld.required %} required{% endif %}>{% endif %}
            {% endif %}
          </div>
          {% endif %}
        {% endfor %}
        <button type="submit" class="btn{% if f.danger %} btn-danger{% endif %}" data-action="{{ f.action }}">{{ f.label }}</button>
      </form>
    </details>
    {% empty %}<p class="muted">{% translate "当前没有您可以执行的操作" %}</p>{% endfor %}"""

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]+"')


def both(user, case, *, errors: dict | None = None, act: str = "") -> tuple[str, str]:
    request = RequestFactory().get(f"/cases/{case.number}/", {"act": act} if act else {})
    request.user = user
    get_token(request)
    context = views._case_context(request, case, errors=errors)
    old = engines["django"].from_string(OLD_LOOP).render(context, request)
    new = engines["django"].from_string("{% load kesu_web %}{% case_action_forms %}").render(context, request)
    return CSRF.sub("CSRF", old), CSRF.sub("CSRF", new)


def assert_same(org, case, **kw) -> int:
    shown = 0
    for who in ("supervisor", "intake", "handler", "quality_head", "claims_head", "manager", "followup"):
        old, new = both(getattr(org, who), case, **kw)
        assert new == old, (who, case.status)
        shown += old.count("<details")
    return shown


def test_the_forms_markup_equals_the_template_loop(org):
    ReplyTemplate.objects.create(name="通用答复", body='尊敬的{客户姓名}：您的 {案件编号} <已处理> & "完毕"')
    ReplyTemplate.objects.create(name="门户", purpose=ReplyTemplate.Purpose.PORTAL, body="门户 {案件编号}")
    shown = assert_same(org, factories.make_case(org.intake))
    shown += assert_same(org, factories.make_case(org.intake, kind=Kind.REPORT))
    case, walk = investigating(org)
    shown += assert_same(org, case)
    walk("request_collaboration", org.handler, department="FINANCE", question="请核实 <付款> 记录")
    walk("convene_panel", org.handler, topic="赔偿标准", participants=[org.quality_head.pk, org.handler2.pk])
    shown += assert_same(org, case)
    walk("propose_remedy", org.handler, remedy_type="compensation", amount="800", description="赔偿")
    shown += assert_same(org, case)
    case, walk = responding(org)
    shown += assert_same(org, case)
    walk("close", org.handler, criterion="accepted")
    visit_window(case)
    shown += assert_same(org, case)
    assert shown > 100


def test_a_refused_form_keeps_its_posted_values_and_message(org):
    case, _walk = investigating(org)
    posted = QueryDict(mutable=True)
    posted.update({"text": '<script>alert("x")</script>', "contacted_customer": "1"})
    errors = {"action": "add_note", "message": "请填写 <内容>", "posted": posted}
    old, new = both(org.handler, case, errors=errors)
    assert new == old and "&lt;script&gt;" in new
    old, new = both(org.handler, case, act="add_note")
    assert new == old and 'id="action-add_note" open' in new


def test_the_forms_markup_equals_the_template_loop_in_english(org):
    case, _walk = responding(org)
    with translation.override("en"):
        for who in ("supervisor", "handler"):
            old, new = both(getattr(org, who), case)
            assert new == old, who


def test_no_forms_says_so(db):
    request = RequestFactory().get("/")
    for render in (OLD_LOOP, "{% load kesu_web %}{% case_action_forms %}"):
        html = engines["django"].from_string(render).render({"forms": []}, request)
        assert html == '<p class="muted">当前没有您可以执行的操作</p>'
