"""The bulk creation path: many cases per statement, with the same invariants as `register_case`.

`BulkWriter.write(records)` runs inside the caller's transaction (one chunk) and, for the records
of that chunk:

* finds rows whose (external_source, external_id) already exists — unchanged when the facts are
  identical, updated (with an `import_update` event and a version bump) when they differ, rejected
  when the earlier case came from an earlier row of the same file;
* finds or creates the customers in bulk (deduplicated by ID number, then phone);
* counts earlier complaints of the same person on the same matter (from the database and from
  earlier rows of the chunk) and grades every case with `kesu.cases.grading.grade`;
* numbers the cases per day in blocks: one `INSERT … ON CONFLICT … RETURNING` per day and chunk
  advances `DailySequence`, so numbers stay unique and gap-free;
* inserts customers, cases and events with `executemany` (SQLite) or `COPY` (PostgreSQL): the
  `register` event (seq 1, payload `imported: true`) and, for records already closed in the old
  system, the closing event at its original time, so `version` equals the number of events.

Historical (closed) records get no deadlines and raise no escalations; open records are handed to
`kesu.sla` like any new case.

The package: `writer` (`BulkWriter`, grading and `write`) with its parts `existing` (rows imported
before), `customers` (customers and repeats) and `creation` (the new cases' rows); `sql` holds the
low-level statements, `common` the constants and the `ChunkResult`.
"""
