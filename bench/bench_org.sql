-- bench/bench_org.sql: the sales organisation the benchmarks share.  A
-- round-the-clock calendar (deadlines fall inside a run whatever the
-- hour), 5 teams on it (managers mgr1..mgr5) and :reps reps, rep1..repN,
-- rep r in team (r % 5 + 1).  Include it with
--   \set reps 100
--   \ir bench_org.sql
INSERT INTO crm.calendar (code, name) VALUES ('bench_always', 'always open');
INSERT INTO crm.calendar_hours (calendar, isodow, opens, closes)
SELECT 'bench_always', d, '00:00', '24:00' FROM generate_series(1, 7) d;
INSERT INTO crm.team (code, name, manager, calendar)
SELECT 'team' || t, 'team ' || t, 'mgr' || t, 'bench_always' FROM generate_series(1, 5) t;
INSERT INTO crm.rep (login, name, team)
SELECT 'rep' || r, 'rep ' || r, 'team' || (r % 5 + 1) FROM generate_series(1, :reps) r;
