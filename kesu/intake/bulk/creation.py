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
from kesu.intake.bulk.sql import _is_pg, _jd, allocate_ids, allocate_numbers, insert_rows
from kesu.intake.mapping import Record
from kesu.sla import services as sla_services
from kesu.sla.models import StageDeadline


class CaseCreation:
    """BulkWriter's part that inserts the chunk's new cases and their events."""

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
        pg = _is_pg()
        now_db = to_db(self.now)
        cols = self.case_columns
        # One template row per chunk; per record only the positions that vary are set.
        at = {c: i for i, c in enumerate(cols)}
        template = [self.case_defaults[c] for c in cols]
        for name, value in (
            ("client_key", None),
            ("external_source", self.source),
            ("created_by_id", self.actor_id),
            ("policy_id", self.policy_id),
            ("is_imported", True),
            ("updated_at", now_db),
        ):
            template[at[name]] = value
        i_id, i_number, i_customer, i_channel = at["id"], at["number"], at["customer_id"], at["channel_id"]
        i_ext, i_received, i_registered, i_kind = (
            at["external_id"],
            at["received_at"],
            at["registered_at"],
            at["kind"],
        )
        plain = [
            (at[n], n)
            for n in (
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
        ]
        i_amount = at["claimed_amount"]
        i_flags = [(at[f"flag_{f}"], f) for f in ("injury", "safety", "media", "lawyer")]
        i_level, i_reasons, i_overridden = at["level"], at["level_reasons"], at["level_overridden"]
        i_status, i_version, i_repeat, i_repeat_of = (
            at["status"],
            at["version"],
            at["repeat_count"],
            at["repeat_of_id"],
        )
        i_confidential = at["is_confidential"]
        closing_cols = [
            at[n]
            for n in (
                "closed_at",
                "replied_at",
                "last_contact_at",
                "closing_criterion",
                "invalid_reason",
                "is_valid",
                "satisfaction",
            )
        ]
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
        i_due = at["due_at"]
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
            overridden = False
            if rec.level:
                level, overridden = rec.level, True
                reasons = [{"rule": "imported", "level": rec.level, "detail": "原系统等级"}, *reasons]
                reasons_json = chain.canonical_json(reasons)
            final = rec.status if rec.status in FINAL_ACTION else Status.REGISTERED
            row = template.copy()
            row[i_id] = pk
            row[i_number] = number
            row[i_ext] = rec.external_id
            row[i_customer] = cid
            row[i_channel] = rec.channel_id
            row[i_received] = received_db
            row[i_registered] = registered_db
            row[i_kind] = rec.kind
            for i, n in plain:
                row[i] = getattr(rec, n)
            amount = rec.claimed_amount
            row[i_amount] = amount if pg or amount is None else str(amount)
            flags = rec.flags
            for i, f in i_flags:
                row[i] = f in flags
            row[i_level] = level
            row[i_reasons] = reasons_json
            row[i_overridden] = overridden
            row[i_status] = final
            row[i_repeat] = repeat_count
            row[i_repeat_of] = latest[2] if latest else None
            row[i_confidential] = rec.kind == Kind.REPORT
            if final != Status.REGISTERED:
                row[i_version] = 2
                for i, value in zip(
                    closing_cols,
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
                if hours is not None:
                    close_times.append((pk, closed_db, hours))
            else:
                row[i_version] = 1
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
        if self.references_per_chunk:
            refs = references.References()
            refs.add_rows(Case, cols, case_rows)
            refs.add_rows(CaseEvent, ecols, event_rows)
            refs.add_rows(StageDeadline, stage_columns, stage_rows)
            # The subscribers' rows (close times, day-count keys) point only at this chunk's cases and
            # at the ids its case rows point at, verified here with them.
            refs.verify_and_lock({Case: set(case_ids), Customer: new_customers})
        with references.triggers_off(self.references_per_chunk):
            insert_rows(Case, cols, case_rows)
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
