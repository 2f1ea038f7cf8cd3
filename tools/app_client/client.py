#!/usr/bin/python3
"""A small application of crm, as an application team writes one with
psycopg2 (Debian's python3-psycopg2): a webhook receiver that maps crm's
errors to answers by SQLSTATE and retries what is worth retrying, a rep's
screen that pages through crm.work_list by keyset and records a first
contact in the rep's name (crm.actor), a steward's replay of quarantined
rows and an unmerge, and an outbox relay's acks.

tools/app_client/test.sh runs it against a throw-away cluster; it exits
non-zero on the first behaviour that differs from README.md."""
import json
import os
import sys
import time

import psycopg2
import psycopg2.errorcodes as codes

RETRY = {codes.SERIALIZATION_FAILURE, codes.DEADLOCK_DETECTED, codes.LOCK_NOT_AVAILABLE}


class WebhookReceiver:
    """Answers a channel's webhook as an HTTP endpoint would: 200 with what
    crm did, 4xx when the sender or the channel's admin must act, 503 when
    it should come again.  Each webhook is one transaction."""

    def __init__(self, conn):
        self.conn = conn

    def receive(self, channel, body, attempts=5):
        for attempt in range(attempts):
            try:
                with self.conn, self.conn.cursor() as cur:
                    cur.execute("SELECT lead_id, customer_code, outcome, owner, status, waiting_reason"
                                " FROM crm.ingest(%s, %s::jsonb)", (channel, json.dumps(body, ensure_ascii=False)))
                    lead_id, code, outcome, owner, status, waiting = cur.fetchone()
                    return 200, {"lead_id": lead_id, "customer_code": code, "outcome": outcome,
                                 "owner": owner, "status": status, "waiting_reason": waiting}
            except psycopg2.Error as e:
                if e.pgcode in RETRY and attempt + 1 < attempts:
                    time.sleep(0.05 * 2 ** attempt)
                    continue
                return self.answer_error(e)
        raise AssertionError("unreachable")

    @staticmethod
    def answer_error(e):
        d = e.diag
        answer = {"sqlstate": e.pgcode, "message": d.message_primary, "detail": d.message_detail,
                  "hint": d.message_hint}
        if e.pgcode == codes.UNDEFINED_OBJECT:          # unknown channel: its admin must create it
            return 404, answer
        if e.pgcode == codes.INSUFFICIENT_PRIVILEGE:
            return 403, answer
        if e.pgcode in RETRY:
            return 503, answer
        if e.pgcode[:2] in ("22", "23"):                # the payload: the sender must fix it
            return 422, answer
        return 500, answer


def expect(what, got, wanted):
    if got != wanted:
        print(f"app-client: {what}: got {got!r}, wanted {wanted!r}", file=sys.stderr)
        sys.exit(1)


def expect_refused(what, conn, sqlstate, *statements):
    """Runs the statements (SQL, parameters) in one transaction, which must
    fail with sqlstate."""
    try:
        with conn, conn.cursor() as cur:
            for sql, params in statements:
                cur.execute(sql, params)
        expect(what, "accepted", "refused")
    except psycopg2.Error as e:
        expect(what, e.pgcode, sqlstate)


def webhooks(conn):
    hook = WebhookReceiver(conn)
    call = {"call_id": "C-9001", "caller": "0571-8888 6666", "customer_name": "陈先生",
            "call_start": "2026-11-20 10:05"}
    status, first = hook.receive("hotline_400", call)
    expect("first call", (status, first["outcome"], first["status"]), (200, "new", "assigned"))
    # the hotline re-sends the same call: the same lead, told apart
    status, again = hook.receive("hotline_400", call)
    expect("re-send", (status, again["outcome"], again["lead_id"]), (200, "duplicate", first["lead_id"]))
    # the same call id with another body is refused, naming what differs
    status, clash = hook.receive("hotline_400", dict(call, customer_name="王芳"))
    expect("different body", (status, "person_name" in (clash["detail"] or "")), (422, True))
    status, answer = hook.receive("no_such_channel", call)
    expect("unknown channel", (status, answer["sqlstate"]), (404, codes.UNDEFINED_OBJECT))
    status, answer = hook.receive("website", {"id": "w-big", "name": "张" * (5 << 20), "submitted_at": "2026-11-20"})
    expect("a 15 MB name", (status, answer["sqlstate"]), (422, codes.STRING_DATA_RIGHT_TRUNCATION))
    status, answer = hook.receive("website", {"id": "w-inf", "name": "钟时", "submitted_at": "-infinity"})
    expect("-infinity", status, 422)
    status, answer = hook.receive("website", {"id": "w-bool", "name": True, "submitted_at": "2026-11-20"})
    expect("a boolean name", status, 422)
    # a burst of new leads for the rep's screen
    for n in range(45):
        status, answer = hook.receive("website", {"id": f"w-{n}", "name": f"客户{n}",
                                                  "phone": f"139{n:08d}", "submitted_at": "2026-11-20 09:00"})
        expect(f"lead w-{n}", (status, answer["status"]), (200, "assigned"))
    return first["lead_id"]


