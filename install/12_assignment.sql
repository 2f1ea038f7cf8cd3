------------------------------------------------------------------------------
-- Assignment: ordered rules, team strategies, capacity and absences
------------------------------------------------------------------------------

CREATE TABLE crm.assignment_rule (
    code        text PRIMARY KEY CONSTRAINT assignment_rule_code_format CHECK (code ~ '^[a-z][a-z0-9_]{0,62}$'),
    position    integer NOT NULL CONSTRAINT assignment_rule_position_once UNIQUE DEFERRABLE INITIALLY IMMEDIATE,
    name        text NOT NULL,
    active      boolean NOT NULL DEFAULT true,
    channels    text[],
    region_prefixes text[] CONSTRAINT assignment_rule_region_prefixes CHECK (
                pg_catalog.array_to_string(region_prefixes, ',') ~ '^([0-9]{2}([0-9]{2}){0,2})(,[0-9]{2}([0-9]{2}){0,2})*$'),
    product_lines text[],
    min_score   integer,
    max_score   integer,
    to_customer_owner boolean NOT NULL DEFAULT false,
    team        text NOT NULL REFERENCES crm.team (code) ON UPDATE CASCADE,
    strategy    text NOT NULL DEFAULT 'round_robin'
                CONSTRAINT assignment_rule_strategy CHECK (strategy IN ('round_robin', 'least_loaded')),
    idle_alarm_after interval NOT NULL DEFAULT '2 hours'
                CONSTRAINT assignment_rule_idle_positive CHECK (idle_alarm_after > interval '0'),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_fired_at timestamptz,
    CONSTRAINT assignment_rule_score_range CHECK (min_score <= max_score)
);
COMMENT ON TABLE crm.assignment_rule IS
'Assignment rules, tried in position order; the first whose conditions all hold (NULL: any) assigns the lead to a rep of its team';
COMMENT ON COLUMN crm.assignment_rule.region_prefixes IS 'Region code prefixes: 33 is Zhejiang, 3301 Hangzhou';
COMMENT ON COLUMN crm.assignment_rule.to_customer_owner IS
'The rule holds for leads whose contact or account has an owner, and gives the lead to that owner when the owner is an available rep; otherwise to the team';
COMMENT ON COLUMN crm.assignment_rule.strategy IS
'round_robin: the available rep whose turn it is; least_loaded: the available rep with the fewest open leads';
COMMENT ON COLUMN crm.assignment_rule.idle_alarm_after IS
'A rule that has not assigned for this long while leads it matches wait raises the rule_idle alarm';
SELECT pg_catalog.pg_extension_config_dump('crm.assignment_rule', '');

ALTER TABLE crm.rep ADD COLUMN rotation bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN crm.rep.rotation IS 'Round robin: the rep with the lowest value is next; set past the team''s highest at each assignment';

CREATE FUNCTION crm.assign_leads(lead_ids bigint[], reroute boolean DEFAULT false) RETURNS integer
    AS 'MODULE_PATHNAME', 'crm_assign_leads'
    LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION crm.assign_leads(bigint[], boolean) IS
'Assigns the given leads that wait in state scored (and with reroute, re-routes assigned leads not yet contacted whose first matching rule changed); returns how many were assigned. Teams are locked, so capacities and turns hold under concurrency';

CREATE FUNCTION crm.reassign_stranded(older_than interval DEFAULT '0', only_team text DEFAULT NULL)
    RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    unscored bigint[];
    taken_back bigint[];
    stranded bigint[];
BEGIN
    IF only_team IS NOT NULL AND NOT EXISTS (SELECT FROM crm.team t WHERE t.code = only_team) THEN
        RAISE EXCEPTION 'unknown team %', crm.quote_value(only_team)
            USING ERRCODE = 'undefined_object', HINT = 'Teams are listed in crm.team.';
    END IF;
    -- leads nobody scored: scoring them sets assignment off
    unscored := ARRAY(SELECT l.id FROM crm.lead l WHERE l.status = 'new'
                         AND l.status_changed_at <= pg_catalog.now() - older_than);
    PERFORM crm.rescore(unscored);
    -- leads held by a rep who is inactive or absent and never contacted
    -- them go back through assignment (the lead trigger assigns them)
    WITH gone AS (
        SELECT l.id FROM crm.lead l JOIN crm.rep r ON r.login = l.owner
          JOIN crm.team t ON t.code = r.team JOIN crm.calendar c ON c.code = t.calendar
         WHERE l.status = 'assigned' AND l.first_response_at IS NULL
           AND l.status_changed_at <= pg_catalog.now() - older_than
           AND (only_team IS NULL OR r.team = only_team)
           AND (NOT r.active OR NOT crm.rep_is_present(r.login, (pg_catalog.now() AT TIME ZONE c.time_zone)::date))
         ORDER BY l.id FOR UPDATE OF l
    ), moved AS (
        UPDATE crm.lead l SET status = 'scored', previous_owner = l.owner, owner = NULL
          FROM gone WHERE l.id = gone.id
        RETURNING l.id
    )
    SELECT array_agg(id) INTO taken_back FROM moved;
    stranded := ARRAY(SELECT l.id FROM crm.lead l
                       WHERE l.status = 'scored' AND l.status_changed_at <= pg_catalog.now() - older_than
                         AND (only_team IS NULL OR l.team = only_team OR l.team IS NULL));
    PERFORM crm.assign_leads(stranded, false);
    RETURN (SELECT count(*) FROM crm.lead l
             WHERE l.id = ANY (unscored || coalesce(taken_back, '{}') || stranded)
               AND l.status = 'assigned' AND l.assigned_at = pg_catalog.now());
END
$$;
COMMENT ON FUNCTION crm.reassign_stranded(interval, text) IS
'Bulk reassignment: scores leads left in state new, takes back uncontacted leads from inactive or absent reps, and runs assignment over every lead waiting in state scored; returns how many were assigned';
