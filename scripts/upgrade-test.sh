#!/usr/bin/env bash
# scripts/upgrade-test.sh: a busy crm 1.0 database goes through
# "ALTER EXTENSION crm UPDATE" to the version this checkout builds, and the
# test proves:
#   - crm--1.0.sql is release 1.0's byte for byte (it is frozen: its SHA-256
#     is below);
#   - extversion is then crm.control's default_version;
#   - the catalog equals a fresh install's, in another database of the same
#     cluster: pg_dump --schema-only of both, with every member of crm
#     detached first (pg_dump leaves extension members out), the shipped
#     rows (what pg_extension_config_dump's conditions leave out of a dump)
#     and pg_extension's extconfig and extcondition;
#   - no row is lost: every row of every 1.0 table is there unchanged in
#     its 1.0 columns (the update may add rows), and no 1.0 sequence went
#     back (a table the upgrade is documented to change is listed in
#     "kept" below with the rows it must keep);
#   - a 1.0 dump restores into the new version with every 1.0 row;
#   - ingestion works afterwards: crm.ingest of a new lead, of a re-send
#     (outcome 'duplicate'), a COPY into crm.lead_inbox, and the sweep;
#     the work list's keys of the 1.0 leads need no repair;
#   - an EMPTY 1.0 database updates to the same catalog and the same rows
#     as a fresh install.
#
# The 1.0 database is made as a DBA's is between installing the new package
# and running ALTER EXTENSION crm UPDATE: this checkout's library serving
# the 1.0 catalog (CREATE EXTENSION crm VERSION '1.0'), so the test needs
# no git history.  Its busy data is scripts/dump-restore-busy.sql, which
# therefore uses only the 1.0 surface.  The server runs from a private copy
# of PostgreSQL (scripts/private-pg.sh, CRM_PG_ROOT, scripts/cluster.sh) in
# a temporary directory.  Needs root and this checkout built (make).
# Prints "upgrade ... ok" or "upgrade ... FAILED: why" (scripts/run-tests.sh
# counts these).
test_name=upgrade
. "$(dirname "$0")/test-lib.sh"
tree=$(cd "$(dirname "$0")/.." && pwd)
released=1.0
# crm--1.0.sql as released (git tag v1.0): never to change
released_sha256=9f079b3349d99eb670256669c1a57975d3e63169dc5461acecf812dc4312c913

# The tables the upgrade is documented to change (install/README.md), each
# with the SQL condition selecting the rows it must keep unchanged in their
# 1.0 columns: kept[crm.table]='NOT shipped'.  A table not listed keeps
# every row; a sequence listed (any condition) is not compared.
declare -A kept=()

# ---------------------------------------------------------------- outside
if [ "${1:-}" != --inside ]; then
    start=$(date +%s)
    cd "$tree"
    [ "$(sha256sum < "crm--$released.sql" | cut -c1-64)" = "$released_sha256" ] ||
        fail "crm--$released.sql is not release $released's (git diff v$released -- crm--$released.sql): a released script is frozen; put changes in install/*.sql"
    [ -f crm.so ] || fail "build this checkout first (make)"

    chmod a+rx "$work"    # the server (user postgres) reads the private root in it
    "$tree/scripts/private-pg.sh" "$work/root"
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$tree" -s install DESTDIR="$work/root" > "$work/install.log" 2>&1 ||
        fail "installing this checkout: $(tail -5 "$work/install.log")"

    status=0
    UPGRADE_START=$start CRM_PG_ROOT=$work/root \
        "$tree/scripts/cluster.sh" "$tree/scripts/upgrade-test.sh" --inside 2>&1 | tee "$work/out" ||
        status=${PIPESTATUS[0]}
    if [ "$status" -ne 0 ] && ! grep -q "^$test_name \.\.\. " "$work/out"; then
        fail "the cluster (scripts/cluster.sh) exited $status"
    fi
    exit "$status"
fi

# ----------------------------------------------------------------- inside
# (scripts/cluster.sh runs this against the private root's server)
extversion() { q "$1" "SELECT extversion FROM pg_extension WHERE extname = 'crm'"; }

# a lead sent again after the upgrade must be recognised as a re-send
known='{"ref": "upgrade-known", "who": "欧阳娜", "mobile": "13912345678", "org": "苏州精诚精密仪器有限公司", "area": "320500"}'

