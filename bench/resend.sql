-- bench/resend_run: LEADS leads in one statement, then four re-sends of all
\timing on
INSERT INTO crm.lead_inbox
SELECT 'website', jsonb_build_object('id', 'b' || n, 'name', '客户' || n, 'phone', '139' || lpad(n::text, 8, '0'),
                                     'company', '公司' || (n % 500) || '有限公司', 'submitted_at', '2026-11-20')
  FROM generate_series(1, :leads) n;
\set resend 'INSERT INTO crm.lead_inbox SELECT ''website'', jsonb_build_object(''id'', ''b'' || n, ''name'', ''客户'' || n, ''phone'', ''139'' || lpad(n::text, 8, ''0''), ''company'', ''公司'' || (n % 500) || ''有限公司'', ''submitted_at'', ''2026-11-20'', ''delivered_at'', clock_timestamp()) FROM generate_series(1, :leads) n'
:resend;
:resend;
:resend;
:resend;
