"""`kesu fetch_mail --maildir PATH --user intake` or `--imap imaps://user:pass@host/INBOX`."""

from __future__ import annotations

from urllib.parse import unquote, urlparse

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from kesu.intake import mail


class Command(BaseCommand):
    help = "读取投诉邮件：新邮件登记为案件，主题含案件编号的回复追加到该案件"

    def add_arguments(self, parser):
        parser.add_argument("--maildir", help="Maildir 目录或 .eml 文件夹")
        parser.add_argument("--imap", help="imaps://用户:密码@主机[:端口]/邮箱（默认 INBOX）")
        parser.add_argument("--user", default="intake", help="以哪个受理员账号登记（默认 intake）")

    def handle(self, *args, **opts):
        user = get_user_model().objects.filter(username=opts["user"], is_active=True).first()
        if user is None:
            raise CommandError(f"用户 {opts['user']} 不存在")
        if opts["maildir"]:
            messages = mail.iter_folder(opts["maildir"])
        elif opts["imap"]:
            u = urlparse(opts["imap"])
            messages = mail.iter_imap(
                u.hostname or "",
                unquote(u.username or ""),
                unquote(u.password or ""),
                mailbox=u.path.strip("/") or "INBOX",
                port=u.port or (993 if u.scheme == "imaps" else 143),
                ssl=u.scheme == "imaps",
            )
        else:
            raise CommandError("请指定 --maildir 或 --imap")
        results = mail.fetch(messages, actor=user)
        labels = {"created": "新建", "threaded": "追加", "duplicate": "已处理过", "rejected": "失败"}
        for r in results:
            extra = (
                f"（拒收附件：{', '.join(a['name'] for a in r.refused_attachments)}）"
                if r.refused_attachments
                else ""
            )
            self.stdout.write(
                f"{labels.get(r.outcome, r.outcome)} {r.number} {r.message_id} {r.error}{extra}"
            )
        self.stdout.write(f"共处理 {len(results)} 封邮件")
