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
'Trigger: pipelines, stages, transitions, stage requirements, evidence kinds or dwell limits changed; every session reloads its stage rules (at commit, or at once in this session)';

CREATE TABLE crm.pipeline (
    code        text PRIMARY KEY CONSTRAINT pipeline_code_format CHECK (code ~ '^[a-z][a-z0-9_]{0,62}$'),
    name        text NOT NULL,
    industry    text NOT NULL,
    shipped     boolean NOT NULL DEFAULT false
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
-- the stage rules keep each requirement's label and how (the words of a refusal)
CREATE TRIGGER evidence_kind_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.evidence_kind
    FOR EACH STATEMENT EXECUTE FUNCTION crm.stage_rules_changed();

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
    amount      numeric(16, 2) CONSTRAINT opportunity_amount_positive CHECK (amount >= 0 AND amount <> 'NaN'),
    expected_close date CONSTRAINT opportunity_expected_close_finite CHECK (pg_catalog.isfinite(expected_close)),
    lead_id     bigint REFERENCES crm.lead (id),
    status      text NOT NULL DEFAULT 'open' CONSTRAINT opportunity_status CHECK (status IN ('open', 'won', 'lost')),
    lost_reason text REFERENCES crm.lost_reason (code) ON UPDATE CASCADE,
    lost_note   text,
    stage_entered_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    quote_sent_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    closed_at   timestamptz,
    blocked_since timestamptz,
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
COMMENT ON COLUMN crm.opportunity.customer_code IS 'The account''s customer code (crm.account.code), set from account_id (again when account_id changes); another code is refused (23503)';
COMMENT ON COLUMN crm.opportunity.stage IS 'The current stage (crm.pipeline_stage); the first open stage of the pipeline when not given';
COMMENT ON COLUMN crm.opportunity.owner IS 'The rep who owns the deal (crm.rep.login)';
COMMENT ON COLUMN crm.opportunity.team IS 'The owner''s team, set from the owner when the owner is set or changes; another team than the owner''s is refused (23503)';
COMMENT ON COLUMN crm.opportunity.amount IS 'Expected deal value in yuan: 0 or more, not NaN';
COMMENT ON COLUMN crm.opportunity.expected_close IS 'When the deal is expected to close: a date, not infinity';
COMMENT ON COLUMN crm.opportunity.lead_id IS 'The qualified lead it was converted from (crm.convert_lead()); one opportunity per lead';
COMMENT ON COLUMN crm.opportunity.status IS
'open, won or lost: follows the stage (a won or lost stage closes it); setting it to won or lost moves the opportunity to that stage of its pipeline';
COMMENT ON COLUMN crm.opportunity.lost_reason IS 'Why it was lost (crm.lost_reason), required when status is lost';
COMMENT ON COLUMN crm.opportunity.stage_entered_at IS 'When the current stage was entered; evidence for the next stage must be added after it. Set by crm only (a value given is refused, 428C9)';
COMMENT ON COLUMN crm.opportunity.quote_sent_at IS 'When the quote went to the customer: starts the customer-feedback countdown; NULL withdraws it (the countdown is cancelled). Not infinity (22007), not in the future (22008)';
COMMENT ON COLUMN crm.opportunity.created_at IS 'When the opportunity was created. Set by crm only (a value given is refused, 428C9)';
COMMENT ON COLUMN crm.opportunity.closed_at IS 'When it was won or lost. Set by crm only (a value given is refused, 428C9)';
COMMENT ON COLUMN crm.opportunity.blocked_since IS
'Kept by crm (the board, crm.blocked_opportunity): while the deal is open and blocked, the earliest moment of its reasons (a fired countdown or dwell limit''s deadline, an unresolved refused stage change); NULL when it is not blocked';

-- A stage change as it happened: who, when, from where, and whether the
-- stage's action package backed it.
CREATE TABLE crm.stage_history (
    id          bigserial PRIMARY KEY,
    -- written by the statement's trigger once its opportunity rows are
    -- in the table (crm.opportunity_stage_changed())
    opportunity_id bigint NOT NULL REFERENCES crm.opportunity (id) ON DELETE CASCADE,
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
    evidence    bigint[],
    CONSTRAINT stage_history_reason CHECK (verified = (unverified_reason IS NULL))
);
SELECT pg_catalog.pg_extension_config_dump('crm.stage_history', '');
SELECT pg_catalog.pg_extension_config_dump('crm.stage_history_id_seq', '');
CREATE INDEX stage_history_opportunity_idx ON crm.stage_history (opportunity_id, changed_at);
CREATE INDEX stage_history_changed_at_idx ON crm.stage_history (changed_at) WHERE direction = 'forward';
COMMENT ON TABLE crm.stage_history IS
'One row per stage change of an opportunity, from any client (a plain UPDATE too), written by its trigger: from, to, verified or why not, who, when, the client''s address and application name. Append-only: written by crm''s stage-change trigger alone, never changed, deleted only with its opportunity (42501 otherwise)';
COMMENT ON COLUMN crm.stage_history.direction IS
'created (the first stage), forward (to a later open stage: a stage upgrade), back, won, lost, reopened (from won or lost to an open stage)';
COMMENT ON COLUMN crm.stage_history.verified IS
'The stage''s action package was complete: every evidence kind crm.stage_requirement asks for was there (see evidence) and every required field set. A stage without requirements is never verified';
COMMENT ON COLUMN crm.stage_history.unverified_reason IS 'Why it is not verified: what was missing (warn mode), or that the move was not checked';
COMMENT ON COLUMN crm.stage_history.owner IS 'The opportunity''s owner at the change';
COMMENT ON COLUMN crm.stage_history.team IS 'The opportunity''s team at the change';
COMMENT ON COLUMN crm.stage_history.changed_by IS 'crm.current_actor() of the session that made the change';
COMMENT ON COLUMN crm.stage_history.changed_at IS 'When (the transaction''s time)';
COMMENT ON COLUMN crm.stage_history.client_addr IS 'The client''s address (inet_client_addr()); NULL over a Unix socket';
COMMENT ON COLUMN crm.stage_history.application_name IS 'The client''s application_name';
COMMENT ON COLUMN crm.stage_history.evidence IS
'The attachments (crm.attachment.id) the change relied on, one per requirement met; NULL when none. They cannot be deleted afterwards';

-- The metric counts these rows, and they keep the evidence they name: the
-- application, which writes through crm's triggers as itself and so holds
-- INSERT on the table, must not write them (src/stage_history.c).
CREATE FUNCTION crm.stage_history_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_stage_history_guard' LANGUAGE C;
COMMENT ON FUNCTION crm.stage_history_guard() IS
'Trigger: crm.stage_history is append-only and written by crm''s stage-change trigger alone: any other INSERT, every UPDATE, a DELETE but with the opportunity, and a TRUNCATE that leaves opportunities are refused (42501); a restore loads it';
CREATE TRIGGER stage_history_append_only BEFORE INSERT OR UPDATE OR DELETE ON crm.stage_history
    FOR EACH ROW EXECUTE FUNCTION crm.stage_history_guard();
CREATE TRIGGER stage_history_truncated AFTER TRUNCATE ON crm.stage_history
    FOR EACH STATEMENT EXECUTE FUNCTION crm.stage_history_guard();

CREATE FUNCTION crm.opportunity_before_write() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_opportunity_before_write' LANGUAGE C;
COMMENT ON FUNCTION crm.opportunity_before_write() IS
'Trigger: starts an opportunity in its pipeline''s first stage; lets a stage change through only as crm.stage_transition allows; keeps status, stage_entered_at and closed_at in step';
CREATE TRIGGER opportunity_stage BEFORE INSERT OR UPDATE ON crm.opportunity
    FOR EACH ROW EXECUTE FUNCTION crm.opportunity_before_write();

-- Before opportunity_stage (by name): the columns a writer does not choose
-- (src/opportunity_guard.c).
CREATE FUNCTION crm.opportunity_guard() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_opportunity_guard' LANGUAGE C;
COMMENT ON FUNCTION crm.opportunity_guard() IS
'Trigger: created_at, stage_entered_at and closed_at are crm''s (428C9); quote_sent_at is finite (22007) and not in the future (22008); team follows the owner and customer_code the account, another value is refused (23503)';
CREATE TRIGGER opportunity_guard BEFORE INSERT OR UPDATE ON crm.opportunity
    FOR EACH ROW EXECUTE FUNCTION crm.opportunity_guard();

-- A pipeline in use cannot be changed so as to strand its opportunities.
-- The foreign keys keep the stages they are in; an open opportunity also
-- needs its pipeline's won and lost stages to close, and a stage keeps
-- its place in the order (forward and back) while opportunities are in it.
-- The trigger's name sorts after the shipped-row guard's: a shipped stage
-- is refused as shipped first.
CREATE FUNCTION crm.pipeline_stage_stranding() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    -- a restore; or the pipeline's own deletion, which its foreign key judges
    IF crm.restoring() OR NOT EXISTS (SELECT FROM crm.pipeline p WHERE p.code = OLD.pipeline) THEN
        RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
    END IF;
    IF OLD.kind <> 'open' AND (TG_OP = 'DELETE' OR NEW.kind <> OLD.kind OR NEW.pipeline <> OLD.pipeline) THEN
        SELECT count(*) INTO n FROM crm.opportunity o WHERE o.pipeline = OLD.pipeline AND o.status = 'open';
        IF n > 0 THEN
            RAISE EXCEPTION 'the % stage % of pipeline % is in use: % open opportunities close there', OLD.kind, OLD.stage, OLD.pipeline, n
                USING ERRCODE = CASE TG_OP WHEN 'DELETE' THEN 'foreign_key_violation' ELSE 'object_in_use' END,
                      DETAIL = pg_catalog.format('Without a %s stage, the %s open opportunities of pipeline %s could never be %s.',
                                                 OLD.kind, n, OLD.pipeline, OLD.kind),
                      HINT = 'Close them first, or make the change in a copy of the pipeline (crm.copy_pipeline()) for new opportunities.';
        END IF;
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.position <> OLD.position OR NEW.kind <> OLD.kind) THEN
        SELECT count(*) INTO n FROM crm.opportunity o WHERE o.pipeline = OLD.pipeline AND o.stage = OLD.stage;
        IF n > 0 THEN
            RAISE EXCEPTION 'stage % of pipeline % is in use: its position and kind cannot change', OLD.stage, OLD.pipeline
                USING ERRCODE = 'object_in_use',
                      DETAIL = pg_catalog.format('%s opportunities are in it; their moves forward and back, and their history, read its place in the order.', n),
                      HINT = 'Move them out first, or reorder a copy of the pipeline (crm.copy_pipeline()) for new opportunities.';
        END IF;
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;
COMMENT ON FUNCTION crm.pipeline_stage_stranding() IS
'Trigger: the won or lost stage of a pipeline with open opportunities cannot be deleted (23503) or change kind (55006); a stage opportunities are in cannot change position or kind (55006)';
CREATE TRIGGER pipeline_stage_stranding BEFORE UPDATE OR DELETE ON crm.pipeline_stage
    FOR EACH ROW EXECUTE FUNCTION crm.pipeline_stage_stranding();

