-- Settling outbox messages: crm.outbox_ack and crm.outbox_nack tell a relay
-- which case it is in.  true: done (a retry by the same consumer too);
-- false: the lease was lost to another consumer; an error: a call no relay
-- should make (unknown id P0002, bad arguments 22023, a nack after an ack
-- 55000).
TRUNCATE crm.outbox;
INSERT INTO crm.outbox (topic, payload) SELECT 'alarm', jsonb_build_object('n', g) FROM generate_series(1, 4) g;
SELECT min(id) AS m1, min(id) + 1 AS m2, min(id) + 2 AS m3, min(id) + 3 AS m4 FROM crm.outbox \gset
SELECT count(*) AS claimed FROM crm.outbox_claim('relay-1', 4);

-- success, and the same ack again (its reply was lost): still true, once delivered
SELECT crm.outbox_ack(:m1, 'relay-1') AS acked, crm.outbox_ack(:m1, 'relay-1') AS acked_again;
SELECT count(*) AS delivered FROM crm.outbox WHERE delivered_at IS NOT NULL;

-- the lease expired and relay-2 took the message over: relay-1's ack is false
UPDATE crm.outbox SET claimed_until = now() - interval '1 second' WHERE id = :m2;
SELECT count(*) AS taken_over FROM crm.outbox_claim('relay-2', 1);
SELECT crm.outbox_ack(:m2, 'relay-1') AS lease_lost, crm.outbox_nack(:m2, 'relay-1', 'late') AS nack_lease_lost;
-- relay-2 delivers it: relay-1 still hears that its lease was lost
SELECT crm.outbox_ack(:m2, 'relay-2') AS acked_by_2, crm.outbox_ack(:m2, 'relay-1') AS lease_lost_after_ack;
-- an expired lease nobody took over is still the consumer's to settle
UPDATE crm.outbox SET claimed_until = now() - interval '1 second' WHERE id = :m4;
SELECT crm.outbox_ack(:m4, 'relay-1') AS acked_after_expiry;

-- a nack gives the message back; a repeated nack is true and changes nothing
SELECT crm.outbox_nack(:m3, 'relay-1', 'webhook 502') AS given_back;
SELECT available_at AS back_at FROM crm.outbox WHERE id = :m3 \gset
SELECT crm.outbox_nack(:m3, 'relay-1', 'webhook 502') AS given_back_again;
SELECT attempts, last_error, claimed_by, claimed_until IS NULL AS free, available_at = :'back_at' AS same_back_off
  FROM crm.outbox WHERE id = :m3;

-- errors
\set VERBOSITY sqlstate
SELECT crm.outbox_ack(:m4 + 1000, 'relay-1');
SELECT crm.outbox_nack(:m4 + 1000, 'relay-1', 'x');
SELECT crm.outbox_ack(NULL, 'relay-1');
SELECT crm.outbox_ack(:m1, ' ');
SELECT crm.outbox_nack(:m1, 'relay-1', 'changed my mind');
\set VERBOSITY default
SELECT crm.outbox_ack(-1, 'relay-1');
TRUNCATE crm.outbox;
