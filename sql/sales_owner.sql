-- A customer's owner: set when its first lead is assigned, so that a
-- known-customer rule (to_customer_owner, 老客户回原负责人) sends the next
-- lead back; when it moves (a reassignment before anyone worked the lead,
-- a rep who left) and when it stays (a rep who worked it, an absence).
-- And every lead that waits for assignment says why.
\set calendar owner_always
\i sql/include/sales_org.psql
INSERT INTO crm.rep (login, name, team, rotation) VALUES ('cai', '蔡青', 'east', 2);
CREATE FUNCTION call(id text, caller text) RETURNS crm.ingest_result LANGUAGE sql
RETURN crm.ingest('hotline_400', jsonb_build_object('call_id', id, 'caller', caller,
                                                   'call_start', '2025-06-02 10:00'));
CREATE FUNCTION customer_owner(caller text) RETURNS text LANGUAGE sql
RETURN (SELECT k.owner FROM crm.contact k JOIN crm.contact_point p ON p.contact_id = k.id
         WHERE p.value = crm.norm_phone(caller));

------------------------------------------------------------------------
-- Waiting leads say why
------------------------------------------------------------------------
-- no rule is active at all
SELECT owner FROM call('w1', '0571-8701 0001');
SELECT status, waiting_reason FROM crm.lead WHERE external_id = 'w1';
-- one rule is active, and it does not hold
INSERT INTO crm.assignment_rule (code, position, name, channels, team)
VALUES ('web_only', 10, '官网线索', '{website}', 'east');
SELECT owner FROM call('w2', '0571-8701 0002');
SELECT status, waiting_reason FROM crm.lead WHERE external_id = 'w2';
-- the sweep keeps the reason when the rules go away again
UPDATE crm.assignment_rule SET active = false;
SELECT leads_retried FROM crm.run_timeouts();
SELECT external_id, status, waiting_reason FROM crm.lead ORDER BY id;
DELETE FROM crm.assignment_rule;
TRUNCATE crm.lead CASCADE;

------------------------------------------------------------------------
-- A repeat caller goes back to the rep who has the customer
------------------------------------------------------------------------
INSERT INTO crm.assignment_rule (code, position, name, to_customer_owner, team) VALUES
    ('known_customers', 10, '老客户回原负责人', true, 'east');
INSERT INTO crm.assignment_rule (code, position, name, channels, team) VALUES
    ('hotline', 20, '400热线', '{hotline_400}', 'east'),
    ('website', 30, '官网', '{website}', 'east');
-- three calls from one number: one customer, one rep
SELECT outcome, owner FROM call('c1', '400-820-8820');
SELECT outcome, owner FROM call('c2', '400 820 8820');
SELECT outcome, owner FROM call('c3', '4008208820');
SELECT count(DISTINCT owner) AS reps, count(DISTINCT contact_id) AS customers,
       array_agg(assignment_rule ORDER BY id) AS rules
  FROM crm.lead WHERE external_id IN ('c1', 'c2', 'c3');
SELECT customer_owner('4008208820') = (SELECT owner FROM crm.lead WHERE external_id = 'c1') AS owner_set;
-- a company's first lead gives the account an owner too; a set one stays
SELECT owner AS web_rep FROM crm.ingest('website', '{"id": "w-a", "name": "黄磊", "phone": "13905710031",
  "company": "杭州明德仪器有限公司", "submitted_at": "2025-06-02"}') \gset
SELECT owner = :'web_rep' AS account_owner_set FROM crm.account WHERE name = '杭州明德仪器有限公司';
INSERT INTO crm.account (name, region_code, owner) VALUES ('宁波海纳机械制造有限公司', '330200', 'cai');
SELECT owner FROM crm.ingest('website', '{"id": "w-b", "name": "周洁", "phone": "13905710032",
  "company": "宁波海纳机械有限公司", "submitted_at": "2025-06-02"}');
SELECT a.owner AS account_owner, k.owner AS contact_owner
  FROM crm.lead l JOIN crm.account a ON a.id = l.account_id JOIN crm.contact k ON k.id = l.contact_id
 WHERE l.external_id = 'w-b';

------------------------------------------------------------------------
-- Taken back before anyone worked it: the customer follows the lead
------------------------------------------------------------------------
UPDATE crm.rep SET rotation = CASE login WHEN 'ann' THEN 0 ELSE 10 END;
SELECT owner FROM call('d1', '0571-8702 0001');
SELECT customer_owner('0571-8702 0001') AS before_absence;
INSERT INTO crm.rep_absence (rep, during, reason) VALUES ('ann', daterange(current_date - 1, current_date + 2), '年假');
SELECT crm.reassign_stranded() > 0 AS reassigned;
SELECT owner, previous_owner FROM crm.lead WHERE external_id = 'd1';
SELECT customer_owner('0571-8702 0001') AS after_reassignment;
-- back from leave, ann does not get the customer back: the next call goes
-- to the rep it followed
DELETE FROM crm.rep_absence;
SELECT owner FROM call('d2', '0571-8702 0001');

------------------------------------------------------------------------
-- A rep who worked the customer keeps it through an absence ...
------------------------------------------------------------------------
SELECT owner AS worker FROM crm.lead WHERE external_id = 'c1' \gset
INSERT INTO crm.lead_activity (lead_id, kind, actor)
SELECT id, 'first_contact', owner FROM crm.lead WHERE external_id = 'c1';
INSERT INTO crm.rep_absence (rep, during, reason) VALUES (:'worker', daterange(current_date - 1, current_date + 2), '培训');
SELECT owner <> :'worker' AS to_the_team FROM call('c4', '400-820-8820');
SELECT crm.reassign_stranded() >= 0 AS swept;
SELECT customer_owner('4008208820') = :'worker' AS kept_by_worker;
DELETE FROM crm.rep_absence;
SELECT owner = :'worker' AS back_to_worker FROM call('c5', '400-820-8820');
-- ... but not when it leaves: the next lead's rep takes the customer over
UPDATE crm.rep SET active = false WHERE login = :'worker';
SELECT owner AS successor FROM call('c6', '400-820-8820') \gset
SELECT :'successor' <> :'worker' AS another_rep, customer_owner('4008208820') = :'successor' AS taken_over;
UPDATE crm.rep SET active = true WHERE login = :'worker';
SELECT owner = :'successor' AS stays_with_successor FROM call('c7', '400-820-8820');

------------------------------------------------------------------------
-- Many calls of one number in one COPY: one customer, one rep
------------------------------------------------------------------------
INSERT INTO crm.lead_inbox (channel, payload)
SELECT 'hotline_400', jsonb_build_object('call_id', 'b' || n, 'caller', '0571-8703 0001',
                                         'call_start', '2025-06-03 10:00')
  FROM generate_series(1, 3) n;
SELECT count(*) AS leads, count(DISTINCT owner) AS reps FROM crm.lead WHERE external_id LIKE 'b_';
SELECT customer_owner('0571-8703 0001') = (SELECT min(owner) FROM crm.lead WHERE external_id = 'b1') AS owner_set;

-- every lead waiting for assignment says why
SELECT count(*) AS waiting_without_reason FROM crm.lead WHERE status = 'scored' AND waiting_reason IS NULL;
DROP FUNCTION call(text, text);
DROP FUNCTION customer_owner(text);
