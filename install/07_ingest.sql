------------------------------------------------------------------------------
-- Leads: one row per ingested lead, the quarantine, the review queue and the
-- merge history
------------------------------------------------------------------------------

CREATE TABLE crm.lead (
    id              bigserial PRIMARY KEY,
    channel         text NOT NULL REFERENCES crm.channel (code),
    source_label    text NOT NULL,
    external_id     text,
    person_name     text,
    company_name    text,
    phone           text,           -- normalised; the raw value stays in payload
    email           text,
    uscc            text,
    region_code     text,
    title           text,
    product_line    text,
    wechat_openid   text,
    notes           text,
    warnings        text[] NOT NULL DEFAULT '{}',
    payload         jsonb NOT NULL,
    contact_id      bigint REFERENCES crm.contact (id),
    account_id      bigint REFERENCES crm.account (id),
    outcome         text NOT NULL CONSTRAINT lead_outcome CHECK (outcome IN ('new', 'merged', 'review')),
    account_outcome text CONSTRAINT lead_account_outcome CHECK (account_outcome IN ('new', 'matched')),
    match_score     real,
    score           integer CONSTRAINT lead_score_range CHECK (score BETWEEN 0 AND 100),
    win_probability real CONSTRAINT lead_win_probability_range CHECK (win_probability BETWEEN 0 AND 1),
    score_factors   jsonb,
    scored_at       timestamptz,
    status          text NOT NULL DEFAULT 'new' CONSTRAINT lead_status CHECK (status IN
                    ('new', 'scored', 'assigned', 'contacted', 'qualified', 'disqualified'))
                    CONSTRAINT lead_status_owned CHECK (status NOT IN ('assigned', 'contacted') OR owner IS NOT NULL),
    status_changed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    owner           text REFERENCES crm.rep (login) ON UPDATE CASCADE,
    team            text REFERENCES crm.team (code) ON UPDATE CASCADE,
    assignment_rule text,
    waiting_reason  text,
    previous_owner  text,
    -- finite and after the Unix epoch, whoever writes it: a report over
    -- time ranges is bounded by it (see crm.lead_time_guard for the ceiling)
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
                    CONSTRAINT lead_created_at_finite
                    CHECK (created_at > '1970-01-01 00:00:00+00' AND created_at < 'infinity'),
    received_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    assigned_at     timestamptz,
    first_response_at timestamptz,
    closed_at       timestamptz
);
SELECT pg_catalog.pg_extension_config_dump('crm.lead', '');
SELECT pg_catalog.pg_extension_config_dump('crm.lead_id_seq', '');
-- A webhook delivered twice is one lead.  Not partial: ingestion looks ids
-- up by a join, which cannot prove a partial index's predicate.
CREATE UNIQUE INDEX lead_external_id_key ON crm.lead (channel, external_id);
CREATE INDEX lead_contact_idx ON crm.lead (contact_id);
CREATE INDEX lead_account_idx ON crm.lead (account_id);
CREATE INDEX lead_created_at_idx ON crm.lead (created_at);
-- The leads a machine step owes something: the sweep finds a pile-up here
-- without reading the leads that people are working on.
CREATE INDEX lead_machine_wait_idx ON crm.lead (status, status_changed_at)
    WHERE status IN ('new', 'scored');
CREATE INDEX lead_open_owner_idx ON crm.lead (owner) WHERE status IN ('assigned', 'contacted');
COMMENT ON TABLE crm.lead IS
'One row per ingested lead: the mapped fields, the raw payload, and the customer it was matched to';
COMMENT ON COLUMN crm.lead.outcome IS
'new: a contact was created; merged: attached to an existing contact whose profile was updated; review: attached provisionally, the pair waits in crm.match_review';
COMMENT ON COLUMN crm.lead.account_outcome IS
'new: the lead''s organisation was created; matched: found among the accounts; NULL: the lead names no organisation';
COMMENT ON COLUMN crm.lead.warnings IS
'Values the lead gave that could not be used (a phone that is not a possible number, an invalid credit code) or that the field map''s "values" did not list (kept as given, counted in crm.field_map_misses); the lead is kept';
COMMENT ON COLUMN crm.lead.match_score IS
'Fellegi-Sunter log2 likelihood ratio of the best candidate contact; NULL when no candidate was found';
COMMENT ON COLUMN crm.lead.created_at IS
'Submission time the channel reported: ingestion takes it within crm.lead_time_floor and crm.lead_time_max_ahead after now; any write keeps it finite, after 1970-01-01 UTC and not beyond the ceiling';

