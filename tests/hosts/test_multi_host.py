"""Several hosts, one PostgreSQL, nothing lost when a process dies (the short bounded form).

Two app servers (gunicorn), two task workers and two schedulers run against one throwaway copy of the
migrated test database, storing their files in one S3-compatible bucket (SeaweedFS on loopback; a shared
directory is the documented minimum, docs/deploy.md, and the same storage API). Clients
create complaints through both servers with idempotency keys and move half of them on to a handler
(each hand-off is an inbox entry and an e-mail to a local SMTP sink). Midway one app server is killed
(SIGKILL, its clients retry on the other with the same key, as behind a load balancer) and so is the
worker holding a blocking task. Afterwards: every acknowledged write exists once, the killed worker's
task completed exactly once, every periodic job ran once, every notification was mailed once (one Message-ID each), and
the attachment uploaded to the dead server and the report made by a worker are read from the other one
and are in the bucket, not on any host's disk.
PostgreSQL only (the PostgreSQL stage of `make test`): SQLite is one file on one host.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from email.header import decode_header, make_header

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher, make_password
from django.db import connection

from tests.hosts import procs
from tests.hosts.tasks import block_until_released
from tests.servers import HOST, ROOT, copy_of_test_database, free_port, wait_until_answering
from tests.sla.conftest import _Server, _SMTPHandler

THREADS, CREATES = 4, 8
PASSWORD = "Kesu-multi-host-1"
PDF = b"%PDF-1.7\n1 0 obj\n" + b"1" * 200


def _gunicorn(url, tmp_path, name, extra_env):
    port = free_port()
    env = procs.process_env_for(url, tmp_path, **extra_env)
    log = open(tmp_path / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps its own descriptor
    try:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "kesu.wsgi:application",
                "--bind",
                f"{HOST}:{port}",
                "--workers",
                "1",
                "--threads",
                "4",
                "--worker-class",
                "gthread",
                "--timeout",
                "60",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()
    return process, port


def _call(port, method, path, token, body=None, headers=None, raw=None, content_type=None):
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    hdrs = {"Authorization": f"Bearer {token}", "Accept": "application/json", **(headers or {})}
    payload = raw
    if body is not None:
        payload = json.dumps(body, ensure_ascii=False).encode()
        hdrs["Content-Type"] = "application/json"
    if content_type:
        hdrs["Content-Type"] = content_type
    try:
        conn.request(method, path, body=payload, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        return r.status, data
    finally:
        conn.close()


def _multipart(field, filename, content):
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.slow
def test_two_hosts_lose_and_double_nothing_when_processes_die(
    transactional_db, tmp_path, settings, s3_server
):
    if connection.vendor != "postgresql":
        pytest.skip("several hosts share a PostgreSQL database; SQLite is one file on one host")
    from bench.loadcheck import prepare
    from kesu.analytics.tasks import generate_periodic_report
    from kesu.org import roles
    from kesu.org.models import Department
    from kesu.org.services import create_staff

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    actors = prepare()
    User = get_user_model()
    User.objects.filter(pk=actors.handler_id).update(email="handler@example.test")
    analyst = create_staff(
        username="mh_analyst",
        full_name="分析员",
        department=Department.objects.get(code="HQ"),
        role_codes=[roles.ANALYST],
    ).user
    User.objects.filter(pk=analyst.pk).update(password=make_password(PASSWORD, hasher=PBKDF2PasswordHasher()))
    traces = tmp_path / "traces"
    traces.mkdir()
    block_until_released.enqueue(str(traces), "job")
    generate_periodic_report.enqueue("daily", "2025-11-05", ["html"])
    generate_periodic_report.enqueue("daily", "2025-11-05", ["html"])  # a duplicate: one report all the same
    url, drop = copy_of_test_database(tmp_path)

    sink = _Server((HOST, 0), _SMTPHandler)
    sink.messages = []
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    prefix = f"mh{uuid.uuid4().hex[:8]}"
    shared = {
        **s3_server.env(),
        "KESU_S3_PREFIX": prefix,
        "KESU_MEDIA_DIR": str(tmp_path / "host-disk-must-stay-empty"),
        "KESU_EMAIL_URL": f"smtp://{HOST}:{sink.server_address[1]}",
    }
    processes: dict[str, subprocess.Popen] = {}
    started = time.monotonic()
    try:
        for name in ("worker-1", "worker-2"):
            processes[name] = procs.start_worker(url, tmp_path, name, **shared)
        for name in ("scheduler-1", "scheduler-2"):
            processes[name] = procs.start(["scheduler", "--interval", "1"], url, tmp_path, name, **shared)
        (a, port_a), (b, port_b) = (_gunicorn(url, tmp_path, n, shared) for n in ("app-a", "app-b"))
        processes["app-a"], processes["app-b"] = a, b
        for p, port in ((a, port_a), (b, port_b)):
            assert wait_until_answering(port, lambda p=p: p.poll() is None, path="/healthz", seconds=60)

        # The worker holding the blocking task dies.
        procs.wait_for(lambda: procs.lines(traces / "job.started"), 60, "a worker to start the blocking task")
        holder_pid = int(procs.lines(traces / "job.started")[0])
        holder = next(n for n, p in processes.items() if p.pid == holder_pid)
        processes[holder].send_signal(signal.SIGKILL)
        processes[holder].wait()
        (traces / "job.release").touch()

        # An attachment through server A, before it dies.
        status, data = _call(
            port_a,
            "POST",
            "/api/v1/cases",
            actors.intake_token,
            {
                "channel": "phone",
                "kind": "complaint",
                "category": "product.defect",
                "description": "多主机附件",
                "customer": {"name": "客户", "phone": "13900000000"},
            },
            {"Idempotency-Key": "mh-attachment"},
        )
        assert status == 201, data
        attach_number = json.loads(data)["case"]["number"]
        raw, ctype = _multipart("file", "凭证.pdf", PDF)
        status, data = _call(
            port_a,
            "POST",
            f"/api/v1/cases/{attach_number}/attachments",
            actors.intake_token,
            raw=raw,
            content_type=ctype,
        )
        assert status == 201, data
        attachment_id = json.loads(data)["id"]

        # Traffic through both servers; server A is killed midway.
        acknowledged: dict[str, str] = {}  # idempotency key -> case number
        handed_off: list[str] = []
        errors: list[str] = []
        lock = threading.Lock()
        done = Counter()
        a_alive = threading.Event()
        a_alive.set()

        def client(index):
            for i in range(CREATES):
                key = f"mh-{index}-{i}"
                body = {
                    "channel": "phone",
                    "kind": "complaint",
                    "category": "product.defect",
                    "description": f"多主机{key}：热水器漏水",
                    "customer": {"name": "客户", "phone": "13900000001"},
                }
                ports = [port_a, port_b] if (index + i) % 2 == 0 and a_alive.is_set() else [port_b]
                for attempt in range(4):
                    port = ports[min(attempt, len(ports) - 1)]
                    try:
                        status, data = _call(
                            port, "POST", "/api/v1/cases", actors.intake_token, body, {"Idempotency-Key": key}
                        )
                    except OSError:
                        ports = [port_b]  # the load balancer takes the dead server out
                        continue
                    if status in (200, 201):
                        with lock:
                            acknowledged[key] = json.loads(data)["case"]["number"]
                        break
                    if status >= 500:
                        ports = [port_b]
                        continue
                    errors.append(f"{key}: {status} {data[:200]!r}")
                    break
                with lock:
                    done["creates"] += 1
                number = acknowledged.get(key)
                if number and i % 2 == 0:
                    s1, _ = _call(port_b, "POST", f"/api/v1/cases/{number}/accept", actors.manager_token, {})
                    s2, d2 = _call(
                        port_b,
                        "POST",
                        f"/api/v1/cases/{number}/assign",
                        actors.manager_token,
                        {"handler": actors.handler_id, "note": "多主机"},
                    )
                    if s1 == 200 and s2 == 200:
                        with lock:
                            handed_off.append(number)
                    else:
                        errors.append(f"{number}: accept {s1}, assign {s2} {d2[:200]!r}")

        threads = [threading.Thread(target=client, args=(n,)) for n in range(THREADS)]
        for t in threads:
            t.start()
        procs.wait_for(lambda: done["creates"] >= THREADS * CREATES // 3, 60, "a third of the traffic")
        os.killpg(a.pid, signal.SIGKILL)
        a.wait()
        a_alive.clear()
        for t in threads:
            t.join(timeout=120)
        assert errors == []
        assert len(acknowledged) == THREADS * CREATES

        # The attachment and the report, read from the surviving server.
        status, data = _call(
            port_b, "GET", f"/api/v1/cases/{attach_number}/attachments/{attachment_id}", actors.intake_token
        )
        assert status == 200 and data == PDF
        procs.wait_for(
            lambda: procs.query(url, "SELECT count(*) FROM analytics_generatedreport")[0][0] >= 1,
            60,
            "the report",
        )
        [(report_pk,)] = procs.query(url, "SELECT id FROM analytics_generatedreport")
        assert _analyst_download(port_b, f"/analytics/reports/{report_pk}/").startswith(b"<!")
        [(stored_name,)] = procs.query(
            url, "SELECT stored_name FROM cases_attachment WHERE id = %s", (attachment_id,)
        )
        [(report_file,)] = procs.query(url, "SELECT file_name FROM analytics_generatedreport")
        assert set(s3_server.keys(prefix + "/")) == {
            f"{prefix}/attachments/{stored_name}",
            f"{prefix}/reports/{report_file}",
        }
        assert not (tmp_path / "host-disk-must-stay-empty").exists()

        # The killed worker's task: taken over, completed once.
        procs.wait_for(
            lambda: (
                procs.task_rows(url, "tests.hosts.tasks.block_until_released")[0]["status"] == "SUCCESSFUL"
            ),
            60,
            "the killed worker's task",
        )
        assert len(procs.lines(traces / "job.done")) == 1
        assert len(procs.lines(traces / "job.started")) == 2

        # Every acknowledged create exists once; no unacknowledged double either.
        rows = procs.query(
            url, "SELECT number, description FROM cases_case WHERE description LIKE %s", ("多主机mh-%",)
        )
        by_key = Counter(re.match(r"多主机(mh-\d+-\d+)", d).group(1) for _, d in rows)
        assert all(by_key[k] == 1 for k in acknowledged), by_key
        assert set(by_key) == set(acknowledged) and max(by_key.values()) == 1
        assert {n for n, _ in rows} == set(acknowledged.values())

        # Every hand-off's notification was mailed, once.
        expected = Counter(
            (email, f"【客诉系统】{title}")
            for title, email in procs.query(
                url,
                "SELECT n.title, u.email FROM sla_notification n JOIN auth_user u ON u.id = n.user_id "
                "WHERE u.email <> ''",
            )
        )
        assert sum(expected.values()) >= len(handed_off) > 0
        procs.wait_for(lambda: len(sink.messages) >= sum(expected.values()), 60, "the e-mails")
        time.sleep(2)  # a double would arrive now
        got = Counter(
            (m["to"][0], str(make_header(decode_header(m["message"]["Subject"])))) for m in sink.messages
        )
        assert got == expected
        message_ids = [m["message"]["Message-ID"] for m in sink.messages]
        assert all(message_ids) and len(set(message_ids)) == len(message_ids)

        # Each periodic job due during the run was enqueued exactly once by the two schedulers.
        interval_tasks = {
            "sla.sweep": "kesu.sla.tasks.sweep_deadlines",
            "sla.email_catch_up": "kesu.sla.tasks.send_unsent_emails",
            "insight.hourly_crisis_checks": "kesu.insight.tasks.hourly_crisis_checks",
        }
        for job, path in interval_tasks.items():
            count = procs.query(
                url, "SELECT count(*) FROM django_tasks_database_dbtaskresult WHERE task_path = %s", (path,)
            )[0][0]
            assert count == 1, (job, count)
        jobs = dict(procs.query(url, "SELECT name, last_result FROM sla_scheduledjob"))
        assert set(jobs) == {j["name"] for j in django_settings.KESU_PERIODIC_JOBS}
        assert all(jobs[name] == "enqueued" for name in interval_tasks)
        assert procs.query(url, "SELECT count(*) FROM analytics_generatedreport")[0][0] == 1
        print(f"multi-host run: {time.monotonic() - started:.1f} s")
    finally:
        for name, p in processes.items():
            if name.startswith("app-") and p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=20)
            else:
                procs.stop(p)
        sink.shutdown()
        sink.server_close()
        drop()


def _analyst_download(port: int, path: str) -> bytes:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://{HOST}:{port}"
    page = opener.open(base + "/login/", timeout=30).read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {"username": "mh_analyst", "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    opener.open(
        urllib.request.Request(base + "/login/", data=form.encode(), headers={"Referer": base + "/login/"}),
        timeout=30,
    ).read()
    return opener.open(base + path, timeout=30).read()