def work_list(conn, rep, page=7, finished=()):
    """Every open lead of the rep, page by page, by the keyset README gives:
    due_key is passed back as psycopg2 read it.  A lead with no open
    deadline has crm.work_list_no_deadline(), a time psycopg2 reads and
    writes unchanged (infinity came back as datetime.max, which is not
    infinity, and the last page was served again and again)."""
    seen = []
    with conn, conn.cursor() as cur:
        cur.execute("SELECT crm.work_list_no_deadline()")
        no_deadline, = cur.fetchone()
        cur.execute("SELECT %s::timestamptz = crm.work_list_no_deadline()", (no_deadline,))
        expect("the no-deadline key round-trips", cur.fetchone()[0], True)
        cur.execute("SELECT lead_id, due_key FROM crm.work_list WHERE owner = %s"
                    " ORDER BY due_key, lead_id LIMIT %s", (rep, page))
        rows = cur.fetchall()
        while rows:
            seen += rows
            expect(f"{rep}'s list ends", len(seen) <= 1000, True)
            last_id, last_key = rows[-1]
            cur.execute("SELECT lead_id, due_key FROM crm.work_list WHERE owner = %s"
                        " AND (due_key, lead_id) > (%s, %s) ORDER BY due_key, lead_id LIMIT %s",
                        (rep, last_key, last_id, page))
            rows = cur.fetchall()
        cur.execute("SELECT id FROM crm.lead WHERE owner = %s AND status IN ('assigned', 'contacted')", (rep,))
        open_leads = {r[0] for r in cur.fetchall()}
    ids = [r[0] for r in seen]
    expect(f"{rep}'s pages hold each open lead once", (sorted(ids), len(ids)), (sorted(open_leads), len(open_leads)))
    expect(f"{rep}'s pages are in order", [(k, i) for i, k in seen], sorted((k, i) for i, k in seen))
    expect(f"{rep}'s leads with no open deadline, last", [i for i, k in seen if k == no_deadline],
           sorted(finished))
    return ids


def finish_milestones(conn, owner, n, keep):
    """The owner meets all three milestones of n of their leads (not keep):
    those leads have no open deadline left."""
    with conn, conn.cursor() as cur:
        cur.execute("SELECT set_config('crm.actor', %s, true)", (owner,))
        cur.execute("SELECT id FROM crm.lead WHERE owner = %s AND status = 'assigned' AND id <> %s"
                    " ORDER BY id LIMIT %s", (owner, keep, n))
        ids = [r[0] for r in cur.fetchall()]
        for lead in ids:
            cur.execute("INSERT INTO crm.lead_activity (lead_id, kind) VALUES (%s, 'first_contact')", (lead,))
            cur.execute("INSERT INTO crm.lead_activity (lead_id, kind, body) VALUES (%s, 'needs_summary', %s)",
                        (lead, "需要一台CT"))
            cur.execute("INSERT INTO crm.lead_activity (lead_id, kind, next_step, next_step_at)"
                        " VALUES (%s, 'follow_up_plan', %s, now() + interval '2 days')", (lead, "发报价"))
    expect(f"{owner}'s finished leads", len(ids), n)
    return ids


