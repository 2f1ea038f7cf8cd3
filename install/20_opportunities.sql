------------------------------------------------------------------------------
-- Opportunities: pipelines as data, stage changes the database validates,
-- evidence it checks (C: src/opportunity_stage.c, src/evidence.c)
------------------------------------------------------------------------------

-- @since 1.1
-- Stage rules are cached per backend (src/opportunity_stage.c); a change
-- to any of their tables tells every backend to read them again, at commit
-- (and this backend at once).
CREATE FUNCTION crm.stage_rules_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_stage_rules_changed' LANGUAGE C;
COMMENT ON FUNCTION crm.stage_rules_changed() IS
'Trigger: pipelines, stages, transitions or stage requirements changed; every session reloads its stage rules (at commit, or at once in this session)';

CREATE TABLE crm.pipeline (
    code        text PRIMARY KEY CONSTRAINT pipeline_code_format CHECK (code ~ '^[a-z][a-z0-9_]{0,62}$'),
    name        text NOT NULL,
    industry    text NOT NULL,
    shipped     boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('crm.pipeline', 'WHERE NOT shipped');
COMMENT ON TABLE crm.pipeline IS
'Sales pipelines, one per industry or customer: their stages (crm.pipeline_stage), the moves allowed between them (crm.stage_transition) and the evidence each stage needs (crm.stage_requirement)';
COMMENT ON COLUMN crm.pipeline.industry IS 'The industry the pipeline is for (医疗器械, 教育, SaaS, 跨境物流 ...)';
COMMENT ON COLUMN crm.pipeline.shipped IS
'Defined by the extension: read-only (copy it under a new code to change it), and recreated by CREATE EXTENSION rather than by pg_dump';

-- position orders the open stages; a pipeline's won and lost stages close
-- its opportunities.  dwell_limit: how long an opportunity may stay
-- before it counts as blocked (crm.opportunity_board).
CREATE TABLE crm.pipeline_stage (
    pipeline    text NOT NULL REFERENCES crm.pipeline (code) ON DELETE CASCADE,
    stage       text NOT NULL CONSTRAINT pipeline_stage_named
                CHECK (pg_catalog.btrim(stage) OPERATOR(pg_catalog.=) stage AND pg_catalog.octet_length(stage) BETWEEN 1 AND 120),
    position    integer NOT NULL CONSTRAINT pipeline_stage_position_positive CHECK (position > 0),
    kind        text NOT NULL DEFAULT 'open' CONSTRAINT pipeline_stage_kind CHECK (kind IN ('open', 'won', 'lost')),
    skippable   boolean NOT NULL DEFAULT false,
    enforcement text NOT NULL DEFAULT 'enforce' CONSTRAINT pipeline_stage_enforcement CHECK (enforcement IN ('enforce', 'warn')),
    required_fields text[] NOT NULL DEFAULT '{}' CONSTRAINT pipeline_stage_required_fields CHECK
                (required_fields OPERATOR(pg_catalog.<@) ARRAY['amount', 'expected_close', 'owner', 'lead_id', 'quote_sent_at']::text[]),
    shipped     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (pipeline, stage),
    CONSTRAINT pipeline_stage_position_key UNIQUE (pipeline, position)
);
SELECT pg_catalog.pg_extension_config_dump('crm.pipeline_stage', 'WHERE NOT shipped');
CREATE UNIQUE INDEX pipeline_stage_one_won ON crm.pipeline_stage (pipeline) WHERE kind = 'won';
CREATE UNIQUE INDEX pipeline_stage_one_lost ON crm.pipeline_stage (pipeline) WHERE kind = 'lost';
COMMENT ON TABLE crm.pipeline_stage IS
'The stages of each pipeline: open stages in position order (the first is where a new opportunity starts), one won and one lost stage. A stage opportunities are in cannot be deleted or renamed';
COMMENT ON COLUMN crm.pipeline_stage.position IS 'Order of the stage in its pipeline; a move to a higher position among open stages is a forward move (a stage upgrade)';
COMMENT ON COLUMN crm.pipeline_stage.kind IS 'open, or won or lost: entering those closes the opportunity (status won or lost)';
COMMENT ON COLUMN crm.pipeline_stage.skippable IS 'crm.standard_transitions() lets a forward move jump over this stage';
COMMENT ON COLUMN crm.pipeline_stage.enforcement IS
'enforce: a forward move into the stage without its action package is refused (SQLSTATE 23514, DETAIL lists what is missing); warn: the move is let through and recorded unverified';
COMMENT ON COLUMN crm.pipeline_stage.required_fields IS
'Columns of crm.opportunity that must be set before the stage may be entered (amount, expected_close, owner, lead_id, quote_sent_at)';

CREATE TRIGGER pipeline_shipped_guard BEFORE UPDATE OR DELETE ON crm.pipeline
    FOR EACH ROW EXECUTE FUNCTION crm.guard_shipped_row('pipeline', 'code',
        'Copy it: SELECT crm.copy_pipeline({key_literal}, ''my_{key}'');');
CREATE TRIGGER pipeline_shipped_set BEFORE INSERT OR UPDATE OF shipped ON crm.pipeline
    FOR EACH ROW WHEN (NEW.shipped) EXECUTE FUNCTION crm.guard_shipped_mark();
CREATE TRIGGER pipeline_stage_shipped_guard BEFORE UPDATE OR DELETE ON crm.pipeline_stage
    FOR EACH ROW EXECUTE FUNCTION crm.guard_shipped_row('stage of pipeline', 'pipeline',
        'Copy the pipeline: SELECT crm.copy_pipeline({key_literal}, ''my_{key}'');');
CREATE TRIGGER pipeline_stage_shipped_set BEFORE INSERT OR UPDATE OF shipped ON crm.pipeline_stage
    FOR EACH ROW WHEN (NEW.shipped) EXECUTE FUNCTION crm.guard_shipped_mark();
CREATE TRIGGER pipeline_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.pipeline
    FOR EACH STATEMENT EXECUTE FUNCTION crm.stage_rules_changed();
CREATE TRIGGER pipeline_stage_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.pipeline_stage
    FOR EACH STATEMENT EXECUTE FUNCTION crm.stage_rules_changed();

CREATE TABLE crm.stage_transition (
    pipeline    text NOT NULL,
    from_stage  text NOT NULL,
    to_stage    text NOT NULL,
    shipped     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (pipeline, from_stage, to_stage),
    FOREIGN KEY (pipeline, from_stage) REFERENCES crm.pipeline_stage (pipeline, stage) ON DELETE CASCADE,
    FOREIGN KEY (pipeline, to_stage) REFERENCES crm.pipeline_stage (pipeline, stage) ON DELETE CASCADE,
    CONSTRAINT stage_transition_moves CHECK (from_stage OPERATOR(pg_catalog.<>) to_stage)
);
SELECT pg_catalog.pg_extension_config_dump('crm.stage_transition', 'WHERE NOT shipped');
CREATE INDEX stage_transition_to_idx ON crm.stage_transition (pipeline, to_stage);
COMMENT ON TABLE crm.stage_transition IS
'The stage changes allowed in each pipeline (forward, skips, back, to won or lost); any other change of crm.opportunity.stage is refused (SQLSTATE 23000). crm.standard_transitions() fills a new pipeline''s';
CREATE TRIGGER stage_transition_shipped_guard BEFORE UPDATE OR DELETE ON crm.stage_transition
    FOR EACH ROW EXECUTE FUNCTION crm.guard_shipped_row('transition of pipeline', 'pipeline',
        'Copy the pipeline: SELECT crm.copy_pipeline({key_literal}, ''my_{key}'');');
CREATE TRIGGER stage_transition_shipped_set BEFORE INSERT OR UPDATE OF shipped ON crm.stage_transition
    FOR EACH ROW WHEN (NEW.shipped) EXECUTE FUNCTION crm.guard_shipped_mark();
CREATE TRIGGER stage_transition_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.stage_transition
    FOR EACH STATEMENT EXECUTE FUNCTION crm.stage_rules_changed();

-- The usual moves of a pipeline: to the next open stage, over skippable
-- stages, back to any earlier open stage, to lost from every open stage,
-- to won from the last.  Returns how many it added.
CREATE FUNCTION crm.standard_transitions(pipeline text) RETURNS integer
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    added integer;
BEGIN
    WITH open AS (
        SELECT s.stage, s.position, s.skippable, row_number() OVER (ORDER BY s.position) AS n
          FROM crm.pipeline_stage s WHERE s.pipeline = standard_transitions.pipeline AND s.kind = 'open'
    ), moves AS (
        SELECT a.stage AS from_stage, b.stage AS to_stage
          FROM open a JOIN open b ON b.n > a.n
         WHERE NOT EXISTS (SELECT FROM open m WHERE m.n > a.n AND m.n < b.n AND NOT m.skippable)
        UNION
        SELECT a.stage, b.stage FROM open a JOIN open b ON b.n < a.n
        UNION
        SELECT o.stage, c.stage FROM open o JOIN crm.pipeline_stage c
            ON c.pipeline = standard_transitions.pipeline AND c.kind = 'lost'
        UNION
        SELECT o.stage, c.stage FROM open o JOIN crm.pipeline_stage c
            ON c.pipeline = standard_transitions.pipeline AND c.kind = 'won'
         WHERE o.n = (SELECT max(n) FROM open)
    )
    INSERT INTO crm.stage_transition (pipeline, from_stage, to_stage)
    SELECT standard_transitions.pipeline, m.from_stage, m.to_stage FROM moves m
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS added = ROW_COUNT;
    RETURN added;
END
$$;
COMMENT ON FUNCTION crm.standard_transitions(text) IS
'Adds the usual moves to a pipeline''s crm.stage_transition: to the next open stage (and beyond skippable ones), back to any earlier open stage, to lost from every open stage, to won from the last open stage; returns how many were added';

-- Lost needs a reason from this list.
CREATE TABLE crm.lost_reason (
    code        text PRIMARY KEY CONSTRAINT lost_reason_code_format CHECK (code ~ '^[a-z][a-z0-9_]{0,62}$'),
    label       text NOT NULL,
    shipped     boolean NOT NULL DEFAULT false
);
SELECT pg_catalog.pg_extension_config_dump('crm.lost_reason', 'WHERE NOT shipped');
COMMENT ON TABLE crm.lost_reason IS 'Why an opportunity was lost: crm.opportunity.lost_reason takes one of these';
CREATE TRIGGER lost_reason_shipped_guard BEFORE UPDATE OR DELETE ON crm.lost_reason
    FOR EACH ROW EXECUTE FUNCTION crm.guard_shipped_row('lost reason', 'code', 'Add a reason of your own.');
CREATE TRIGGER lost_reason_shipped_set BEFORE INSERT OR UPDATE OF shipped ON crm.lost_reason
    FOR EACH ROW WHEN (NEW.shipped) EXECUTE FUNCTION crm.guard_shipped_mark();
INSERT INTO crm.lost_reason (code, label, shipped) VALUES
    ('price', '价格', true),
    ('competitor', '竞争对手', true),
    ('budget_cut', '预算削减', true),
    ('no_decision', '客户无决策', true),
    ('requirement_changed', '需求变更或取消', true),
    ('unresponsive', '客户失联', true);

-- The content types crm recognises by their bytes (src/evidence.c).
CREATE FUNCTION crm.evidence_content_types() RETURNS text[]
    AS 'MODULE_PATHNAME', 'crm_evidence_content_types'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION crm.evidence_content_types() IS
'The MIME types crm recognises by their magic bytes: application/pdf, image/png, image/jpeg, application/ofd (a ZIP with OFD.xml), and the DOCX and XLSX types (a ZIP whose [Content_Types].xml says so)';
CREATE FUNCTION crm.evidence_content_type(content bytea) RETURNS text
    AS 'MODULE_PATHNAME', 'crm_evidence_content_type'
    LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.evidence_content_type(bytea) IS
'The content type of a file by its bytes, one of crm.evidence_content_types(); NULL when it is none of them';

-- What evidence there is: each kind names the file types it accepts (by
-- their magic bytes, src/evidence.c), its size limit, and whether one file
-- may back one deal only.
CREATE TABLE crm.evidence_kind (
    code        text PRIMARY KEY CONSTRAINT evidence_kind_code_format CHECK (code ~ '^[a-z][a-z0-9_]{0,62}$'),
    label       text NOT NULL,
    content_types text[] NOT NULL CONSTRAINT evidence_kind_content_types CHECK
                (content_types OPERATOR(pg_catalog.<@) crm.evidence_content_types() AND pg_catalog.cardinality(content_types) > 0),
    max_size    bigint NOT NULL CONSTRAINT evidence_kind_max_size CHECK (max_size > 0),
    unique_to_deal boolean NOT NULL DEFAULT false,
    how         text NOT NULL,
    shipped     boolean NOT NULL DEFAULT false
);
SELECT pg_catalog.pg_extension_config_dump('crm.evidence_kind', 'WHERE NOT shipped');
COMMENT ON TABLE crm.evidence_kind IS
'Kinds of evidence an attachment can be: the content types it may have (checked by magic bytes), its size limit, whether a file may back only one opportunity, and how to supply it';
COMMENT ON COLUMN crm.evidence_kind.content_types IS 'MIME types allowed (crm.evidence_content_types() lists those crm recognises)';
COMMENT ON COLUMN crm.evidence_kind.max_size IS 'Largest attachment of the kind, in bytes';
COMMENT ON COLUMN crm.evidence_kind.unique_to_deal IS
'A file (by SHA-256) that is evidence on one opportunity is refused on any other: a signature scan or a cost approval reused is the commonest fake';
COMMENT ON COLUMN crm.evidence_kind.how IS 'How a rep supplies it: the HINT of a refused stage change';
CREATE TRIGGER evidence_kind_shipped_guard BEFORE UPDATE OR DELETE ON crm.evidence_kind
    FOR EACH ROW EXECUTE FUNCTION crm.guard_shipped_row('evidence kind', 'code', 'Add a kind of your own.');
CREATE TRIGGER evidence_kind_shipped_set BEFORE INSERT OR UPDATE OF shipped ON crm.evidence_kind
    FOR EACH ROW WHEN (NEW.shipped) EXECUTE FUNCTION crm.guard_shipped_mark();

-- The action package of a stage: the evidence kinds that must be on the
-- opportunity, added since the previous stage was entered, before a
-- forward move into it.  content_types: those this stage accepts.
CREATE TABLE crm.stage_requirement (
    pipeline    text NOT NULL,
    stage       text NOT NULL,
    kind        text NOT NULL REFERENCES crm.evidence_kind (code) ON UPDATE CASCADE,
    content_types text[] NOT NULL,
    shipped     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (pipeline, stage, kind),
    FOREIGN KEY (pipeline, stage) REFERENCES crm.pipeline_stage (pipeline, stage) ON DELETE CASCADE
);
SELECT pg_catalog.pg_extension_config_dump('crm.stage_requirement', 'WHERE NOT shipped');
COMMENT ON TABLE crm.stage_requirement IS
'Action packages: each evidence kind a stage needs before a forward move may enter it, in one of content_types, added to the opportunity after its current stage was entered';
COMMENT ON COLUMN crm.stage_requirement.content_types IS
'MIME types this stage accepts for the kind (application/pdf, image/png, image/jpeg, application/ofd, the DOCX and XLSX types)';
CREATE TRIGGER stage_requirement_shipped_guard BEFORE UPDATE OR DELETE ON crm.stage_requirement
    FOR EACH ROW EXECUTE FUNCTION crm.guard_shipped_row('requirement of pipeline', 'pipeline',
        'Copy the pipeline: SELECT crm.copy_pipeline({key_literal}, ''my_{key}'');');
CREATE TRIGGER stage_requirement_shipped_set BEFORE INSERT OR UPDATE OF shipped ON crm.stage_requirement
    FOR EACH ROW WHEN (NEW.shipped) EXECUTE FUNCTION crm.guard_shipped_mark();
CREATE TRIGGER stage_requirement_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.stage_requirement
    FOR EACH STATEMENT EXECUTE FUNCTION crm.stage_rules_changed();

-- A customer's pipeline from a shipped one: every stage, transition and
-- requirement, not shipped, under a new code.
CREATE FUNCTION crm.copy_pipeline(source text, code text, name text DEFAULT NULL) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO crm.pipeline (code, name, industry)
    SELECT copy_pipeline.code, coalesce(copy_pipeline.name, p.name), p.industry
      FROM crm.pipeline p WHERE p.code = copy_pipeline.source;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no pipeline %', source USING ERRCODE = 'no_data_found';
    END IF;
    INSERT INTO crm.pipeline_stage (pipeline, stage, position, kind, skippable, enforcement, required_fields)
    SELECT copy_pipeline.code, s.stage, s.position, s.kind, s.skippable, s.enforcement, s.required_fields
      FROM crm.pipeline_stage s WHERE s.pipeline = copy_pipeline.source;
    INSERT INTO crm.stage_transition (pipeline, from_stage, to_stage)
    SELECT copy_pipeline.code, t.from_stage, t.to_stage FROM crm.stage_transition t WHERE t.pipeline = copy_pipeline.source;
    INSERT INTO crm.stage_requirement (pipeline, stage, kind, content_types)
    SELECT copy_pipeline.code, r.stage, r.kind, r.content_types FROM crm.stage_requirement r WHERE r.pipeline = copy_pipeline.source;
    RETURN copy_pipeline.code;
END
$$;
COMMENT ON FUNCTION crm.copy_pipeline(text, text, text) IS
'Copies a pipeline (its stages, transitions and requirements) under a new code, to be changed; returns the code';

CREATE TABLE crm.opportunity (
    id          bigserial PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES crm.account (id),
    customer_code text NOT NULL REFERENCES crm.customer_code (code),
    pipeline    text NOT NULL REFERENCES crm.pipeline (code),
    stage       text NOT NULL,
    title       text NOT NULL CONSTRAINT opportunity_title_named CHECK (pg_catalog.btrim(title) OPERATOR(pg_catalog.<>) ''),
    owner       text REFERENCES crm.rep (login) ON UPDATE CASCADE,
    team        text REFERENCES crm.team (code) ON UPDATE CASCADE,
    amount      numeric(16, 2) CONSTRAINT opportunity_amount_positive CHECK (amount >= 0),
    expected_close date,
    lead_id     bigint REFERENCES crm.lead (id),
    status      text NOT NULL DEFAULT 'open' CONSTRAINT opportunity_status CHECK (status IN ('open', 'won', 'lost')),
    lost_reason text REFERENCES crm.lost_reason (code) ON UPDATE CASCADE,
    lost_note   text,
    stage_entered_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    quote_sent_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    closed_at   timestamptz,
    FOREIGN KEY (pipeline, stage) REFERENCES crm.pipeline_stage (pipeline, stage),
    CONSTRAINT opportunity_lost_has_reason CHECK ((status = 'lost') = (lost_reason IS NOT NULL)),
    CONSTRAINT opportunity_closed_at CHECK ((status = 'open') = (closed_at IS NULL))
);
SELECT pg_catalog.pg_extension_config_dump('crm.opportunity', '');
SELECT pg_catalog.pg_extension_config_dump('crm.opportunity_id_seq', '');
CREATE INDEX opportunity_account_idx ON crm.opportunity (account_id);
CREATE INDEX opportunity_stage_idx ON crm.opportunity (pipeline, stage);
CREATE INDEX opportunity_open_owner_idx ON crm.opportunity (owner) WHERE status = 'open';
CREATE INDEX opportunity_open_team_idx ON crm.opportunity (team, stage_entered_at) WHERE status = 'open';
CREATE UNIQUE INDEX opportunity_lead_key ON crm.opportunity (lead_id);
COMMENT ON TABLE crm.opportunity IS
'Deals on an account, in a pipeline''s stage. INSERT (account_id, pipeline, title) starts one in the first stage; UPDATE ... SET stage moves it as crm.stage_transition allows, with the evidence crm.stage_requirement asks for; every change is in crm.stage_history';
COMMENT ON COLUMN crm.opportunity.customer_code IS 'The account''s customer code (crm.account.code), set from account_id when not given';
COMMENT ON COLUMN crm.opportunity.stage IS 'The current stage (crm.pipeline_stage); the first open stage of the pipeline when not given';
COMMENT ON COLUMN crm.opportunity.owner IS 'The rep who owns the deal (crm.rep.login)';
COMMENT ON COLUMN crm.opportunity.team IS 'The owner''s team, set from the owner when not given';
COMMENT ON COLUMN crm.opportunity.amount IS 'Expected deal value in yuan';
COMMENT ON COLUMN crm.opportunity.lead_id IS 'The qualified lead it was converted from (crm.convert_lead()); one opportunity per lead';
COMMENT ON COLUMN crm.opportunity.status IS
'open, won or lost: follows the stage (a won or lost stage closes it); setting it to won or lost moves the opportunity to that stage of its pipeline';
COMMENT ON COLUMN crm.opportunity.lost_reason IS 'Why it was lost (crm.lost_reason), required when status is lost';
COMMENT ON COLUMN crm.opportunity.stage_entered_at IS 'When the current stage was entered; evidence for the next stage must be added after it';
COMMENT ON COLUMN crm.opportunity.quote_sent_at IS 'When the quote went to the customer: starts the customer-feedback countdown';
COMMENT ON COLUMN crm.opportunity.closed_at IS 'When it was won or lost';

-- A stage change as it happened: who, when, from where, and whether the
-- stage's action package backed it.
CREATE TABLE crm.stage_history (
    id          bigserial PRIMARY KEY,
    -- written by the trigger before its opportunity row is in the table:
    -- the key is checked at commit
    opportunity_id bigint NOT NULL REFERENCES crm.opportunity (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    pipeline    text NOT NULL,
    from_stage  text,
    to_stage    text NOT NULL,
    direction   text NOT NULL CONSTRAINT stage_history_direction CHECK (direction IN ('created', 'forward', 'back', 'won', 'lost', 'reopened')),
    verified    boolean NOT NULL,
    unverified_reason text,
    owner       text,
    team        text,
    changed_by  text NOT NULL,
    changed_at  timestamptz NOT NULL,
    client_addr inet,
    application_name text,
    CONSTRAINT stage_history_reason CHECK (verified = (unverified_reason IS NULL))
);
SELECT pg_catalog.pg_extension_config_dump('crm.stage_history', '');
SELECT pg_catalog.pg_extension_config_dump('crm.stage_history_id_seq', '');
CREATE INDEX stage_history_opportunity_idx ON crm.stage_history (opportunity_id, changed_at);
CREATE INDEX stage_history_changed_at_idx ON crm.stage_history (changed_at) WHERE direction = 'forward';
COMMENT ON TABLE crm.stage_history IS
'One row per stage change of an opportunity, from any client (a plain UPDATE too), written by its trigger: from, to, verified or why not, who, when, the client''s address and application name';
COMMENT ON COLUMN crm.stage_history.direction IS
'created (the first stage), forward (to a later open stage: a stage upgrade), back, won, lost, reopened (from won or lost to an open stage)';
COMMENT ON COLUMN crm.stage_history.verified IS
'The stage''s action package was complete: every evidence kind crm.stage_requirement asks for was there (see crm.stage_evidence) and every required field set. A stage without requirements is never verified';
COMMENT ON COLUMN crm.stage_history.unverified_reason IS 'Why it is not verified: what was missing (warn mode), or that the move was not checked';
COMMENT ON COLUMN crm.stage_history.owner IS 'The opportunity''s owner at the change';
COMMENT ON COLUMN crm.stage_history.team IS 'The opportunity''s team at the change';
COMMENT ON COLUMN crm.stage_history.changed_by IS 'crm.current_actor() of the session that made the change';
COMMENT ON COLUMN crm.stage_history.changed_at IS 'When (the transaction''s time)';
COMMENT ON COLUMN crm.stage_history.client_addr IS 'The client''s address (inet_client_addr()); NULL over a Unix socket';
COMMENT ON COLUMN crm.stage_history.application_name IS 'The client''s application_name';

CREATE FUNCTION crm.opportunity_before_write() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_opportunity_before_write' LANGUAGE C;
COMMENT ON FUNCTION crm.opportunity_before_write() IS
'Trigger: starts an opportunity in its pipeline''s first stage; lets a stage change through only as crm.stage_transition allows and, into an enforce stage, with its action package; keeps status, customer code and team in step; writes crm.stage_history';
CREATE TRIGGER opportunity_stage BEFORE INSERT OR UPDATE ON crm.opportunity
    FOR EACH ROW EXECUTE FUNCTION crm.opportunity_before_write();

CREATE TABLE crm.attachment (
    id          bigserial PRIMARY KEY,
    opportunity_id bigint NOT NULL REFERENCES crm.opportunity (id) ON DELETE CASCADE,
    kind        text NOT NULL REFERENCES crm.evidence_kind (code) ON UPDATE CASCADE,
    file_name   text NOT NULL CONSTRAINT attachment_file_named CHECK (pg_catalog.btrim(file_name) OPERATOR(pg_catalog.<>) ''),
    content     bytea,
    content_type text NOT NULL,
    size        bigint NOT NULL,
    sha256      bytea NOT NULL,
    url         text,
    added_by    text NOT NULL DEFAULT crm.current_actor(),
    added_at    timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT attachment_content_somewhere CHECK (content IS NOT NULL OR url IS NOT NULL)
);
ALTER TABLE crm.attachment ALTER COLUMN content SET STORAGE EXTERNAL;
SELECT pg_catalog.pg_extension_config_dump('crm.attachment', '');
SELECT pg_catalog.pg_extension_config_dump('crm.attachment_id_seq', '');
CREATE INDEX attachment_opportunity_idx ON crm.attachment (opportunity_id, kind, added_at);
CREATE INDEX attachment_sha256_idx ON crm.attachment (sha256);
COMMENT ON TABLE crm.attachment IS
'Evidence on an opportunity: a file stored (content) or referenced (url, size, sha256, content_type). Checked when added (src/evidence.c): access, magic bytes against the kind''s types, not empty, size limit, SHA-256, one deal only for unique kinds; a failed check refuses it, naming the check. A record: only file_name may change, and one a stage change relied on cannot be deleted';
COMMENT ON COLUMN crm.attachment.content IS 'The file''s bytes; NULL when it is stored elsewhere (url)';
COMMENT ON COLUMN crm.attachment.content_type IS 'By the content''s magic bytes when stored (crm.evidence_content_type()); as declared when referenced';
COMMENT ON COLUMN crm.attachment.size IS 'Bytes: of the content when stored, as declared when referenced';
COMMENT ON COLUMN crm.attachment.sha256 IS 'SHA-256 of the file (PostgreSQL''s sha256() of the content when stored; as declared when referenced)';
COMMENT ON COLUMN crm.attachment.url IS 'Where the file is stored when content is not (https://, s3://, oss:// ...)';
COMMENT ON COLUMN crm.attachment.added_by IS 'Who added it: crm.current_actor() unless given; must be the owner, a rep of the team, or its manager or director';
COMMENT ON COLUMN crm.attachment.added_at IS 'When: now unless given, never in the future; evidence counts for a stage change when added after the current stage was entered';

CREATE FUNCTION crm.attachment_before_write() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_attachment_before_write' LANGUAGE C;
COMMENT ON FUNCTION crm.attachment_before_write() IS
'Trigger: checks a new attachment (access, magic bytes, size, SHA-256, one deal only for unique kinds) and fills content_type, size and sha256 from its content; refuses any change but file_name afterwards';
-- content_type, size and sha256 come from the content: the trigger fills
-- them before the NOT NULL constraints are checked.
CREATE TRIGGER attachment_checked BEFORE INSERT OR UPDATE ON crm.attachment
    FOR EACH ROW EXECUTE FUNCTION crm.attachment_before_write();

-- The evidence a stage change relied on.  Its foreign key keeps the
-- attachment: deleting it fails (23503) once the change is committed, and
-- waits for a change under way (which then fails if the deletion was first).
CREATE TABLE crm.stage_evidence (
    history_id  bigint NOT NULL REFERENCES crm.stage_history (id) ON DELETE CASCADE,
    attachment_id bigint NOT NULL REFERENCES crm.attachment (id),
    PRIMARY KEY (history_id, attachment_id)
);
SELECT pg_catalog.pg_extension_config_dump('crm.stage_evidence', '');
CREATE INDEX stage_evidence_attachment_idx ON crm.stage_evidence (attachment_id);
COMMENT ON TABLE crm.stage_evidence IS
'The attachments each verified stage change relied on; an attachment listed here cannot be deleted (23503)';

-- A refused stage change that someone asked for, until the opportunity
-- moves on: crm.request_stage() records it, the board shows it.
CREATE TABLE crm.stage_request (
    id          bigserial PRIMARY KEY,
    opportunity_id bigint NOT NULL REFERENCES crm.opportunity (id) ON DELETE CASCADE,
    to_stage    text NOT NULL,
    missing     text NOT NULL,
    requested_by text NOT NULL DEFAULT crm.current_actor(),
    requested_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('crm.stage_request', '');
SELECT pg_catalog.pg_extension_config_dump('crm.stage_request_id_seq', '');
CREATE INDEX stage_request_opportunity_idx ON crm.stage_request (opportunity_id, requested_at);
COMMENT ON TABLE crm.stage_request IS
'Stage changes crm.request_stage() was refused: what was missing, who asked and when. Unresolved (the opportunity blocked) while it is open and has not entered a stage since';
COMMENT ON COLUMN crm.stage_request.missing IS 'The refusal''s message and DETAIL: what the stage still needs';

-- A stage change that, when refused, is remembered: a plain UPDATE that
-- fails leaves nothing behind (its transaction is rolled back).
CREATE FUNCTION crm.request_stage(opportunity_id bigint, stage text, OUT moved boolean, OUT missing text)
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    message text;
    detail text;
BEGIN
    BEGIN
        UPDATE crm.opportunity o SET stage = request_stage.stage WHERE o.id = request_stage.opportunity_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'no opportunity %', request_stage.opportunity_id USING ERRCODE = 'no_data_found';
        END IF;
        moved := true;
        RETURN;
    EXCEPTION WHEN integrity_constraint_violation OR check_violation OR not_null_violation THEN
        GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
    END;
    moved := false;
    missing := message || coalesce(': ' || nullif(detail, ''), '');
    INSERT INTO crm.stage_request (opportunity_id, to_stage, missing)
    VALUES (request_stage.opportunity_id, request_stage.stage, request_stage.missing);
END
$$;
COMMENT ON FUNCTION crm.request_stage(bigint, text) IS
'Moves an opportunity to a stage, as UPDATE crm.opportunity SET stage does; when the stage''s rules refuse it, records the request in crm.stage_request (the opportunity shows as blocked on the board) and returns moved false with what is missing instead of raising';

-- A qualified lead becomes an opportunity on its account, owned by the
-- lead's owner.
CREATE FUNCTION crm.convert_lead(lead_id bigint, pipeline text, title text DEFAULT NULL,
                                 amount numeric DEFAULT NULL, expected_close date DEFAULT NULL) RETURNS bigint
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    l crm.lead;
    existing bigint;
    created bigint;
BEGIN
    SELECT * INTO l FROM crm.lead x WHERE x.id = convert_lead.lead_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no lead %', convert_lead.lead_id USING ERRCODE = 'no_data_found';
    END IF;
    IF l.status <> 'qualified' THEN
        RAISE EXCEPTION 'lead % is %, not qualified', l.id, l.status
            USING ERRCODE = 'check_violation',
                  HINT = 'Only a qualified lead converts: UPDATE crm.lead SET status = ''qualified'' when it is.';
    END IF;
    IF l.account_id IS NULL THEN
        RAISE EXCEPTION 'lead % has no account', l.id
            USING ERRCODE = 'not_null_violation',
                  HINT = 'Place it on its organisation first (crm.place_lead(lead_id, account_id)).';
    END IF;
    SELECT o.id INTO existing FROM crm.opportunity o WHERE o.lead_id = l.id;
    IF FOUND THEN
        RAISE EXCEPTION 'lead % was converted already, into opportunity %', l.id, existing
            USING ERRCODE = 'unique_violation';
    END IF;
    INSERT INTO crm.opportunity (account_id, pipeline, title, owner, amount, expected_close, lead_id)
    VALUES (l.account_id, convert_lead.pipeline,
            coalesce(convert_lead.title, nullif(concat_ws(' ', l.company_name, l.product_line), ''), 'lead ' || l.id),
            l.owner, convert_lead.amount, convert_lead.expected_close, l.id)
    RETURNING id INTO created;
    RETURN created;
END
$$;
COMMENT ON FUNCTION crm.convert_lead(bigint, text, text, numeric, date) IS
'Converts a qualified lead into an opportunity on its account (owner: the lead''s owner) in the pipeline''s first stage; returns its id. A lead converts once';

-- The shipped pipelines, evidence kinds and action packages.
INSERT INTO crm.evidence_kind (code, label, content_types, max_size, unique_to_deal, how, shipped) VALUES
    ('config_sheet', '配置单', '{application/pdf}', 20971520, false, 'the configuration sheet as a PDF', true),
    ('signature_scan', '客户签字扫描件', '{application/pdf,image/png,image/jpeg}', 10485760, true,
     'a scan of the page the customer signed, for this deal only', true),
    ('cost_approval', '内部成本审批截图', '{image/png,image/jpeg,application/pdf}', 10485760, true,
     'a screenshot of the internal cost approval of this deal', true),
    ('tender_doc', '招标/比价文件', '{application/pdf,application/vnd.openxmlformats-officedocument.wordprocessingml.document,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet}',
     52428800, false, 'the tender documents or the price comparison', true),
    ('contract', '合同', '{application/pdf,application/ofd,application/vnd.openxmlformats-officedocument.wordprocessingml.document}',
     52428800, true, 'the signed contract', true),
    ('acceptance_report', '验收报告', '{application/pdf,image/png,image/jpeg}', 20971520, false,
     'the acceptance report the customer signed', true),
    ('meeting_minutes', '会议纪要', '{application/pdf,application/vnd.openxmlformats-officedocument.wordprocessingml.document,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet}',
     20971520, false, 'the minutes of the meeting', true),
    ('payment_intent', '缴费意向书', '{application/pdf,image/png,image/jpeg}', 10485760, true,
     'the payment intent form the parent signed', true),
    ('screenshot', '系统截图', '{image/png,image/jpeg}', 10485760, false, 'a screenshot of the system', true),
    ('attendance', '上课打卡记录', '{application/vnd.openxmlformats-officedocument.spreadsheetml.sheet,image/png,image/jpeg}',
     20971520, false, 'the attendance sheet or a screenshot of the check-ins', true),
    ('training_record', '培训记录', '{application/pdf,application/vnd.openxmlformats-officedocument.wordprocessingml.document,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet}',
     20971520, false, 'the training sign-in sheet or record', true),
    ('case_study', '成功案例对标', '{application/pdf,application/vnd.openxmlformats-officedocument.wordprocessingml.document}',
     20971520, false, 'the reference case compared with the customer''s', true),
    ('legal_review', '法务条款确认', '{application/pdf,application/vnd.openxmlformats-officedocument.wordprocessingml.document}',
     20971520, false, 'the contract terms as both legal teams confirmed them', true),
    ('poc_report', 'POC效果报告', '{application/pdf,application/vnd.openxmlformats-officedocument.wordprocessingml.document,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet}',
     20971520, false, 'the proof-of-concept results', true),
    ('budget_approval', '预算审批决议', '{application/pdf,image/png,image/jpeg}', 10485760, true,
     'the customer''s budget approval, for this deal only', true),
    ('purchase_order', '采购单', '{application/pdf,application/ofd}', 10485760, true, 'the customer''s purchase order', true),
    ('solution', '方案', '{application/pdf,application/vnd.openxmlformats-officedocument.wordprocessingml.document}',
     52428800, false, 'the solution as sent to the customer', true),
    ('sla_sheet', '物流SLA确认书', '{application/pdf,application/vnd.openxmlformats-officedocument.wordprocessingml.document}',
     20971520, false, 'the logistics SLA (transit times, claims) the customer confirmed', true),
    ('quote', '报价单', '{application/pdf,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet}',
     20971520, false, 'the quote as sent', true),
    ('waybill', '运单', '{application/pdf,application/ofd,image/jpeg}', 10485760, false, 'the first waybill', true),
    ('invoice', '发票', '{application/ofd,application/pdf}', 5242880, true, 'the e-invoice (OFD)', true),
    ('demo_notes', '演示记录', '{application/pdf,application/vnd.openxmlformats-officedocument.wordprocessingml.document}',
     20971520, false, 'the notes of the demonstration', true);

INSERT INTO crm.pipeline (code, name, industry, shipped) VALUES
    ('medical_devices', '医疗器械销售', '医疗器械', true),
    ('education', '教育培训招生', '教育', true),
    ('saas', 'SaaS 企业销售', 'SaaS', true),
    ('cross_border_logistics', '跨境物流服务', '跨境物流', true);

INSERT INTO crm.pipeline_stage (pipeline, stage, position, kind, skippable, required_fields, shipped)
SELECT p.pipeline, s.stage, s.position, CASE s.stage WHEN '赢单' THEN 'won' WHEN '输单' THEN 'lost' ELSE 'open' END,
       s.skippable, s.required_fields, true
  FROM (VALUES
    ('medical_devices', ARRAY['需求确认', '方案确认', '招标/比价', '合同签署', '交付验收']),
    ('education', ARRAY['试听课完成', '家长会反馈收集', '缴费意向确认', '合同签署', '排课系统对接', '首月上课打卡']),
    ('saas', ARRAY['免费试用激活', '关键用户培训完成', 'API对接验收', '成功案例对标', '法务条款确认', 'POC效果验证',
                   '预算审批过会', '采购流程启动']),
    ('cross_border_logistics', ARRAY['需求沟通', '线路方案', '物流SLA确认', '价格确认', '合同签署', '首票发运'])) p(pipeline, stages)
 CROSS JOIN LATERAL (
    SELECT st, n::integer, st IN ('招标/比价', '成功案例对标'),
           CASE WHEN st IN ('招标/比价', '价格确认', '预算审批过会') THEN '{amount,expected_close}'::text[] ELSE '{}' END
      FROM unnest(p.stages || ARRAY['赢单', '输单']) WITH ORDINALITY u(st, n)) s(stage, position, skippable, required_fields);

INSERT INTO crm.stage_requirement (pipeline, stage, kind, content_types, shipped)
SELECT r.pipeline, r.stage, r.kind, k.content_types, true
  FROM (VALUES
    ('medical_devices', '方案确认', 'config_sheet'), ('medical_devices', '方案确认', 'signature_scan'),
    ('medical_devices', '方案确认', 'cost_approval'), ('medical_devices', '招标/比价', 'tender_doc'),
    ('medical_devices', '合同签署', 'contract'), ('medical_devices', '交付验收', 'acceptance_report'),
    ('education', '家长会反馈收集', 'meeting_minutes'), ('education', '缴费意向确认', 'payment_intent'),
    ('education', '合同签署', 'contract'), ('education', '排课系统对接', 'screenshot'),
    ('education', '首月上课打卡', 'attendance'),
    ('saas', '关键用户培训完成', 'training_record'), ('saas', 'API对接验收', 'acceptance_report'),
    ('saas', '成功案例对标', 'case_study'), ('saas', '法务条款确认', 'legal_review'),
    ('saas', 'POC效果验证', 'poc_report'), ('saas', '预算审批过会', 'budget_approval'),
    ('saas', '采购流程启动', 'purchase_order'),
    ('cross_border_logistics', '线路方案', 'solution'), ('cross_border_logistics', '物流SLA确认', 'sla_sheet'),
    ('cross_border_logistics', '物流SLA确认', 'signature_scan'), ('cross_border_logistics', '价格确认', 'quote'),
    ('cross_border_logistics', '价格确认', 'cost_approval'), ('cross_border_logistics', '合同签署', 'contract'),
    ('cross_border_logistics', '首票发运', 'waybill')) r(pipeline, stage, kind)
  JOIN crm.evidence_kind k ON k.code = r.kind;

SELECT crm.standard_transitions(p.code) FROM crm.pipeline p WHERE p.shipped ORDER BY p.code;
UPDATE crm.stage_transition t SET shipped = true WHERE t.pipeline IN (SELECT p.code FROM crm.pipeline p WHERE p.shipped);
-- @end
