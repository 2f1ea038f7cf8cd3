#!/usr/bin/env bash
# scripts/import-recovery-test.sh: a migration survives a crash.  A batch of
# 8,000 contacts (one in ten a second spelling of an earlier person, one in
# fifty rows that must be rejected) is committed in chunks of 500 while
#   1. the backend running CALL crm.import_commit is killed with SIGKILL (the
#      postmaster restarts every backend and recovers), then, on a second
#      call,
#   2. the postmaster and all its children are killed with SIGKILL (as a
#      machine that loses power), and the server is started again;
# a third call finishes the batch.  The test proves:
#   - each kill landed mid-import (rows done, rows still pending), and
#     crm.import_progress said "interrupted" after it;
#   - every row ends imported or rejected, none pending;
#   - no row was imported twice: one lead per imported row, each under its
#     own external id, and the same contacts, outcomes and reasons as the
#     same batch committed without a crash in another database (rows
#     grouped into contacts alike, row for row);
#   - the notifications count every arrived customer of every chunk once.
# The server runs from a private copy of PostgreSQL (CRM_PG_ROOT when set,
# as /work/land.sh sets it; else one made here, as scripts/upgrade-test.sh
# does) in a throw-away cluster (scripts/cluster.sh), which it stops and
# starts itself.  Needs root and this checkout built (make).  Prints
# "import-recovery ... ok" or "import-recovery ... FAILED: why".
test_name=import-recovery
. "$(dirname "$0")/test-lib.sh"
tree=$(cd "$(dirname "$0")/.." && pwd)
rows=${IMPORT_RECOVERY_ROWS:-8000}

# ---------------------------------------------------------------- outside
if [ "${1:-}" != --inside ]; then
    start=$(date +%s)
    cd "$tree"
    [ -f crm.so ] || fail "build this checkout first (make)"
    root=${CRM_PG_ROOT:-}
    if [ -z "$root" ]; then
        chmod a+rx "$work"    # the server (user postgres) reads the private root in it
        root=$work/root
        "$tree/scripts/private-pg.sh" "$root"
        env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$tree" -s install DESTDIR="$root" > "$work/install.log" 2>&1 ||
            fail "installing this checkout: $(tail -5 "$work/install.log")"
    fi
    status=0
    RECOVERY_START=$start CRM_PG_ROOT=$root \
        "$tree/scripts/cluster.sh" "$tree/scripts/import-recovery-test.sh" --inside 2>&1 | tee "$work/out" ||
        status=${PIPESTATUS[0]}
    if [ "$status" -ne 0 ] && ! grep -q "^$test_name \.\.\. " "$work/out"; then
        fail "the cluster (scripts/cluster.sh) exited $status"
    fi
    exit "$status"
fi

# ----------------------------------------------------------------- inside
# (scripts/cluster.sh runs this against the private root's server)
bindir=$CRM_PG_ROOT/usr/lib/postgresql/15/bin
as_postgres() { (cd / && runuser -u postgres -- "$@"); }

# the batch: people with their organisation, a tenth of them again under
# another spelling of the name and phone, a fiftieth of rows nobody can
# identify (rejected), in a generated order
batch_sql="
INSERT INTO crm.team (code, name) VALUES ('recovery', '恢复测试');
INSERT INTO crm.rep (login, name, team)
SELECT 'rep' || i, '经理' || i, 'recovery' FROM generate_series(1, 20) i;
SELECT crm.import_begin('contacts', 'recovery');
INSERT INTO crm.import_row (batch_id, payload)
SELECT 1, CASE
         WHEN n % 50 = 0 THEN jsonb_build_object('company_name', '无名单位' || n, 'notes', '空行')
         WHEN n % 10 = 0 THEN jsonb_build_object(
              'person_name', (ARRAY['王','李','张','刘','陈','杨','赵','黄'])[1 + p % 8] || '先生',
              'phone', '+86 139-' || lpad((p / 10000)::text, 4, '0') || '-' || lpad((p % 10000)::text, 4, '0'),
              'company_name', '恢复测试' || (p % 400) || '号医疗器械有限公司',
              'owner', 'rep' || (1 + p % 20))
         ELSE jsonb_build_object(
              'person_name', (ARRAY['王','李','张','刘','陈','杨','赵','黄'])[1 + n % 8]
                             || (ARRAY['伟','芳','娜','敏','静','磊','强','洋','艳','杰'])[1 + (n / 8) % 10]
                             || (ARRAY['','华','军','平','明'])[1 + (n / 80) % 5],
              'phone', '139' || lpad(n::text, 8, '0'),
              'email', CASE WHEN n % 3 = 0 THEN 'p' || n || '@example.cn' END,
              'company_name', '恢复测试' || (n % 400) || '号医疗器械有限公司',
              'owner', 'rep' || (1 + n % 20),
              'created_at', (date '2015-01-01' + (n % 3000))::text)
       END
  FROM generate_series(1, $rows) n,
       LATERAL (SELECT greatest(n - 7 - 10 * (n % 7), 1) AS p) d
 ORDER BY n;"

# the outcome of every row, and which rows became one contact (the first
# row of its contact): equal between two databases when each row was
# imported once, whatever the ids
outcome_sql="
SELECT i.row_no, i.status, i.outcome, i.reason,
       CASE WHEN i.contact_id IS NOT NULL THEN min(i.row_no) OVER (PARTITION BY i.contact_id) END
  FROM crm.import_row i ORDER BY i.row_no"
outcome_of() {
    psql -d "$1" -XAtq -v ON_ERROR_STOP=1 -c "$outcome_sql" | sed 's/|$/|-/' > "$2"
}