def rep_screen(conn, lead_id):
    with conn, conn.cursor() as cur:
        cur.execute("SELECT owner FROM crm.lead WHERE id = %s", (lead_id,))
        owner, = cur.fetchone()
        cur.execute("SELECT login FROM crm.rep WHERE login <> %s ORDER BY login LIMIT 1", (owner,))
        other, = cur.fetchone()
    # nine leads with every milestone met: more than a page of them, after
    # the page that crosses from the last deadline into them
    finished = finish_milestones(conn, owner, 9, lead_id)
    work_list(conn, owner, finished=finished)
    work_list(conn, other)
    # another rep cannot meet the owner's milestone ...
    expect_refused("another rep's first contact", conn, codes.INSUFFICIENT_PRIVILEGE,
                   ("SELECT set_config('crm.actor', %s, true)", (other,)),
                   ("INSERT INTO crm.lead_activity (lead_id, kind) VALUES (%s, 'first_contact')", (lead_id,)))
    # ... the owner can, named through crm.actor on the shared connection
    with conn, conn.cursor() as cur:
        cur.execute("SELECT set_config('crm.actor', %s, true)", (owner,))
        cur.execute("INSERT INTO crm.lead_activity (lead_id, kind) VALUES (%s, 'first_contact') RETURNING actor",
                    (lead_id,))
        expect("the activity's actor", cur.fetchone()[0], owner)
        cur.execute("SELECT status FROM crm.lead WHERE id = %s", (lead_id,))
        expect("the lead after a first contact", cur.fetchone()[0], "contacted")


def relay(conn):
    with conn, conn.cursor() as cur:
        cur.execute("SELECT id FROM crm.outbox_claim('app-relay', 10)")
        claimed = [r[0] for r in cur.fetchall()]
    for message in claimed:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT crm.outbox_ack(%s, 'app-relay')", (message,))
            expect("ack", cur.fetchone()[0], True)
            cur.execute("SELECT crm.outbox_ack(%s, 'app-relay')", (message,))   # a retry after a lost reply
            expect("a repeated ack", cur.fetchone()[0], True)
    expect_refused("an unknown message", conn, codes.NO_DATA_FOUND, ("SELECT crm.outbox_ack(-1, 'app-relay')", ()))


def steward(conn):
    """A data steward's fixes with the application's grants: rows quarantined
    for a channel that did not exist yet are replayed once it does, and a
    merge is undone."""
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO crm.lead_inbox (channel, payload) VALUES ('douyin', %s::jsonb)",
                    (json.dumps({"clue": "dy-1", "nick": "抖音用户", "tel": "13712345678"}),))
        cur.execute("SELECT quarantined, batch_id FROM crm.lead_inbox_counts()")
        quarantined, batch = cur.fetchone()
        expect("a row for an unknown channel", quarantined, 1)
        cur.execute("SELECT fix_by FROM crm.lead_quarantine WHERE batch_id = %s", (batch,))
        expect("who fixes it", cur.fetchone()[0], "channel_admin")
        cur.execute("""INSERT INTO crm.channel (code, source_label, field_map) VALUES ('douyin', '抖音线索',
                       '{"external_id": "clue", "person_name": "nick", "phone": "tel"}')""")
        cur.execute("SELECT ingested, quarantined FROM crm.retry_quarantined(batch_id => %s)", (batch,))
        expect("the replay", cur.fetchone(), (1, 0))
        cur.execute("SELECT min(id), max(id) FROM crm.contact WHERE merged_into IS NULL")
        keep, drop = cur.fetchone()
        cur.execute("SELECT crm.merge_contacts(%s, %s)", (keep, drop))
        cur.execute("SELECT crm.unmerge(max(id)) FROM crm.merge_history")
        cur.execute("SELECT merged_into FROM crm.contact WHERE id = %s", (drop,))
        expect("the contact after an unmerge", cur.fetchone()[0], None)
    # the business time zone is the DBA's
    expect_refused("moving the business time zone", conn, codes.INSUFFICIENT_PRIVILEGE,
                   ("SELECT crm.set_business_time_zone('Asia/Tokyo')", ()))


def main():
    conn = psycopg2.connect(os.environ.get("APP_DSN", ""))
    lead_id = webhooks(conn)
    rep_screen(conn, lead_id)
    steward(conn)
    relay(conn)
    print("app-client ... ok (tools/app_client/test.sh)")


if __name__ == "__main__":
    main()