# the busy 1.0 database: the busy data set of scripts/dump-restore-busy.sql
# (every table has rows, SLA state mid-way), then a known lead
# and a COPY into the inbox with a row sent twice and a re-send
fresh_db upgrade_busy
q upgrade_busy "CREATE EXTENSION crm VERSION '$released' CASCADE"
run_sql upgrade_busy "$tree/scripts/dump-restore-busy.sql"
run_sql upgrade_busy "$tree/scripts/dump-restore-check.sql"
[ "$(q upgrade_busy "SELECT outcome FROM crm.ingest('expo_app', '$known')")" = new ] ||
    fail "1.0: the known lead was not new"
cat > "$work/copy.sql" <<EOF
COPY crm.lead_inbox (channel, payload) FROM STDIN;
expo_app	{"ref": "copy-1", "who": "郑州", "mobile": "13700001111", "area": "410100"}
expo_app	{"ref": "copy-1", "who": "郑州", "mobile": "13700001111", "area": "410100"}
expo_app	{"ref": "copy-2", "who": "鄭州", "mobile": "137 0000 1111", "org": "郑州宇通客车股份有限公司"}
expo_app	$known
expo_app	[3, 4]
\.
EOF
run_sql upgrade_busy "$work/copy.sql"

# an empty 1.0 database
fresh_db upgrade_empty
q upgrade_empty "CREATE EXTENSION crm VERSION '$released' CASCADE"
for db in upgrade_busy upgrade_empty; do
    [ "$(extversion $db)" = "$released" ] || fail "$db: crm is not at $released before the update"
done

# rows_of DB FILE: each crm table and sequence as 1.0 has it, in its 1.0
# columns, ordered by its primary key, one file per relation in $work/rows.FILE/
# and "relation rows md5" lines in FILE; the relation list is taken from DB
# the first time (the 1.0 catalog) and reused after the update
rows_of() {
    local db=$1 out=$2
    [ -f "$work/relations" ] || q "$db" "
        SELECT c.oid::regclass, c.relkind,
               CASE WHEN c.relkind = 'S' THEN 'last_value, is_called'
                    ELSE string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) END,
               coalesce((SELECT string_agg(quote_ident(pa.attname), ', ' ORDER BY k.n)
                           FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(attnum, n), pg_attribute pa
                          WHERE i.indrelid = c.oid AND i.indisprimary
                            AND pa.attrelid = c.oid AND pa.attnum = k.attnum),
                        string_agg(a.attnum::text, ', ' ORDER BY a.attnum))
          FROM pg_class c LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
                                                   AND NOT a.attisdropped AND c.relkind <> 'S'
         WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('r', 'p', 'S')
         GROUP BY c.oid ORDER BY c.oid::regclass::text" > "$work/relations"
    mkdir -p "$work/rows.$out"
    : > "$work/$out"
    while IFS='|' read -r rel kind columns order; do
        local where=true
        [ -n "${kept[$rel]:-}" ] && { [ "$kind" = S ] && continue; where=${kept[$rel]}; }
        echo "\\o $work/rows.$out/$rel"
        if [ "$kind" = S ]; then
            echo "SELECT $columns FROM $rel;"
        else
            echo "COPY (SELECT $columns FROM $rel WHERE $where ORDER BY $order) TO STDOUT;"
        fi
        echo "$rel" >> "$work/$out.list"
    done < "$work/relations" > "$work/rows.$out.sql"
    psql -d "$db" -XAtq -v ON_ERROR_STOP=1 -f "$work/rows.$out.sql"
    while read -r rel; do
        echo "$rel $(wc -l < "$work/rows.$out/$rel") $(md5sum < "$work/rows.$out/$rel" | cut -c1-32)"
    done < "$work/$out.list" > "$work/$out"
}
# rows_kept NAME WHERE: every row of 1.0 is in NAME (rows_of) unchanged in
# its 1.0 columns, and no sequence went back, or the test fails showing
# each relation's rows lost or changed.  An update may add rows (shipped
# rows of a 1.0 table: compared with a fresh install's below).
rows_kept() {
    local rel kind lost=0
    while IFS='|' read -r rel kind _; do
        [ -f "$work/rows.before/$rel" ] || continue    # a kept sequence
        if [ "$kind" = S ]; then
            [ "$(cut -d'|' -f1 "$work/rows.$1/$rel")" -ge "$(cut -d'|' -f1 "$work/rows.before/$rel")" ] && continue
            echo "== $rel went back $2: $(cat "$work/rows.before/$rel") then $(cat "$work/rows.$1/$rel")"
        else
            LC_ALL=C comm -23 <(LC_ALL=C sort "$work/rows.before/$rel") <(LC_ALL=C sort "$work/rows.$1/$rel") \
                > "$work/lost" || true
            [ -s "$work/lost" ] || continue
            echo "== $rel: $(wc -l < "$work/lost") rows of 1.0 lost or changed $2, the first:"
            head -5 "$work/lost"
        fi
        lost=$((lost + 1))
    done < "$work/relations"
    [ "$lost" -eq 0 ] || fail "rows of 1.0 lost or changed $2 in $lost relations (above)"
}
rows_of upgrade_busy before
# its backup, taken with 1.0, for a restore into the new version
pg_dump -Fc -d upgrade_busy -f "$work/busy.dump" 2> /dev/null