CREATE FUNCTION crm.lead_time_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_lead_time_guard' LANGUAGE C;
COMMENT ON FUNCTION crm.lead_time_guard() IS
'Trigger: a lead time written directly lies no further after now than crm.lead_time_max_ahead (a moving bound, which a CHECK cannot hold)';
CREATE TRIGGER lead_time_guard BEFORE INSERT OR UPDATE OF created_at ON crm.lead
    FOR EACH ROW EXECUTE FUNCTION crm.lead_time_guard();
COMMENT ON COLUMN crm.lead.received_at IS 'When crm ingested it';
COMMENT ON COLUMN crm.lead.score IS
'Rule score 0-100 from crm.score_rule: channel, completeness, title, product line, region, and decaying behaviour events';
COMMENT ON COLUMN crm.lead.win_probability IS
'Naive Bayes probability of qualification learned from the leads closed so far; NULL until crm.win_stats has enough history';
COMMENT ON COLUMN crm.lead.score_factors IS
'Why the lead scored so: the top three rule points and the top three predictive factors';
COMMENT ON COLUMN crm.lead.status IS
'new (waits for scoring), scored (waits for assignment), assigned (waits for first contact), contacted, qualified, disqualified';
COMMENT ON COLUMN crm.lead.waiting_reason IS
'Why assignment left the lead waiting (no rule matched, no rep available); cleared when it is assigned';

CREATE TYPE crm.ingest_result AS (
    lead_id       bigint,
    contact_id    bigint,
    account_id    bigint,
    customer_code text,
    outcome       text,
    match_score   real,
    lead_score    integer,
    owner         text,
    status        text,
    waiting_reason text
);
COMMENT ON TYPE crm.ingest_result IS
'What crm.ingest did with a lead: outcome new, merged or review for a lead stored now, duplicate for a re-send of a stored lead (returned as it is now); status and waiting_reason say what happens next';

CREATE FUNCTION crm.ingest(channel text, payload jsonb) RETURNS crm.ingest_result
    AS 'MODULE_PATHNAME', 'crm_ingest'
    LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION crm.ingest(text, jsonb) IS
'Ingests one lead: maps the payload through the channel, finds the customer (new, merged or review) and stores the lead. A re-send (same channel and external_id, same lead fields) stores nothing and returns the stored lead with outcome duplicate; different fields under a known id raise unique_violation (23505). A NULL channel or payload raises null_value_not_allowed (22004)';

