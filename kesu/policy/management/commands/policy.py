"""`kesu policy load PRESET [--with LAYER ...]`, `kesu policy list`, `kesu policy show [PRESET] [--explain]`,
`kesu policy table` (the README's table of presets and layers)."""

import json

from django.core.management.base import BaseCommand, CommandError

from kesu.policy.explain import explain_lines, markdown_table
from kesu.policy.loader import PolicyError, available_presets, read_preset, resolve_preset
from kesu.policy.selectors import NoActivePolicy, active_policy
from kesu.policy.services import load_preset


class Command(BaseCommand):
    help = "Load or inspect the complaint policy (rules): load PRESET [--with LAYER], list, show"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="verb", required=True)
        load = sub.add_parser("load", help="load a preset and make it the active policy")
        load.add_argument("preset")
        load.add_argument(
            "--with",
            dest="layers",
            action="append",
            default=[],
            help="a regulator rule set layered on top (nfra, samr_12315, miit_telecom)",
        )
        load.add_argument(
            "--create-departments",
            action="store_true",
            help="create the departments the rules route to that do not exist yet (under the head office)",
        )
        sub.add_parser("list", help="list the presets")
        show = sub.add_parser("show", help="print a preset (or the active policy) as JSON, or --explain it")
        show.add_argument("preset", nargs="?", help="a preset; without it, the active policy")
        show.add_argument("--with", dest="layers", action="append", default=[], help="a regulator layer")
        show.add_argument(
            "--explain",
            action="store_true",
            help="each rule in Chinese with its clock and the seed it comes from",
        )
        sub.add_parser("table", help="the README table of presets and layers (Markdown)")

    def handle(self, *args, verb, **options):
        if verb == "list":
            for code in available_presets():
                meta = read_preset(code).get("meta", {})
                kind = "layer" if meta.get("overlay") else "preset"
                self.stdout.write(f"{code:14} {kind:7} {meta.get('name', '')}")
        elif verb == "load":
            try:
                policy = load_preset(options["preset"], layers=options["layers"])
            except PolicyError as exc:
                raise CommandError("\n".join(exc.errors))
            self.stdout.write(self.style.SUCCESS(f"loaded {policy.name} as version {policy.version}"))
            if options.get("create_departments"):
                from kesu.org.services import ensure_policy_departments

                for dept in ensure_policy_departments(policy.document):
                    self.stdout.write(f"created department {dept.code} {dept.name}")
        elif verb == "show":
            if options.get("preset"):
                try:
                    doc = resolve_preset(options["preset"], options["layers"])
                except PolicyError as exc:
                    raise CommandError("\n".join(exc.errors))
            else:
                try:
                    policy = active_policy()
                except NoActivePolicy as exc:
                    raise CommandError(str(exc))
                from kesu.policy.models import Policy

                doc = Policy.objects.get(pk=policy.pk).document
            if options.get("explain"):
                self.stdout.write("\n".join(explain_lines(doc)))
            else:
                self.stdout.write(json.dumps(doc, ensure_ascii=False, indent=2))
        elif verb == "table":
            self.stdout.write(markdown_table(), ending="")