-- An open stage opportunities are in keeps a move out.  Checked after the
-- statement: add the new moves before deleting the old ones.
CREATE FUNCTION crm.stage_transition_stranding() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s record;
BEGIN
    IF crm.restoring() THEN
        RETURN NULL;
    END IF;
    SELECT g.pipeline, g.from_stage, count(*) AS opportunities INTO s
      FROM (SELECT DISTINCT d.pipeline, d.from_stage FROM old_rows d) g
      JOIN crm.pipeline_stage ps ON ps.pipeline = g.pipeline AND ps.stage = g.from_stage AND ps.kind = 'open'
      JOIN crm.opportunity o ON o.pipeline = g.pipeline AND o.stage = g.from_stage AND o.status = 'open'
     WHERE NOT EXISTS (SELECT FROM crm.stage_transition t WHERE t.pipeline = g.pipeline AND t.from_stage = g.from_stage)
     GROUP BY g.pipeline, g.from_stage ORDER BY g.pipeline, g.from_stage LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'stage % of pipeline % would have no move out, with % open opportunities in it',
                        s.from_stage, s.pipeline, s.opportunities
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = 'An opportunity in a stage with no move out could never move on, close or be lost.',
                  HINT = 'Add the new moves out of it first (INSERT INTO crm.stage_transition), then delete the old ones.';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.stage_transition_stranding() IS
'Trigger: after transitions are deleted or changed, every open stage that open opportunities are in still has a move out (23503 otherwise)';
CREATE TRIGGER stage_transition_deleted AFTER DELETE ON crm.stage_transition
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crm.stage_transition_stranding();
CREATE TRIGGER stage_transition_updated AFTER UPDATE ON crm.stage_transition
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crm.stage_transition_stranding();

-- What the stage changes of a statement leave behind, once per statement
-- over all its rows (src/stage_change.c): a statement per row cost
-- several times the work it did.  A transition table serves one event
-- only: one trigger for INSERT, one for UPDATE.
CREATE FUNCTION crm.opportunity_stage_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_opportunity_stage_changed' LANGUAGE C;
COMMENT ON FUNCTION crm.opportunity_stage_changed() IS
'Trigger: for the rows of a statement whose stage changed, checks the action package of forward moves and wins (refused in an enforce stage, SQLSTATE 23514; unverified in a warn stage), locks the evidence relied on, writes crm.stage_history, cancels the dwell limits of the stages left (every countdown when the deal closes) and starts those of the stages entered';
CREATE TRIGGER opportunity_stage_inserted AFTER INSERT ON crm.opportunity
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crm.opportunity_stage_changed();
CREATE TRIGGER opportunity_stage_updated AFTER UPDATE ON crm.opportunity
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION crm.opportunity_stage_changed();

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
-- a stage change's evidence: the newest of a kind, ties by id, read from
-- the index without a sort
CREATE INDEX attachment_opportunity_idx ON crm.attachment (opportunity_id, kind, added_at, id);
CREATE INDEX attachment_sha256_idx ON crm.attachment (sha256);
COMMENT ON TABLE crm.attachment IS
'Evidence on an opportunity: a file stored (content) or referenced (url, size, sha256, content_type). Checked when added (src/evidence.c): access, magic bytes against the kind''s types, not empty, size limit, SHA-256, one deal only for unique kinds; a failed check refuses it, naming the check. A record: only file_name may change, and one a stage change relied on cannot be deleted';
COMMENT ON COLUMN crm.attachment.content IS 'The file''s bytes; NULL when it is stored elsewhere (url)';
COMMENT ON COLUMN crm.attachment.content_type IS 'By the content''s magic bytes when stored (crm.evidence_content_type()); as declared when referenced';
COMMENT ON COLUMN crm.attachment.size IS 'Bytes: of the content when stored, as declared when referenced';
COMMENT ON COLUMN crm.attachment.sha256 IS 'SHA-256 of the file (PostgreSQL''s sha256() of the content when stored; as declared when referenced)';
COMMENT ON COLUMN crm.attachment.url IS 'Where the file is stored when content is not: a URL of a file store, https://, http://, s3://, oss://, cos://, obs:// or gs:// (another scheme, file:// included, is refused)';
COMMENT ON COLUMN crm.attachment.added_by IS 'Who added it: crm.current_actor() (another value is refused, 42501), who must be the owner, a rep of the team, or its manager or director';
COMMENT ON COLUMN crm.attachment.added_at IS 'When it was added: the transaction''s time, set by crm (another value is refused, 428C9); evidence counts for a stage change when added after the current stage was entered';

