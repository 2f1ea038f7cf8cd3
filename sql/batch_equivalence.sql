-- A statement into crm.lead_inbox means what crm.ingest of its rows, one
-- after another in order, means.  Property test: random batches dense in
-- shared names (traditional, bracketed, spaced and Latin variants),
-- phones, e-mails, openids and companies (full, short and bracketed names,
-- with, without and with wrong credit codes), some rows repeating people
-- stored before the batch, a few repeated external ids with other bodies
-- (refused, 23505), re-sends of earlier rows with an extra key the field
-- map does not read (duplicates) and bad rows, are ingested both ways from
-- the same stored state and compared lead by lead: outcome, which leads
-- share a contact and an account, the reviews made, warnings, the match
-- score, the rows quarantined, and the rows that were duplicates.
TRUNCATE crm.lead, crm.lead_quarantine, crm.match_review, crm.merge_history,
         crm.contact_point, crm.contact, crm.account, crm.customer_code CASCADE;
SET timezone = 'Asia/Shanghai';
-- the runs are rolled back, but not their sequences: put them back at the
-- end, for the suites after this one
CREATE TEMP TABLE sequences_before AS
SELECT format('%I.%I', schemaname, sequencename) AS name, start_value, last_value
  FROM pg_sequences WHERE schemaname = 'crm';

-- One of arr, drawn with random()
CREATE FUNCTION pg_temp.any_of(arr text[]) RETURNS text LANGUAGE sql VOLATILE AS $$
SELECT arr[1 + floor(random() * array_length(arr, 1))::int] $$;

-- n rows (seq, channel, payload) drawn from seed: rows repeat 40 people,
-- each spelled in variants, with a fifth of the fields drawn at random
-- from the same small pools instead.
CREATE FUNCTION pg_temp.random_leads(seed float8, n int)
RETURNS TABLE (seq int, channel text, payload jsonb) LANGUAGE plpgsql AS $$
DECLARE
    -- spellings of one name, '|'-separated: the first is the plain one
    names text[] := ARRAY['陈伟强|陳偉強|陈伟强（先生）', '王芳|王芳(女士)|王 芳', '李娜|李 娜|Li Na',
        '张伟|張偉|张伟(采购)', '刘洋|劉洋|刘洋（经理）', '赵敏|趙敏|赵敏', '黄磊|黃磊|黄磊',
        '杨静|楊靜|杨静（女士）', '孙丽|孫麗|孙丽', 'Wang Fang|WANG FANG|wang fang', '周杰|周傑|周杰'];
    -- an organisation: full name | short name | bracketed region name
    orgs text[] := ARRAY['杭州瑞安医疗器械有限公司|瑞安医疗|瑞安医疗器械（杭州）有限公司',
        '上海瑞安生物科技有限公司|瑞安|瑞安生物科技（上海）有限公司',
        '北京康泰医疗科技有限公司|康泰医疗|康泰医疗科技（北京）有限公司',
        '深圳康泰电子有限公司|康泰|康泰电子（深圳）有限公司',
        '南京华信信息技术有限公司|华信信息|华信信息技术（南京）有限公司',
        '成都博远精密仪器有限公司|博远精密|博远精密仪器（成都）有限公司'];
    -- valid credit codes of the organisations, and one more
    usccs text[] := ARRAY['91330001MA00079198', '91330002MA00158389', '91330003MA0023757A',
        '91330004MA0031676B', '91330005MA0039595W', '91330006MA00475149', '91330007MA0055433A'];
    people int := 40;
    p int;
    org int;
    name text;
    company text;
    phone text;
    sent jsonb[] := '{}';
    sent_channels text[] := '{}';
