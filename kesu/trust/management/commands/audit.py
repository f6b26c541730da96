"""`kesu audit verify` checks the hash chain of the audit log; `kesu audit tail [-n N]` shows the newest
entries. `verify` exits with status 1 and names the first broken link when the log was tampered with."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from kesu.trust import audit


class Command(BaseCommand):
    help = "审计日志：verify 校验哈希链（被篡改时退出码非零），tail 显示最新记录"

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="sub", required=True)
        sub.add_parser("verify", help="校验审计日志的哈希链")
        tail = sub.add_parser("tail", help="显示最新的审计记录")
        tail.add_argument("-n", type=int, default=20)
        tail.add_argument("--json", action="store_true", help="每行一条 JSON")

    def handle(self, *args, **opts) -> None:
        if opts["sub"] == "verify":
            result = audit.verify()
            if not result.ok:
                raise CommandError(str(result), returncode=1)
            self.stdout.write(self.style.SUCCESS(str(result)))
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
