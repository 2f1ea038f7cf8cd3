#!/usr/bin/env bash
# tools/app_client/test.sh: runs the psycopg2 application (client.py)
# against crm in a fresh database, connected as a login role holding only
# the grants README.md gives an application (the session takes its role at
# connection, as the cluster may want a password only its superuser has).
# Needs PGHOST etc.
# (scripts/cluster.sh); prints "app-client ... ok" or "app-client ... FAILED".
set -uo pipefail
cd "$(dirname "$0")"
db=app_client
psql -X -q -v ON_ERROR_STOP=1 -d postgres <<SQL || { echo "app-client ... FAILED (set-up)"; exit 1; }
CREATE DATABASE $db;
\c $db
SET client_min_messages = warning;
CREATE EXTENSION crm CASCADE;
INSERT INTO crm.team (code, name, manager, director) VALUES ('east', '华东销售部', 'wang.min', 'zhao.lei');
INSERT INTO crm.rep (login, name, team) VALUES ('li.na', '李娜', 'east'), ('chen.gang', '陈刚', 'east'),
    ('sun.li', '孙丽', 'east');
INSERT INTO crm.assignment_rule (code, position, name, to_customer_owner, team) VALUES
    ('known_customers', 10, '老客户回原负责人', true, 'east'), ('everyone', 20, '其余线索', false, 'east');
DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'crm_app') THEN CREATE ROLE crm_app NOLOGIN; END IF;
END \$\$;
GRANT USAGE ON SCHEMA crm TO crm_app;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA crm TO crm_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA crm TO crm_app;
GRANT DELETE ON crm.lead_quarantine, crm.contact_point TO crm_app;
GRANT EXECUTE ON FUNCTION crm.work_list_update(bigint[]) TO crm_app;
REVOKE INSERT, UPDATE ON crm.settings FROM crm_app;
DROP ROLE IF EXISTS app_login;
CREATE ROLE app_login LOGIN IN ROLE crm_app;
SQL
status=0
APP_DSN="dbname=$db options='-c role=app_login'" /usr/bin/python3 client.py || { echo "app-client ... FAILED (tools/app_client/test.sh)"; status=1; }
psql -X -q -d postgres -c "DROP DATABASE $db" >/dev/null 2>&1
exit $status
