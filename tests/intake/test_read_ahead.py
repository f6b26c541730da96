"""Long imports map the file in a second (forked) process while this one writes: same outcome as
mapping inline, and a failure on either side leaves whole chunks only, resumable without duplicates."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from kesu.cases.models import Case
from kesu.intake import services
from kesu.intake.models import ImportIssue
from kesu.intake.parsers import FileFormatError
from tests.intake.helpers import crm_source, good_rows, write_csv

pytestmark = pytest.mark.django_db


@pytest.fixture
def read_ahead(monkeypatch):
    monkeypatch.setattr(services, "READ_AHEAD_MIN_BYTES", 0)  # even a small file goes through the child
    assert services._use_read_ahead(Path(__file__))
    yield
    assert multiprocessing.active_children() == []  # the reading process never outlives the import


def _rows_with_problems(n: int):
    rows = good_rows(n)
    rows[4][2] = "77"  # unknown channel
    rows[9][0] = rows[8][0]  # duplicate external id within the file
    rows[12][6] = ""  # missing description
    return rows


def _facts(source_code: str):
    return {
        c.external_id: (c.status, c.level, c.repeat_count, c.channel_id, c.customer.phone, c.due_at)
        for c in Case.objects.filter(external_source=source_code).select_related("customer")
    }


def _issues(batch):
    return [(i.row, i.column, i.reason) for i in ImportIssue.objects.filter(batch=batch).order_by("row")]


def test_read_ahead_gives_what_inline_mapping_gives(org, tmp_path, monkeypatch):
    path = write_csv(tmp_path / "east.csv", _rows_with_problems(23))
    inline = services.run_import(crm_source("crm-inline"), path, chunk_size=5)
    monkeypatch.setattr(services, "READ_AHEAD_MIN_BYTES", 0)
    assert services._use_read_ahead(path)  # this run really goes through the second process
    ahead = services.run_import(crm_source("crm-ahead"), path, chunk_size=5)
    assert multiprocessing.active_children() == []
    assert inline.state == ahead.state == "completed", (inline.error, ahead.error)
    summary = lambda b: (b.total_rows, b.created, b.rejected, b.chunks_committed)  # noqa: E731
    assert summary(ahead) == summary(inline) == (23, 20, 3, 5)
    assert _issues(ahead) == _issues(inline) and len(_issues(ahead)) == 3
    assert _facts("crm-ahead") == _facts("crm-inline") and len(_facts("crm-ahead")) == 20


def test_reader_killed_half_way_fails_the_batch_and_a_rerun_completes(org, tmp_path, monkeypatch, read_ahead):
    source = crm_source()
    path = write_csv(tmp_path / "big.csv", good_rows(23))
    real_map_chunk = services._map_chunk

    def dies_on_third_chunk(index, rows, mapper, prepare=None):
        if index == 2:
            os._exit(9)  # the reading process dies (OOM killer, kill -9)
        return real_map_chunk(index, rows, mapper, prepare)

    monkeypatch.setattr(services, "_map_chunk", dies_on_third_chunk)
    failed = services.run_import(source, path, chunk_size=5)
    assert failed.state == "failed" and "读取文件的进程意外退出" in failed.error
    # Chunks mapped before the death may not have reached the writer; what is in is whole chunks.
    assert failed.chunks_committed <= 2 and Case.objects.count() == 5 * failed.chunks_committed

    monkeypatch.setattr(services, "_map_chunk", real_map_chunk)
    resumed = services.run_import(source, path, chunk_size=5)
    assert resumed.pk == failed.pk and resumed.state == "completed", resumed.error
    assert (resumed.total_rows, resumed.created) == (23, 23)
    assert Case.objects.count() == Case.objects.values("external_id").distinct().count() == 23


def test_writer_failing_stops_the_reader_and_keeps_whole_chunks(org, tmp_path, monkeypatch, read_ahead):
    source = crm_source()
    path = write_csv(tmp_path / "big.csv", good_rows(23))

    def boom(batch, index):
        if index == 1:
            raise RuntimeError("数据库连接中断")

    monkeypatch.setattr(services, "_chunk_committing", boom)
    failed = services.run_import(source, path, chunk_size=5)
    assert failed.state == "failed" and "数据库连接中断" in failed.error
    assert failed.chunks_committed == 1 and Case.objects.count() == 5
    monkeypatch.setattr(services, "_chunk_committing", lambda batch, index: None)
    resumed = services.run_import(source, path, chunk_size=5)
    assert resumed.state == "completed" and Case.objects.count() == 23


def test_a_file_error_found_by_the_reader_reaches_the_batch(org, tmp_path, monkeypatch, read_ahead):
    path = write_csv(tmp_path / "big.csv", good_rows(12))
    real_map_chunk = services._map_chunk

    def bad_bytes_in_chunk_two(index, rows, mapper, prepare=None):
        if index == 1:
            raise FileFormatError("第 7 行无法按 GB18030 解码")
        return real_map_chunk(index, rows, mapper, prepare)

    monkeypatch.setattr(services, "_map_chunk", bad_bytes_in_chunk_two)
    failed = services.run_import(crm_source(), path, chunk_size=5)
    assert failed.state == "failed" and failed.error == "第 7 行无法按 GB18030 解码"
    assert failed.chunks_committed == 1 and Case.objects.count() == 5


def test_no_second_process_from_a_threaded_server(monkeypatch):
    """An upload handled by a threaded web server maps inline: forking it could copy a held lock."""
    import threading

    monkeypatch.setattr(services, "READ_AHEAD_MIN_BYTES", 0)
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert not services._use_read_ahead(Path(__file__))
    finally:
        release.set()
        other.join()
    assert services._use_read_ahead(Path(__file__))