# the DBA's upgrade
version=$(sed -n "s/^default_version = '\\(.*\\)'\$/\\1/p" "$tree/crm.control")
for db in upgrade_busy upgrade_empty; do
    q $db "ALTER EXTENSION crm UPDATE" 2> "$work/err" || fail "ALTER EXTENSION crm UPDATE in $db: $(head -3 "$work/err")"
    [ "$(extversion $db)" = "$version" ] || fail "$db: extversion is $(extversion $db) after the update, not $version"
done
fresh_db upgrade_fresh
q upgrade_fresh "CREATE EXTENSION crm CASCADE"
[ "$(extversion upgrade_fresh)" = "$version" ] || fail "a fresh install is at $(extversion upgrade_fresh), not $version"

# no row lost
rows_of upgrade_busy after
rows_kept after "after the update"
tables=$(grep -c . "$work/before")
added=$(paste -d' ' "$work/before" "$work/after" | awk '$1 ~ /_seq$/ { next } { n += $5 - $2 } END { print n + 0 }')
# a 1.0 dump restores into the new version: pg_dump writes CREATE EXTENSION
# without a version, so pg_restore creates the installed one and loads the
# 1.0 rows into it
createdb upgrade_restored
pg_restore -d upgrade_restored "$work/busy.dump" 2> "$work/err" ||
    fail "pg_restore of a 1.0 dump into $version: $(grep -m3 -E 'ERROR|DETAIL' "$work/err" | tr '\n' ' ')"
[ ! -s "$work/err" ] || fail "pg_restore of a 1.0 dump into $version wrote to stderr: $(head -5 "$work/err")"
[ "$(extversion upgrade_restored)" = "$version" ] || fail "a 1.0 dump restored is at $(extversion upgrade_restored)"
rows_of upgrade_restored restored
rows_kept restored "in a 1.0 dump restored into $version"
rows=$(awk '{ n += $2 } END { print n }' "$work/before")

# ingestion afterwards: a new lead, a re-send, COPY, the sweep
[ "$(q upgrade_busy "SELECT outcome FROM crm.ingest('expo_app', '$known')")" = duplicate ] ||
    fail "after the update, a re-send of a 1.0 lead is not a duplicate"
[ "$(q upgrade_busy "SELECT outcome FROM crm.ingest('expo_app',
        '{\"ref\": \"after-1\", \"who\": \"上官婉\", \"mobile\": \"13611112222\", \"area\": \"330100\"}')")" = new ] ||
    fail "after the update, a new lead is not new"
leads=$(q upgrade_busy "SELECT count(*) FROM crm.lead")
sed 's/copy-\([12]\)/copy-after-\1/' "$work/copy.sql" > "$work/copy-after.sql"
run_sql upgrade_busy "$work/copy-after.sql"
[ "$(q upgrade_busy "SELECT count(*) - $leads FROM crm.lead")" -ge 2 ] ||
    fail "after the update, COPY into crm.lead_inbox stored no new lead"
q upgrade_busy "SELECT crm.run_timeouts()" > /dev/null
# the work list's keys (crm.work_list_key, new in 1.1): the update wrote one
# per open 1.0 lead, and crm's triggers kept them since, so that
# crm.work_list_refresh() finds nothing to repair
[ "$(q upgrade_busy "SELECT count(*) FROM crm.work_list_key")" -gt 0 ] ||
    fail "after the update, crm.work_list_key is empty"
