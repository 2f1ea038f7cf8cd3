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

-- crm.penetration_rates is defined in 20_opportunities.sql since 1.1: its
-- stage_upgrade_verified metric reads crm.stage_history.