-- Who can fix a quarantined row, from its SQLSTATE and message: the channel
-- admin when the channel is unknown or its field map is wrong or misses a
-- key (crm.retry_quarantined replays the row once the channel is fixed),
-- the sender when the payload itself is bad (data exceptions, a different
-- lead under a known external id), the DBA when the database refused the
-- write (a constraint or trigger of its own).
CREATE FUNCTION crm.quarantine_fix_by(sqlstate text, reason text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT CASE
        WHEN sqlstate = '42704' THEN 'channel_admin'
        WHEN sqlstate = '22023' AND (reason LIKE 'invalid field map%' OR reason LIKE 'field map %'
                                     OR reason LIKE 'payload has no value at %') THEN 'channel_admin'
        WHEN sqlstate LIKE '22%' OR sqlstate = '42804' THEN 'sender'
        WHEN sqlstate = '23505' AND reason LIKE 'lead % was ingested before with different values'
            THEN 'sender'
        ELSE 'dba'
    END;
END;
COMMENT ON FUNCTION crm.quarantine_fix_by(text, text) IS
'Who can fix a quarantined row, from its SQLSTATE and reason: channel_admin (unknown channel, field map wrong or missing a key), sender (a bad payload, a different lead under a known external id) or dba (the database refused the write)';

CREATE SEQUENCE crm.lead_quarantine_batch_seq;
COMMENT ON SEQUENCE crm.lead_quarantine_batch_seq IS
'Batch ids of crm.lead_quarantine: one per INSERT or COPY into crm.lead_inbox that quarantined a row';
SELECT pg_catalog.pg_extension_config_dump('crm.lead_quarantine_batch_seq', '');

CREATE TABLE crm.lead_quarantine (
    id          bigserial PRIMARY KEY,
    batch_id    bigint,
    channel     text,
    payload     jsonb,
    sqlstate    text NOT NULL,
    reason      text NOT NULL,
    detail      text,
    context     text,
    fix_by      text GENERATED ALWAYS AS (crm.quarantine_fix_by(sqlstate, reason)) STORED,
    received_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    retries     integer NOT NULL DEFAULT 0,
    retried_at  timestamptz,
    raw_payload text
);
-- @upgrade 1.1
ALTER TABLE crm.lead_quarantine ADD COLUMN raw_payload text;
-- @end
SELECT pg_catalog.pg_extension_config_dump('crm.lead_quarantine', '');
SELECT pg_catalog.pg_extension_config_dump('crm.lead_quarantine_id_seq', '');
CREATE INDEX lead_quarantine_batch_idx ON crm.lead_quarantine (batch_id);
COMMENT ON TABLE crm.lead_quarantine IS
'Rows of crm.lead_inbox that could not be ingested, with the reason; the good rows of the same statement are ingested. crm.retry_quarantined replays them';
COMMENT ON COLUMN crm.lead_quarantine.batch_id IS
'The INSERT or COPY into crm.lead_inbox the row came from: shared by the rows one statement quarantined, and reported by crm.lead_inbox_counts()';
COMMENT ON COLUMN crm.lead_quarantine.fix_by IS
'Who can fix it (crm.quarantine_fix_by): channel_admin, sender or dba';
COMMENT ON COLUMN crm.lead_quarantine.retries IS
'How many times crm.retry_quarantined replayed the row and it failed again; sqlstate, reason, detail and context are those of the last try';
COMMENT ON COLUMN crm.lead_quarantine.retried_at IS 'When crm.retry_quarantined last replayed it';
-- @since 1.1
COMMENT ON COLUMN crm.lead_quarantine.raw_payload IS
'A line of crm.lead_inbox_text that is not JSON, as it came (payload is then NULL): fix it here and crm.retry_quarantined parses it again';
-- @end

CREATE TABLE crm.lead_quarantine_release (
    quarantine_id bigint PRIMARY KEY,
    batch_id      bigint,
    channel       text NOT NULL,
    lead_id       bigint NOT NULL,
    outcome       text NOT NULL,
    released_at   timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE crm.lead_quarantine_release IS
'Audit trail of crm.retry_quarantined: each quarantined row that a replay ingested, with the lead it became (or, outcome duplicate, the stored lead it repeated)';
SELECT pg_catalog.pg_extension_config_dump('crm.lead_quarantine_release', '');

-- Rows inserted here are ingested by a C trigger and never stored: the lead
-- lands in crm.lead, a bad row in crm.lead_quarantine.
CREATE TABLE crm.lead_inbox (
    channel text,
    payload jsonb
);
COMMENT ON TABLE crm.lead_inbox IS
'Bulk ingestion: INSERT or COPY (channel, payload) rows; each is ingested as crm.ingest would, bad rows are quarantined. Always empty';

CREATE FUNCTION crm.lead_inbox_ingest() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_lead_inbox_ingest' LANGUAGE C;
COMMENT ON FUNCTION crm.lead_inbox_ingest() IS
'Trigger: ingests an inbox row, or quarantines it with the reason';
CREATE FUNCTION crm.lead_inbox_statement() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_lead_inbox_statement' LANGUAGE C;
COMMENT ON FUNCTION crm.lead_inbox_statement() IS
'Trigger: counts the rows a statement ingests and quarantines, and warns when any was quarantined';
CREATE TRIGGER lead_inbox_ingest BEFORE INSERT ON crm.lead_inbox
    FOR EACH ROW EXECUTE FUNCTION crm.lead_inbox_ingest();
CREATE TRIGGER lead_inbox_begin BEFORE INSERT ON crm.lead_inbox
    FOR EACH STATEMENT EXECUTE FUNCTION crm.lead_inbox_statement();
CREATE TRIGGER lead_inbox_end AFTER INSERT ON crm.lead_inbox
    FOR EACH STATEMENT EXECUTE FUNCTION crm.lead_inbox_statement();

-- @since 1.1
-- The same ingestion, the payload as text: a COPY whose lines are not all
-- JSON ingests the good ones.  Into crm.lead_inbox, PostgreSQL reads the
-- jsonb column before crm sees the row, and one bad line fails the whole
-- COPY; here the trigger parses each line in the row's subtransaction and
-- quarantines one that is not JSON (22P02) with the line as it came.
CREATE TABLE crm.lead_inbox_text (
    channel text,
    payload text
);
COMMENT ON TABLE crm.lead_inbox_text IS
'Bulk ingestion as crm.lead_inbox, the payload as text: INSERT or COPY (channel, payload) rows; a payload that is not JSON is quarantined (22P02) with the line in crm.lead_quarantine.raw_payload, and the other rows are ingested. Always empty';
COMMENT ON COLUMN crm.lead_inbox_text.channel IS 'The channel (crm.channel.code)';
COMMENT ON COLUMN crm.lead_inbox_text.payload IS 'The lead as JSON text, parsed by crm row by row';
CREATE TRIGGER lead_inbox_text_ingest BEFORE INSERT ON crm.lead_inbox_text
    FOR EACH ROW EXECUTE FUNCTION crm.lead_inbox_ingest();
CREATE TRIGGER lead_inbox_text_begin BEFORE INSERT ON crm.lead_inbox_text
    FOR EACH STATEMENT EXECUTE FUNCTION crm.lead_inbox_statement();
CREATE TRIGGER lead_inbox_text_end AFTER INSERT ON crm.lead_inbox_text
    FOR EACH STATEMENT EXECUTE FUNCTION crm.lead_inbox_statement();
-- @end

CREATE FUNCTION crm.lead_inbox_counts(OUT ingested bigint, OUT quarantined bigint,
                                      OUT duplicates bigint, OUT batch_id bigint)
    AS 'MODULE_PATHNAME', 'crm_lead_inbox_counts'
    LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION crm.lead_inbox_counts() IS
'What the last INSERT or COPY into crm.lead_inbox of this session did: rows stored as leads, rows quarantined, re-sends of stored leads (stored nothing), and the batch_id of its quarantined rows (NULL when none)';

-- Replays quarantined rows through crm.ingest, oldest first, each in a
-- subtransaction.  Rows are locked as they are read, and rows another
-- retry has locked are skipped: two retries never ingest a row twice.  An
-- error that is not the row's (a cancel, a deadlock or serialization
-- failure, exhausted resources, an internal error, the caller's missing
-- rights) ends the retry, as it ends a bulk statement.
-- @since 1.1
CREATE OR REPLACE FUNCTION crm.retry_quarantined(batch_id bigint DEFAULT NULL, channel text DEFAULT NULL,
                                      ids bigint[] DEFAULT NULL,
                                      OUT retried bigint, OUT ingested bigint,
                                      OUT duplicates bigint, OUT quarantined bigint)
    LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    q record;
    result crm.ingest_result;
    failure_state text;
    failure_reason text;
    failure_detail text;
    failure_hint text;
    failure_context text;
BEGIN
    retried := 0; ingested := 0; duplicates := 0; quarantined := 0;
    -- A row that ingests leaves the quarantine: without the right to
    -- delete, every row would fail again for the caller's rights, not its own.
    IF NOT pg_catalog.has_table_privilege('crm.lead_quarantine', 'DELETE') THEN
        RAISE EXCEPTION 'permission denied to replay quarantined rows'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'A replayed row that ingests is deleted from crm.lead_quarantine.',
                  HINT = 'GRANT DELETE ON crm.lead_quarantine to the role (see README, Grants for application roles).';
    END IF;
    FOR q IN SELECT * FROM crm.lead_quarantine r
              WHERE (retry_quarantined.batch_id IS NULL OR r.batch_id = retry_quarantined.batch_id)
                AND (retry_quarantined.channel IS NULL OR r.channel = retry_quarantined.channel)
                AND (retry_quarantined.ids IS NULL OR r.id = ANY (retry_quarantined.ids))
              ORDER BY r.id FOR UPDATE SKIP LOCKED
    LOOP
        retried := retried + 1;
        BEGIN
            -- a line of crm.lead_inbox_text that was not JSON is parsed
            -- again: 22P02 until it is fixed
            result := crm.ingest(q.channel, coalesce(q.payload, q.raw_payload::jsonb));
            DELETE FROM crm.lead_quarantine WHERE id = q.id;
            INSERT INTO crm.lead_quarantine_release (quarantine_id, batch_id, channel, lead_id, outcome)
            VALUES (q.id, q.batch_id, q.channel, result.lead_id, result.outcome);
            IF result.outcome = 'duplicate' THEN
                duplicates := duplicates + 1;
            ELSE
                ingested := ingested + 1;
            END IF;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS failure_state = RETURNED_SQLSTATE, failure_reason = MESSAGE_TEXT,
                failure_detail = PG_EXCEPTION_DETAIL, failure_hint = PG_EXCEPTION_HINT,
                failure_context = PG_EXCEPTION_CONTEXT;
            -- not the row's: the row keeps the reason it had
            IF left(failure_state, 2) IN ('40', '53', '54', '57', '58', 'XX') OR failure_state = '42501' THEN
                RAISE;
            END IF;
            UPDATE crm.lead_quarantine
               SET sqlstate = failure_state, reason = failure_reason,
                   detail = coalesce(nullif(failure_detail, ''), nullif(failure_hint, '')),
                   context = nullif(failure_context, ''), retries = retries + 1, retried_at = now()
             WHERE id = q.id;
            quarantined := quarantined + 1;
        END;
    END LOOP;
END $$;
-- @end
COMMENT ON FUNCTION crm.retry_quarantined(bigint, text, bigint[]) IS
'Replays the quarantined rows of a batch, a channel and/or a list of ids (all rows when none is given) through crm.ingest: a row that ingests leaves the quarantine (crm.lead_quarantine_release keeps which lead it became), one that fails again stays with its new reason. Rows another retry holds are skipped. Returns how many rows were retried, ingested, found to be duplicates of stored leads, and quarantined again';

-- A raw value missing from a field map entry's "values" leaves a warning on
-- the lead kept with it, or the reason of the row quarantined for it: the
-- hot path writes nothing more, and only warned leads are read here.
CREATE INDEX lead_warned_idx ON crm.lead (channel) WHERE warnings <> '{}';
CREATE VIEW crm.field_map_misses AS
SELECT m.channel, m.field, m.value, m.on_miss, count(*) AS leads,
       min(m.seen_at) AS first_seen, max(m.seen_at) AS last_seen
  FROM (SELECT l.channel, w[1] AS field, w[2] AS value, 'keep' AS on_miss, l.received_at AS seen_at
          FROM crm.lead l, unnest(l.warnings) u(warning),
               regexp_match(u.warning, '^(\w+) (".*") is not among its field map values; kept as given$') w
         WHERE l.warnings <> '{}' AND w IS NOT NULL
        UNION ALL
        SELECT q.channel, r[1], r[2], 'refuse', q.received_at
          FROM crm.lead_quarantine q,
               regexp_match(q.reason, '^lead field "(\w+)" has a value its field map does not list: (".*")$') r
         WHERE q.sqlstate = '22023' AND r IS NOT NULL) m
 GROUP BY m.channel, m.field, m.value, m.on_miss;
COMMENT ON VIEW crm.field_map_misses IS
'Raw values that a field map entry''s "values" did not list, per channel, field and value: kept on stored leads (with a warning) or refused (rows quarantined by crm.lead_inbox; a refused crm.ingest call stores nothing)';
COMMENT ON COLUMN crm.field_map_misses.channel IS 'The channel whose field map lacks the value';
COMMENT ON COLUMN crm.field_map_misses.field IS 'The lead field of the entry, such as product_line';
COMMENT ON COLUMN crm.field_map_misses.value IS
'The raw value as messages quote it: in double quotes, cut after 200 characters with an ellipsis and its length in bytes';
COMMENT ON COLUMN crm.field_map_misses.on_miss IS
'keep: the leads were stored with the raw value; refuse: the rows were quarantined';
COMMENT ON COLUMN crm.field_map_misses.leads IS 'How many leads (keep) or quarantined rows (refuse) carried the value';
COMMENT ON COLUMN crm.field_map_misses.first_seen IS 'When the first of them was received';
COMMENT ON COLUMN crm.field_map_misses.last_seen IS 'When the last of them was received';

CREATE TABLE crm.match_review (
    id           bigserial PRIMARY KEY,
    entity       text NOT NULL CONSTRAINT match_review_entity CHECK (entity IN ('contact', 'account')),
    lead_id      bigint REFERENCES crm.lead (id),
    candidate_id bigint NOT NULL,
    other_id     bigint,
    score        real,
    evidence     jsonb NOT NULL DEFAULT '{}',
    red          boolean NOT NULL DEFAULT false,
    status       text NOT NULL DEFAULT 'open'
                 CONSTRAINT match_review_status CHECK (status IN ('open', 'accepted', 'rejected')),
    decided_by   text,
    decided_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT match_review_pair CHECK ((lead_id IS NULL) = (other_id IS NOT NULL)),
    CONSTRAINT match_review_decided CHECK ((status = 'open') = (decided_at IS NULL))
);
SELECT pg_catalog.pg_extension_config_dump('crm.match_review', '');
SELECT pg_catalog.pg_extension_config_dump('crm.match_review_id_seq', '');
CREATE INDEX match_review_open_idx ON crm.match_review (created_at) WHERE status = 'open';
-- a lead's contact review, and the account review that may follow its rejection
CREATE UNIQUE INDEX match_review_lead_key ON crm.match_review (lead_id, entity) WHERE lead_id IS NOT NULL;
CREATE UNIQUE INDEX match_review_pair_key ON crm.match_review (entity, candidate_id, other_id) WHERE other_id IS NOT NULL;
COMMENT ON TABLE crm.match_review IS
'Work queue of undecided matches: a lead attached provisionally to candidate contact candidate_id (entity contact); a new person''s lead whose company fits several organisations, candidate_id the first offered (entity account, nothing attached); or two stored records (candidate_id, other_id) found by crm.scan_duplicates()';
COMMENT ON COLUMN crm.match_review.evidence IS
'Per-field comparison and Fellegi-Sunter weight that produced score';
COMMENT ON COLUMN crm.match_review.decided_by IS 'Who decided: crm.current_actor() (crm.actor, else the role)';
COMMENT ON COLUMN crm.match_review.red IS
'Phone, e-mail or credit code coincide: a strong sign of one customer';

CREATE TABLE crm.merge_history (
    id          bigserial PRIMARY KEY,
    entity      text NOT NULL CONSTRAINT merge_history_entity CHECK (entity IN ('contact', 'account')),
    kept_id     bigint NOT NULL,
    dropped_id  bigint,
    lead_id     bigint REFERENCES crm.lead (id),
    changes     jsonb NOT NULL DEFAULT '[]',
    moved       jsonb NOT NULL DEFAULT '{}',
    merged_by   text NOT NULL DEFAULT crm.current_actor(),
    merged_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    undone_at   timestamptz,
    undone_by   text,
    CONSTRAINT merge_history_source CHECK ((dropped_id IS NULL) <> (lead_id IS NULL)),
    CONSTRAINT merge_history_undone_by CHECK ((undone_at IS NULL) = (undone_by IS NULL))
);
SELECT pg_catalog.pg_extension_config_dump('crm.merge_history', '');
SELECT pg_catalog.pg_extension_config_dump('crm.merge_history_id_seq', '');
CREATE INDEX merge_history_kept_idx ON crm.merge_history (entity, kept_id);
CREATE INDEX merge_history_lead_idx ON crm.merge_history (lead_id) WHERE lead_id IS NOT NULL;
COMMENT ON TABLE crm.merge_history IS
'What every merge changed: a lead merged into a contact (lead_id), or a record merged into another (dropped_id); crm.unmerge() undoes one from here';
COMMENT ON COLUMN crm.merge_history.changes IS
'[{"field", "old", "new"}] set on the kept record';
COMMENT ON COLUMN crm.merge_history.moved IS
'Rows moved to the kept record or added to it, by table: {"contact_point": [ids], "lead": [ids], "contact": [ids]}';
COMMENT ON COLUMN crm.merge_history.merged_by IS 'Who merged: crm.current_actor() (crm.actor, else the role)';
COMMENT ON COLUMN crm.merge_history.undone_by IS 'Who undid the merge with crm.unmerge(): crm.current_actor()';
