"""The case page's HTML for a set of cases and viewers, saved to compare a change with its base (forms21).

Run from each checkout in turn on the same data set (bench/speed19.py's, copied and migrated):

    cd BASE && python bench/casepage_html.py --db sqlite --out /tmp/html-base
    cd MINE && python bench/casepage_html.py --db sqlite --out /tmp/html-mine
    diff -r /tmp/html-base /tmp/html-mine

Pages of the 30 newest open cases, 10 registered ones and 10 closed ones for the supervisor, the intake
clerk, a handler and the claims head (each alone), CSRF tokens normalised. The page's audit rows and
times are the same in both runs within a minute; a diff shows what changed.
"""

# ruff: noqa: E402 - the checkout is put on sys.path before Kesu and the bench helpers are imported
import argparse
import re
import sys
from pathlib import Path

TREE = Path.cwd()
sys.path.insert(0, str(TREE / "bench"))
sys.path.insert(0, str(TREE))

from speed19 import OPEN_SHARE, _setup, default_total

WHO = ("supervisor", "intake", "handler", "claims_head")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgresql"], required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    _setup("casepage_html", args.db, default_total(), OPEN_SHARE)
    from django.test import Client

    from kesu.cases.demo.company import ensure_org
    from kesu.cases.models import OPEN_STATUSES, Case, Status

    org = ensure_org()
    numbers = list(
        Case.objects.filter(status__in=OPEN_STATUSES)
        .order_by("-received_at")
        .values_list("number", flat=True)[:30]
    )
    for status in (Status.REGISTERED, Status.CLOSED):
        numbers += list(
            Case.objects.filter(status=status).order_by("-received_at").values_list("number", flat=True)[:10]
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shown = 0
    for who in WHO:
        client = Client()
        client.force_login(org.users[who])
        for number in numbers:
            r = client.get(f"/cases/{number}/")
            html = r.content.decode()
            html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "CSRF", html)
            html = re.sub(r'csrf[^"]*"[^"]{20,}"', "CSRF", html)
            shown += r.status_code == 200
            (out / f"{who}-{number}-{r.status_code}.html").write_text(html)
    print(f"{len(WHO)} viewers × {len(numbers)} cases, {shown} pages shown, saved in {out}")


if __name__ == "__main__":
    main()
