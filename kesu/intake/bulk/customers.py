"""The customers of a chunk, found or created in bulk, and their earlier complaints on the same matter."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from kesu.cases.models import Case, Customer, Status
from kesu.intake.bulk.common import NOT_COUNTED_KINDS
from kesu.intake.bulk.sql import allocate_ids, insert_rows, select_in
from kesu.intake.mapping import Record


class CustomerLookup:
    """BulkWriter's part that finds the chunk's customers and counts their repeats."""

    def _customers(self, records: list[Record]) -> tuple[list[int | None], dict[int, set[int]], set[int]]:
        """The customer id of every record (None when anonymous), each customer's "same person" ids,
        and the ids of the customers created for this chunk."""
        phones = {r.customer["phone"] for r in records if r.customer.get("phone")}
        idns = {r.customer["id_number"] for r in records if r.customer.get("id_number")}
        by_phone: dict[str, int] = {}
        by_idn: dict[str, int] = {}
        person: dict[int, set[int]] = defaultdict(set)
        if phones or idns:
            table = Customer._meta.db_table
            found = select_in(
                f'SELECT "id", "phone", "id_number" FROM "{table}" WHERE "phone" IN ({{in}})', [], phones
            )
            found += select_in(
                f'SELECT "id", "phone", "id_number" FROM "{table}" WHERE "id_number" IN ({{in}})', [], idns
            )
            found = sorted(set(found))
            for pk, phone, idn in found:
                if phone:
                    by_phone.setdefault(phone, pk)
                if idn:
                    by_idn.setdefault(idn, pk)
            for pk, phone, idn in found:
                canon = by_idn.get(idn) if idn else None
                for other in (canon, by_phone.get(phone) if phone else None):
                    if other is not None:
                        person[other].add(pk)
                        person[pk].add(other)
                person[pk].add(pk)
        new_rows: list[dict[str, Any]] = []
        allocated: list[int] = []
        ids: list[int | None] = []
        pending: list[int] = []  # index into ids waiting for an allocated pk
        for rec in records:
            c = rec.customer
            cid = (by_idn.get(c["id_number"]) if c.get("id_number") else None) or (
                by_phone.get(c["phone"]) if c.get("phone") else None
            )
            if cid is None:
                key = -(len(new_rows) + 1)  # a placeholder until ids are allocated
                new_rows.append(c)
                if c.get("id_number"):
                    by_idn[c["id_number"]] = key
                if c.get("phone"):
                    by_phone[c["phone"]] = key
                cid = key
            ids.append(cid)
            if cid < 0:
                pending.append(len(ids) - 1)
        if new_rows:
            allocated = allocate_ids(Customer, len(new_rows))
            created_at = self.to_db_dt(self.now)
            tuples = []
            cols = self.customer_columns
            for pk, c in zip(allocated, new_rows, strict=True):
                values = dict(self.customer_defaults)
                values.update(
                    id=pk,
                    name=c.get("name", ""),
                    name_normalized="".join(c.get("name", "").split()).lower(),
                    phone=c.get("phone", ""),
                    email=c.get("email", ""),
                    address=c.get("address", ""),
                    id_number=c.get("id_number", ""),
                    policy_no=c.get("policy_no", ""),
                    account_no="",
                    created_at=created_at,
                )
                tuples.append(tuple(values[k] for k in cols))
            insert_rows(Customer, cols, tuples)
            for i in pending:
                ids[i] = allocated[-ids[i] - 1]
        for cid in ids:
            if cid is not None:
                person[cid].add(cid)
        return ids, person, set(allocated)

    def _history(self, records: list[Record], person: dict[int, set[int]]) -> dict[int, list[tuple]]:
        all_ids = set().union(*person.values()) if person else set()
        if not all_ids:
            return {}
        hist: dict[int, list[tuple]] = defaultdict(list)
        table = Case._meta.db_table
        skip = ", ".join(f"'{k}'" for k in NOT_COUNTED_KINDS)
        # By customer only: the receipt window is applied per record in `_create`. With a range on
        # received_at in the query, SQLite (no statistics) walks the receipt index over a year of
        # cases for every slice instead of looking up each customer's few cases.
        found = select_in(
            f'SELECT "customer_id", "received_at", "subject_no", "category_id", "number", "id" FROM "{table}" '
            f'WHERE "kind" NOT IN ({skip}) AND "status" <> %s AND "customer_id" IN ({{in}})',
            [Status.INVALID],
            sorted(all_ids),
        )
        for cid, received, subject_no, category_id, number, pk in found:
            if isinstance(received, dt.datetime) and received.tzinfo is None:
                received = received.isoformat(" ")  # SQLite: naive UTC, compared as Django stores it
            hist[cid].append((received, subject_no, category_id, number, pk))
        return hist