CREATE FUNCTION crm.attachment_before_write() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_attachment_before_write' LANGUAGE C;
COMMENT ON FUNCTION crm.attachment_before_write() IS
'Trigger: checks a new attachment (added by the actor, access, added now, a file store''s URL, magic bytes, size, SHA-256, one deal only for unique kinds) and fills content_type, size and sha256 from its content; refuses any change but file_name afterwards';
-- content_type, size and sha256 come from the content: the trigger fills
-- them before the NOT NULL constraints are checked.
CREATE TRIGGER attachment_checked BEFORE INSERT OR UPDATE ON crm.attachment
    FOR EACH ROW EXECUTE FUNCTION crm.attachment_before_write();

-- Evidence a stage change relied on is kept.  The change locks the
-- attachments it relies on (FOR KEY SHARE): a deletion under way makes it
-- wait and then miss them; a deletion after it waits for its commit and
-- then finds it here.  The opportunity's own deletion takes them along.
CREATE FUNCTION crm.attachment_relied_on() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    change bigint;
BEGIN
    SELECT h.id INTO change FROM crm.stage_history h
     WHERE h.opportunity_id = OLD.opportunity_id AND h.evidence @> ARRAY[OLD.id]
       AND EXISTS (SELECT FROM crm.opportunity o WHERE o.id = OLD.opportunity_id)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'attachment % is evidence of a stage change of opportunity %', OLD.id, OLD.opportunity_id
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = pg_catalog.format('crm.stage_history %s relied on it.', change),
                  HINT = 'Evidence a stage change relied on is kept; add a corrected attachment instead.';
    END IF;
    RETURN OLD;
END
$$;
COMMENT ON FUNCTION crm.attachment_relied_on() IS
'Trigger: an attachment a stage change relied on (crm.stage_history.evidence) cannot be deleted (23503), unless with its opportunity';
CREATE TRIGGER attachment_relied_on BEFORE DELETE ON crm.attachment
    FOR EACH ROW EXECUTE FUNCTION crm.attachment_relied_on();

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
COMMENT ON COLUMN crm.stage_request.to_stage IS 'The stage asked for: one of the opportunity''s pipeline (23503 otherwise)';
COMMENT ON COLUMN crm.stage_request.requested_by IS 'Who asked: crm.current_actor() (another value is refused, 42501)';
COMMENT ON COLUMN crm.stage_request.requested_at IS 'When: the transaction''s time, set by crm (another value is refused, 428C9)';

-- The board shows requests: one for a stage the pipeline does not have,
-- in another's name or dated back would put on it what nobody asked for.
CREATE FUNCTION crm.stage_request_checked() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    pl text;
BEGIN
    IF crm.restoring() THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'stage request % cannot change: it is a record', OLD.id
            USING ERRCODE = 'integrity_constraint_violation',
                  HINT = 'Ask again with crm.request_stage(); a move of the opportunity resolves it.';
    END IF;
    IF NEW.requested_by IS DISTINCT FROM crm.current_actor() THEN
        RAISE EXCEPTION 'stage request refused: requested_by % is not who asks', NEW.requested_by
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('The actor is %s (crm.current_actor()).', crm.current_actor()),
                  HINT = 'Leave requested_by out (SET crm.actor to who asks).';
    END IF;
    IF NEW.requested_at IS DISTINCT FROM pg_catalog.now() THEN
        RAISE EXCEPTION 'column requested_at of crm.stage_request is set by crm'
            USING ERRCODE = 'generated_always',
                  DETAIL = 'The board counts how long the opportunity has been blocked from it.',
                  HINT = 'Leave it out: it is the time of the transaction.';
    END IF;
    SELECT o.pipeline INTO pl FROM crm.opportunity o WHERE o.id = NEW.opportunity_id;
    IF FOUND AND NOT EXISTS (SELECT FROM crm.pipeline_stage s WHERE s.pipeline = pl AND s.stage = NEW.to_stage) THEN
        RAISE EXCEPTION 'pipeline "%" has no stage "%"', pl, NEW.to_stage
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = pg_catalog.format('Its stages: %s.', (SELECT string_agg(s.stage, ', ' ORDER BY s.position)
                                                                  FROM crm.pipeline_stage s WHERE s.pipeline = pl)),
                  HINT = 'Name one of its stages (crm.pipeline_stage).';
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION crm.stage_request_checked() IS
'Trigger: a stage request is for a stage of the opportunity''s pipeline (23503, DETAIL: its stages), by crm.current_actor() (42501), dated now (428C9); it does not change afterwards (23000)';
CREATE TRIGGER stage_request_checked BEFORE INSERT OR UPDATE ON crm.stage_request
    FOR EACH ROW EXECUTE FUNCTION crm.stage_request_checked();

-- A stage change that, when refused, is remembered: a plain UPDATE that
-- fails leaves nothing behind (its transaction is rolled back).
CREATE FUNCTION crm.request_stage(opportunity_id bigint, stage text, OUT moved boolean, OUT missing text)
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    message text;
    detail text;
BEGIN
    IF request_stage.opportunity_id IS NULL OR request_stage.stage IS NULL THEN
        RAISE EXCEPTION 'crm.request_stage() needs an opportunity and a stage, not NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM FROM crm.opportunity o WHERE o.id = request_stage.opportunity_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no opportunity %', request_stage.opportunity_id USING ERRCODE = 'no_data_found';
    END IF;
    -- a stage the pipeline does not have is refused by the request's own
    -- trigger (crm.stage_request_checked()): a mistake, not a request
    BEGIN
        UPDATE crm.opportunity o SET stage = request_stage.stage WHERE o.id = request_stage.opportunity_id;
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
'Moves an opportunity to a stage, as UPDATE crm.opportunity SET stage does; when the stage''s rules refuse it, records the request in crm.stage_request (the opportunity shows as blocked on the board) and returns moved false with what is missing instead of raising. A NULL argument raises 22004, an unknown opportunity P0002, a stage its pipeline does not have 23503 (DETAIL: its stages); none of these is recorded';

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

------------------------------------------------------------------------------
-- Countdowns and dwell limits, on the SLA timer machinery: a timer per
-- opportunity and rule, due on the team's calendar, fired by the minute
-- sweep (crm.run_timeouts), met by the event it waits for
------------------------------------------------------------------------------

-- What a deal does next, as the countdowns see it: a customer's feedback,
-- demonstration notes, a meeting.
CREATE TABLE crm.opportunity_activity (
    id          bigserial PRIMARY KEY,
    opportunity_id bigint NOT NULL REFERENCES crm.opportunity (id) ON DELETE CASCADE,
    kind        text NOT NULL CONSTRAINT opportunity_activity_kind CHECK (kind IN
                ('customer_feedback', 'demo_notes', 'meeting', 'call', 'note')),
    body        text,
    actor       text NOT NULL DEFAULT crm.current_actor(),
    at          timestamptz NOT NULL DEFAULT pg_catalog.now()
                CONSTRAINT opportunity_activity_at_sane CHECK (at > '2000-01-01 00:00:00+00' AND at < 'infinity')
);
SELECT pg_catalog.pg_extension_config_dump('crm.opportunity_activity', '');
SELECT pg_catalog.pg_extension_config_dump('crm.opportunity_activity_id_seq', '');
CREATE INDEX opportunity_activity_opportunity_idx ON crm.opportunity_activity (opportunity_id, at);
COMMENT ON TABLE crm.opportunity_activity IS
'What happened on a deal: customer feedback, demonstration notes, meetings, calls, notes. A kind a countdown waits for (crm.countdown_rule.waits_for) meets it, if the countdown started before the activity''s time. Recorded by the opportunity''s owner, a rep of its team, or the team''s manager or director (42501 otherwise); a record: only body may change';
COMMENT ON COLUMN crm.opportunity_activity.actor IS 'Who recorded it: crm.current_actor() (another value is refused, 42501)';
COMMENT ON COLUMN crm.opportunity_activity.at IS
'When it happened: now unless given; not in the future nor before the opportunity was created (22008). Dated back, it meets only the countdowns started before it';