BEGIN
    PERFORM setseed(seed);
    FOR i IN 1 .. n LOOP
        seq := i;
        p := 1 + floor(random() * people)::int;
        name := split_part(names[1 + p % array_length(names, 1)], '|', 1 + floor(random() * 3)::int);
        IF random() < 0.2 THEN
            name := split_part(pg_temp.any_of(names), '|', 1);
        END IF;
        org := 1 + (p * 7) % (array_length(orgs, 1) + 2);   -- some people have none
        IF random() < 0.2 THEN
            org := 1 + floor(random() * array_length(orgs, 1))::int;
        END IF;
        company := CASE WHEN org <= array_length(orgs, 1) AND random() < 0.8
                        THEN split_part(orgs[org], '|', 1 + floor(random() * 3)::int) END;
        phone := CASE WHEN random() < 0.6 THEN '1380013' || lpad((p % 30)::text, 4, '0') END;
        IF random() < 0.2 THEN
            phone := '1390013' || lpad(floor(random() * 30)::text, 4, '0');
        END IF;
        IF phone IS NOT NULL AND random() < 0.3 THEN
            phone := '+86 ' || substr(phone, 1, 3) || '-' || substr(phone, 4, 4) || '-' || substr(phone, 8);
        END IF;
        channel := 'website';
        IF random() < 0.03 THEN
            payload := jsonb_build_object('id', 'e' || seq, 'company', company, 'submitted_at', '2026-11-20');
        ELSIF random() < 0.1 THEN
            channel := 'wechat_menu';
            payload := jsonb_strip_nulls(jsonb_build_object(
                'MsgId', 'm' || seq, 'FromUserName', 'oWX' || (p % 12), 'nickname', name,
                'phone', phone, 'CreateTime', '2026-11-20'));
        ELSE
            payload := jsonb_strip_nulls(jsonb_build_object(
                'id', CASE WHEN random() < 0.03 THEN 'e' || (1 + floor(random() * seq)::int) ELSE 'e' || seq END,
                'name', CASE WHEN random() < 0.95 THEN name END,
                'phone', phone,
                'email', CASE WHEN random() < 0.4
                              THEN CASE WHEN random() < 0.8 THEN 'u' || (p % 25) ELSE 'U' || floor(random() * 25) END
                                   || '@Example.cn' END,
                'company', company,
                'credit_code', CASE WHEN company IS NOT NULL THEN
                                   CASE WHEN random() < 0.3 THEN usccs[org]
                                        WHEN random() < 0.05 THEN usccs[org + 1]
                                        WHEN random() < 0.03 THEN '91330000MA00000000' END END,
                'title', CASE WHEN random() < 0.3 THEN pg_temp.any_of(ARRAY['采购经理', '院长', '工程师']) END,
                'submitted_at', '2026-11-20'));
        END IF;
        -- a webhook retried: an earlier row again, with its delivery time
        IF i > 1 AND random() < 0.05 THEN
            p := 1 + floor(random() * (i - 1))::int;
            channel := sent_channels[p];
            payload := sent[p] || jsonb_build_object('delivered_at', '2026-11-21 08:' || lpad((i % 60)::text, 2, '0'));
        END IF;
        sent := sent || payload;
        sent_channels := sent_channels || channel;
        RETURN NEXT;
    END LOOP;
END $$;

-- What became of each lead of the batch, as text: a contact or account is
-- named by the first lead on it, or by its id when it was stored before,
-- so the two runs, whose new ids differ, compare equal when they group alike.
-- A row neither stored nor quarantined was a duplicate.
CREATE FUNCTION pg_temp.outcomes(stored int, n int, stored_contacts bigint, stored_accounts bigint)
RETURNS TABLE (seq int, result text) LANGUAGE sql AS $$
WITH lead AS (
    SELECT (l.payload->>'seq')::int AS seq, l.* FROM crm.lead l WHERE (l.payload->>'seq')::int > stored),
contact_label AS (
    SELECT contact_id AS id, CASE WHEN contact_id <= stored_contacts THEN 'stored ' || contact_id
                                  ELSE 'lead ' || min(seq) END AS label
      FROM lead WHERE contact_id IS NOT NULL GROUP BY contact_id),
account_label AS (
    SELECT a.id, a.code, CASE WHEN a.id <= stored_accounts THEN 'stored ' || a.id
                              ELSE 'lead ' || min(l.seq) END AS label
      FROM crm.account a LEFT JOIN lead l ON l.account_id = a.id GROUP BY a.id, a.code)
SELECT l.seq, concat_ws(' ', l.outcome, 'contact=' || c.label, 'account=' || a.label,
                        l.account_outcome, 'score=' || round(l.match_score::numeric, 3),
       (SELECT 'reviews=' || string_agg(r.entity || ':' || coalesce(rc.label, ra.label, 'stored ' || r.candidate_id)
                                        || ':' || coalesce(round(r.score::numeric, 3)::text, '-')
                                        || CASE WHEN r.red THEN ':red' ELSE '' END, ','
                                        ORDER BY r.entity, r.score, coalesce(rc.label, ra.label))
          FROM crm.match_review r
          LEFT JOIN contact_label rc ON r.entity = 'contact' AND rc.id = r.candidate_id
          LEFT JOIN account_label ra ON r.entity = 'account' AND ra.id = r.candidate_id
         WHERE r.lead_id = l.id),
       -- warnings name accounts by code, which differ between the runs
       CASE WHEN l.warnings <> '{}' THEN
           'warnings=' || regexp_replace(array_to_string(l.warnings, '; '), '[0-9A-Z]{8}', 'CODE', 'g')
           || (SELECT ' naming ' || string_agg(al.label, ',' ORDER BY al.label) FROM account_label al
                WHERE strpos(array_to_string(l.warnings, '; '), al.code) > 0) END)
  FROM lead l LEFT JOIN contact_label c ON c.id = l.contact_id
  LEFT JOIN account_label a ON a.id = l.account_id
UNION ALL
SELECT (q.payload->>'seq')::int, 'quarantined ' || q.sqlstate || ' ' || q.reason
  FROM crm.lead_quarantine q WHERE (q.payload->>'seq')::int > stored
UNION ALL
SELECT s, 'duplicate' FROM generate_series(stored + 1, stored + n) s
 WHERE NOT EXISTS (SELECT FROM crm.lead l WHERE (l.payload->>'seq')::int = s)
   AND NOT EXISTS (SELECT FROM crm.lead_quarantine q WHERE (q.payload->>'seq')::int = s)
