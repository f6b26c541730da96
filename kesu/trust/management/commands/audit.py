"""`kesu audit verify` checks the hash chain of the audit log and every case's chain of events;
`kesu audit tail [-n N]` shows the newest entries; `kesu audit anchor` prints the chain heads as the
daily anchor job mails them (to compare with a mailed one). `verify` exits with status 1 and names the
first broken link of the log and the cases whose timeline was tampered with."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from kesu.cases import chain
from kesu.trust import anchor, audit


class Command(BaseCommand):
    help = "审计日志：verify 校验审计日志与案件时间线的哈希链（被篡改时退出码非零），tail 显示最新记录，anchor 显示链头"

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="sub", required=True)
        sub.add_parser("verify", help="校验审计日志和每件案件事件的哈希链")
        sub.add_parser("anchor", help="显示审计日志链头和案件事件链头摘要（与每日邮件核对）")
        tail = sub.add_parser("tail", help="显示最新的审计记录")
        tail.add_argument("-n", type=int, default=20)
        tail.add_argument("--json", action="store_true", help="每行一条 JSON")

    def handle(self, *args, **opts) -> None:
        if opts["sub"] == "verify":
            log, cases = audit.verify(), chain.verify_cases()
            if not (log.ok and cases.ok):
                raise CommandError(f"{log}\n{cases}", returncode=1)
            self.stdout.write(self.style.SUCCESS(f"{log}\n{cases}"))
            return
        if opts["sub"] == "anchor":
            self.stdout.write(json.dumps(anchor.current(), ensure_ascii=False, sort_keys=True))
            return
        for e in audit.tail(opts["n"]):
            if opts["json"]:
                row = {
                    "seq": e.seq,
                    "at": e.created_at.isoformat(),
                    "action": e.action,
                    "actor": e.actor_name,
                    "target": f"{e.target_type}:{e.target_id}",
                    "details": e.details,
                    "ip": e.ip,
                    "hash": e.hash,
                }
                self.stdout.write(json.dumps(row, ensure_ascii=False))
            else:
                at = timezone.localtime(e.created_at).strftime("%Y-%m-%d %H:%M:%S")
                details = json.dumps(e.details, ensure_ascii=False) if e.details else ""
                self.stdout.write(
                    f"#{e.seq} {at} {e.action} {e.actor_name or '-'} "
                    f"{e.target_type}:{e.target_id} {e.ip} {details}".rstrip()
                )
