------------------------------------------------------------------------------
-- Scoring: rules as data, behaviour events, and a naive Bayes model learned
-- from closed leads
------------------------------------------------------------------------------

CREATE TABLE crm.score_rule (
    id          serial PRIMARY KEY,
    factor      text NOT NULL CONSTRAINT score_rule_factor CHECK (factor IN
                ('channel', 'product_line', 'region', 'title', 'field', 'event')),
    pattern     text NOT NULL CONSTRAINT score_rule_pattern_named CHECK (pg_catalog.btrim(pattern) OPERATOR(pg_catalog.<>) ''),
    points      integer NOT NULL CONSTRAINT score_rule_points_range CHECK (points BETWEEN -100 AND 100),
    half_life   interval CONSTRAINT score_rule_half_life CHECK ((factor = 'event') = (half_life IS NOT NULL)
                                                                AND half_life > interval '0'),
    note        text,
    shipped     boolean NOT NULL DEFAULT false,
    CONSTRAINT score_rule_once UNIQUE (factor, pattern, shipped),
    CONSTRAINT score_rule_field_known CHECK (factor <> 'field' OR pattern IN
        ('person_name', 'company_name', 'phone', 'email', 'uscc', 'region_code', 'title', 'product_line', 'wechat_openid')),
    CONSTRAINT score_rule_region_code CHECK (factor <> 'region' OR pattern ~ '^[0-9]{2}([0-9]{2}){0,2}$')
);
COMMENT ON TABLE crm.score_rule IS
'Points for a lead (a rule of your own replaces a shipped one of the same factor and pattern): channel, product_line (exact), region (code prefix; the longest wins), title (substring; the best wins), field (present: the points add up), event (each behaviour event of that kind, halved every half_life). The score is the sum, clamped to 0-100';
SELECT pg_catalog.pg_extension_config_dump('crm.score_rule', 'WHERE NOT shipped');
SELECT pg_catalog.pg_extension_config_dump('crm.score_rule_id_seq', '');

INSERT INTO crm.score_rule (factor, pattern, points, half_life, note, shipped) SELECT *, true FROM (VALUES
    ('channel', 'hotline_400', 20, NULL, '主动来电'),
    ('channel', 'trade_show', 15, NULL, '展会面对面'),
    ('channel', 'jinshuju_form', 12, NULL, NULL),
    ('channel', 'baidu_sem', 10, NULL, NULL),
    ('channel', 'website', 10, NULL, NULL),
    ('channel', 'wechat_menu', 8, NULL, NULL),
    ('field', 'phone', 10, NULL, '能联系上'),
    ('field', 'company_name', 10, NULL, NULL),
    ('field', 'email', 5, NULL, NULL),
    ('field', 'title', 5, NULL, NULL),
    ('field', 'uscc', 5, NULL, NULL),
    ('title', '院长', 25, NULL, '决策人'),
    ('title', '总经理', 25, NULL, '决策人'),
    ('title', '董事长', 25, NULL, '决策人'),
    ('title', '总监', 20, NULL, NULL),
    ('title', '主任', 20, NULL, '科室主任'),
    ('title', '采购', 15, NULL, '采购经理、采购主管'),
    ('title', '科长', 12, NULL, NULL),
    ('title', '经理', 10, NULL, NULL),
    ('title', '工程师', 5, NULL, NULL),
    ('event', 'page_view', 2, '7 days', '设备型号页浏览'),
    ('event', 'doc_download', 8, '14 days', '资料下载'),
    ('event', 'demo_booked', 30, '30 days'::interval, '预约演示')) AS r;
CREATE TRIGGER score_rule_shipped_guard BEFORE UPDATE OR DELETE ON crm.score_rule
    FOR EACH ROW EXECUTE FUNCTION crm.guard_shipped_row('score rule for', 'pattern',
        'Add a rule of your own with the same factor and pattern: it replaces the shipped one.');
CREATE TRIGGER score_rule_shipped_set BEFORE INSERT OR UPDATE OF shipped ON crm.score_rule
    FOR EACH ROW WHEN (NEW.shipped) EXECUTE FUNCTION crm.guard_shipped_mark();