$$;

-- How many leads of the outcomes came to what; reported: the duplicates
-- the path itself counted
CREATE FUNCTION pg_temp.summary(outcomes jsonb, reported bigint) RETURNS text LANGUAGE sql AS $$
SELECT concat_ws(', ', count(*) FILTER (WHERE v LIKE 'new%') || ' new',
                 count(*) FILTER (WHERE v LIKE 'merged%') || ' merged',
                 count(*) FILTER (WHERE v LIKE 'review%') || ' review',
                 count(*) FILTER (WHERE v LIKE '%contact=stored%') || ' on stored contacts',
                 count(*) FILTER (WHERE v LIKE 'quarantined%') || ' quarantined',
                 count(*) FILTER (WHERE v LIKE 'quarantined 23505%') || ' of them refused re-sends',
                 count(*) FILTER (WHERE v = 'duplicate') || ' duplicates (' || reported || ' reported)')
  FROM jsonb_each_text(outcomes) e(k, v) $$;

-- Ingest n random rows of seed both ways, after the first `stored` of them
-- were ingested one by one: a summary of each run, then the leads whose
-- results differ.
CREATE FUNCTION pg_temp.bulk_vs_one_by_one(seed float8, stored int, n int)
RETURNS TABLE (seq int, bulk text, one_by_one text) LANGUAGE plpgsql AS $$
DECLARE
    r record;
    stored_contacts bigint;
    stored_accounts bigint;
    bulk_results jsonb;
    obo_results jsonb;
    bulk_duplicates bigint;
    obo_duplicates bigint := 0;
    outcome text;
BEGIN
    BEGIN   -- all of it undone at the end
        CREATE TEMP TABLE batch_rows AS
            SELECT t.seq, t.channel, t.payload || jsonb_build_object('seq', t.seq) AS payload
              FROM pg_temp.random_leads(seed, stored + n) t;
        FOR r IN SELECT * FROM batch_rows b WHERE b.seq <= stored ORDER BY b.seq LOOP
            BEGIN
                PERFORM crm.ingest(r.channel, r.payload);
            EXCEPTION WHEN invalid_parameter_value OR unique_violation THEN NULL;
            END;
        END LOOP;
        SELECT coalesce(max(id), 0) INTO stored_contacts FROM crm.contact;
        SELECT coalesce(max(id), 0) INTO stored_accounts FROM crm.account;

        BEGIN   -- bulk, then undone
            INSERT INTO crm.lead_inbox SELECT b.channel, b.payload FROM batch_rows b
             WHERE b.seq > stored ORDER BY b.seq;
            SELECT c.duplicates INTO bulk_duplicates FROM crm.lead_inbox_counts() c;
            SELECT jsonb_object_agg(o.seq, o.result) INTO bulk_results
              FROM pg_temp.outcomes(stored, n, stored_contacts, stored_accounts) o;
            RAISE EXCEPTION USING ERRCODE = 'T0UND';
        EXCEPTION WHEN SQLSTATE 'T0UND' THEN NULL;
        END;

        FOR r IN SELECT * FROM batch_rows b WHERE b.seq > stored ORDER BY b.seq LOOP
            BEGIN
                SELECT i.outcome INTO outcome FROM crm.ingest(r.channel, r.payload) i;
                obo_duplicates := obo_duplicates + (outcome = 'duplicate')::int;
            EXCEPTION WHEN OTHERS THEN
                INSERT INTO crm.lead_quarantine (channel, payload, sqlstate, reason)
                VALUES (r.channel, r.payload, SQLSTATE, SQLERRM);
            END;
        END LOOP;
        SELECT jsonb_object_agg(o.seq, o.result) INTO obo_results
          FROM pg_temp.outcomes(stored, n, stored_contacts, stored_accounts) o;
        RAISE EXCEPTION USING ERRCODE = 'T0UND';
    EXCEPTION WHEN SQLSTATE 'T0UND' THEN NULL;
    END;

    RETURN QUERY SELECT NULL::int, pg_temp.summary(bulk_results, bulk_duplicates),
                        pg_temp.summary(obo_results, obo_duplicates);
    RETURN QUERY
    SELECT coalesce(b.k, o.k)::int, b.v, o.v
      FROM jsonb_each_text(bulk_results) b(k, v) FULL JOIN jsonb_each_text(obo_results) o(k, v) ON o.k = b.k
     WHERE b.v IS DISTINCT FROM o.v
     ORDER BY 1;
END $$;

-- Twelve batches of 300 rows after 60 stored ones: a summary row each, then
-- any lead the two paths treat apart.
SELECT s.seed, r.* FROM unnest(ARRAY[0.11, 0.22, 0.25, 0.33, 0.44, 0.55, 0.61, 0.66, 0.71, 0.77, 0.83, 0.89]) s(seed),
       LATERAL pg_temp.bulk_vs_one_by_one(s.seed, 60, 300) r;

SELECT count(setval(name, coalesce(last_value, start_value), last_value IS NOT NULL)) > 0 AS sequences_restored
  FROM sequences_before;
