#!/usr/bin/env bash
# tools/relay/test.sh: the reference relay end to end, against crm's outbox
# in the cluster PGHOST/PGPORT/PGUSER name (make test runs it in a throw-away
# one: scripts/cluster.sh tools/relay/test.sh).  Builds the relay, creates
# the database relay_test afresh, and prints "relay ... ok" or
# "relay ... FAILED: why" (the form scripts/run-tests.sh counts).
set -Eeuo pipefail
here=$(cd "$(dirname "$0")" && pwd)
db=relay_test
work=$(mktemp -d)
pids=()
failed_at=

fail() { failed_at=; echo "relay ... FAILED: $*"; exit 1; }
# set -e stops at the first failing command; say which one
trap 'failed_at="line $LINENO: $BASH_COMMAND"' ERR
finish() {
    local status=$?
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
    if [ "$status" -ne 0 ] && [ -n "$failed_at" ]; then
        echo "relay ... FAILED: $failed_at (exit $status)"
    fi
}
trap finish EXIT

q() { psql -d "$db" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
relay() { "$here/crm_relay" -d "dbname=$db" "$@"; }
# in the background, crm_relay itself, so that $! is its pid and not a
# subshell's whose death would leave the relay running
bg_relay() { "$here/crm_relay" -d "dbname=$db" "$@" & pids+=($!); }
# waits up to 10 s for a shell condition
eventually() {
    for _ in $(seq 100); do eval "$1" && return 0; sleep 0.1; done
    return 1
}
# the outbox as the delivery script writes it, in id order
expected() {
    q "SELECT format('msg %s %s %s %s %s', id, topic, coalesce(recipient, ''), attempts, payload)
         FROM crm.outbox WHERE $1 ORDER BY id"
}

make -s -C "$here" crm_relay
psql -d postgres -XAtq -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
    -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
q "CREATE EXTENSION crm CASCADE"

# The delivery command: appends "msg id topic recipient attempt payload" to
# $OUT; fails, with a word on stderr, for message $FAIL_ID.
cat > "$work/deliver" <<'EOF'
#!/bin/sh
if [ "$CRM_MESSAGE_ID" = "${FAIL_ID:-}" ]; then
    echo "webhook refused message $CRM_MESSAGE_ID" >&2
    echo "(second line, not kept)" >&2
    exit 3
fi
{ printf 'msg %s %s %s %s ' "$CRM_MESSAGE_ID" "$CRM_TOPIC" "$CRM_RECIPIENT" "$CRM_ATTEMPT"; cat; echo; } >> "$OUT"
EOF
chmod +x "$work/deliver"
export OUT=$work/got

# 1. Every message delivered once, oldest first, with its payload on stdin
#    and its fields in the environment; each one acknowledged.
q "INSERT INTO crm.outbox (topic, recipient, payload)
   SELECT 'sla_breach', CASE g WHEN 3 THEN NULL WHEN 4 THEN '张伟' ELSE 'rep' || g END,
          jsonb_build_object('lead_id', g, 'text', '线索 \"' || g || '\" \\ 超时')
     FROM generate_series(1, 5) g"
relay --consumer t1 --once --exec "$work/deliver" 2>"$work/err1" || fail "the relay failed: $(cat "$work/err1")"
diff <(expected true) "$OUT" >"$work/diff" || fail "deliveries differ from the outbox: $(cat "$work/diff")"
[ "$(q "SELECT count(*) FROM crm.outbox
         WHERE delivered_at IS NOT NULL AND attempts = 1 AND claimed_by = 't1' AND last_error IS NULL")" -eq 5 ] \
    || fail "not all 5 messages acknowledged: $(q "TABLE crm.outbox")"
[ ! -s "$work/err1" ] || fail "unexpected complaints: $(cat "$work/err1")"

# 2. A second run delivers nothing.
cp "$OUT" "$work/got1"
relay --consumer t1 --once --exec "$work/deliver"
relay --consumer t1 --once > "$work/json0"
cmp -s "$OUT" "$work/got1" && [ ! -s "$work/json0" ] || fail "a second run delivered again"

# 3. A failed delivery is given back, with the exit status and the first line
#    of stderr; the others are delivered.  Once its back-off is over, it is
#    delivered on the second attempt.
q "TRUNCATE crm.outbox"; : > "$OUT"
q "INSERT INTO crm.outbox (topic, recipient, payload)
   SELECT 'alarm', 'ops', jsonb_build_object('n', g) FROM generate_series(1, 3) g"
bad=$(q "SELECT min(id) + 1 FROM crm.outbox")
FAIL_ID=$bad relay --consumer t1 --once --exec "$work/deliver" 2>"$work/err3" \
    || fail "the relay failed: $(cat "$work/err3")"
diff <(expected "id <> $bad") "$OUT" >"$work/diff" || fail "wrong deliveries around a failure: $(cat "$work/diff")"
[ "$(q "SELECT format('%s|%s|%s|%s', delivered_at IS NULL, attempts, claimed_until IS NULL, last_error)
         FROM crm.outbox WHERE id = $bad")" = "t|1|t|exit 3: webhook refused message $bad" ] \
    || fail "the failed message was not given back: $(q "SELECT * FROM crm.outbox WHERE id = $bad")"
[ "$(q "SELECT count(*) FROM crm.outbox WHERE id <> $bad AND delivered_at IS NOT NULL")" -eq 2 ] \
    || fail "the other two messages were not acknowledged"
grep -q "message $bad given back: exit 3" "$work/err3" || fail "no word of the failure: $(cat "$work/err3")"
grep -q "webhook refused" "$work/err3" || fail "the command's stderr was not passed on"
relay --consumer t1 --once --exec "$work/deliver"
[ "$(wc -l < "$OUT")" -eq 2 ] || fail "a message in its back-off was delivered"
q "UPDATE crm.outbox SET available_at = now() WHERE id = $bad"    # skip the back-off
relay --consumer t1 --once --exec "$work/deliver"
[ "$(tail -n 1 "$OUT")" = "$(expected "id = $bad")" ] || fail "the retry was not delivered: $(tail -n 1 "$OUT")"
[ "$(q "SELECT format('%s|%s', attempts, last_error IS NULL) FROM crm.outbox
         WHERE id = $bad AND delivered_at IS NOT NULL")" = "2|t" ] || fail "the retry was not acknowledged"

# 4. Without --exec: one JSON line a message, valid JSON even for awkward
#    strings and a NULL recipient.
q "TRUNCATE crm.outbox"
q "INSERT INTO crm.outbox (topic, recipient, payload) VALUES
   ('alarm', NULL, '{\"kind\": \"rule_idle\"}'),
   (E'to\"pic', E'a\\\\b\nc\td', '[1, \"二\", null]')"
relay --consumer t1 --once > "$work/json"
[ "$(wc -l < "$work/json")" -eq 2 ] || fail "expected 2 JSON lines: $(cat "$work/json")"
while IFS= read -r line; do
    same=$(psql -d "$db" -XAtq -v ON_ERROR_STOP=1 -v line="$line" <<'EOF'
SELECT count(*) FROM crm.outbox o
 WHERE :'line'::jsonb = jsonb_build_object('id', o.id, 'topic', o.topic, 'recipient', o.recipient, 'payload', o.payload)
EOF
    ) || fail "not JSON: $line"
    [ "$same" -eq 1 ] || fail "this line matches no message: $line"
done < "$work/json"
[ "$(q "SELECT count(*) FROM crm.outbox WHERE delivered_at IS NULL")" -eq 0 ] || fail "printed messages not acknowledged"

# 5. Two relays at once over 200 messages: each delivered exactly once.
q "TRUNCATE crm.outbox"
q "INSERT INTO crm.outbox (topic, payload) SELECT 'alarm', jsonb_build_object('n', g) FROM generate_series(1, 200) g"
for r in a b; do
    bg_relay --consumer "$r" --batch 7 --once --exec "echo \"\$CRM_MESSAGE_ID\" >> $work/ids.$r"
done
for pid in "${pids[@]}"; do wait "$pid" || fail "a concurrent relay failed"; done
pids=()
cat "$work/ids.a" "$work/ids.b" | sort -n > "$work/ids"
[ -z "$(uniq -d "$work/ids")" ] || fail "delivered twice: $(uniq -d "$work/ids" | tr '\n' ' ')"
diff <(q "SELECT id FROM crm.outbox ORDER BY id") "$work/ids" >/dev/null || fail "not every message delivered"
[ "$(q "SELECT count(*) FROM crm.outbox WHERE delivered_at IS NULL OR attempts <> 1")" -eq 0 ] \
    || fail "messages not acknowledged, or claimed twice"

# 6. A command still running when the lease runs out is killed, with
#    whatever it started, and the message given back.
q "TRUNCATE crm.outbox"
q "INSERT INTO crm.outbox (topic, payload) VALUES ('alarm', '{}')"
start=$SECONDS
relay --consumer t1 --once --lease 1 --exec "sleep 20; sleep 20" 2>"$work/err6"
[ $((SECONDS - start)) -lt 10 ] || fail "the command was not stopped at the end of the lease"
[ "$(q "SELECT format('%s|%s', delivered_at IS NULL, last_error) FROM crm.outbox")" \
    = "t|timed out: still running when the lease ran out" ] || fail "the timed-out message was not given back"

# 7. A long-running relay wakes up on NOTIFY (not on its timeout), survives
#    losing its connection, and on SIGTERM finishes the message in hand
#    before it exits, with status 0.
q "TRUNCATE crm.outbox"
bg_relay --consumer live --wait 600 \
    --exec "touch $work/started; sleep 1; { cat; echo; } >> $work/live" 2>"$work/err7"
backend() { q "SELECT pid FROM pg_stat_activity WHERE datname = '$db' AND application_name = 'crm_relay'"; }
eventually '[ -n "$(backend)" ]' || fail "the relay did not connect"
q "INSERT INTO crm.outbox (topic, payload) VALUES ('alarm', '{\"wake\": 1}')"
eventually 'grep -q "wake\": 1" "$work/live" 2>/dev/null' || fail "the relay did not wake up on NOTIFY"
eventually '[ "$(q "SELECT count(*) FROM crm.outbox WHERE delivered_at IS NOT NULL")" -eq 1 ]' \
    || fail "the woken relay did not acknowledge"
old=$(backend)
q "SELECT pg_terminate_backend($old)" >/dev/null
eventually '[ -n "$(backend)" ] && [ "$(backend)" != "$old" ]' || fail "the relay did not reconnect: $(cat "$work/err7")"
rm -f "$work/started"
q "INSERT INTO crm.outbox (topic, payload) VALUES ('alarm', '{\"wake\": 2}')"
eventually '[ -e "$work/started" ]' || fail "the relay did not deliver after reconnecting"
kill -TERM "${pids[0]}"
wait "${pids[0]}" || fail "the relay did not exit cleanly on SIGTERM: $(cat "$work/err7")"
pids=()
grep -q "wake\": 2" "$work/live" || fail "SIGTERM cut the delivery in hand short"
[ "$(q "SELECT count(*) FROM crm.outbox WHERE delivered_at IS NOT NULL")" -eq 2 ] \
    || fail "the relay's deliveries were not acknowledged"
grep -q "lost the connection" "$work/err7" || fail "the lost connection was not reported"

# 8. --once fails, saying why, when it cannot reach the database.
if "$here/crm_relay" -d "dbname=${db}_missing" --once 2>"$work/err8"; then
    fail "a relay without a database exited 0"
fi
grep -q "cannot connect" "$work/err8" || fail "no clear error without a database: $(cat "$work/err8")"

psql -d postgres -XAtq -c "DROP DATABASE $db"
echo "relay ... ok (tools/relay/test.sh)"
