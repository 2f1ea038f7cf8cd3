------------------------------------------------------------------------------
-- Migration of existing data: GB/T 2260 region codes, import batches, their
-- rows, the health check, the chunked commit and its progress
------------------------------------------------------------------------------

-- @since 1.1
CREATE FUNCTION crm.shipped_data_path(name text) RETURNS text
    AS 'MODULE_PATHNAME', 'crm_shipped_data_path_sql'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.shipped_data_path(text) IS
'Where a data file crm ships (data/*.tsv, such as crm_region_codes.tsv) is installed: the share directory''s extension/ of the running server';

CREATE TABLE crm.region_code (
    code        text PRIMARY KEY CONSTRAINT region_code_format CHECK (code OPERATOR(pg_catalog.~) '^[1-9][0-9]{5}$'),
    name        text NOT NULL CONSTRAINT region_code_named CHECK (pg_catalog.btrim(name) OPERATOR(pg_catalog.<>) ''),
    level       text NOT NULL CONSTRAINT region_code_level CHECK (level IN ('province', 'prefecture', 'county')),
    parent      text,
    source      text NOT NULL,
    source_date date NOT NULL,
    shipped     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE crm.region_code IS
'GB/T 2260 administrative division codes, county level and above: the list import checks region codes against. Shipped from data/crm_region_codes.tsv (scripts/region-codes.sh); crm.region_code_refresh(path) adds the codes of a newer list';
COMMENT ON COLUMN crm.region_code.code IS 'Six-digit division code';
COMMENT ON COLUMN crm.region_code.name IS 'The division''s name in the list it came from';
COMMENT ON COLUMN crm.region_code.level IS 'province, prefecture or county (county-level: districts, county-level cities, counties)';
COMMENT ON COLUMN crm.region_code.parent IS 'The division above it (the province for a municipality''s districts); NULL for a province';
COMMENT ON COLUMN crm.region_code.source IS 'The list the code came from (the header line "# source:" of its file)';
COMMENT ON COLUMN crm.region_code.source_date IS 'The date of that list (the header line "# date:")';
COMMENT ON COLUMN crm.region_code.shipped IS
'Loaded by crm''s install script from the shipped file: read-only, and recreated by CREATE EXTENSION rather than by pg_dump';
SELECT pg_catalog.pg_extension_config_dump('crm.region_code', 'WHERE NOT shipped');
CREATE TRIGGER region_code_shipped_guard BEFORE UPDATE OR DELETE ON crm.region_code
    FOR EACH ROW EXECUTE FUNCTION crm.guard_shipped_row('region code', 'code',
        'Shipped codes stay valid for old records; crm.region_code_refresh(path) adds the codes of a newer list.');
CREATE TRIGGER region_code_shipped_set BEFORE INSERT OR UPDATE OF shipped ON crm.region_code
    FOR EACH ROW WHEN (NEW.shipped) EXECUTE FUNCTION crm.guard_shipped_mark();
CREATE TRIGGER region_code_no_truncate BEFORE TRUNCATE ON crm.region_code
    FOR EACH STATEMENT EXECUTE FUNCTION crm.guard_shipped_truncate();

-- A file is "# source: ..." and "# date: YYYY-MM-DD" header lines, then
-- code<TAB>name<TAB>level<TAB>parent lines.  Codes are only added: a code
-- an older list had stays valid for the records that carry it.
CREATE FUNCTION crm.region_code_refresh(path text DEFAULT NULL, OUT added integer, OUT listed integer,
                                        OUT source text, OUT source_date date)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    file text := coalesce(path, crm.shipped_data_path('crm_region_codes.tsv'));
    content text;
    bad record;
BEGIN
    content := pg_read_file(file);
    source := (regexp_match(content, '(?n)^# source: *(.+)$'))[1];
    source_date := (regexp_match(content, '(?n)^# date: *([0-9]{4}-[0-9]{2}-[0-9]{2}) *$'))[1]::date;
    IF source IS NULL OR source_date IS NULL THEN
        RAISE EXCEPTION 'region code file "%" does not say its source and date', file
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Start the file with the lines "# source: <the list and its publisher>" and "# date: YYYY-MM-DD".';
    END IF;
    WITH lines AS (
        SELECT l.n, l.line, string_to_array(l.line, E'\t') AS f
          FROM regexp_split_to_table(content, '\r?\n') WITH ORDINALITY l(line, n)
         WHERE l.line !~ '^(#|\s*$)'
    )
    SELECT * INTO bad FROM lines r
     WHERE cardinality(r.f) <> 4 OR r.f[1] !~ '^[1-9][0-9]{5}$'
        OR r.f[3] NOT IN ('province', 'prefecture', 'county') OR btrim(r.f[2]) = ''
     ORDER BY r.n LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'region code file "%", line %: not code<TAB>name<TAB>level<TAB>parent', file, bad.n
            USING ERRCODE = 'invalid_text_representation',
                  DETAIL = 'The line is ' || crm.quote_value(bad.line) || '.',
                  HINT = 'A code has six digits; level is province, prefecture or county.';
    END IF;
    WITH lines AS (
        SELECT string_to_array(l.line, E'\t') AS f
          FROM regexp_split_to_table(content, '\r?\n') l(line)
         WHERE l.line !~ '^(#|\s*$)'
    ), inserted AS (
        INSERT INTO crm.region_code (code, name, level, parent, source, source_date, shipped)
        SELECT r.f[1], r.f[2], r.f[3], nullif(r.f[4], ''), region_code_refresh.source,
               region_code_refresh.source_date, region_code_refresh.path IS NULL
          FROM lines r
         WHERE NOT EXISTS (SELECT FROM crm.region_code c WHERE c.code = r.f[1])
         ORDER BY r.f[1]
        ON CONFLICT (code) DO NOTHING
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM inserted), (SELECT count(*) FROM lines) INTO added, listed;
END
$$;
COMMENT ON FUNCTION crm.region_code_refresh(text) IS
'Loads a GB/T 2260 code list (by default the shipped data/crm_region_codes.tsv) into crm.region_code: adds the codes it does not have, with the file''s source and date; returns how many it added and listed. Reads a server file: superuser or pg_read_server_files';

SELECT crm.region_code_refresh();

------------------------------------------------------------------------------
-- The migration channel: import rows enter crm as leads do
------------------------------------------------------------------------------

-- Payload keys are the lead fields themselves; import_ref ("batch:row") is
-- the lead's external id, so that a row fed twice is a re-send.
INSERT INTO crm.channel (code, source_label, description, shipped, field_map, created_at)
VALUES ('migration', '数据迁移', 'Rows of crm.import_row committed by crm.import_commit', true, $j$
{"external_id": "import_ref",
 "person_name": {"path": "$.person_name", "default": null},
 "company_name": {"path": "$.company_name", "default": null},
 "phone": {"path": "$.phone", "default": null},
 "email": {"path": "$.email", "default": null},
 "uscc": {"path": "$.uscc", "default": null},
 "region_code": {"path": "$.region_code", "default": null},
 "title": {"path": "$.title", "default": null},
 "product_line": {"path": "$.product_line", "default": null},
 "wechat_openid": {"path": "$.wechat_openid", "default": null},
 "notes": {"path": "$.notes", "default": null},
 "created_at": {"path": "$.created_at", "default": null}}
$j$::jsonb, timestamptz '2026-12-01 00:00+08');

------------------------------------------------------------------------------
-- Batches and their rows
------------------------------------------------------------------------------

CREATE TABLE crm.import_batch (
    id          bigserial PRIMARY KEY,
    target      text NOT NULL CONSTRAINT import_batch_target CHECK (target IN ('contacts', 'accounts', 'leads')),
    label       text,
    created_by  text NOT NULL DEFAULT crm.current_actor(),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    pid         integer,
    commit_started_at timestamptz,
    rows_at_start bigint,
    chunks      integer NOT NULL DEFAULT 0,
    rows_imported bigint NOT NULL DEFAULT 0,
    rows_rejected bigint NOT NULL DEFAULT 0,
    rows_this_call bigint NOT NULL DEFAULT 0,
    last_chunk_at timestamptz,
    committed_at timestamptz
);
SELECT pg_catalog.pg_extension_config_dump('crm.import_batch', '');
SELECT pg_catalog.pg_extension_config_dump('crm.import_batch_id_seq', '');
COMMENT ON TABLE crm.import_batch IS
'A migration batch (crm.import_begin): its target, and the progress of crm.import_commit, written with each chunk it commits (crm.import_progress shows it)';
COMMENT ON COLUMN crm.import_batch.target IS 'contacts (people with their organisation), accounts (organisations alone) or leads';
COMMENT ON COLUMN crm.import_batch.label IS 'What the batch is, for people (the file name, the old system)';
COMMENT ON COLUMN crm.import_batch.created_by IS 'crm.current_actor() of the crm.import_begin call';
COMMENT ON COLUMN crm.import_batch.pid IS 'Backend of the last crm.import_commit call; it runs while that backend is alive and committed_at is NULL';
COMMENT ON COLUMN crm.import_batch.commit_started_at IS 'When the last crm.import_commit call started';
COMMENT ON COLUMN crm.import_batch.rows_at_start IS 'Rows waiting when that call started';
COMMENT ON COLUMN crm.import_batch.chunks IS 'Chunks committed, by every call';
COMMENT ON COLUMN crm.import_batch.rows_imported IS 'Rows imported, by every call';
COMMENT ON COLUMN crm.import_batch.rows_rejected IS 'Rows rejected and not fixed, as of the last chunk (counted again when a call starts: a fixed row is pending)';
COMMENT ON COLUMN crm.import_batch.rows_this_call IS 'Rows the last call has imported or rejected so far: its rate';
COMMENT ON COLUMN crm.import_batch.last_chunk_at IS 'When the last chunk was committed';
COMMENT ON COLUMN crm.import_batch.committed_at IS 'When a call found no row left to import; NULL while rows wait';

-- The bookkeeping is the commit's record of what it did: written by crm
-- only (src/import_guard.c), while crm.import_step() runs a chunk, or by a
-- restore.  The arguments are the columns a user writes; an insert fires
-- the guard only when it gives a value to another.
CREATE FUNCTION crm.guard_import_bookkeeping() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_guard_import_bookkeeping' LANGUAGE C;
COMMENT ON FUNCTION crm.guard_import_bookkeeping() IS
'Trigger on crm.import_batch and crm.import_row: only the columns named as its arguments are written by users (a batch''s target and label, a row''s batch_id and payload); the rest (status, outcome, ids, customer code, reason, counters, pid, committed_at) only by crm.import_commit or a restore (42501)';
CREATE TRIGGER import_batch_bookkept_insert BEFORE INSERT ON crm.import_batch
    FOR EACH ROW WHEN (NEW.pid IS NOT NULL OR NEW.commit_started_at IS NOT NULL OR NEW.rows_at_start IS NOT NULL
                       OR NEW.chunks <> 0 OR NEW.rows_imported <> 0 OR NEW.rows_rejected <> 0
                       OR NEW.rows_this_call <> 0 OR NEW.last_chunk_at IS NOT NULL OR NEW.committed_at IS NOT NULL)
    EXECUTE FUNCTION crm.guard_import_bookkeeping('target', 'label');
CREATE TRIGGER import_batch_bookkept BEFORE UPDATE ON crm.import_batch
    FOR EACH ROW EXECUTE FUNCTION crm.guard_import_bookkeeping('label');

CREATE TABLE crm.import_row (
    batch_id    bigint NOT NULL REFERENCES crm.import_batch (id),
    payload     jsonb NOT NULL,
    row_no      bigserial,
    status      text NOT NULL DEFAULT 'pending'
                CONSTRAINT import_row_status CHECK (status IN ('pending', 'imported', 'rejected')),
    reason      text,
    detail      text,
    outcome     text,
    -- no foreign keys: the commit writes these from the rows it stored in
    -- the same transaction, and records are merged, never deleted; three
    -- checks per row would cost the import a third of its bookkeeping
    lead_id     bigint,
    contact_id  bigint,
    account_id  bigint,
    customer_code text,
    chunk       integer,
    done_at     timestamptz,
    PRIMARY KEY (batch_id, row_no),
    CONSTRAINT import_row_rejected_why CHECK ((status = 'rejected') = (reason IS NOT NULL)),
    -- a row in review becomes a customer when a reviewer decides
    CONSTRAINT import_row_imported_where CHECK (status <> 'imported' OR customer_code IS NOT NULL OR outcome = 'review')
);
SELECT pg_catalog.pg_extension_config_dump('crm.import_row', '');
SELECT pg_catalog.pg_extension_config_dump('crm.import_row_row_no_seq', '');
CREATE INDEX import_row_pending_idx ON crm.import_row (batch_id, row_no) WHERE status = 'pending';
COMMENT ON TABLE crm.import_row IS
'Rows of migration batches: INSERT or COPY (batch_id, payload); crm.import_commit imports them in chunks. A rejected row keeps its reason; fixing its payload (UPDATE) makes it pending again';
COMMENT ON COLUMN crm.import_row.payload IS
'A JSON object of lead fields (person_name, company_name, phone, email, uscc, region_code, title, product_line, wechat_openid, notes, created_at) plus owner (a rep''s login); other keys are kept on the lead';
COMMENT ON COLUMN crm.import_row.row_no IS 'The order rows arrived in, which the commit keeps';
COMMENT ON COLUMN crm.import_row.status IS 'pending, imported or rejected';
COMMENT ON COLUMN crm.import_row.reason IS 'Why the row was rejected';
COMMENT ON COLUMN crm.import_row.detail IS 'More about the reason (the values at fault, or how to fix them); for an imported row, what a person should know: the review it waits in, the warnings of its lead (an organisation that fits several accounts, a value left out)';
COMMENT ON COLUMN crm.import_row.outcome IS
'What the import did: new, merged or review (contacts and leads, as lead ingestion says), new or matched (accounts)';
COMMENT ON COLUMN crm.import_row.lead_id IS 'The lead of channel migration that carried the row (contacts and leads)';
COMMENT ON COLUMN crm.import_row.contact_id IS 'The contact the row became or was merged into; NULL while it waits in review';
COMMENT ON COLUMN crm.import_row.account_id IS 'The account of the row''s organisation';
COMMENT ON COLUMN crm.import_row.customer_code IS 'The customer code of the contact (contacts, leads) or account (accounts) the row became; NULL while it waits in review (crm.lead follows the reviewer''s decision)';
COMMENT ON COLUMN crm.import_row.chunk IS 'Which chunk of the batch imported or rejected it';
COMMENT ON COLUMN crm.import_row.done_at IS 'When it was imported or rejected';
CREATE TRIGGER import_row_bookkept_insert BEFORE INSERT ON crm.import_row
    FOR EACH ROW WHEN (NEW.status <> 'pending' OR NEW.reason IS NOT NULL OR NEW.detail IS NOT NULL
                       OR NEW.outcome IS NOT NULL OR NEW.lead_id IS NOT NULL OR NEW.contact_id IS NOT NULL
                       OR NEW.account_id IS NOT NULL OR NEW.customer_code IS NOT NULL OR NEW.chunk IS NOT NULL
                       OR NEW.done_at IS NOT NULL)
    EXECUTE FUNCTION crm.guard_import_bookkeeping('batch_id', 'payload');
-- before crm.import_row_fixed (triggers fire in name order), which sets
-- the row pending again for the user's fix
CREATE TRIGGER import_row_bookkept BEFORE UPDATE ON crm.import_row
    FOR EACH ROW EXECUTE FUNCTION crm.guard_import_bookkeeping('payload');

-- A fixed row goes again; an imported one is history.
CREATE FUNCTION crm.import_row_fixed() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF OLD.status = 'imported' THEN
        RAISE EXCEPTION 'import row % of batch % was imported already', OLD.row_no, OLD.batch_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('It became customer %s.', OLD.customer_code),
                  HINT = 'Change the customer itself.';
    END IF;
    NEW.status := 'pending';
    NEW.reason := NULL; NEW.detail := NULL; NEW.chunk := NULL; NEW.done_at := NULL;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION crm.import_row_fixed() IS
'Trigger: a rejected row whose payload is changed is pending again (the next crm.import_commit tries it); an imported row''s payload cannot change';
CREATE TRIGGER import_row_fixed BEFORE UPDATE OF payload ON crm.import_row
    FOR EACH ROW WHEN (OLD.payload IS DISTINCT FROM NEW.payload) EXECUTE FUNCTION crm.import_row_fixed();

CREATE FUNCTION crm.import_begin(target text, label text DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    id bigint;
BEGIN
    IF target IS NULL OR target NOT IN ('contacts', 'accounts', 'leads') THEN
        RAISE EXCEPTION 'unknown import target %', coalesce(crm.quote_value(target), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Import contacts (people with their organisation), accounts (organisations alone) or leads.';
    END IF;
    INSERT INTO crm.import_batch (target, label) VALUES (target, label) RETURNING import_batch.id INTO id;
    RETURN id;
END
$$;
COMMENT ON FUNCTION crm.import_begin(text, text) IS
'Opens a migration batch for target contacts, accounts or leads and returns its id; rows go into crm.import_row (COPY welcome)';

-- The batch (with lock: locked against a commit running meanwhile), or an error.
CREATE FUNCTION crm.import_batch_of(batch_id bigint, lock boolean DEFAULT true) RETURNS crm.import_batch
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b crm.import_batch;
BEGIN
    IF batch_id IS NULL THEN
        RAISE EXCEPTION 'import batch is null'
            USING ERRCODE = 'null_value_not_allowed',
                  HINT = 'Give the id crm.import_begin(target, label) returned; crm.import_batch lists them.';
    END IF;
    IF lock THEN
        SELECT * INTO b FROM crm.import_batch x WHERE x.id = batch_id FOR UPDATE;
    ELSE
        SELECT * INTO b FROM crm.import_batch x WHERE x.id = batch_id;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'import batch % does not exist', batch_id
            USING ERRCODE = 'undefined_object',
                  HINT = 'crm.import_begin(target, label) opens a batch; crm.import_batch lists them.';
    END IF;
    RETURN b;
END
$$;
COMMENT ON FUNCTION crm.import_batch_of(bigint, boolean) IS
'Internal to the import functions: the batch (with lock, locked until the end of the transaction), or undefined_object (42704); a NULL id is null_value_not_allowed (22004)';

------------------------------------------------------------------------------
-- The health check
------------------------------------------------------------------------------

-- What rejects a row before lead ingestion reads it, the one list the
-- commit and the health check both apply.  SQL, so that the chunk's
-- statement takes it in (inlined) rather than calling it row by row.
CREATE FUNCTION crm.import_row_refusal(payload jsonb) RETURNS TABLE (reason text, detail text)
    LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT r.reason, r.detail
      FROM (SELECT CASE WHEN p.kind OPERATOR(pg_catalog.<>) 'object' THEN 'payload is not a JSON object'
                        WHEN p.owner IS NULL THEN NULL
                        WHEN o.login IS NULL THEN pg_catalog.format('owner %s is not a rep', crm.quote_value(p.owner))
                        WHEN NOT o.active THEN pg_catalog.format('owner %s is not an active rep', crm.quote_value(p.owner))
                   END,
                   CASE WHEN p.kind OPERATOR(pg_catalog.<>) 'object' THEN 'It is ' OPERATOR(pg_catalog.||) p.kind OPERATOR(pg_catalog.||) '.'
                        WHEN o.login IS NULL THEN 'An owner is the login of a rep in crm.rep.'
                        ELSE 'The rep has left or is suspended (crm.rep.active is false): a customer needs an owner who serves it.'
                   END
              FROM (SELECT pg_catalog.jsonb_typeof(payload),
                           CASE WHEN pg_catalog.jsonb_typeof(payload) OPERATOR(pg_catalog.=) 'object'
                                THEN payload OPERATOR(pg_catalog.->>) 'owner' END) p(kind, owner)
              LEFT JOIN crm.rep o ON o.login OPERATOR(pg_catalog.=) p.owner) r(reason, detail)
     WHERE r.reason IS NOT NULL;
END;
COMMENT ON FUNCTION crm.import_row_refusal(jsonb) IS
'Internal to crm.import_chunk() and crm.import_row_fields(): why an import row is rejected before lead ingestion reads it (not a JSON object, an owner who is no rep or an inactive one); no row when nothing is wrong';

-- Ingestion's own checks, for the health check to foretell the commit's
-- rejections with the code that makes them (src/ingest.c).
CREATE FUNCTION crm.lead_check(channel text, payload jsonb) RETURNS void
    AS 'MODULE_PATHNAME', 'crm_lead_check'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.lead_check(text, jsonb) IS
'Raises the error ingesting the payload through the channel would raise (a field too long, a time outside the lead time window, nobody identified), storing nothing; returns nothing when the lead would be taken';

-- The keys of a payload the migration does not read, and the ones it
-- does: an Excel export's own headers (姓名, 电话) fill no field.
CREATE FUNCTION crm.import_unread_keys(payload jsonb) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT 'Keys not read: ' OPERATOR(pg_catalog.||) pg_catalog.string_agg(crm.quote_value(k.key), ', ' ORDER BY k.key)
           OPERATOR(pg_catalog.||) '. The migration reads '
           OPERATOR(pg_catalog.||) (SELECT pg_catalog.string_agg(f.key, ', ' ORDER BY f.key)
                                      FROM crm.channel c, pg_catalog.jsonb_object_keys(c.field_map OPERATOR(pg_catalog.-) 'external_id'
                                                                                         OPERATOR(pg_catalog.||) '{"owner": null}') f(key)
                                     WHERE c.code OPERATOR(pg_catalog.=) 'migration')
           OPERATOR(pg_catalog.||) ': rename the columns to these keys.'
      FROM pg_catalog.jsonb_object_keys(CASE WHEN pg_catalog.jsonb_typeof(payload) OPERATOR(pg_catalog.=) 'object'
                                             THEN payload ELSE '{}' END) k(key)
     WHERE NOT EXISTS (SELECT FROM crm.channel c
                        WHERE c.code OPERATOR(pg_catalog.=) 'migration'
                          AND (c.field_map OPERATOR(pg_catalog.-) 'external_id') OPERATOR(pg_catalog.?) k.key)
       AND k.key OPERATOR(pg_catalog.<>) 'owner'
    HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 0;
END;
COMMENT ON FUNCTION crm.import_unread_keys(jsonb) IS
'Internal to the import: a note naming the keys of a payload that the migration channel does not read, with the keys it reads; NULL when every key is read (added to the detail of a row rejected by lead ingestion)';

-- The stored accounts an organisation alone fits, as ingestion matches a
-- lead's organisation: its credit code, else its company key in the same
-- region (several: a person chooses).
CREATE FUNCTION crm.import_account_matches(company text, credit text, OUT ids bigint[], OUT codes text[])
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    key text := crm.norm_company_name(company);
    region text := crm.company_region(company);
BEGIN
    SELECT ARRAY[a.id], ARRAY[a.code] INTO ids, codes FROM crm.account a WHERE a.uscc = credit;
    IF ids IS NULL AND key IS NOT NULL THEN
        SELECT array_agg(a.id ORDER BY a.id), array_agg(a.code ORDER BY a.id) INTO ids, codes
          FROM crm.account a
         WHERE a.name_key COLLATE "C" = key AND a.merged_into IS NULL
           AND (a.uscc IS NULL OR credit IS NULL)
           AND (a.name_region IS NULL OR region IS NULL OR a.name_region = region);
    END IF;
END
$$;
COMMENT ON FUNCTION crm.import_account_matches(text, text) IS
'Internal to crm.import_row_fields() and crm.import_accounts(): the stored accounts (ids and codes) an organisation of an account row fits, by credit code, else by company key in the same region; NULL when none';

-- What each row would be, before anything is stored: fields normalised as
-- ingestion normalises them, the problems that would reject it.  The
-- commit rejects a row for these problems and no others: the refusals
-- above, what ingestion refuses (crm.lead_check), and for an account row
-- its credit code and the stored accounts it fits.  A migration takes no
-- time after now (crm.lead_time_max_ahead 0): an old system's record is
-- in the past.
CREATE FUNCTION crm.import_row_fields(target text, payload jsonb,
                                      OUT fields jsonb, OUT problem text, OUT problem_detail text)
    LANGUAGE plpgsql STABLE
    SET search_path = pg_catalog, pg_temp
    SET crm.lead_time_max_ahead = 0
AS $$
DECLARE
    read jsonb;
    matches record;
BEGIN
    SELECT r.reason, r.detail INTO problem, problem_detail FROM crm.import_row_refusal(payload) r;
    IF problem IS NOT NULL THEN
        RETURN;
    END IF;
    -- an organisation alone names no person: a stand-in passes the lead
    -- map's identity check, and is taken off again
    read := payload || CASE target WHEN 'accounts' THEN '{"import_ref": "check", "person_name": "account"}'::jsonb
                                   ELSE '{"import_ref": "check"}'::jsonb END;
    BEGIN
        fields := crm.lead_fields('migration', read) - 'import_ref';
        PERFORM crm.lead_check('migration', read);
    EXCEPTION WHEN data_exception OR invalid_parameter_value OR datatype_mismatch THEN
        GET STACKED DIAGNOSTICS problem = MESSAGE_TEXT, problem_detail = PG_EXCEPTION_DETAIL;
        problem_detail := concat_ws(' ', nullif(problem_detail, ''), crm.import_unread_keys(payload));
        RETURN;
    END;
    IF target <> 'accounts' THEN
        RETURN;
    END IF;
    fields := fields - 'person_name';
    IF fields ->> 'company_name' IS NULL AND fields ->> 'uscc' IS NULL THEN
        problem := 'row names no organisation';
        problem_detail := concat_ws(' ', 'An account row gives company_name or uscc.', crm.import_unread_keys(payload));
    ELSIF fields ->> 'uscc' IS NOT NULL AND crm.norm_uscc(fields ->> 'uscc') IS NULL THEN
        problem := pg_catalog.format('credit code %s is not a valid unified social credit code', crm.quote_value(fields ->> 'uscc'));
        problem_detail := 'Correct it or leave uscc out (GB 32100-2015: 18 characters with a check character).';
    ELSE
        SELECT * INTO matches FROM crm.import_account_matches(fields ->> 'company_name', crm.norm_uscc(fields ->> 'uscc'));
        IF cardinality(matches.ids) > 1 THEN
            problem := pg_catalog.format('organisation %s fits %s stored accounts', crm.quote_value(fields ->> 'company_name'),
                                         cardinality(matches.ids));
            problem_detail := 'Accounts ' || array_to_string(matches.codes[1:10], ', ') || ': give its uscc, or merge the accounts first.';
        ELSIF matches.ids IS NULL AND fields ->> 'company_name' IS NULL THEN
            problem := pg_catalog.format('no account has credit code %s and the row gives no company_name', fields ->> 'uscc');
            problem_detail := 'A new account needs its name.';
        ELSIF matches.ids IS NULL AND crm.norm_company_name(fields ->> 'company_name') IS NULL THEN
            problem := pg_catalog.format('company name %s leaves no name once its place and legal form are taken off',
                                         crm.quote_value(fields ->> 'company_name'));
            problem_detail := 'A new account needs a name of its own (a brand or trade name, not only 有限公司 or a city); or give the uscc of a stored account.';
        END IF;
    END IF;
END
$$;
COMMENT ON FUNCTION crm.import_row_fields(text, jsonb) IS
'Internal to crm.import_check() and crm.import_accounts(): an import row''s lead fields as the migration channel maps them (for target accounts, without a person), and the problem that rejects it (NULL when none): the problems crm.import_commit rejects rows for, against what is stored now';

CREATE FUNCTION crm.import_check(batch_id bigint, sample integer DEFAULT 100)
    RETURNS TABLE (section text, item text, rows bigint, rate numeric, detail jsonb)
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b crm.import_batch;
    total bigint;
BEGIN
    b := crm.import_batch_of(import_check.batch_id, false);
    IF sample IS NULL OR sample < 0 THEN
        RAISE EXCEPTION 'sample must be 0 or more rows, not %', coalesce(sample::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    CREATE TEMP TABLE import_check_rows ON COMMIT DROP AS
    SELECT r.row_no, r.status, f.fields, f.problem, f.problem_detail,
           crm.norm_phone(f.fields ->> 'phone') AS phone, crm.norm_email(f.fields ->> 'email') AS email,
           crm.norm_uscc(f.fields ->> 'uscc') AS uscc, f.fields ->> 'region_code' AS region_code, r.payload
      FROM crm.import_row r, crm.import_row_fields(b.target, r.payload) f
     WHERE r.batch_id = import_check.batch_id;
    SELECT count(*) INTO total FROM import_check_rows;

    section := 'batch'; item := 'rows'; rows := total; rate := NULL;
    detail := jsonb_build_object('target', b.target, 'label', b.label,
                                 'pending', (SELECT count(*) FROM import_check_rows c WHERE c.status = 'pending'),
                                 'imported', (SELECT count(*) FROM import_check_rows c WHERE c.status = 'imported'),
                                 'rejected', (SELECT count(*) FROM import_check_rows c WHERE c.status = 'rejected'));
    RETURN NEXT;

    -- a key seen on an earlier row of the batch, and a key crm stores already
    RETURN QUERY
    SELECT 'duplicate_in_batch', k.kind, count(*) FILTER (WHERE k.earlier),
           round(count(*) FILTER (WHERE k.earlier)::numeric / nullif(total, 0), 4),
           jsonb_build_object('rows_with_value', count(*))
      FROM (SELECT v.kind, row_number() OVER (PARTITION BY v.kind, v.value ORDER BY c.row_no) > 1 AS earlier
              FROM import_check_rows c
             CROSS JOIN LATERAL (VALUES ('phone', c.phone), ('email', c.email), ('uscc', c.uscc)) v(kind, value)
             WHERE v.value IS NOT NULL) k
     GROUP BY k.kind ORDER BY k.kind;
    RETURN QUERY
    SELECT 'duplicate_stored', v.kind,
           count(*) FILTER (WHERE CASE v.kind
               WHEN 'uscc' THEN EXISTS (SELECT FROM crm.account a WHERE a.uscc = v.value)
               ELSE EXISTS (SELECT FROM crm.contact_point p JOIN crm.contact k ON k.id = p.contact_id
                             WHERE p.kind = v.kind AND p.value = v.value AND k.merged_into IS NULL
                               AND NOT EXISTS (SELECT FROM crm.import_row i
                                                WHERE i.batch_id = import_check.batch_id AND i.contact_id = k.id)) END),
           round(count(*) FILTER (WHERE CASE v.kind
               WHEN 'uscc' THEN EXISTS (SELECT FROM crm.account a WHERE a.uscc = v.value)
               ELSE EXISTS (SELECT FROM crm.contact_point p JOIN crm.contact k ON k.id = p.contact_id
                             WHERE p.kind = v.kind AND p.value = v.value AND k.merged_into IS NULL
                               AND NOT EXISTS (SELECT FROM crm.import_row i
                                                WHERE i.batch_id = import_check.batch_id AND i.contact_id = k.id)) END)::numeric
                 / nullif(total, 0), 4),
           jsonb_build_object('rows_with_value', count(*))
      FROM import_check_rows c
     CROSS JOIN LATERAL (VALUES ('phone', c.phone), ('email', c.email), ('uscc', c.uscc)) v(kind, value)
     WHERE v.value IS NOT NULL AND c.status = 'pending'
     GROUP BY v.kind ORDER BY v.kind;

    -- empty fields, over every key a row may give
    RETURN QUERY
    SELECT 'empty', f.field,
           count(*) FILTER (WHERE nullif(btrim(c.payload ->> f.field), '') IS NULL),
           round(count(*) FILTER (WHERE nullif(btrim(c.payload ->> f.field), '') IS NULL)::numeric / nullif(total, 0), 4),
           NULL::jsonb
      FROM unnest(ARRAY['person_name', 'company_name', 'phone', 'email', 'uscc', 'region_code', 'title',
                        'product_line', 'wechat_openid', 'notes', 'owner', 'created_at']) f(field)
     CROSS JOIN import_check_rows c
     WHERE jsonb_typeof(c.payload) = 'object'
     GROUP BY f.field HAVING total > 0 ORDER BY f.field;

    -- values given that cannot be used; region codes against GB/T 2260
    RETURN QUERY
    SELECT 'invalid', i.kind, count(*), round(count(*)::numeric / nullif(total, 0), 4),
           jsonb_build_object('examples', (array_agg(jsonb_build_object('row_no', i.row_no, 'value', i.value)
                                                     ORDER BY i.row_no))[1:5])
      FROM (SELECT c.row_no, v.kind, v.value
              FROM import_check_rows c
             CROSS JOIN LATERAL (VALUES
                 ('phone', c.fields ->> 'phone', c.phone IS NULL),
                 ('email', c.fields ->> 'email', c.email IS NULL),
                 ('uscc', c.fields ->> 'uscc', c.uscc IS NULL),
                 ('region_code', c.region_code,
                  NOT EXISTS (SELECT FROM crm.region_code g WHERE g.code = btrim(c.region_code)))) v(kind, value, bad)
             WHERE v.value IS NOT NULL AND btrim(v.value) <> '' AND v.bad) i
     GROUP BY i.kind ORDER BY i.kind;
    section := 'region'; item := 'gb_t_2260'; rate := NULL;
    SELECT count(*) INTO rows FROM crm.region_code;
    detail := (SELECT jsonb_build_object('source', max(g.source), 'date', max(g.source_date)) FROM crm.region_code g);
    RETURN NEXT;

    -- the rows the commit would reject, by reason
    RETURN QUERY
    SELECT 'reject', c.problem, count(*), round(count(*)::numeric / nullif(total, 0), 4),
           jsonb_build_object('row_nos', (array_agg(c.row_no ORDER BY c.row_no))[1:10],
                              -- the details differ by row (a payload's type, a length)
                              'details', (SELECT array_agg(d.detail ORDER BY d.first)
                                            FROM (SELECT u.detail, min(u.row_no) AS first
                                                    FROM unnest(array_agg(c.problem_detail), array_agg(c.row_no)) u(detail, row_no)
                                                   WHERE u.detail IS NOT NULL GROUP BY u.detail ORDER BY 2 LIMIT 5) d))
      FROM import_check_rows c WHERE c.problem IS NOT NULL AND c.status <> 'imported'
     GROUP BY c.problem ORDER BY count(*) DESC, c.problem;

    -- a preview: the first rows as the commit would read them
    RETURN QUERY
    SELECT 'sample', c.row_no::text, NULL::bigint, NULL::numeric,
           jsonb_strip_nulls(jsonb_build_object('status', c.status, 'fields', c.fields,
                                                'problem', c.problem, 'owner', c.payload ->> 'owner'))
      FROM import_check_rows c ORDER BY c.row_no LIMIT sample;
    DROP TABLE import_check_rows;
END
$$;
COMMENT ON FUNCTION crm.import_check(bigint, integer) IS
'Data-health report of a batch before (or after) its commit, one row per figure: section batch (rows by status), duplicate_in_batch and duplicate_stored (phone, email, uscc: rows repeating an earlier row''s value, rows whose value crm stores), empty (per field), invalid (phones, e-mails, credit codes that cannot be used, region codes not in GB/T 2260 crm.region_code, with examples), region (the code list''s size, source and date), reject (rows the commit would reject, by reason), then sample rows as the commit reads them';
-- @end

------------------------------------------------------------------------------
-- The commit, chunk by chunk
------------------------------------------------------------------------------

-- @since 1.1
-- Organisations alone: matched as ingestion matches a lead's organisation
-- (credit code, else the company key in the same region), one row after
-- another, each in a subtransaction so that a bad row is rejected alone.
CREATE FUNCTION crm.import_accounts(batch bigint, row_nos bigint[], chunk_no integer) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    f jsonb;
    company text;
    credit text;
    acc bigint;
    acc_code text;
    how text;
    note text;
    failure_reason text;
    failure_detail text;
    failure_hint text;
BEGIN
    -- the matching locks of lead ingestion, all of them, in its order
    PERFORM pg_advisory_xact_lock(x'43524d'::integer, b) FROM generate_series(0, 1023) b;
    FOR r IN SELECT i.row_no, i.payload FROM crm.import_row i
              WHERE i.batch_id = batch AND i.row_no BETWEEN row_nos[1] AND row_nos[cardinality(row_nos)]
                AND i.status = 'pending'
              ORDER BY i.row_no
    LOOP
        BEGIN
            SELECT x.fields, x.problem, x.problem_detail INTO f, failure_reason, failure_detail
              FROM crm.import_row_fields('accounts', r.payload) x;
            IF failure_reason IS NOT NULL THEN
                RAISE EXCEPTION '%', failure_reason USING ERRCODE = 'invalid_parameter_value', DETAIL = failure_detail;
            END IF;
            company := f ->> 'company_name';
            credit := crm.norm_uscc(f ->> 'uscc');
            note := NULL;
            -- one at most: import_row_fields refused the row otherwise
            SELECT m.ids[1], m.codes[1] INTO acc, acc_code FROM crm.import_account_matches(company, credit) m;
            IF f ->> 'region_code' IS NOT NULL AND NOT crm.region_code_is_valid(f ->> 'region_code') THEN
                note := pg_catalog.format('region code %s is not a GB/T 2260 code; left out', crm.quote_value(f ->> 'region_code'));
                f := f - 'region_code';
            END IF;
            IF acc IS NOT NULL THEN
                UPDATE crm.account a SET uscc = coalesce(a.uscc, credit), region_code = coalesce(a.region_code, f ->> 'region_code'),
                                         owner = coalesce(a.owner, r.payload ->> 'owner')
                 WHERE a.id = acc;
                how := 'matched';
            ELSE
                INSERT INTO crm.account (name, uscc, region_code, owner, created_at)
                VALUES (company, credit, f ->> 'region_code', r.payload ->> 'owner',
                        coalesce((f ->> 'created_at')::timestamptz, pg_catalog.now()))
                RETURNING id, code INTO acc, acc_code;
                how := 'new';
            END IF;
            UPDATE crm.import_row i
               SET status = 'imported', outcome = how, account_id = acc, customer_code = acc_code,
                   detail = note, chunk = chunk_no, done_at = pg_catalog.now()
             WHERE i.batch_id = batch AND i.row_no = r.row_no;
        EXCEPTION WHEN data_exception OR integrity_constraint_violation OR invalid_parameter_value
                       OR datatype_mismatch OR cardinality_violation OR raise_exception THEN
            GET STACKED DIAGNOSTICS failure_reason = MESSAGE_TEXT, failure_detail = PG_EXCEPTION_DETAIL,
                                    failure_hint = PG_EXCEPTION_HINT;
            UPDATE crm.import_row i
               SET status = 'rejected', reason = failure_reason,
                   detail = coalesce(nullif(failure_detail, ''), nullif(failure_hint, '')),
                   chunk = chunk_no, done_at = pg_catalog.now()
             WHERE i.batch_id = batch AND i.row_no = r.row_no;
        END;
    END LOOP;
END
$$;
COMMENT ON FUNCTION crm.import_accounts(bigint, bigint[], integer) IS
'Internal to crm.import_chunk(): imports pending account rows, matching a stored organisation by credit code, else by company key in the same region (several: rejected), else creating it';

-- People and leads: through crm.lead_inbox with channel migration, so they
-- are matched, merged and queued for review exactly as leads are.  Rows
-- are fed with import_ref "batch:row" as their external id: a row fed
-- again is a re-send, never a second lead.
-- Imports running side by side claim the keys of their rows here: a row
-- lock on one row per key (a bucket of its hash), held to the chunk's
-- commit, so that two chunks match at once and never decide on one key
-- together (src/match_claim.c).  Made by CREATE EXTENSION, never dumped.
CREATE TABLE crm.match_claim (bucket integer PRIMARY KEY);
INSERT INTO crm.match_claim (bucket) SELECT pg_catalog.generate_series(0, 262143);
COMMENT ON TABLE crm.match_claim IS
'The matching claims of import chunks (crm.import_claims): one row per bucket of blocking-key hashes, locked FOR UPDATE by crm.lead_inbox until the chunk commits. Holds nothing else; made by CREATE EXTENSION';

CREATE FUNCTION crm.import_people(batch bigint, target text, row_nos bigint[], chunk_no integer) RETURNS void
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    quarantined bigint;
    refused record;
BEGIN
    -- contacts are customers already: their leads are stored unscored and
    -- closed (crm.lead_is_migrated_customer), never assigned
    IF target = 'contacts' THEN
        PERFORM set_config('crm.score_on_ingest', 'off', true);
    END IF;
    -- nobody watches a migration merge: it asks for more evidence than a
    -- lead does (crm.import_merge_threshold)
    PERFORM set_config('crm.match_merge_threshold',
                       greatest(current_setting('crm.match_merge_threshold')::float8,
                                current_setting('crm.import_merge_threshold')::float8)::text, true);
    -- an old system's record is in the past: no time after now
    PERFORM set_config('crm.lead_time_max_ahead', '0', true);
    -- the inbox warns of quarantined rows; here they are rejected rows
    PERFORM set_config('client_min_messages', 'error', true);
    -- With crm.import_claims, crm.lead_inbox claims the keys of the rows
    -- it matches (src/match_claim.c), so that two imports match side by
    -- side: a row whose keys the other's chunk holds is not stored, and
    -- stays pending for a later chunk.  Else it takes the matching locks
    -- whole, which costs less.
    INSERT INTO crm.lead_inbox (channel, payload)
    SELECT 'migration', i.payload || jsonb_build_object('import_ref', batch || ':' || i.row_no)
      FROM crm.import_row i
     WHERE i.batch_id = batch AND i.row_no BETWEEN row_nos[1] AND row_nos[cardinality(row_nos)]
       AND i.status = 'pending'
     ORDER BY i.row_no;
    SELECT c.batch_id INTO quarantined FROM crm.lead_inbox_counts() c;
    IF quarantined IS NOT NULL THEN
        -- row by row, each by its key: the planner, which knows nothing of
        -- a batch loaded since the last ANALYZE, joined the other way round
        -- (every row of the batch against every quarantined one)
        FOR refused IN SELECT split_part(q.payload ->> 'import_ref', ':', 2)::bigint AS row_no, q.reason, q.detail
                         FROM crm.lead_quarantine q WHERE q.batch_id = quarantined
        LOOP
            UPDATE crm.import_row i
               SET status = 'rejected', reason = refused.reason,
                   detail = concat_ws(' ', nullif(refused.detail, ''), crm.import_unread_keys(i.payload)),
                   chunk = chunk_no, done_at = pg_catalog.now()
             WHERE i.batch_id = batch AND i.row_no = refused.row_no AND i.status = 'pending';
        END LOOP;
        DELETE FROM crm.lead_quarantine q WHERE q.batch_id = quarantined;
    END IF;
    -- what each fed row became, taken back in one statement: the row's
    -- bookkeeping, and the owner the old system gave to a customer that
    -- has none (the first row of the chunk that names one decides).
    -- A contact or account the chunk created has its owner and old
    -- creation time already, and a migrated contact's lead was stored
    -- closed: the batch engine wrote them with the rows (src/import.c).
    -- Every row is found by index, and so is its lead and its contact: the
    -- chunk's rows by their range, the rest by correlated look-ups (OFFSET 0
    -- keeps each one a look-up), so that a chunk costs the same whether
    -- crm holds a thousand customers or a million, whatever the planner
    -- knows of the tables.
    WITH bookkept AS (
        UPDATE crm.import_row i
           SET (status, outcome, lead_id, contact_id, account_id, customer_code, detail, chunk, done_at) =
               (SELECT 'imported', l.outcome, l.id, d.contact_id, l.account_id,
                       (SELECT k.code FROM crm.contact k WHERE k.id = d.contact_id),
                       nullif(concat_ws('; ', d.review, nullif(array_to_string(l.warnings, '; '), '')), ''),
                       chunk_no, pg_catalog.now()
                  FROM crm.lead l
                 -- a row in review is no customer yet: its lead waits on the
                 -- candidate only until a reviewer decides
                 CROSS JOIN LATERAL (
                       SELECT CASE WHEN l.outcome <> 'review' THEN l.contact_id END,
                              CASE WHEN l.outcome = 'review' THEN
                                  (SELECT pg_catalog.format('waits in crm.match_review (id %s) for a reviewer to decide whether it is customer %s; crm.lead %s follows the decision',
                                                            r.id, k.code, l.id)
                                     FROM crm.match_review r JOIN crm.contact k ON k.id = r.candidate_id
                                    WHERE r.lead_id = l.id AND r.entity = 'contact') END) d(contact_id, review)
                 WHERE l.channel = 'migration' AND l.external_id = batch || ':' || i.row_no)
         WHERE i.batch_id = batch AND i.row_no BETWEEN row_nos[1] AND row_nos[cardinality(row_nos)]
           AND i.status = 'pending'
           AND EXISTS (SELECT FROM crm.lead l WHERE l.channel = 'migration' AND l.external_id = batch || ':' || i.row_no)
        RETURNING i.row_no, i.outcome, i.contact_id, i.account_id, i.payload ->> 'owner' AS owner
    ), people AS (
        UPDATE crm.contact k
           SET owner = a.owner
          FROM (SELECT DISTINCT ON (b.contact_id) b.contact_id, b.owner
                  FROM bookkept b WHERE b.outcome <> 'review' AND b.owner IS NOT NULL
                 ORDER BY b.contact_id, b.row_no) a
         WHERE k.id = a.contact_id AND k.owner IS NULL
    )
    UPDATE crm.account x
       SET owner = a.owner
      FROM (SELECT DISTINCT ON (b.account_id) b.account_id, b.owner
              FROM bookkept b WHERE b.account_id IS NOT NULL AND b.owner IS NOT NULL
             ORDER BY b.account_id, b.row_no) a
     WHERE x.id = a.account_id AND x.owner IS NULL;
END
$$;
COMMENT ON FUNCTION crm.import_people(bigint, text, bigint[], integer) IS
'Internal to crm.import_chunk(): feeds pending contact or lead rows through crm.lead_inbox (channel migration), takes the outcome of each back into crm.import_row (imported, or rejected with the quarantine''s reason), and gives customers stored before without an owner the row''s owner (the customers it creates, their owner and old creation time, and the closed leads of migrated contacts are written by ingestion itself)';

-- One chunk: the batch is locked first, so that two calls on one batch
-- take turns and never take the same row.  starting: only registers the
-- call (the progress view shows it at once).  True while rows remain.
CREATE FUNCTION crm.import_chunk(batch bigint, size integer, starting boolean) RETURNS boolean
    LANGUAGE plpgsql VOLATILE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b crm.import_batch;
    row_nos bigint[];
    chunk_no integer;
    done record;
BEGIN
    IF size IS NULL OR size < 1 THEN
        RAISE EXCEPTION 'chunk must be at least 1 row, not %', coalesce(size::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF starting THEN
        -- as the call finds the batch, before waiting for another call on
        -- it: a call that waited while the other committed the rest ends
        -- quietly, since the batch was not committed when it was made
        SELECT * INTO b FROM crm.import_batch x WHERE x.id = batch;
        IF FOUND AND b.committed_at IS NOT NULL
           AND NOT EXISTS (SELECT FROM crm.import_row i WHERE i.batch_id = batch AND i.status = 'pending') THEN
            RAISE EXCEPTION 'import batch % was committed already', batch
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = pg_catalog.format('It was committed at %s: %s rows imported, %s rejected.',
                                                 b.committed_at, b.rows_imported, b.rows_rejected),
                      HINT = 'Fix rejected rows (UPDATE crm.import_row SET payload = ...) to import them; new rows go in a new batch (crm.import_begin).';
        END IF;
        b := crm.import_batch_of(batch);
        UPDATE crm.import_batch x
           SET pid = pg_backend_pid(), commit_started_at = pg_catalog.clock_timestamp(), committed_at = NULL,
               rows_this_call = 0, last_chunk_at = NULL,
               -- rows fixed since are pending again
               rows_rejected = (SELECT count(*) FROM crm.import_row i WHERE i.batch_id = batch AND i.status = 'rejected'),
               rows_at_start = (SELECT count(*) FROM crm.import_row i WHERE i.batch_id = batch AND i.status = 'pending')
         WHERE x.id = batch;
        RETURN true;
    END IF;
    b := crm.import_batch_of(batch);
    -- in order, so that the pending rows between the first and the last
    -- are the chunk's: the statements below find them by that range, an
    -- index condition whatever the statistics say, and those it has done
    -- by the range and the chunk's number.  Not by = ANY (row_nos): in a
    -- generic plan that is a filter searching the array element by element
    -- for each row of the range, which widens when a row waits for another
    -- import's claims (2,000 by 8,000 comparisons a statement)
    row_nos := ARRAY(SELECT i.row_no FROM crm.import_row i WHERE i.batch_id = batch AND i.status = 'pending'
                      ORDER BY i.row_no LIMIT size);
    IF cardinality(row_nos) > 0 THEN
        chunk_no := b.chunks + 1;
        -- what the lead path cannot see: not an object, an owner who is no rep
        UPDATE crm.import_row i
           SET status = 'rejected', reason = r.reason, detail = r.detail, chunk = chunk_no, done_at = pg_catalog.now()
          FROM crm.import_row j CROSS JOIN LATERAL crm.import_row_refusal(j.payload) r
         WHERE j.batch_id = batch AND j.row_no BETWEEN row_nos[1] AND row_nos[cardinality(row_nos)]
           AND j.status = 'pending'
           AND i.batch_id = j.batch_id AND i.row_no = j.row_no;
        IF b.target = 'accounts' THEN
            PERFORM crm.import_accounts(batch, row_nos, chunk_no);
        ELSE
            PERFORM crm.import_people(batch, b.target, row_nos, chunk_no);
        END IF;
        -- each owner whose customers arrived hears it once per chunk
        INSERT INTO crm.outbox (topic, recipient, payload)
        SELECT 'import_arrived', o.owner,
               jsonb_build_object('message', pg_catalog.format('您负责的 %s 位客户已同步至新系统，请核查关键信息', count(*)),
                                  'batch_id', batch, 'chunk', chunk_no, 'customers', count(*),
                                  'codes', array_agg(o.code ORDER BY o.code))
          FROM (SELECT DISTINCT w.owner, i.customer_code AS code
                  FROM crm.import_row i
                 CROSS JOIN LATERAL (
                       SELECT CASE WHEN i.contact_id IS NULL
                                   THEN (SELECT a.owner FROM crm.account a WHERE a.id = i.account_id)
                                   WHEN i.outcome <> 'review'
                                   THEN (SELECT k.owner FROM crm.contact k WHERE k.id = i.contact_id) END) w(owner)
                 WHERE i.batch_id = batch AND i.row_no BETWEEN row_nos[1] AND row_nos[cardinality(row_nos)]
                   AND i.chunk = chunk_no AND i.status = 'imported'
                   AND i.customer_code IS NOT NULL) o
         WHERE o.owner IS NOT NULL
         GROUP BY o.owner ORDER BY o.owner;
        SELECT count(*) FILTER (WHERE i.status = 'imported') AS imported,
               count(*) FILTER (WHERE i.status = 'rejected') AS rejected INTO done
          FROM crm.import_row i WHERE i.batch_id = batch AND i.row_no BETWEEN row_nos[1] AND row_nos[cardinality(row_nos)]
                                  AND i.chunk = chunk_no;
        UPDATE crm.import_batch x
           SET chunks = chunk_no, rows_imported = x.rows_imported + done.imported,
               rows_rejected = x.rows_rejected + done.rejected,
               rows_this_call = x.rows_this_call + done.imported + done.rejected,
               last_chunk_at = pg_catalog.clock_timestamp()
         WHERE x.id = batch;
        -- a full chunk, or one whose rows waited for another import's
        IF cardinality(row_nos) = size OR done.imported + done.rejected < cardinality(row_nos) THEN
            RETURN true;
        END IF;
    END IF;
    UPDATE crm.import_batch x SET committed_at = pg_catalog.clock_timestamp(), pid = NULL WHERE x.id = batch;
    RETURN false;
END
$$;
COMMENT ON FUNCTION crm.import_chunk(bigint, integer, boolean) IS
'Internal to crm.import_commit(), through crm.import_step(): imports the next chunk of pending rows of a batch (rows rejected with their reason stay), notifies each owner whose customers arrived, and counts the progress; with starting, registers the call. True while rows remain';

CREATE FUNCTION crm.import_step(batch bigint, size integer, starting boolean) RETURNS boolean
    AS 'MODULE_PATHNAME', 'crm_import_step'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION crm.import_step(bigint, integer, boolean) IS
'Internal to crm.import_commit(): runs crm.import_chunk() as the one writer of the import''s bookkeeping (crm.guard_import_bookkeeping lets it through)';

-- No SET clause: a procedure with one cannot commit.  Nothing here
-- resolves a name through the caller's search_path: the functions are
-- qualified and take their arguments' own types, and there is no operator.
CREATE PROCEDURE crm.import_commit(batch_id bigint, chunk integer DEFAULT 2000)
    LANGUAGE plpgsql
AS $$
DECLARE
    more boolean := true;
    deadlocks integer := 0;
BEGIN
    PERFORM crm.import_step(batch_id, chunk, true);
    COMMIT;
    WHILE more LOOP
        -- Imports side by side (crm.import_claims) may deadlock on a row
        -- both write without sharing a key, an organisation both merge
        -- into: PostgreSQL undoes one chunk, which is taken again.
        BEGIN
            more := crm.import_step(batch_id, chunk, false);
            deadlocks := 0;
        EXCEPTION WHEN deadlock_detected THEN
            deadlocks := deadlocks + 1;
            IF deadlocks > 3 THEN
                RAISE;
            END IF;
        END;
        COMMIT;
    END LOOP;
END
$$;
COMMENT ON PROCEDURE crm.import_commit(bigint, integer) IS
'Imports the pending rows of a batch in chunks of at most chunk rows, each committed: contacts and leads through lead ingestion (channel migration: matched against what is stored and each other, the review queue as for leads), accounts by credit code and company key. Rejected rows keep their reason; a call after a crash resumes. CALL it outside a transaction block';


CREATE VIEW crm.import_progress AS
SELECT b.id AS batch_id, b.label, b.target,
       CASE WHEN b.commit_started_at IS NULL THEN 'loading'
            WHEN b.committed_at IS NOT NULL THEN 'committed'
            WHEN s.pid IS NOT NULL THEN 'committing'
            ELSE 'interrupted' END AS phase,
       s.pid, b.chunks AS chunk, c.total AS rows_total, c.imported AS rows_done, c.rejected AS rows_rejected,
       c.pending AS rows_pending,
       round(b.rows_this_call / nullif(extract(epoch FROM b.last_chunk_at - b.commit_started_at), 0), 1) AS rate,
       CASE WHEN b.committed_at IS NULL AND s.pid IS NOT NULL AND b.rows_this_call > 0 THEN
           make_interval(secs => round(c.pending * extract(epoch FROM b.last_chunk_at - b.commit_started_at)
                                       / b.rows_this_call)) END AS eta,
       b.commit_started_at, b.last_chunk_at, b.committed_at
  FROM crm.import_batch b
  -- the backend that started the call, still in it (after an error it
  -- is idle, or gone after a crash)
  LEFT JOIN LATERAL (SELECT a.pid FROM pg_catalog.pg_stat_activity a
                      WHERE a.pid = b.pid AND a.backend_start <= b.commit_started_at
                        AND a.state IS DISTINCT FROM 'idle'
                        AND a.state IS DISTINCT FROM 'idle in transaction (aborted)') s ON b.committed_at IS NULL
 CROSS JOIN LATERAL (SELECT count(*) AS total, count(*) FILTER (WHERE i.status = 'pending') AS pending,
                            count(*) FILTER (WHERE i.status = 'imported') AS imported,
                            count(*) FILTER (WHERE i.status = 'rejected') AS rejected
                       FROM crm.import_row i WHERE i.batch_id = b.id) c;
COMMENT ON VIEW crm.import_progress IS
'Migration batches and the commit under way, as pg_stat_progress_* shows a command: phase, chunks, rows done, rejected and pending, rate and estimated time left; it moves with each committed chunk, seen from any session';
COMMENT ON COLUMN crm.import_progress.batch_id IS 'The batch (crm.import_batch.id)';
COMMENT ON COLUMN crm.import_progress.label IS 'The batch''s label';
COMMENT ON COLUMN crm.import_progress.target IS 'contacts, accounts or leads';
COMMENT ON COLUMN crm.import_progress.phase IS
'loading (never committed), committing (a crm.import_commit call is running), interrupted (the call failed or its backend died: call it again to resume), committed (no row left)';
COMMENT ON COLUMN crm.import_progress.pid IS 'Backend running the commit (pg_stat_activity.pid), while it runs';
COMMENT ON COLUMN crm.import_progress.chunk IS 'Chunks committed so far';
COMMENT ON COLUMN crm.import_progress.rows_total IS 'Rows in the batch';
COMMENT ON COLUMN crm.import_progress.rows_done IS 'Rows imported';
COMMENT ON COLUMN crm.import_progress.rows_rejected IS 'Rows rejected (crm.import_row.reason says why)';
COMMENT ON COLUMN crm.import_progress.rows_pending IS 'Rows not imported or rejected yet';
COMMENT ON COLUMN crm.import_progress.rate IS 'Rows per second of the last call, from its start to its last committed chunk';
COMMENT ON COLUMN crm.import_progress.eta IS 'Time left at that rate, while a call runs';
COMMENT ON COLUMN crm.import_progress.commit_started_at IS 'When the last crm.import_commit call started';
COMMENT ON COLUMN crm.import_progress.last_chunk_at IS 'When its last chunk was committed';
COMMENT ON COLUMN crm.import_progress.committed_at IS 'When a call found no row left';
-- @end
