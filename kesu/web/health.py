"""`/healthz`: liveness and readiness of an app server for the load balancer and the monitoring.

No login, no session, JSON. 200 when this process can query the database, 503 when it cannot (the load
balancer then sends traffic to the other hosts). The body also says what an operator watches beside it
(docs/deploy.md, "What to monitor"): live task workers and each queue's oldest waiting task. Those
never turn the answer into a 503: a stuck worker is no reason to take a web server out of rotation.
"""

from __future__ import annotations

import logging

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from kesu.sla.workers import queue_overview, worker_overview

log = logging.getLogger("kesu.web.health")


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        log.warning("health check: database unavailable: %s", exc)
        return JsonResponse({"status": "error", "database": "unavailable"}, status=503)
    now = timezone.now()
    body = {"status": "ok", "database": "ok", "time": now.isoformat()}
    try:
        workers = worker_overview(now)
        body["workers"] = {
            "alive": sum(1 for w in workers if w["alive"]),
            "silent": [w["worker_id"] for w in workers if not w["alive"]][:20],
        }
        body["queues"] = [{k: v for k, v in q.items() if k != "oldest_ready_at"} for q in queue_overview(now)]
    except Exception:  # the tables of a half-migrated database: still "up" for the load balancer
        log.exception("health check: worker overview failed")
    return JsonResponse(body)
