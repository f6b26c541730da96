"""A few reply templates (答复模板) to start from; administrators edit them in the Django admin."""

from django.db import migrations

TEMPLATES = [
    # (name, purpose, kind, body)
    (
        "通用答复",
        "reply",
        "",
        "尊敬的{客户姓名}：\n您反映的问题（案件编号 {案件编号}）我们已核实处理。处理方式：{处理方式}。"
        "我们将在 {承诺日期} 前落实完毕。{救济途径}\n感谢您的理解与支持。",
    ),
    (
        "投诉处理结果告知",
        "reply",
        "complaint",
        "尊敬的{客户姓名}：\n关于您的投诉（案件编号 {案件编号}），经调查核实，我们决定采取以下处理方式：{处理方式}。"
        "相关事项将于 {承诺日期} 前办结，如有进展我们会及时与您联系。{救济途径}",
    ),
    (
        "咨询答复",
        "reply",
        "consultation",
        "尊敬的{客户姓名}：\n感谢您的咨询（编号 {案件编号}）。针对您关心的问题，答复如下：\n（请在此填写答复要点）\n"
        "如仍有疑问，欢迎随时与我们联系。",
    ),
    (
        "受理进度告知（门户）",
        "portal",
        "",
        "您好，您的投诉（案件编号 {案件编号}）已受理，我们将于 {承诺日期} 前给您答复。"
        "您可随时凭案件编号和手机号码后 4 位在本网站查询处理进度。",
    ),
    (
        "处理结果告知（门户）",
        "portal",
        "complaint",
        "您好，您的投诉（案件编号 {案件编号}）已处理完毕，处理方式：{处理方式}。{救济途径}",
    ),
]


def seed(apps, schema_editor):
    ReplyTemplate = apps.get_model("web", "ReplyTemplate")
    if ReplyTemplate.objects.exists():
        return
    ReplyTemplate.objects.bulk_create(
        ReplyTemplate(name=name, purpose=purpose, kind=kind, body=body, order=(i + 1) * 10)
        for i, (name, purpose, kind, body) in enumerate(TEMPLATES)
    )


def unseed(apps, schema_editor):
    ReplyTemplate = apps.get_model("web", "ReplyTemplate")
    ReplyTemplate.objects.filter(name__in=[t[0] for t in TEMPLATES]).delete()


class Migration(migrations.Migration):
    dependencies = [("web", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