CREATE FUNCTION crm.opportunity_activity_before_write() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_opportunity_activity_before_write' LANGUAGE C;
COMMENT ON FUNCTION crm.opportunity_activity_before_write() IS
'Trigger: a new activity is recorded by crm.current_actor() (42501 for another actor), who has access to the opportunity (42501), at a time from the opportunity''s creation to now (22008); afterwards only body may change (23000)';
CREATE TRIGGER opportunity_activity_checked BEFORE INSERT OR UPDATE ON crm.opportunity_activity
    FOR EACH ROW EXECUTE FUNCTION crm.opportunity_activity_before_write();

-- Countdowns as data: one that starts when a quote is sent (pipeline and
-- stage NULL), and dwell limits that start when a stage is entered.
CREATE TABLE crm.countdown_rule (
    code        text PRIMARY KEY CONSTRAINT countdown_rule_code_format CHECK (code ~ '^[a-z][a-z0-9_]{0,62}$'),
    starts_on   text NOT NULL CONSTRAINT countdown_rule_starts_on CHECK (starts_on IN ('quote_sent', 'stage_entered')),
    pipeline    text,
    stage       text,
    within      interval NOT NULL CONSTRAINT countdown_rule_within_positive CHECK (within > interval '0'),
    clock       text NOT NULL DEFAULT 'working' CONSTRAINT countdown_rule_clock CHECK (clock IN ('working', 'calendar')),
    waits_for   text NOT NULL,
    notify      text[] NOT NULL CONSTRAINT countdown_rule_notify CHECK
                (notify OPERATOR(pg_catalog.<@) ARRAY['owner', 'manager', 'director']::text[] AND pg_catalog.cardinality(notify) > 0),
    shipped     boolean NOT NULL DEFAULT false,
    FOREIGN KEY (pipeline, stage) REFERENCES crm.pipeline_stage (pipeline, stage) ON DELETE CASCADE,
    CONSTRAINT countdown_rule_where CHECK ((starts_on = 'stage_entered') = (stage IS NOT NULL AND pipeline IS NOT NULL))
);
SELECT pg_catalog.pg_extension_config_dump('crm.countdown_rule', 'WHERE NOT shipped');
CREATE UNIQUE INDEX countdown_rule_quote_once ON crm.countdown_rule (starts_on) WHERE starts_on = 'quote_sent';
CREATE UNIQUE INDEX countdown_rule_stage_once ON crm.countdown_rule (pipeline, stage);
COMMENT ON TABLE crm.countdown_rule IS
'Countdowns: quote_sent starts when crm.opportunity.quote_sent_at is set (one rule for all pipelines); stage_entered is a dwell limit of one stage, started when the stage is entered and cancelled when it is left. Either is met by the activity or evidence kind it waits for; past due, the sweep fires it once and notifies';
COMMENT ON COLUMN crm.countdown_rule.within IS 'How long until it fires: working time of the team calendar (clock working), or wall-clock time moved to the calendar''s next opening (clock calendar)';
COMMENT ON COLUMN crm.countdown_rule.waits_for IS 'The crm.opportunity_activity kind or crm.evidence_kind code that meets it';
COMMENT ON COLUMN crm.countdown_rule.notify IS 'Who the outbox tells when it fires: owner, manager, director (the manager''s to-do list)';
CREATE TRIGGER countdown_rule_shipped_guard BEFORE UPDATE OR DELETE ON crm.countdown_rule
    FOR EACH ROW EXECUTE FUNCTION crm.guard_shipped_row('countdown rule', 'code', 'Add a rule of your own.');
CREATE TRIGGER countdown_rule_shipped_set BEFORE INSERT OR UPDATE OF shipped ON crm.countdown_rule
    FOR EACH ROW WHEN (NEW.shipped) EXECUTE FUNCTION crm.guard_shipped_mark();
CREATE TRIGGER countdown_rule_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.countdown_rule
    FOR EACH STATEMENT EXECUTE FUNCTION crm.stage_rules_changed();

CREATE TABLE crm.opportunity_timer (
    id          bigserial PRIMARY KEY,
    -- dwell limits start in the statement's trigger, once its opportunity
    -- rows are in the table (crm.opportunity_stage_changed())
    opportunity_id bigint NOT NULL REFERENCES crm.opportunity (id) ON DELETE CASCADE,
    rule        text NOT NULL REFERENCES crm.countdown_rule (code) ON UPDATE CASCADE ON DELETE CASCADE,
    dwell       boolean NOT NULL DEFAULT false,
    stage       text NOT NULL,
    waits_for   text NOT NULL,
    team        text,
    started_at  timestamptz NOT NULL,
    due_at      timestamptz,
    met_at      timestamptz,
    fired_at    timestamptz,
    cancelled_at timestamptz,
    skipped     text
);
SELECT pg_catalog.pg_extension_config_dump('crm.opportunity_timer', '');
SELECT pg_catalog.pg_extension_config_dump('crm.opportunity_timer_id_seq', '');
CREATE INDEX opportunity_timer_opportunity_idx ON crm.opportunity_timer (opportunity_id);
-- timers whose deadline the sweep has yet to compute on the calendar
CREATE INDEX opportunity_timer_unscheduled_idx ON crm.opportunity_timer (started_at)
    WHERE due_at IS NULL AND met_at IS NULL AND cancelled_at IS NULL;
CREATE INDEX opportunity_timer_due_idx ON crm.opportunity_timer (due_at)
    WHERE met_at IS NULL AND fired_at IS NULL AND cancelled_at IS NULL;
-- a blocked opportunity's fired timers, for the board (index-only)
CREATE INDEX opportunity_timer_blocking_idx ON crm.opportunity_timer (opportunity_id) INCLUDE (dwell, waits_for, due_at)
    WHERE met_at IS NULL AND fired_at IS NOT NULL AND cancelled_at IS NULL;
COMMENT ON TABLE crm.opportunity_timer IS
'A countdown or dwell limit running on an opportunity: due on the team calendar, met by the event it waits for, cancelled when its stage is left or the deal closes, fired once by crm.run_timeouts() when due (the deal turns red, the outbox tells who the rule names)';
COMMENT ON COLUMN crm.opportunity_timer.dwell IS 'A dwell limit (cancelled when its stage is left); false: a countdown (cancelled when the deal closes)';
COMMENT ON COLUMN crm.opportunity_timer.stage IS 'The stage the opportunity was in when it started';
COMMENT ON COLUMN crm.opportunity_timer.team IS 'The opportunity''s team when it started: its calendar times it';
COMMENT ON COLUMN crm.opportunity_timer.due_at IS
'When it fires: started_at plus the rule''s time on the team calendar, computed by the next sweep (NULL until then: a deadline on the calendar takes milliseconds, too long for every stage change)';
COMMENT ON COLUMN crm.opportunity_timer.fired_at IS 'When the sweep fired it: from then on, until met or cancelled, the opportunity is red and blocked';
COMMENT ON COLUMN crm.opportunity_timer.skipped IS
'Why the sweep could not compute its deadline (the error), when it could not: the timer is then cancelled, and an outbox message of topic opportunity_countdown_skipped tells the owner and the team''s manager; the rest of the sweep goes on';

