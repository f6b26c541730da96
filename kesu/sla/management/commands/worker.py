"""`kesu worker`: the task worker of production, django-tasks-db's `db_worker` with heartbeats and leases.

Same options as `db_worker` (queues, interval, --batch, --max-tasks, --worker-id). A task held by a
worker that stopped beating (killed, host lost) goes back to the queue for another worker
(kesu/sla/workers.py). Run this, not `db_worker`, on every worker host (deploy/kesu-worker.service).
"""

from __future__ import annotations

from django.core.management.base import CommandError
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

from kesu.sla.workers import LeasedWorker, new_worker_id


class Command(DbWorkerCommand):
    help = "Run the task worker with heartbeats: tasks of a dead worker are taken over by another"

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        # The host and process id in the default worker id (shown in the admin's worker list).
        parser.set_defaults(worker_id=None, reload=False)

    def handle(
        self,
        *,
        verbosity: int,
        queue_name: str,
        interval: float,
        batch: bool,
        backend_name: str,
        startup_delay: bool,
        reload: bool,
        max_tasks: int | None,
        worker_id: str | None,
        exclude_queues: str,
        **options,
    ) -> None:
        self.configure_logging(verbosity)
        if reload:
            raise CommandError("kesu worker does not reload; restart it after a code change")
        queue_names = queue_name.split(",")
        excluded = exclude_queues.split(",") if exclude_queues else []
        if excluded and "*" not in queue_names:
            raise CommandError("--exclude-queues can only be used with --queue-name=*")
        worker = LeasedWorker(
            queue_names=queue_names,
            interval=interval,
            batch=batch,
            backend_name=backend_name,
            startup_delay=startup_delay,
            max_tasks=max_tasks,
            worker_id=worker_id or new_worker_id(),
            excluded_queue_names=excluded,
        )
        worker.configure_signals()
        worker.run()
