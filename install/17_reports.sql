------------------------------------------------------------------------------
-- Reports: lead timeliness and the penetration rates
------------------------------------------------------------------------------

-- Response time counts working time on the team calendar: a lead that
-- arrived on Friday night and was called at 09:05 on Monday took 5 minutes.
-- A lead not contacted yet counts as slow as it is so far.  Weeks are
-- those of the business time zone, whatever the session's TimeZone.
CREATE VIEW crm.lead_timeliness AS
WITH handled AS (
    SELECT date_trunc('week', l.assigned_at AT TIME ZONE crm.business_time_zone())::date AS week_start, l.owner AS rep, l.id,
           make_interval(secs => crm.working_seconds_at(t.calendar, coalesce(l.first_response_at, pg_catalog.now()))
                                 - crm.working_seconds_at(t.calendar, l.assigned_at)) AS response
      FROM crm.lead l JOIN crm.team t ON t.code = l.team
     WHERE l.assigned_at IS NOT NULL AND l.owner IS NOT NULL
), per_rep AS (
    SELECT h.week_start, h.rep, count(*) AS leads,
           count(*) FILTER (WHERE l.first_response_at IS NOT NULL) AS contacted,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY h.response) AS median_response,
           percentile_cont(0.9) WITHIN GROUP (ORDER BY h.response) AS p90_response
      FROM handled h JOIN crm.lead l ON l.id = h.id
     GROUP BY h.week_start, h.rep
)
SELECT p.week_start, p.rep, p.leads, p.contacted, p.median_response, p.p90_response,
       coalesce(b.breaches, 0) AS breaches,
       rank() OVER (PARTITION BY p.week_start ORDER BY p.p90_response DESC, p.median_response DESC) AS slowness_rank
  FROM per_rep p
  -- a breach counts against whoever owned the lead then, in the week of its deadline
  LEFT JOIN (SELECT s.owner AS rep, date_trunc('week', s.due_at AT TIME ZONE crm.business_time_zone())::date AS week_start,
                    count(*) AS breaches
               FROM crm.sla_timer s WHERE s.breached_at IS NOT NULL GROUP BY 1, 2) b
    ON b.rep = p.rep AND b.week_start = p.week_start;
COMMENT ON VIEW crm.lead_timeliness IS
'Per rep and week of assignment (Monday, in the business time zone): leads, contacted, median and p90 working-time response, SLA breaches (against the owner at the time), and rank by slowness (slowness_rank <= 3: the three slowest reps of the week)';
COMMENT ON COLUMN crm.lead_timeliness.week_start IS 'Monday of the week the leads were assigned in, in the business time zone (crm.business_time_zone())';
COMMENT ON COLUMN crm.lead_timeliness.rep IS 'Login of the owner (crm.rep.login)';
COMMENT ON COLUMN crm.lead_timeliness.leads IS 'Leads assigned to the rep that week';
COMMENT ON COLUMN crm.lead_timeliness.contacted IS 'Of those, the leads with a first contact so far';
COMMENT ON COLUMN crm.lead_timeliness.median_response IS 'Median time from assignment to first contact, in working time of the team calendar; a lead not contacted counts as slow as it is so far';
COMMENT ON COLUMN crm.lead_timeliness.p90_response IS '90th percentile of the same response times';
COMMENT ON COLUMN crm.lead_timeliness.breaches IS 'SLA timers of the rep breached with a deadline in that week';
COMMENT ON COLUMN crm.lead_timeliness.slowness_rank IS '1 is the slowest rep of the week by p90, then median response; ties share a rank';

CREATE VIEW crm.penetration_rates AS
WITH grains(grain) AS (VALUES ('day'), ('week'), ('month')),
first_lead AS (SELECT min(l.created_at) AS at FROM crm.lead l),
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
     GROUP BY p.grain, p.period_start
),
measured AS (
    SELECT a.period_start, a.grain, 'lead_assigned_24h'::text AS metric, a.numerator, a.denominator, 0.95 AS target
      FROM assigned a
    UNION ALL
    -- Stage changes and cross-system alerts arrive with their own issues;
    -- until then their periods are there, with nothing measured.
    SELECT p.period_start, p.grain, m.metric, 0, 0, m.target
      FROM periods p, (VALUES ('stage_upgrade_verified', 0.80), ('alert_closed_72h', 0.90)) m(metric, target)
)
SELECT m.period_start, m.grain, m.metric, m.numerator::bigint, m.denominator::bigint,
       round(m.numerator::numeric / nullif(m.denominator, 0), 4) AS rate,
       m.target::numeric AS target,
       CASE WHEN m.denominator > 0 THEN m.numerator::numeric / m.denominator >= m.target END AS meets_target
  FROM measured m;
COMMENT ON VIEW crm.penetration_rates IS
'BI: per day, week and month (of the business time zone, crm.business_time_zone()) since the first lead, the three penetration rates with their targets; a metric with nothing to measure has rate and meets_target NULL';
COMMENT ON COLUMN crm.penetration_rates.period_start IS 'First day of the period in the business time zone (crm.business_time_zone()): a Monday for weeks, the 1st for months';
COMMENT ON COLUMN crm.penetration_rates.grain IS 'day, week or month';
COMMENT ON COLUMN crm.penetration_rates.metric IS 'lead_assigned_24h, stage_upgrade_verified or alert_closed_72h';
COMMENT ON COLUMN crm.penetration_rates.numerator IS 'Cases that met the metric in the period';
COMMENT ON COLUMN crm.penetration_rates.denominator IS 'Cases measured in the period; 0: nothing to measure';
COMMENT ON COLUMN crm.penetration_rates.rate IS 'numerator / denominator as a fraction from 0 to 1 (0.95 is 95 %), rounded to 4 places; NULL when the denominator is 0';
COMMENT ON COLUMN crm.penetration_rates.target IS 'The metric''s target, a fraction from 0 to 1';
COMMENT ON COLUMN crm.penetration_rates.meets_target IS 'rate >= target; NULL when the denominator is 0';
-- @since 1.1
-- The leads of migrated contacts are no leads to answer: left out.
CREATE OR REPLACE VIEW crm.penetration_rates AS
WITH grains(grain) AS (VALUES ('day'), ('week'), ('month')),
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
measured AS (
    SELECT a.period_start, a.grain, 'lead_assigned_24h'::text AS metric, a.numerator, a.denominator, 0.95 AS target
      FROM assigned a
    UNION ALL
    -- Stage changes and cross-system alerts arrive with their own issues;
    -- until then their periods are there, with nothing measured.
    SELECT p.period_start, p.grain, m.metric, 0, 0, m.target
      FROM periods p, (VALUES ('stage_upgrade_verified', 0.80), ('alert_closed_72h', 0.90)) m(metric, target)
)
SELECT m.period_start, m.grain, m.metric, m.numerator::bigint, m.denominator::bigint,
       round(m.numerator::numeric / nullif(m.denominator, 0), 4) AS rate,
       m.target::numeric AS target,
       CASE WHEN m.denominator > 0 THEN m.numerator::numeric / m.denominator >= m.target END AS meets_target
  FROM measured m;
-- @end