-- When a countdown started at t is due: in working time of the team's
-- calendar, or wall-clock time counted from its first working moment and
-- moved to its next opening (as crm.sla_deadlines times SLA steps).
CREATE FUNCTION crm.countdown_due(team text, t timestamptz, within interval, clock text) RETURNS timestamptz
    LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT CASE countdown_due.clock
               WHEN 'working' THEN crm.add_working_time(c.calendar, countdown_due.t, countdown_due.within)
               ELSE crm.next_working_time(c.calendar, crm.next_working_time(c.calendar, countdown_due.t) + countdown_due.within)
           END
      FROM (SELECT coalesce((SELECT tm.calendar FROM crm.team tm WHERE tm.code = countdown_due.team), 'cn_standard') AS calendar) c;
END;
COMMENT ON FUNCTION crm.countdown_due(text, timestamptz, interval, text) IS
'When a countdown started at t is due on the team''s calendar (cn_standard without a team): working clock, or calendar clock moved into working hours';

-- A quote sent (or sent again) starts the feedback countdown; the one
-- before it is superseded (withdrawn: cancelled).
CREATE FUNCTION crm.quote_sent() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF crm.restoring() THEN
        RETURN NULL;
    END IF;
    UPDATE crm.opportunity_timer t SET cancelled_at = pg_catalog.now()
     WHERE t.opportunity_id = NEW.id AND NOT t.dwell AND t.met_at IS NULL AND t.cancelled_at IS NULL;
    IF NEW.quote_sent_at IS NOT NULL AND NEW.status = 'open' THEN
        INSERT INTO crm.opportunity_timer (opportunity_id, rule, stage, waits_for, team, started_at)
        SELECT NEW.id, r.code, NEW.stage, r.waits_for, NEW.team, NEW.quote_sent_at
          FROM crm.countdown_rule r WHERE r.starts_on = 'quote_sent';
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.quote_sent() IS
'Trigger: quote_sent_at set or changed starts the quote_sent countdown (crm.countdown_rule) on the team calendar, superseding the one before (which, fired, no longer blocks the deal); set to NULL, cancels it';
CREATE TRIGGER opportunity_quote_sent AFTER INSERT ON crm.opportunity
    FOR EACH ROW WHEN (NEW.quote_sent_at IS NOT NULL) EXECUTE FUNCTION crm.quote_sent();
-- set to NULL: the quote withdrawn, its countdown cancelled
CREATE TRIGGER opportunity_quote_changed AFTER UPDATE OF quote_sent_at ON crm.opportunity
    FOR EACH ROW WHEN (NEW.quote_sent_at IS NOT NULL OR OLD.quote_sent_at IS NOT NULL)
    EXECUTE FUNCTION crm.quote_sent();

-- The event a countdown waits for: an activity, or evidence of that kind.
CREATE FUNCTION crm.countdown_met() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    happened timestamptz := pg_catalog.now();  -- an attachment is added now
BEGIN
    IF crm.restoring() THEN
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'opportunity_activity' THEN
        happened := NEW.at;
    END IF;
    -- The opportunity first, when a timer waits for this: a stage change
    -- and the sweep lock it before its timers, and a fired timer met
    -- unblocks it (crm.blocking_changed() refreshes blocked_since).
    PERFORM FROM crm.opportunity o
     WHERE o.id = NEW.opportunity_id
       AND EXISTS (SELECT FROM crm.opportunity_timer t
                    WHERE t.opportunity_id = o.id AND t.waits_for = NEW.kind AND t.met_at IS NULL AND t.cancelled_at IS NULL
                      AND t.started_at <= happened)
       FOR NO KEY UPDATE OF o;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    UPDATE crm.opportunity_timer t SET met_at = pg_catalog.now()
     WHERE t.opportunity_id = NEW.opportunity_id AND t.waits_for = NEW.kind
       AND t.met_at IS NULL AND t.cancelled_at IS NULL AND t.started_at <= happened;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.countdown_met() IS
'Trigger: an activity or attachment of the kind an open countdown of its opportunity waits for meets it (also one that fired: the deal is no longer red, nor blocked on the board), if the countdown started before the activity''s time (at)';
CREATE TRIGGER opportunity_activity_meets AFTER INSERT ON crm.opportunity_activity
    FOR EACH ROW EXECUTE FUNCTION crm.countdown_met();
CREATE TRIGGER attachment_meets AFTER INSERT ON crm.attachment
    FOR EACH ROW EXECUTE FUNCTION crm.countdown_met();

-- When the deadlines of a sweep cannot be computed together (a start of
-- infinity written into crm.opportunity_timer, a calendar that cannot
-- count), one start at a time: a start that fails has its timers
-- cancelled with the error, and their owners and managers told, so that
-- one bad timer cannot stop the sweep minute after minute.
CREATE FUNCTION crm.schedule_opportunity_timers_one_by_one(max_timers integer) RETURNS integer
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k record;
    problem text;
    skipped_count integer := 0;
    n integer;
BEGIN
    FOR k IN SELECT DISTINCT p.rule, p.team, p.started_at FROM crm.opportunity_timer p
              WHERE p.due_at IS NULL AND p.met_at IS NULL AND p.cancelled_at IS NULL
              ORDER BY p.started_at LIMIT max_timers LOOP
        BEGIN
            UPDATE crm.opportunity_timer t SET due_at = crm.countdown_due(k.team, k.started_at, r.within, r.clock)
              FROM crm.countdown_rule r
             WHERE r.code = k.rule AND t.due_at IS NULL AND t.met_at IS NULL AND t.cancelled_at IS NULL
               AND t.rule = k.rule AND t.team IS NOT DISTINCT FROM k.team AND t.started_at = k.started_at;
        EXCEPTION WHEN data_exception THEN
            GET STACKED DIAGNOSTICS problem = MESSAGE_TEXT;
            WITH skipped AS (
                UPDATE crm.opportunity_timer t SET cancelled_at = pg_catalog.now(), skipped = problem
                 WHERE t.due_at IS NULL AND t.met_at IS NULL AND t.cancelled_at IS NULL
                   AND t.rule = k.rule AND t.team IS NOT DISTINCT FROM k.team AND t.started_at = k.started_at
                RETURNING t.id, t.opportunity_id, t.rule, t.team
            ), told AS (
                INSERT INTO crm.outbox (topic, recipient, payload)
                SELECT DISTINCT 'opportunity_countdown_skipped', w.recipient,
                       jsonb_build_object('timer_id', s.id, 'opportunity_id', s.opportunity_id, 'rule', s.rule,
                                          'started_at', k.started_at::text, 'error', problem)
                  FROM skipped s
                  JOIN crm.opportunity o ON o.id = s.opportunity_id
                  LEFT JOIN crm.team tm ON tm.code = s.team
                 CROSS JOIN LATERAL (VALUES (o.owner), (tm.manager)) w(recipient)
                 WHERE w.recipient IS NOT NULL
            )
            SELECT count(*)::integer INTO n FROM skipped;
            skipped_count := skipped_count + n;
        END;
    END LOOP;
    RETURN skipped_count;
END
$$;
COMMENT ON FUNCTION crm.schedule_opportunity_timers_one_by_one(integer) IS
'Internal to crm.fire_opportunity_timers(), when the deadlines of a sweep cannot be computed together: computes them one start (team, rule, started_at) at a time; a start that fails (class 22) has its timers cancelled with the error in crm.opportunity_timer.skipped and an outbox message (topic opportunity_countdown_skipped) to each one''s owner and team manager. Returns how many were skipped';

