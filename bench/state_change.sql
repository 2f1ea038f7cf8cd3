-- bench/state_change.sql: one lead's state change, as a rep's app makes it
-- (pgbench script for bench/transition_run): contacted -> qualified, or
-- back.  Each client keeps to its own half of the leads.
\set n random(1, 5000)
UPDATE crm.lead SET status = CASE status WHEN 'contacted' THEN 'qualified' ELSE 'contacted' END
 WHERE channel = 'website' AND external_id = 'change-' || (:n * 2 - :client_id);
