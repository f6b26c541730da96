"""Creating a chunk's new cases: numbers, grades, customers, cases and events in a few statements."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from types import SimpleNamespace

from kesu.cases import chain, subscribers
from kesu.cases.models import Case, CaseEvent, Customer, Kind, Status
from kesu.intake import references
from kesu.intake.bulk.common import FINAL_ACTION, NOT_COUNTED_KINDS, ChunkResult
from kesu.intake.bulk.sql import (
    _is_pg,
    _jd,
    allocate_ids,
    allocate_numbers,
    copy_escape,
    copy_lines,
    copy_text,
    insert_rows,
)
from kesu.intake.mapping import Record
from kesu.sla import services as sla_services
from kesu.sla.models import StageDeadline

# The case columns only the writer can fill (ids, numbers and customers come from the database; the
# grade counts the person's earlier complaints; the deadline follows the grade). On PostgreSQL they
# lead the COPY column list, and the others follow as one text that `prepare` formats from the record
# where the file is read (in the reader process on long imports): the writer only adds its columns.
WRITER_CASE_COLUMNS = (
    "id",
    "number",
    "customer_id",
    "level",
    "level_reasons",
    "repeat_count",
    "repeat_of_id",
    "due_at",
)

# The record's own values in the case row (besides the receipt, channel, kind and status).
_PLAIN = (
    "category_id",
    "business_type",
    "subject",
    "description",
    "demands",
    "people_count",
    "subject_no",
    "product",
    "region",
    "branch_id",
    "department_id",
)
_FLAGS = ("injury", "safety", "media", "lawyer")
_CLOSING = (
    "closed_at",
    "replied_at",
    "last_contact_at",
    "closing_criterion",
    "invalid_reason",
    "is_valid",
    "satisfaction",
)
_TEXT = ("CharField", "TextField")


class CaseCreation:
    """BulkWriter's part that inserts the chunk's new cases and their events."""

    def _case_plan(self) -> SimpleNamespace:
        """The case row's columns, their positions and the template of the import's constant values."""
        plan = getattr(self, "_plan", None)
        if plan is not None:
            return plan
        cols = self.case_columns
        at = {c: i for i, c in enumerate(cols)}
        template = [self.case_defaults[c] for c in cols]
        for name, value in (
            ("client_key", None),
            ("external_source", self.source),
            ("created_by_id", self.actor_id),
            ("policy_id", self.policy_id),
            ("is_imported", True),
            ("updated_at", self.to_db_dt(self.now)),
        ):
            template[at[name]] = value
        tail = [i for i, c in enumerate(cols) if c not in WRITER_CASE_COLUMNS]
        tail_at = {cols[i]: j for j, i in enumerate(tail)}
        text_columns = {f.column for f in Case._meta.concrete_fields if f.get_internal_type() in _TEXT}
        # Foreign keys among the tail: those the record sets per row, then the import's constants.
        per_row = ["channel_id", "category_id", "branch_id", "department_id"]
        constant = [
            f.column
            for f in Case._meta.concrete_fields
            if f.remote_field is not None
            and f.column not in WRITER_CASE_COLUMNS
            and f.column not in per_row
            and template[at[f.column]] is not None
        ]
        self._plan = plan = SimpleNamespace(
            columns=cols,
            at=at,
            template=template,
            tail=tail,
            tail_columns=[cols[i] for i in tail],
            tail_at=tail_at,
            tail_texts=[copy_text(template[i]) for i in tail],
            tail_fk_columns=[*per_row, *constant],
            tail_fk_constants=tuple(template[at[c]] for c in constant),
            tail_plain_text=[(tail_at[n], n) for n in _PLAIN if n in text_columns],
            tail_plain_other=[(tail_at[n], n) for n in _PLAIN if n not in text_columns],
            tail_flags=[(tail_at[f"flag_{f}"], f) for f in _FLAGS],
            tail_closing=[tail_at[n] for n in _CLOSING],
            plain=[(at[n], n) for n in _PLAIN],
            flags=[(at[f"flag_{f}"], f) for f in _FLAGS],
            closing=[at[n] for n in _CLOSING],
            pg=_is_pg(),
        )
        return plan

    def _fill_file_columns(
        self, row: list, rec: Record, final: str, received_db, registered_db, closed_db, replied_db
    ) -> None:
        """Set the case row's columns that follow from the record alone (not `WRITER_CASE_COLUMNS`)."""
        plan = self._plan
        at = plan.at
        row[at["external_id"]] = rec.external_id
        row[at["channel_id"]] = rec.channel_id
        row[at["received_at"]] = received_db
        row[at["registered_at"]] = registered_db
        row[at["kind"]] = rec.kind
        for i, n in plan.plain:
            row[i] = getattr(rec, n)
        amount = rec.claimed_amount
        row[at["claimed_amount"]] = amount if plan.pg or amount is None else str(amount)
        flags = rec.flags
        for i, f in plan.flags:
            row[i] = f in flags
        row[at["level_overridden"]] = bool(rec.level)
        row[at["status"]] = final
        row[at["is_confidential"]] = rec.kind == Kind.REPORT
        if final != Status.REGISTERED:
            row[at["version"]] = 2
            for i, value in zip(
                plan.closing,
                (
                    closed_db,
                    replied_db,
                    replied_db or closed_db,
                    rec.closing_criterion,
                    rec.invalid_reason,
                    final != Status.INVALID,
                    rec.satisfaction,
                ),
                strict=True,
            ):
                row[i] = value
        else:
            row[at["version"]] = 1

    def _case_tail(
        self,
        rec: Record,
        received: str,
        registered: str,
        closed: str | None,
        replied: str | None,
    ) -> tuple[str, tuple]:
        """The record's case columns other than `WRITER_CASE_COLUMNS` in COPY text (tab-separated, in
        `tail_columns` order), and the values of its foreign keys among them (checked per chunk).

        The same values as `_fill_file_columns` (tests/intake/test_copy_text.py compares the stored
        rows), formatted per column by type: the constant columns once per import, per record only
        those the file gives (a generic formatter per value cost the reader ~25 µs a row). The times
        come as text already (UTC stamps, `kesu.cases.chain.utc_stamp`; None when absent)."""
        plan = self._case_plan()
        at, esc, text = plan.tail_at, copy_escape, copy_text
        parts = plan.tail_texts.copy()
        final = rec.status if rec.status in FINAL_ACTION else Status.REGISTERED
        parts[at["external_id"]] = esc(rec.external_id)
        parts[at["channel_id"]] = text(rec.channel_id)
        parts[at["received_at"]] = received
        parts[at["registered_at"]] = registered
        parts[at["kind"]] = text(rec.kind)
        for i, n in plan.tail_plain_text:
            parts[i] = esc(getattr(rec, n))
        for i, n in plan.tail_plain_other:
            parts[i] = text(getattr(rec, n))
        parts[at["claimed_amount"]] = text(rec.claimed_amount)
        flags = rec.flags
        for i, f in plan.tail_flags:
            parts[i] = "t" if f in flags else "f"
        parts[at["level_overridden"]] = "t" if rec.level else "f"
        parts[at["status"]] = text(final)
        parts[at["is_confidential"]] = "t" if rec.kind == Kind.REPORT else "f"
        if final != Status.REGISTERED:
            parts[at["version"]] = "2"
            for i, value in zip(
                plan.tail_closing,
                (
                    closed or "\\N",
                    replied or "\\N",
                    replied or closed or "\\N",
                    esc(rec.closing_criterion),
                    esc(rec.invalid_reason),
                    "t" if final != Status.INVALID else "f",
                    text(rec.satisfaction),
                ),
                strict=True,
            ):
                parts[i] = value
        else:
            parts[at["version"]] = "1"
        foreign = (rec.channel_id, rec.category_id, rec.branch_id, rec.department_id)
        return "\t".join(parts), foreign

    def _create(self, records: list[Record], result: ChunkResult) -> None:
        customer_ids, person, new_customers = self._customers(records)
        hist = self._history(records, person)
        # Numbers: per day of receipt (Beijing time), one counter advance per day and chunk.
        per_day: dict[dt.date, int] = defaultdict(int)
        days = []
        for rec in records:
            day = rec.prepared[0]
            days.append(day)
            per_day[day] += 1
        numbers = {d: iter(ns) for d, ns in allocate_numbers(per_day).items()}
        case_ids = allocate_ids(Case, len(records))
        if result.first_case_id is None:
            result.first_case_id = case_ids[0]
        if self.first_case_id is None:
            self.first_case_id = case_ids[0]

        to_db = self.to_db_dt
        plan = self._case_plan()
        copy_mode = records[0].prepared[10] is not None  # the file's columns already in COPY text
        template = plan.template
        i_id, i_number, i_customer = plan.at["id"], plan.at["number"], plan.at["customer_id"]
        i_level, i_reasons, i_repeat, i_repeat_of = (
            plan.at["level"],
            plan.at["level_reasons"],
            plan.at["repeat_count"],
            plan.at["repeat_of_id"],
        )
        i_due = WRITER_CASE_COLUMNS.index("due_at") if copy_mode else plan.at["due_at"]
        # JSON of the event payloads from cached fragments (the same few codes recur on every row).
        js = self._json_cache
        # Payloads are written in canonical JSON (sorted keys, no spaces: kesu.cases.chain), so the hash
        # chain reads the same text the row stores, without a parse and a dump per row.
        import_tail = f'"import":{{"batch":{_jd(js, self.batch_id)},"row":'
        import_source = f',"source":{_jd(js, self.source)}}},"imported":true,'
        closing_memo = self._closing_memo
        actor_id = self.actor_id
        event_hash, genesis = chain.event_hash, chain.GENESIS
        ev_template = (None, 1, actor_id, "register", "", Status.REGISTERED, None, None, True, genesis, None)
        ecols = self.event_columns
        assert ecols == [
            "case_id",
            "seq",
            "actor_id",
            "action",
            "from_status",
            "to_status",
            "created_at",
            "payload",
            "is_public",
            "prev_hash",
            "hash",
        ], ecols
        case_rows, event_rows, close_times, count_keys = [], [], [], []
        opened: list[tuple[SimpleNamespace, SimpleNamespace, list]] = []
        i_stage_case = self._stage_case_at
        stage_rows: list[list] = []  # of open cases, mostly computed ahead by `prepare`
        for rec, cid, pk in zip(records, customer_ids, case_ids, strict=True):
            (
                day,
                received_db,
                registered_db,
                window_start_db,
                closed_db,
                replied_db,
                hours,
                guess,
                registered_stamp,
                closed_stamp,
                tail,
                _tail_fk,
            ) = rec.prepared
            number = next(numbers[day])
            # Earlier complaints of the same person on the same matter within the window.
            count, latest = 0, None
            if cid is not None and rec.kind not in NOT_COUNTED_KINDS:
                t, lo = received_db, window_start_db
                for other in person.get(cid, (cid,)):
                    for received, subject_no, category_id, num, other_pk in hist.get(other, ()):
                        if not (lo <= received < t):
                            continue
                        if rec.subject_no and subject_no not in (rec.subject_no, ""):
                            continue
                        if rec.category_id and category_id not in (rec.category_id, None):
                            continue
                        count += 1
                        if latest is None or received > latest[0]:
                            latest = (received, num, other_pk)
            repeat_count = count + 1
            level, reasons, reasons_json = self._grade(rec, repeat_count)
            if rec.level:
                level = rec.level
                reasons = [{"rule": "imported", "level": rec.level, "detail": "原系统等级"}, *reasons]
                reasons_json = chain.canonical_json(reasons)
            final = rec.status if rec.status in FINAL_ACTION else Status.REGISTERED
            if copy_mode:
                row = [
                    pk,
                    number,
                    cid,
                    level,
                    reasons_json,
                    repeat_count,
                    latest[2] if latest else None,
                    None,
                ]
                row.append(tail)
            else:
                row = template.copy()
                self._fill_file_columns(row, rec, final, received_db, registered_db, closed_db, replied_db)
                row[i_id] = pk
                row[i_number] = number
                row[i_customer] = cid
                row[i_level] = level
                row[i_reasons] = reasons_json
                row[i_repeat] = repeat_count
                row[i_repeat_of] = latest[2] if latest else None
            if final != Status.REGISTERED:
                if hours is not None:
                    close_times.append((pk, closed_db, hours))
            else:
                if guess is not None and guess[0] == level:
                    row[i_due] = guess[1]
                    for stage in guess[2]:
                        stage[i_stage_case] = pk
                    stage_rows.extend(guess[2])
                elif self.run_sla:
                    opened.append((*self._stand_in(rec, pk, level), row))
            case_rows.append(row)
            count_keys.append(
                (
                    pk,
                    day,
                    rec.kind,
                    rec.category_id,
                    rec.branch_id,
                    rec.channel_id,
                    rec.region or "",
                    rec.product or "",
                )
            )
            extra = ""
            if rec.extra:
                extra = (
                    '"extra":' + chain.canonical_json(json.loads(json.dumps(rec.extra, default=str))) + ","
                )
            payload = (
                f'{{"channel":{_jd(js, rec.channel_code)},{extra}{import_tail}{rec.row}{import_source}'
                f'"kind":{_jd(js, rec.kind)},"level":{_jd(js, level)},"level_reasons":{reasons_json},'
                f'"repeat_count":{repeat_count},"repeat_of":{_jd(js, latest[1]) if latest else "null"}}}'
            )
            register_hash = event_hash(
                case_id=pk,
                seq=1,
                actor_id=actor_id,
                action="register",
                from_status="",
                to_status=Status.REGISTERED,
                created_at=registered_stamp,
                payload_json=payload,
                is_public=True,
                prev_hash=genesis,
            )
            ev = list(ev_template)
            ev[0], ev[6], ev[7], ev[10] = pk, registered_db, payload, register_hash
            event_rows.append(ev)
            if final != Status.REGISTERED:
                key = (
                    final,
                    rec.status,
                    rec.closing_criterion,
                    rec.invalid_reason,
                    rec.outcome_text,
                    rec.satisfaction,
                )
                closing_json = closing_memo.get(key)
                if closing_json is None:
                    closing = {"imported": True, "original_status": rec.status}
                    if rec.closing_criterion:
                        closing["criterion"] = rec.closing_criterion
                    if rec.invalid_reason:
                        closing["reason"] = rec.invalid_reason
                    if rec.outcome_text:
                        closing["outcome"] = rec.outcome_text
                    if rec.satisfaction is not None:
                        closing["satisfaction"] = rec.satisfaction
                    closing_json = chain.canonical_json(closing)
                    if len(closing_memo) < 10000:
                        closing_memo[key] = closing_json
                event_rows.append(
                    (
                        pk,
                        2,
                        actor_id,
                        FINAL_ACTION[final],
                        Status.REGISTERED,
                        final,
                        closed_db,
                        closing_json,
                        True,
                        register_hash,
                        event_hash(
                            case_id=pk,
                            seq=2,
                            actor_id=actor_id,
                            action=FINAL_ACTION[final],
                            from_status=Status.REGISTERED,
                            to_status=final,
                            created_at=closed_stamp,
                            payload_json=closing_json,
                            is_public=True,
                            prev_hash=register_hash,
                        ),
                    )
                )
            # Later rows of this chunk count this one as an earlier complaint.
            if cid is not None and rec.kind not in NOT_COUNTED_KINDS and final != Status.INVALID:
                hist.setdefault(cid, []).append((received_db, rec.subject_no, rec.category_id, number, pk))
            result.created += 1

        if opened:
            # Deadlines of the cases still open whose level `prepare` could not foresee (repeat
            # complaints), computed before the rows are written (due_at goes in with the row) from
            # the same stage table as a case registered at the desk.
            stages = sla_services.deadlines_for_imported(
                [(case, event) for case, event, _ in opened], self.rules, self.calendars
            )
            for case, _event, row in opened:
                row[i_due] = to_db(case.due_at) if case.due_at is not None else None
            stage_rows.extend(sla_services.stage_rows(stages))
        stage_columns = sla_services.stage_columns()
        if copy_mode:
            text = "".join(
                f"{pk}\t{number}\t{copy_text(cid)}\t{copy_text(level)}\t{copy_text(reasons)}\t{repeat}\t"
                f"{copy_text(repeat_of)}\t{copy_text(due)}\t{tail}\n"
                for pk, number, cid, level, reasons, repeat, repeat_of, due, tail in case_rows
            )
        if self.references_per_chunk:
            refs = references.References()
            if copy_mode:
                refs.add_rows(
                    Case,
                    ["customer_id", "repeat_of_id", *plan.tail_fk_columns],
                    [
                        (r[2], r[6], *rec.prepared[11], *plan.tail_fk_constants)
                        for r, rec in zip(case_rows, records, strict=True)
                    ],
                )
            else:
                refs.add_rows(Case, plan.columns, case_rows)
            refs.add_rows(CaseEvent, ecols, event_rows)
            refs.add_rows(StageDeadline, stage_columns, stage_rows)
            # The subscribers' rows (close times, day-count keys) point only at this chunk's cases and
            # at the ids its case rows point at, verified here with them.
            refs.verify_and_lock({Case: set(case_ids), Customer: new_customers})
        with references.triggers_off(self.references_per_chunk):
            if copy_mode:
                copy_lines(Case, [*WRITER_CASE_COLUMNS, *plan.tail_columns], text)
                del text
            else:
                insert_rows(Case, plan.columns, case_rows)
            del case_rows
            insert_rows(CaseEvent, ecols, event_rows)
            insert_rows(StageDeadline, stage_columns, stage_rows)
            # The rollups and whatever else reacts to imported cases (settings.KESU_CASE_EVENT_SUBSCRIBERS).
            subscribers.notify_imported(
                subscribers.ImportedChunk(
                    count_keys=count_keys, close_times=close_times, insert_rows=insert_rows
                )
            )

    def _stand_in(self, rec: Record, pk: int | None, level: str) -> tuple[SimpleNamespace, SimpleNamespace]:
        """What the deadline rules read of a new open case and its registration, before it is written."""
        case = SimpleNamespace(
            pk=pk,
            status=Status.REGISTERED,
            level=level,
            kind=rec.kind,
            channel_id=rec.channel_id,
            channel=SimpleNamespace(code=rec.channel_code),
            branch_id=rec.branch_id,
            received_at=rec.received_at,
            last_contact_at=None,
            reopen_count=0,
            handler_id=None,
            due_at=None,
        )
        event = SimpleNamespace(
            action="register",
            payload={},
            from_status="",
            to_status=Status.REGISTERED,
            created_at=rec.registered_at,
        )
        return case, event