-- The sweep's step for opportunities (called by crm.run_timeouts): fires
-- due countdowns once, and the board counts their deals blocked from their
-- deadlines.  A timer another session is meeting, or whose opportunity
-- another session is changing, is skipped and found at the next sweep:
-- the opportunity is locked with the timer, as a stage change locks it
-- before cancelling its timers.
CREATE FUNCTION crm.fire_opportunity_timers(max_timers integer) RETURNS integer
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fired_count integer;
BEGIN
    -- deadlines of timers started since the last sweep: one per team,
    -- rule and start (a statement's timers share theirs)
    BEGIN
        UPDATE crm.opportunity_timer t SET due_at = d.due
          FROM (SELECT DISTINCT p.rule, p.team, p.started_at FROM crm.opportunity_timer p
                 WHERE p.due_at IS NULL AND p.met_at IS NULL AND p.cancelled_at IS NULL
                 ORDER BY p.started_at LIMIT max_timers) k
          JOIN crm.countdown_rule r ON r.code = k.rule
         CROSS JOIN LATERAL (SELECT crm.countdown_due(k.team, k.started_at, r.within, r.clock) AS due) d
         WHERE t.due_at IS NULL AND t.met_at IS NULL AND t.cancelled_at IS NULL
           AND t.rule = k.rule AND t.team IS NOT DISTINCT FROM k.team AND t.started_at = k.started_at;
    EXCEPTION WHEN data_exception THEN
        -- a start or a calendar the clock cannot count from (a timer
        -- written by hand): one start at a time, the bad ones skipped
        PERFORM crm.schedule_opportunity_timers_one_by_one(max_timers);
    END;
    WITH due AS (
        SELECT t.id FROM crm.opportunity_timer t JOIN crm.opportunity o ON o.id = t.opportunity_id
         WHERE t.due_at <= pg_catalog.now() AND t.met_at IS NULL AND t.fired_at IS NULL AND t.cancelled_at IS NULL
         ORDER BY t.due_at LIMIT max_timers
           FOR UPDATE OF t SKIP LOCKED FOR NO KEY UPDATE OF o SKIP LOCKED
    ), fired AS (
        UPDATE crm.opportunity_timer t SET fired_at = pg_catalog.now()
          FROM due d WHERE t.id = d.id
        RETURNING t.id, t.opportunity_id, t.rule, t.stage, t.waits_for, t.team, t.due_at
    ), blocked AS (
        -- a reason more: blocked since the earliest of its deadlines
        UPDATE crm.opportunity o SET blocked_since = least(o.blocked_since, f.since)
          FROM (SELECT f.opportunity_id, min(f.due_at) AS since FROM fired f GROUP BY f.opportunity_id) f
         WHERE o.id = f.opportunity_id AND o.status = 'open'
           AND o.blocked_since IS DISTINCT FROM least(o.blocked_since, f.since)
        RETURNING 1
    ), told AS (
        -- one message per recipient and rule, listing the deals
        INSERT INTO crm.outbox (topic, recipient, payload)
        SELECT 'opportunity_countdown', w.recipient,
               jsonb_build_object('rule', f.rule, 'waits_for', f.waits_for,
                                  'opportunities', jsonb_agg(jsonb_build_object(
                                      'opportunity_id', f.opportunity_id, 'title', o.title, 'stage', f.stage,
                                      'owner', o.owner, 'due_at', f.due_at) ORDER BY f.due_at, f.opportunity_id))
          FROM fired f
          JOIN crm.countdown_rule r ON r.code = f.rule
          JOIN crm.opportunity o ON o.id = f.opportunity_id
          LEFT JOIN crm.team tm ON tm.code = f.team
         CROSS JOIN LATERAL (SELECT CASE n WHEN 'owner' THEN o.owner WHEN 'manager' THEN tm.manager
                                           ELSE tm.director END
                               FROM unnest(r.notify) n) w(recipient)
         WHERE w.recipient IS NOT NULL
         GROUP BY f.rule, f.waits_for, w.recipient
        RETURNING 1
    )
    SELECT count(*)::integer INTO fired_count FROM fired;
    RETURN fired_count;
END
$$;
COMMENT ON FUNCTION crm.fire_opportunity_timers(integer) IS
'Internal to crm.run_timeouts(): computes the deadlines of timers started since the last sweep (one whose deadline cannot be computed is skipped: crm.schedule_opportunity_timers_one_by_one()), then fires up to max_timers due opportunity countdowns once each (the deal turns red and is blocked on the board from the deadline; one outbox message of topic opportunity_countdown per recipient and rule) and returns how many fired';

------------------------------------------------------------------------------
-- The blocked-opportunity board, read at query time
------------------------------------------------------------------------------

-- Why a deal is blocked lives in its fired timers and refused requests;
-- since when is kept on the deal itself (crm.opportunity.blocked_since),
-- so that the board counts from one small index of the blocked deals, each
-- with its current team and stage, instead of probing a million deals
-- from their blocked rows.  It is kept where a reason starts or ends: the
-- sweep fires timers (in bulk); a fired timer met, cancelled (its stage
-- left, the deal closed, the quote sent again) or deleted; a stage
-- entered, which resolves the refused requests; a request recorded or
-- deleted.
CREATE FUNCTION crm.opportunity_blocked_since(opportunity crm.opportunity) RETURNS timestamptz
    LANGUAGE sql STABLE
BEGIN ATOMIC
    SELECT CASE WHEN (opportunity).status = 'open' THEN
               (SELECT min(b.since)
                  FROM (SELECT t.due_at FROM crm.opportunity_timer t
                         WHERE t.opportunity_id = (opportunity).id
                           AND t.met_at IS NULL AND t.fired_at IS NOT NULL AND t.cancelled_at IS NULL
                        UNION ALL
                        SELECT q.requested_at FROM crm.stage_request q
                         WHERE q.opportunity_id = (opportunity).id AND q.requested_at >= (opportunity).stage_entered_at) b(since))
           END;
END;
COMMENT ON FUNCTION crm.opportunity_blocked_since(crm.opportunity) IS
'Since when an opportunity is blocked, from its reasons: the earliest deadline of its fired countdowns and dwell limits not met or cancelled, and of its refused stage changes asked for since its stage was entered; NULL when there is none or it is closed. What crm keeps in crm.opportunity.blocked_since';

CREATE FUNCTION crm.refresh_blocked(opportunity_id bigint) RETURNS void
    LANGUAGE plpgsql STRICT
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- The opportunity locked first, then its reasons read afresh: what a
    -- session changing them committed while this one waited is counted
    -- (read before, it would be lost).
    PERFORM FROM crm.opportunity o WHERE o.id = refresh_blocked.opportunity_id FOR NO KEY UPDATE;
    UPDATE crm.opportunity o SET blocked_since = crm.opportunity_blocked_since(o)
     WHERE o.id = refresh_blocked.opportunity_id
       AND o.blocked_since IS DISTINCT FROM crm.opportunity_blocked_since(o);
END
$$;
COMMENT ON FUNCTION crm.refresh_blocked(bigint) IS
'Sets crm.opportunity.blocked_since from the opportunity''s reasons (crm.opportunity_blocked_since()) after one of them started or ended';

-- A stage entered (the deal moved on, back, or closed) resolves its
-- refused requests, and a closed deal is blocked no more.  After the
-- stage trigger, which sets stage_entered_at and status; only for a deal
-- that is blocked.  The dwell limits of the stage left are cancelled after
-- the statement (crm.opportunity_stage_changed()): crm.blocking_changed()
-- sees to them.
CREATE FUNCTION crm.opportunity_stage_left() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    NEW.blocked_since := crm.opportunity_blocked_since(NEW);
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION crm.opportunity_stage_left() IS
'Trigger: a blocked opportunity that changes stage is blocked now only by its fired timers (those of the stage left are cancelled after the statement) and by nothing refused before, nor at all once closed';
CREATE TRIGGER opportunity_stage_left BEFORE UPDATE ON crm.opportunity
    FOR EACH ROW WHEN (OLD.blocked_since IS NOT NULL AND OLD.stage IS DISTINCT FROM NEW.stage)
    EXECUTE FUNCTION crm.opportunity_stage_left();

-- A refused request added or removed; a fired timer met, cancelled or
-- deleted (its rule was); either table emptied.
CREATE FUNCTION crm.blocking_changed() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF crm.restoring() THEN
        RETURN NULL;
    ELSIF TG_LEVEL = 'STATEMENT' THEN
        UPDATE crm.opportunity o SET blocked_since = crm.opportunity_blocked_since(o)
         WHERE o.blocked_since IS NOT NULL AND o.blocked_since IS DISTINCT FROM crm.opportunity_blocked_since(o);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM crm.refresh_blocked(OLD.opportunity_id);
    ELSE
        PERFORM crm.refresh_blocked(NEW.opportunity_id);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.blocking_changed() IS
'Trigger: a refused stage change recorded or deleted, a fired timer met, cancelled or deleted, or either table truncated: the opportunities concerned are counted blocked again (crm.opportunity.blocked_since)';
CREATE TRIGGER stage_request_blocks AFTER INSERT OR DELETE ON crm.stage_request
    FOR EACH ROW EXECUTE FUNCTION crm.blocking_changed();
CREATE TRIGGER stage_request_emptied AFTER TRUNCATE ON crm.stage_request
    FOR EACH STATEMENT EXECUTE FUNCTION crm.blocking_changed();
CREATE TRIGGER opportunity_timer_ended AFTER UPDATE ON crm.opportunity_timer
    FOR EACH ROW WHEN (OLD.met_at IS NULL AND OLD.fired_at IS NOT NULL AND OLD.cancelled_at IS NULL
                       AND (NEW.met_at IS NOT NULL OR NEW.cancelled_at IS NOT NULL))
    EXECUTE FUNCTION crm.blocking_changed();
CREATE TRIGGER opportunity_timer_deleted AFTER DELETE ON crm.opportunity_timer
    FOR EACH ROW WHEN (OLD.met_at IS NULL AND OLD.fired_at IS NOT NULL AND OLD.cancelled_at IS NULL)
    EXECUTE FUNCTION crm.blocking_changed();
CREATE TRIGGER opportunity_timer_emptied AFTER TRUNCATE ON crm.opportunity_timer
    FOR EACH STATEMENT EXECUTE FUNCTION crm.blocking_changed();

-- The blocked deals of a team by how long, and the counts per team and
-- per stage, from this index alone.
CREATE INDEX opportunity_blocked_idx ON crm.opportunity (team, blocked_since) INCLUDE (pipeline, stage)
    WHERE blocked_since IS NOT NULL AND status = 'open';

CREATE VIEW crm.blocked_opportunity AS
SELECT o.id AS opportunity_id, o.team, o.owner, o.pipeline, o.stage, b.reason, b.waits_for, b.blocked_since,
       pg_catalog.now() - b.blocked_since AS blocked_for
  FROM crm.opportunity o
 CROSS JOIN LATERAL (
        SELECT CASE WHEN t.dwell THEN 'dwell_limit' ELSE 'countdown' END, t.waits_for, t.due_at
          FROM crm.opportunity_timer t
         WHERE t.opportunity_id = o.id AND t.met_at IS NULL AND t.fired_at IS NOT NULL AND t.cancelled_at IS NULL
        UNION ALL
        SELECT 'refused_change', q.to_stage || ': ' || q.missing, q.requested_at
          FROM crm.stage_request q
         WHERE q.opportunity_id = o.id AND q.requested_at >= o.stage_entered_at) b(reason, waits_for, blocked_since)
 WHERE o.blocked_since IS NOT NULL AND o.status = 'open';
COMMENT ON VIEW crm.blocked_opportunity IS
'The war room''s list: each open opportunity that is blocked, and why: a dwell limit past (dwell_limit), a countdown run out (countdown), or a refused stage change not resolved by a later move (refused_change); one row per reason, with what it waits for and since when. Team, owner and stage are the deal''s now (a countdown may have started stages before)';
COMMENT ON COLUMN crm.blocked_opportunity.opportunity_id IS 'The opportunity (crm.opportunity.id)';
COMMENT ON COLUMN crm.blocked_opportunity.team IS 'Its team (crm.team.code)';
COMMENT ON COLUMN crm.blocked_opportunity.owner IS 'Its owner (crm.rep.login)';
COMMENT ON COLUMN crm.blocked_opportunity.pipeline IS 'Its pipeline';
COMMENT ON COLUMN crm.blocked_opportunity.stage IS 'The stage it is in now';
COMMENT ON COLUMN crm.blocked_opportunity.reason IS 'dwell_limit, countdown or refused_change';
COMMENT ON COLUMN crm.blocked_opportunity.waits_for IS 'What would unblock it: the activity or evidence kind a timer waits for, or the stage asked for and what it is missing';
COMMENT ON COLUMN crm.blocked_opportunity.blocked_since IS 'Since when: the timer''s deadline, or when the refused change was asked for';
COMMENT ON COLUMN crm.blocked_opportunity.blocked_for IS 'now() - blocked_since';

CREATE VIEW crm.blocked_by_team AS
SELECT o.team, count(*) AS blocked, pg_catalog.avg(pg_catalog.now() - o.blocked_since) AS avg_blocked_for,
       pg_catalog.now() - min(o.blocked_since) AS longest_blocked_for
  FROM crm.opportunity o
 WHERE o.blocked_since IS NOT NULL AND o.status = 'open'
 GROUP BY o.team;
COMMENT ON VIEW crm.blocked_by_team IS 'Per team: opportunities blocked now, and how long they have been blocked on average and at most (an opportunity blocked for several reasons counts once, by its longest)';
COMMENT ON COLUMN crm.blocked_by_team.team IS 'The team (crm.team.code); NULL for opportunities without one';
COMMENT ON COLUMN crm.blocked_by_team.blocked IS 'Open opportunities of the team blocked now';
COMMENT ON COLUMN crm.blocked_by_team.avg_blocked_for IS 'Average time they have been blocked';
COMMENT ON COLUMN crm.blocked_by_team.longest_blocked_for IS 'The longest any of them has been blocked';

CREATE VIEW crm.blocking_stages AS
SELECT s.pipeline, s.stage, s.blocked, s.rank
  FROM (SELECT o.pipeline, o.stage, count(*) AS blocked, rank() OVER (ORDER BY count(*) DESC) AS rank
          FROM crm.opportunity o
         WHERE o.blocked_since IS NOT NULL AND o.status = 'open'
         GROUP BY o.pipeline, o.stage) s
 WHERE s.rank <= 3;
COMMENT ON VIEW crm.blocking_stages IS 'The top 3 stages by opportunities blocked in them now (ties share a rank, so there may be more rows)';
COMMENT ON COLUMN crm.blocking_stages.pipeline IS 'The pipeline of the stage';
COMMENT ON COLUMN crm.blocking_stages.stage IS 'The stage';
COMMENT ON COLUMN crm.blocking_stages.blocked IS 'Open opportunities blocked in it now';
COMMENT ON COLUMN crm.blocking_stages.rank IS '1 for the stage with most; ties share a rank';

------------------------------------------------------------------------------
-- The metric: stage upgrades backed by evidence (stage_upgrade_verified)
------------------------------------------------------------------------------

-- 1.0 defined it in 17_reports.sql with nothing measured for stage
-- changes; it now counts them.
CREATE OR REPLACE VIEW crm.penetration_rates AS
WITH grains(grain) AS (VALUES ('day'), ('week'), ('month')),
-- The leads of migrated contacts are no leads to answer: left out.
first_lead AS (SELECT min(l.created_at) AS at FROM crm.lead l WHERE NOT crm.lead_is_migrated_customer(l)),
-- From the first lead, but never before the floor crm.lead's CHECK holds
-- to: a row from before it (restored from an old dump, written with the
-- constraint dropped) cannot make the series run without end.  Periods
-- are days, weeks and months of the business time zone: p is its local
-- time, starts and ends the instants that bound the period.
periods AS (
    SELECT g.grain, p::date AS period_start,
           p AT TIME ZONE crm.business_time_zone() AS starts,
           (p + ('1 ' || g.grain)::interval) AT TIME ZONE crm.business_time_zone() AS ends
      FROM grains g, first_lead f,
           LATERAL generate_series(date_trunc(g.grain, greatest(f.at, '1970-01-01 00:00:00+00') AT TIME ZONE crm.business_time_zone()),
                                   date_trunc(g.grain, pg_catalog.now() AT TIME ZONE crm.business_time_zone()),
                                   ('1 ' || g.grain)::interval) p
     WHERE f.at IS NOT NULL
),
assigned AS (
    -- A lead counts once its 24 hours are over, or earlier if assigned.
    SELECT p.grain, p.period_start,
           count(*) FILTER (WHERE l.assigned_at <= l.created_at + interval '24 hours') AS numerator,
           count(l.id) AS denominator
      FROM periods p LEFT JOIN crm.lead l
        ON l.created_at >= p.starts AND l.created_at < p.ends
       AND (l.assigned_at IS NOT NULL OR l.created_at <= pg_catalog.now() - interval '24 hours')
       AND NOT crm.lead_is_migrated_customer(l)
     GROUP BY p.grain, p.period_start
),
upgrades AS (
    -- Stage upgrades (forward moves) in the period, and those the stage's
    -- action package backed (crm.stage_history.verified).
    SELECT p.grain, p.period_start,
           count(*) FILTER (WHERE h.verified) AS numerator,
           count(h.id) AS denominator
      FROM periods p LEFT JOIN crm.stage_history h
        ON h.direction = 'forward' AND h.changed_at >= p.starts AND h.changed_at < p.ends
     GROUP BY p.grain, p.period_start
),
measured AS (
    SELECT a.period_start, a.grain, 'lead_assigned_24h'::text AS metric, a.numerator, a.denominator, 0.95 AS target
      FROM assigned a
    UNION ALL
    SELECT u.period_start, u.grain, 'stage_upgrade_verified', u.numerator, u.denominator, 0.80
      FROM upgrades u
    UNION ALL
    -- Cross-system alerts arrive with their own issue; until then their
    -- periods are there, with nothing measured.
    SELECT p.period_start, p.grain, m.metric, 0, 0, m.target
      FROM periods p, (VALUES ('alert_closed_72h', 0.90)) m(metric, target)
)
SELECT m.period_start, m.grain, m.metric, m.numerator::bigint, m.denominator::bigint,
       round(m.numerator::numeric / nullif(m.denominator, 0), 4) AS rate,
       m.target::numeric AS target,
       CASE WHEN m.denominator > 0 THEN m.numerator::numeric / m.denominator >= m.target END AS meets_target
  FROM measured m;
COMMENT ON VIEW crm.penetration_rates IS
'BI: per day, week and month (of the business time zone, crm.business_time_zone()) since the first lead, the three penetration rates with their targets; a metric with nothing to measure has rate and meets_target NULL. stage_upgrade_verified: forward stage moves (crm.stage_history) backed by their stage''s action package, over all forward moves; by team and rep in crm.stage_upgrade_rates';
COMMENT ON COLUMN crm.penetration_rates.period_start IS 'First day of the period in the business time zone (crm.business_time_zone()): a Monday for weeks, the 1st for months';
COMMENT ON COLUMN crm.penetration_rates.grain IS 'day, week or month';
COMMENT ON COLUMN crm.penetration_rates.metric IS 'lead_assigned_24h, stage_upgrade_verified or alert_closed_72h';
COMMENT ON COLUMN crm.penetration_rates.numerator IS 'Cases that met the metric in the period';
COMMENT ON COLUMN crm.penetration_rates.denominator IS 'Cases measured in the period; 0: nothing to measure';
COMMENT ON COLUMN crm.penetration_rates.rate IS 'numerator / denominator as a fraction from 0 to 1 (0.95 is 95 %), rounded to 4 places; NULL when the denominator is 0';
COMMENT ON COLUMN crm.penetration_rates.target IS 'The metric''s target, a fraction from 0 to 1';
COMMENT ON COLUMN crm.penetration_rates.meets_target IS 'rate >= target; NULL when the denominator is 0';

-- The same metric per team and rep (rep NULL: the whole team), for the
-- periods that had stage upgrades.
CREATE VIEW crm.stage_upgrade_rates AS
SELECT u.period_start, u.grain, u.team, u.rep, u.numerator, u.denominator,
       round(u.numerator::numeric / u.denominator, 4) AS rate, 0.80 AS target,
       u.numerator::numeric / u.denominator >= 0.80 AS meets_target
  FROM (SELECT date_trunc(g.grain, h.changed_at AT TIME ZONE crm.business_time_zone())::date AS period_start,
               g.grain, h.team, h.owner AS rep,
               count(*) FILTER (WHERE h.verified) AS numerator, count(*) AS denominator
          FROM crm.stage_history h CROSS JOIN (VALUES ('day'), ('week'), ('month')) g(grain)
         WHERE h.direction = 'forward'
         GROUP BY GROUPING SETS ((1, g.grain, h.team, h.owner), (1, g.grain, h.team))) u;
COMMENT ON VIEW crm.stage_upgrade_rates IS
'stage_upgrade_verified per team and rep: per day, week and month of the business time zone with forward stage moves, those backed by their stage''s action package over all of them; a row with rep NULL sums the team';
COMMENT ON COLUMN crm.stage_upgrade_rates.period_start IS 'First day of the period in the business time zone: a Monday for weeks, the 1st for months';
COMMENT ON COLUMN crm.stage_upgrade_rates.grain IS 'day, week or month';
COMMENT ON COLUMN crm.stage_upgrade_rates.team IS 'The opportunity''s team at the move (crm.stage_history.team)';
COMMENT ON COLUMN crm.stage_upgrade_rates.rep IS 'The opportunity''s owner at the move; NULL on the row that sums the team';
COMMENT ON COLUMN crm.stage_upgrade_rates.numerator IS 'Forward moves whose action package was complete (verified)';
COMMENT ON COLUMN crm.stage_upgrade_rates.denominator IS 'All forward moves (never 0: a period without any has no row)';
COMMENT ON COLUMN crm.stage_upgrade_rates.rate IS 'numerator / denominator as a fraction from 0 to 1, rounded to 4 places';
COMMENT ON COLUMN crm.stage_upgrade_rates.target IS 'The target of stage_upgrade_verified, 0.80';
COMMENT ON COLUMN crm.stage_upgrade_rates.meets_target IS 'rate >= target';

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
INSERT INTO crm.countdown_rule (code, starts_on, pipeline, stage, within, clock, waits_for, notify, shipped) VALUES
    ('quote_feedback', 'quote_sent', NULL, NULL, '72 hours', 'calendar', 'customer_feedback', '{owner,director}', true),
    ('medical_solution_demo', 'stage_entered', 'medical_devices', '方案确认', '72 hours', 'working', 'demo_notes', '{manager}', true),
    ('education_trial_feedback', 'stage_entered', 'education', '试听课完成', '48 hours', 'working', 'customer_feedback', '{manager}', true),
    ('saas_trial_training', 'stage_entered', 'saas', '免费试用激活', '120 hours', 'working', 'meeting', '{manager}', true),
    ('logistics_price_feedback', 'stage_entered', 'cross_border_logistics', '价格确认', '72 hours', 'working', 'customer_feedback', '{owner,manager}', true);
-- @end
