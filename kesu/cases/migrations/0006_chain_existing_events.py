"""Chain the events written before case events were hashed (kesu.cases.chain).

Cases a page at a time (keyset on id), their events by (case, seq), written back with one
`executemany`: memory stays flat however long the history. Events that already carry a hash (a
rerun) are recomputed the same way, so the migration can be run twice.
"""

from django.db import migrations

from kesu.cases.chain import GENESIS, canonical_json, event_hash, utc_stamp

PAGE = 2000


def chain_events(apps, schema_editor):
    Case = apps.get_model("cases", "Case")
    CaseEvent = apps.get_model("cases", "CaseEvent")
    connection = schema_editor.connection
    table = CaseEvent._meta.db_table
    sql = f'UPDATE "{table}" SET "prev_hash" = %s, "hash" = %s WHERE "id" = %s'
    last = 0
    while True:
        ids = list(
            Case.objects.using(connection.alias).filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:PAGE]
        )
        if not ids:
            return
        events = (
            CaseEvent.objects.using(connection.alias)
            .filter(case_id__gt=last, case_id__lte=ids[-1])
            .order_by("case_id", "seq")
            .values_list("id", "case_id", "seq", "actor_id", "action", "from_status", "to_status",
                         "created_at", "payload", "is_public")
        )
        rows = []
        case_id, prev = None, GENESIS
        for pk, cid, seq, actor_id, action, from_status, to_status, created_at, payload, is_public in events:
            if cid != case_id:
                case_id, prev = cid, GENESIS
            digest = event_hash(
                case_id=cid,
                seq=seq,
                actor_id=actor_id,
                action=action,
                from_status=from_status,
                to_status=to_status,
                created_at=utc_stamp(created_at),
                payload_json=canonical_json(payload),
                is_public=is_public,
                prev_hash=prev,
            )
            rows.append((prev, digest, pk))
            prev = digest
        with connection.cursor() as cur:
            cur.executemany(sql, rows)
        last = ids[-1]


class Migration(migrations.Migration):
    dependencies = [("cases", "0005_case_event_chain")]

    operations = [migrations.RunPython(chain_events, migrations.RunPython.noop, elidable=False)]