CREATE TABLE crm.lead_event (
    id          bigserial PRIMARY KEY,
    lead_id     bigint NOT NULL REFERENCES crm.lead (id) ON DELETE CASCADE,
    kind        text NOT NULL CONSTRAINT lead_event_kind_format CHECK (kind ~ '^[a-z][a-z0-9_]{0,62}$'),
    detail      jsonb,
    occurred_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
SELECT pg_catalog.pg_extension_config_dump('crm.lead_event', '');
SELECT pg_catalog.pg_extension_config_dump('crm.lead_event_id_seq', '');
CREATE INDEX lead_event_lead_idx ON crm.lead_event (lead_id, occurred_at);
CREATE INDEX lead_event_occurred_at_idx ON crm.lead_event (occurred_at);
COMMENT ON TABLE crm.lead_event IS
'Behaviour of a lead: pages viewed, documents downloaded, demos booked; inserting one re-scores the lead';

-- Naive Bayes counts: how many closed leads had each feature, qualified
-- (won) or not (lost).  The row '*' counts all closed leads.
CREATE TABLE crm.win_stats (
    feature     text PRIMARY KEY,
    won         bigint NOT NULL DEFAULT 0 CONSTRAINT win_stats_won CHECK (won >= 0),
    lost        bigint NOT NULL DEFAULT 0 CONSTRAINT win_stats_lost CHECK (lost >= 0)
);
COMMENT ON TABLE crm.win_stats IS
'What the predictive score learned: qualified (won) and disqualified (lost) leads per feature, kept up to date in the same transaction as each close or reopen';
SELECT pg_catalog.pg_extension_config_dump('crm.win_stats', '');

-- Each backend keeps the model (rules and counts) in memory between calls;
-- a change to either table tells them all to read it again.
CREATE FUNCTION crm.score_model_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'crm_score_model_changed'
    LANGUAGE C;
COMMENT ON FUNCTION crm.score_model_changed() IS
'Trigger: the score rules or the win counts changed; every session reloads its scoring model (at commit, or at once in this session)';
CREATE TRIGGER score_rule_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.score_rule
    FOR EACH STATEMENT EXECUTE FUNCTION crm.score_model_changed();
CREATE TRIGGER win_stats_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON crm.win_stats
    FOR EACH STATEMENT EXECUTE FUNCTION crm.score_model_changed();

CREATE FUNCTION crm.lead_features(crm.lead) RETURNS text[]
    AS 'MODULE_PATHNAME', 'crm_lead_features'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.lead_features(crm.lead) IS
'The features the predictive score looks at, as feature=value: channel, product line, province, title class, e-mail, company, known customer';

CREATE FUNCTION crm.lead_score(lead crm.lead, event_points real DEFAULT 0,
                               OUT score integer, OUT win_probability real, OUT factors jsonb)
    AS 'MODULE_PATHNAME', 'crm_lead_score'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION crm.lead_score(crm.lead, real) IS
'Scores a lead as ingestion does: rule score (with event_points added), naive Bayes win probability, and the top three factors of each';

CREATE FUNCTION crm.event_points(lead_id bigint, at timestamptz DEFAULT pg_catalog.now()) RETURNS real
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
RETURN (SELECT coalesce(sum(r.points * pg_catalog.power(0.5,
                          extract(epoch FROM at - e.occurred_at) / extract(epoch FROM r.half_life))), 0)::real
          FROM crm.lead_event e JOIN crm.score_rule r ON r.factor = 'event' AND r.pattern = e.kind
         WHERE e.lead_id = event_points.lead_id AND e.occurred_at <= at);
COMMENT ON FUNCTION crm.event_points(bigint, timestamptz) IS
'Points of a lead''s behaviour events at a moment: each event''s points halved every half_life of its rule';

CREATE FUNCTION crm.rescore(lead_ids bigint[]) RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rescored bigint[];
BEGIN
    WITH open AS (
        SELECT l.id, s.score, s.win_probability, s.factors
          FROM crm.lead l, LATERAL crm.lead_score(l, crm.event_points(l.id)) s
         WHERE l.id = ANY (lead_ids) AND l.status NOT IN ('qualified', 'disqualified')
         ORDER BY l.id FOR UPDATE OF l
    ), scored AS (
        UPDATE crm.lead l
           SET score = open.score, win_probability = open.win_probability, score_factors = open.factors,
               scored_at = pg_catalog.now(),
               status = CASE l.status WHEN 'new' THEN 'scored' ELSE l.status END
          FROM open
         WHERE l.id = open.id
        RETURNING l.id
    )
    SELECT array_agg(id) INTO rescored FROM scored;
    -- What depends on the score runs again: a lead not yet contacted goes
    -- where its new score routes it.  A lead that just left 'new' was
    -- assigned by the lead trigger already.
    IF rescored IS NOT NULL THEN
        PERFORM crm.assign_leads(rescored, true);
    END IF;
    RETURN coalesce(array_length(rescored, 1), 0);
END
$$;
COMMENT ON FUNCTION crm.rescore(bigint[]) IS
'Re-scores open leads now (rules, events with decay, predictive model); a lead still waiting or not yet contacted is re-routed if its new score calls for another assignment rule';

CREATE FUNCTION crm.rescore_decayed(max_leads integer DEFAULT 100000) RETURNS integer
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
RETURN crm.rescore(ARRAY(
    SELECT DISTINCT e.lead_id FROM crm.lead_event e
      JOIN crm.lead l ON l.id = e.lead_id AND l.status NOT IN ('qualified', 'disqualified')
     WHERE e.occurred_at > pg_catalog.now() - interval '90 days'
     LIMIT max_leads));
COMMENT ON FUNCTION crm.rescore_decayed(integer) IS
'Hourly job: re-scores open leads with recent events, so that event points decay';

CREATE FUNCTION crm.lead_event_inserted() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM crm.rescore(ARRAY(SELECT DISTINCT e.lead_id FROM new_events e));
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.lead_event_inserted() IS 'Trigger: a lead with new behaviour events is re-scored';
-- A restore brings the scores with the leads (crm.restoring()).
CREATE TRIGGER lead_event_rescore AFTER INSERT ON crm.lead_event
    REFERENCING NEW TABLE AS new_events FOR EACH STATEMENT
    WHEN (NOT crm.restoring()) EXECUTE FUNCTION crm.lead_event_inserted();

-- Learning: closing a lead counts its features as won or lost; reopening
-- it takes them back.  In the closing transaction, so nothing is lost.
CREATE FUNCTION crm.outcome_deltas(reopened crm.lead[], closed crm.lead[],
                                   OUT feature text, OUT won bigint, OUT lost bigint)
    RETURNS SETOF record
    LANGUAGE sql STABLE
    SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT u.feature, sum(CASE WHEN (d.l).status = 'qualified' THEN d.sign ELSE 0 END),
           sum(CASE WHEN (d.l).status = 'disqualified' THEN d.sign ELSE 0 END)
      FROM (SELECT r, -1 FROM unnest(reopened) r UNION ALL SELECT c, 1 FROM unnest(closed) c) d(l, sign)
     CROSS JOIN LATERAL unnest(crm.lead_features(d.l) || '*'::text) u(feature)
     GROUP BY u.feature;
END;
COMMENT ON FUNCTION crm.outcome_deltas(crm.lead[], crm.lead[]) IS
'Internal to crm.learn_outcomes(): the change in won and lost counts per feature';

-- Counts never go below zero: a lead edited between its close and a reopen
-- may take back a feature it was not counted under.
CREATE FUNCTION crm.learn_outcomes(reopened crm.lead[], closed crm.lead[]) RETURNS void
    LANGUAGE sql
    SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    WITH d AS (SELECT * FROM crm.outcome_deltas(reopened, closed)),
         locked AS (SELECT w.feature FROM crm.win_stats w
                     WHERE w.feature IN (SELECT d.feature FROM d) ORDER BY w.feature FOR NO KEY UPDATE)
    UPDATE crm.win_stats w SET won = greatest(w.won + d.won, 0), lost = greatest(w.lost + d.lost, 0)
      FROM d JOIN locked k ON k.feature = d.feature
     WHERE w.feature = d.feature;
    INSERT INTO crm.win_stats AS w (feature, won, lost)
    SELECT d.feature, greatest(d.won, 0), greatest(d.lost, 0)
      FROM crm.outcome_deltas(reopened, closed) d
     WHERE NOT EXISTS (SELECT FROM crm.win_stats x WHERE x.feature = d.feature)
     ORDER BY d.feature
    ON CONFLICT (feature) DO UPDATE SET won = greatest(w.won + excluded.won, 0),
                                        lost = greatest(w.lost + excluded.lost, 0);
END;
COMMENT ON FUNCTION crm.learn_outcomes(crm.lead[], crm.lead[]) IS
'Updates crm.win_stats for leads closed (qualified: won, disqualified: lost) and for closed leads reopened';
