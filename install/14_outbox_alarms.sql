------------------------------------------------------------------------------
-- The outbox and alarms: messages for other systems, raised and cleared conditions
------------------------------------------------------------------------------

CREATE TABLE crm.outbox (
    id          bigserial PRIMARY KEY,
    topic       text NOT NULL,
    recipient   text,
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    available_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    claimed_by  text,
    claimed_until timestamptz,
    attempts    integer NOT NULL DEFAULT 0,
    delivered_at timestamptz,
    last_error  text
);
SELECT pg_catalog.pg_extension_config_dump('crm.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('crm.outbox_id_seq', '');
CREATE INDEX outbox_pending_idx ON crm.outbox (id) WHERE delivered_at IS NULL;
COMMENT ON TABLE crm.outbox IS
'Notifications for bot relays (WeChat Work, DingTalk): claim with crm.outbox_claim(), deliver with id as the idempotency key, then crm.outbox_ack(); see README';
COMMENT ON COLUMN crm.outbox.recipient IS 'Login of the person to notify; NULL: the operations channel';
COMMENT ON COLUMN crm.outbox.claimed_by IS 'The consumer that claimed the message last, kept after its ack or nack; it holds the lease while claimed_until is in the future';

CREATE FUNCTION crm.outbox_inserted() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_catalog.pg_notify('crm_outbox', t.topic)
       FROM (SELECT DISTINCT m.topic FROM new_messages m ORDER BY m.topic) t;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION crm.outbox_inserted() IS 'Trigger: wakes the relays listening on channel crm_outbox, once per topic and statement';
CREATE TRIGGER outbox_notify AFTER INSERT ON crm.outbox
    REFERENCING NEW TABLE AS new_messages FOR EACH STATEMENT EXECUTE FUNCTION crm.outbox_inserted();

CREATE FUNCTION crm.outbox_claim(consumer text, max_rows integer DEFAULT 100, lease interval DEFAULT '1 minute')
    RETURNS SETOF crm.outbox
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF consumer IS NULL OR pg_catalog.btrim(consumer) = '' OR max_rows IS NULL OR max_rows < 1
       OR lease IS NULL OR lease <= interval '0' THEN
        RAISE EXCEPTION 'invalid outbox claim: consumer %, max_rows %, lease %',
                        coalesce(pg_catalog.quote_literal(consumer), 'NULL'), coalesce(max_rows::text, 'NULL'),
                        coalesce(lease::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Name the consumer, claim at least one row, and lease for a positive interval.';
    END IF;
    RETURN QUERY
    UPDATE crm.outbox o
       SET claimed_by = consumer, claimed_until = pg_catalog.clock_timestamp() + lease, attempts = o.attempts + 1
     WHERE o.id IN (SELECT p.id FROM crm.outbox p
                     WHERE p.delivered_at IS NULL AND p.available_at <= pg_catalog.clock_timestamp()
                       AND (p.claimed_until IS NULL OR p.claimed_until < pg_catalog.clock_timestamp())
                     ORDER BY p.id LIMIT max_rows FOR UPDATE SKIP LOCKED)
    RETURNING o.*;
END
$$;
COMMENT ON FUNCTION crm.outbox_claim(text, integer, interval) IS
'Leases up to max_rows undelivered messages, oldest first, to a consumer; messages leased by a live consumer are skipped, an expired lease can be taken over';

-- Settling a message: ack and nack answer true when this consumer's word
-- was taken (again, for a retry whose reply was lost), false when the
-- consumer lost its lease (another consumer has claimed the message since,
-- and may deliver it again), and raise an error for what no relay should
-- send: an unknown id, a missing consumer, a nack of a delivered message.
-- claimed_by keeps the last consumer after an ack or a nack, so that a
-- retry can be told from a lost lease; the lease is held while
-- claimed_until is in the future.
CREATE FUNCTION crm.outbox_settle_state(id bigint, consumer text, action text) RETURNS text
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m record;
BEGIN
    IF outbox_settle_state.id IS NULL OR consumer IS NULL OR pg_catalog.btrim(consumer) = '' THEN
        RAISE EXCEPTION 'invalid outbox %: id %, consumer %', action, coalesce(outbox_settle_state.id::text, 'NULL'),
                        coalesce(pg_catalog.quote_literal(consumer), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the id of a claimed message and the consumer name the claim used.';
    END IF;
    -- FOR UPDATE: a claim racing this call has either taken the row or not
    SELECT o.claimed_by, o.claimed_until, o.delivered_at INTO m
      FROM crm.outbox o WHERE o.id = outbox_settle_state.id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'outbox message % does not exist', outbox_settle_state.id
            USING ERRCODE = 'no_data_found',
                  DETAIL = pg_catalog.format('crm.outbox_%s(%s, %L) names no message of crm.outbox.',
                                             action, outbox_settle_state.id, consumer),
                  HINT = 'Settle messages by the id crm.outbox_claim() returned; do not retry this call.';
    END IF;
    RETURN CASE WHEN m.claimed_by IS DISTINCT FROM consumer THEN 'lost'
                WHEN m.delivered_at IS NOT NULL THEN 'delivered'
                WHEN m.claimed_until IS NULL THEN 'given_back'
                ELSE 'held' END;
END
$$;
COMMENT ON FUNCTION crm.outbox_settle_state(bigint, text, text) IS
'Internal to crm.outbox_ack() and crm.outbox_nack(): checks the arguments (22023), locks the message and says where the consumer stands: lost (another consumer claimed it since), delivered (by this consumer), given_back (by this consumer), held; an unknown id raises no_data_found (P0002)';

CREATE FUNCTION crm.outbox_ack(id bigint, consumer text) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    state text := crm.outbox_settle_state(outbox_ack.id, consumer, 'ack');
BEGIN
    -- given back and delivered after all: that is news too
    IF state IN ('held', 'given_back') THEN
        UPDATE crm.outbox o SET delivered_at = pg_catalog.clock_timestamp(), claimed_until = NULL, last_error = NULL
         WHERE o.id = outbox_ack.id;
    END IF;
    RETURN state <> 'lost';
END
$$;
COMMENT ON FUNCTION crm.outbox_ack(bigint, text) IS
'Marks a message delivered. true: done (also for a repeated ack by the same consumer); false: the lease was lost, another consumer has claimed the message since and may deliver it again; an unknown id raises no_data_found (P0002), a NULL id or blank consumer invalid_parameter_value (22023)';

CREATE FUNCTION crm.outbox_nack(id bigint, consumer text, error text) RETURNS boolean
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    state text := crm.outbox_settle_state(outbox_nack.id, consumer, 'nack');
BEGIN
    IF state = 'delivered' THEN
        RAISE EXCEPTION 'outbox message % was delivered already', outbox_nack.id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('Consumer %L acknowledged it.', consumer),
                  HINT = 'A message that was acknowledged cannot be given back.';
    ELSIF state = 'held' THEN
        UPDATE crm.outbox o
           SET claimed_until = NULL, last_error = outbox_nack.error,
               available_at = pg_catalog.clock_timestamp()
                              + least(interval '1 hour', interval '10 seconds' * pg_catalog.power(2, least(o.attempts, 12) - 1))
         WHERE o.id = outbox_nack.id;
    END IF;
    RETURN state <> 'lost';
END
$$;
COMMENT ON FUNCTION crm.outbox_nack(bigint, text, text) IS
'Gives a message back after a failed delivery; it can be claimed again after a back-off that doubles with each attempt (10 s up to 1 h). true: given back (also for a repeated nack by the same consumer); false: the lease was lost, another consumer has claimed the message since; an unknown id raises no_data_found (P0002), a NULL id or blank consumer invalid_parameter_value (22023), a message already acknowledged object_not_in_prerequisite_state (55000)';

CREATE TABLE crm.alarm (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CONSTRAINT alarm_kind CHECK (kind IN ('stranded_leads', 'rule_idle', 'job_failing')),
    subject     text NOT NULL,
    detail      jsonb NOT NULL,
    raised_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_seen_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    cleared_at  timestamptz
);
SELECT pg_catalog.pg_extension_config_dump('crm.alarm', '');
SELECT pg_catalog.pg_extension_config_dump('crm.alarm_id_seq', '');
CREATE UNIQUE INDEX alarm_open_key ON crm.alarm (kind, subject) WHERE cleared_at IS NULL;
COMMENT ON TABLE crm.alarm IS
'Rule-health alarms raised by crm.run_timeouts(): stranded_leads (leads waiting on a machine step past its timeout, per state), rule_idle (a rule that has not assigned while its leads wait) and job_failing (a crm pg_cron job that has not succeeded for two of its periods, see crm.job_health()); cleared when the condition is gone';

-- Raise (or refresh) alarms of one kind for the given subjects, and clear
-- the open ones whose condition is gone.  A new alarm is also notified.
CREATE FUNCTION crm.sync_alarms(alarm_kind text, subjects text[], details jsonb[], recipients text[])
    RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    open_count integer;
BEGIN
    -- the usual minute: nothing to raise, nothing open
    IF cardinality(subjects) = 0
       AND NOT EXISTS (SELECT FROM crm.alarm a WHERE a.kind = alarm_kind AND a.cleared_at IS NULL) THEN
        RETURN 0;
    END IF;
    UPDATE crm.alarm a SET cleared_at = pg_catalog.now()
     WHERE a.kind = alarm_kind AND a.cleared_at IS NULL AND NOT (a.subject = ANY (subjects));
    WITH s AS (
        SELECT * FROM unnest(subjects, details, recipients) s(subject, detail, recipient)
    ), raised AS (
        INSERT INTO crm.alarm AS a (kind, subject, detail)
        SELECT alarm_kind, s.subject, s.detail FROM s ORDER BY s.subject
        ON CONFLICT (kind, subject) WHERE cleared_at IS NULL
        DO UPDATE SET detail = excluded.detail, last_seen_at = pg_catalog.now()
        RETURNING a.subject, a.detail, (a.xmax = 0) AS is_new
    )
    INSERT INTO crm.outbox (topic, recipient, payload)
    SELECT 'alarm', s.recipient, jsonb_build_object('kind', alarm_kind, 'subject', r.subject) || r.detail
      FROM raised r JOIN s ON s.subject = r.subject WHERE r.is_new;
    SELECT count(*) INTO open_count FROM crm.alarm a WHERE a.kind = alarm_kind AND a.cleared_at IS NULL;
    RETURN open_count;
END
$$;
COMMENT ON FUNCTION crm.sync_alarms(text, text[], jsonb[], text[]) IS
'Internal to crm.run_timeouts(): one kind of alarm made to match the subjects found now';