# a reference: the same batch, committed without a crash
fresh_db recovery_reference
q recovery_reference "CREATE EXTENSION crm CASCADE"
psql -d recovery_reference -XAtq -v ON_ERROR_STOP=1 -c "$batch_sql" > /dev/null
q recovery_reference "CALL crm.import_commit(1, 500)"
outcome_of recovery_reference "$work/reference"

fresh_db recovery
q recovery "CREATE EXTENSION crm CASCADE"
psql -d recovery -XAtq -v ON_ERROR_STOP=1 -c "$batch_sql" > /dev/null
total=$(q recovery "SELECT count(*) FROM crm.import_row")
[ "$total" -eq "$rows" ] || fail "the batch has $total rows, not $rows"

# commit_in_background: CALL crm.import_commit in a psql of its own (it
# dies with the server); wait_chunks N: until N chunks are committed
commit_in_background() {
    psql -d recovery -XAtq -c "CALL crm.import_commit(1, 500)" > "$work/commit.$1" 2>&1 &
}
wait_chunks() {
    for _ in $(seq 600); do
        [ "$(q recovery "SELECT chunk FROM crm.import_progress WHERE batch_id = 1")" -ge "$1" ] && return 0
        sleep 0.1
    done
    fail "the import did not reach chunk $1 in a minute"
}
wait_ready() {
    for _ in $(seq 300); do
        psql -d recovery -XAtq -c "SELECT 1" > /dev/null 2>&1 && return 0
        sleep 0.2
    done
    fail "the server did not accept connections again"
}
progress() { q recovery "SELECT phase || ' ' || rows_done || ' ' || rows_rejected || ' ' || rows_pending FROM crm.import_progress WHERE batch_id = 1"; }
mid_import() {
    local phase done rejected pending
    read -r phase done rejected pending <<< "$(progress)"
    [ "$phase" = interrupted ] || fail "after $1, crm.import_progress says $phase, not interrupted"
    [ "$done" -gt 0 ] && [ "$pending" -gt 0 ] ||
        fail "$1 did not land mid-import ($done rows done, $pending pending)"
    echo "$1: $done rows imported, $rejected rejected, $pending pending"
}

# 1. kill -9 of the backend running the commit
commit_in_background backend
wait_chunks 3
pid=$(q recovery "SELECT pid FROM crm.import_progress WHERE batch_id = 1")
[ -n "$pid" ] || fail "crm.import_progress shows no backend for the running commit"
kill -9 "$pid"
wait || true
wait_ready
mid_import "kill -9 of the backend"

# 2. kill -9 of the postmaster and of every process it started, mid-import
commit_in_background postmaster
before=$(q recovery "SELECT chunk FROM crm.import_progress WHERE batch_id = 1")
wait_chunks $((before + 3))
postmaster=$(head -1 "$CRM_CLUSTER_DATA/postmaster.pid")
children=$(ps -o pid= --ppid "$postmaster" || true)
kill -9 "$postmaster" $children
wait || true
for _ in $(seq 100); do
    ps -o pid= --ppid "$postmaster" > /dev/null 2>&1 || kill -0 "$postmaster" 2> /dev/null || break
    sleep 0.1
done
as_postgres "$bindir/pg_ctl" -D "$CRM_CLUSTER_DATA" -w -t 120 -l "$CRM_CLUSTER_DATA/../restart.log" restart > /dev/null 2>&1 ||
    fail "the server did not start after kill -9: $(tail -5 "$CRM_CLUSTER_DATA/../restart.log" 2>/dev/null)"
wait_ready
mid_import "kill -9 of the postmaster"

# 3. the call that finishes it
q recovery "CALL crm.import_commit(1, 500)"
read -r phase done rejected pending <<< "$(progress)"
[ "$phase" = committed ] && [ "$pending" -eq 0 ] || fail "after resuming: $phase with $pending rows pending"
[ $((done + rejected)) -eq "$rows" ] || fail "$done imported + $rejected rejected is not $rows rows"

# no row twice: one lead per imported row, each under its own id
read -r leads distinct imported <<< "$(q recovery "
    SELECT (SELECT count(*) FROM crm.lead WHERE channel = 'migration') || ' ' ||
           (SELECT count(DISTINCT external_id) FROM crm.lead WHERE channel = 'migration') || ' ' ||
           (SELECT count(*) FROM crm.import_row WHERE status = 'imported')")"
[ "$leads" -eq "$imported" ] && [ "$distinct" -eq "$imported" ] ||
    fail "$leads leads ($distinct external ids) for $imported imported rows"
[ "$(q recovery "SELECT count(*) FROM crm.import_row i LEFT JOIN crm.lead l ON l.id = i.lead_id
                  WHERE i.status = 'imported' AND l.external_id IS DISTINCT FROM '1:' || i.row_no")" -eq 0 ] ||
    fail "an imported row's lead is not its own"
# every chunk told its owners of each arrived customer once
[ "$(q recovery "SELECT coalesce(sum((payload ->> 'customers')::int), 0) FROM crm.outbox WHERE topic = 'import_arrived'")" = \
  "$(q recovery "SELECT count(*) FROM (SELECT DISTINCT chunk, customer_code FROM crm.import_row
                                        WHERE status = 'imported' AND outcome <> 'review') c")" ] ||
    fail "the notifications do not count each chunk's arrived customers once"

outcome_of recovery "$work/recovered"
same "rows after the crashes against the same batch without one" "$work/reference" "$work/recovered"
echo "$test_name ... ok $(( $(date +%s) - ${RECOVERY_START:-$(date +%s)} ))s ($rows rows: $done imported, $rejected rejected; backend and postmaster killed mid-import)"