[ "$(q upgrade_busy "SELECT crm.work_list_refresh()")" = 0 ] ||
    fail "after the update, crm.work_list_refresh() found keys to repair"

# catalog: extconfig and extcondition, the shipped rows, then the schema
# with every member of crm detached (pg_dump leaves members out)
catalog() {
    local db=$1
    q "$db" "SELECT c::regclass, w FROM pg_extension e, unnest(e.extconfig, e.extcondition) u(c, w)
              WHERE e.extname = 'crm' ORDER BY u.c::regclass::text" > "$work/extconfig.$db"
    # shipped rows: those of a dumped table that its dump condition leaves
    # out, compared as they are; and every row of a table not dumped (a
    # fresh install's must all be there, beside rows derived from the
    # user's, such as crm.calendar_window's for the user's calendars)
    q "$db" "SELECT CASE WHEN u.c IS NULL
                         THEN format('\\o $work/held.$db' || E'\\n' || 'COPY (SELECT %L, * FROM %s) TO STDOUT;',
                                     c.oid::regclass, c.oid::regclass)
                         ELSE format('\\o $work/shipped.$db' || E'\\n' || '\\qecho == %1\$s' || E'\\n'
                                     || 'COPY (SELECT * FROM %1\$s WHERE NOT coalesce((%2\$s), false) ORDER BY %3\$s) TO STDOUT;',
                                     c.oid::regclass, regexp_replace(u.w, '^\\s*WHERE\\s', '', 'i'),
                                     (SELECT string_agg(a.attnum::text, ', ' ORDER BY a.attnum) FROM pg_attribute a
                                       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)) END
               FROM pg_class c
               LEFT JOIN (SELECT u.c, u.w FROM pg_extension e, unnest(e.extconfig, e.extcondition) u(c, w)
                           WHERE e.extname = 'crm') u ON u.c = c.oid
              WHERE c.relnamespace = 'crm'::regnamespace AND c.relkind IN ('r', 'p') AND coalesce(u.w, 'x') <> ''
              ORDER BY u.c IS NULL, c.oid::regclass::text" > "$work/shipped.sql"
    : > "$work/held.$db"
    : > "$work/shipped.$db"
    psql -d "$db" -XAtq -v ON_ERROR_STOP=1 -f "$work/shipped.sql"
    sort -o "$work/held.$db" "$work/held.$db"
    q "$db" "SELECT format('ALTER EXTENSION crm DROP %s %s;', o.type, o.identity)
               FROM pg_depend d, pg_identify_object(d.classid, d.objid, d.objsubid) o
              WHERE d.deptype = 'e' AND d.refclassid = 'pg_extension'::regclass
                AND d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'crm')" > "$work/detach.$db"
    run_sql "$db" "$work/detach.$db" -1
    # (less the random key of pg_dump's \restrict line, new in 15.14)
    pg_dump --schema-only -d "$db" 2> "$work/err" | grep -vE '^\\(un)?restrict ' > "$work/schema.$db" ||
        fail "pg_dump of $db: $(head -3 "$work/err")"
}
for db in upgrade_fresh upgrade_busy upgrade_empty; do catalog $db; done
for db in upgrade_busy upgrade_empty; do
    same "$db against a fresh install: pg_extension's extconfig and extcondition" \
        "$work/extconfig.upgrade_fresh" "$work/extconfig.$db"
    same "$db against a fresh install: the shipped rows" "$work/shipped.upgrade_fresh" "$work/shipped.$db"
    comm -23 "$work/held.upgrade_fresh" "$work/held.$db" > "$work/missing"
    [ ! -s "$work/missing" ] || { head -20 "$work/missing"
        fail "$db against a fresh install: $(wc -l < "$work/missing") rows of tables pg_dump does not keep are missing (first above)"; }
    same "$db against a fresh install: pg_dump --schema-only" "$work/schema.upgrade_fresh" "$work/schema.$db"
done
# an empty database updated holds exactly what a fresh install holds
snapshot upgrade_fresh "$work/all.upgrade_fresh"
snapshot upgrade_empty "$work/all.upgrade_empty"
same "upgrade_empty against a fresh install: every row and sequence" "$work/all.upgrade_fresh" "$work/all.upgrade_empty"

echo "$test_name ... ok (scripts/upgrade-test.sh: $released to $version, $tables tables and sequences with $rows rows kept, $added added, catalog as a fresh install's; $(( $(date +%s) - UPGRADE_START )) s)"
