/*
 * cron.c: crm.schedule_jobs() and crm.unschedule_jobs(), crm's pg_cron jobs.
 *
 * The jobs are data in crm's database (crm.job_definitions()), but pg_cron
 * keeps its table cron.job in one database per cluster, cron.database_name,
 * and runs each job in the database the row names.  When crm lives in that
 * database the rows are written here, in the caller's transaction.  When it
 * does not, a short-lived background worker connects to the cron database
 * as the calling user and writes them in a transaction of its own; the job
 * list goes to it, and its result or error comes back, in a DSM segment.
 *
 * Writing is a sync, so that calling it again changes nothing: a job whose
 * row already says the same is not touched (same jobid, same row), and
 * crm_ jobs of this database that crm.job_definitions() no longer lists, or
 * that belong to another role, are removed.  The count returned is the
 * number of jobs created, changed or removed.
 *
 * The role that registers them is recorded in crm.job_registration, and
 * any other role refused: pg_cron's row security hides one role's jobs
 * from another, which would otherwise register a second set.
 *
 * Job names must be unique across the cluster (pg_cron upserts on jobname
 * and username), so with crm in several databases the ones outside the
 * cron database carry their database's name: crm_run_timeouts@sales.
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"

#include "cron.h"
#include "cron_health.h"
#include "spi_plan.h"

#define JOB_PREFIX "crm_"
#define JOB_NAME_MAX (NAMEDATALEN - 1)	/* cron.job.jobname is a name */
#define CRON_SHARED_MAGIC 0x63726d6a	/* "crmj" */
/* one lock for every caller, so that concurrent syncs count exactly */
#define CRON_SYNC_LOCK_KEY INT64CONST(0x63726d2d63726f6e)

typedef struct CronJob
{
	const char *name;			/* as registered, with @database if need be */
	const char *schedule;
	const char *command;
} CronJob;

/* What a sync does, wherever it runs. */
typedef struct CronRequest
{
	const char *crm_database;	/* where the jobs run */
	bool		unschedule;
	int			njobs;
	CronJob    *jobs;
} CronRequest;

typedef enum CronStatus
{
	CRON_PENDING,
	CRON_DONE,
	CRON_FAILED
} CronStatus;

#define CRON_TEXT_MAX 2048

/*
 * The DSM segment shared with the worker: the request, then the result.
 * The jobs follow as njobs (name, schedule, command) triples of
 * NUL-terminated strings, so that no length limit but pg_cron's applies.
 */
typedef struct CronShared
{
	uint32		magic;
	Oid			cron_dboid;
	Oid			roleid;
	bool		unschedule;
	char		crm_database[NAMEDATALEN];
	int			njobs;
	/* written by the worker */
	CronStatus	status;
	int			changed;
	int			sqlerrcode;
	char		message[CRON_TEXT_MAX];
	char		detail[CRON_TEXT_MAX];
	char		hint[CRON_TEXT_MAX];
	char		jobs[FLEXIBLE_ARRAY_MEMBER];
} CronShared;

/* In the worker: where its error goes, and the hook it chains to. */
static CronShared *worker_shared = NULL;
static emit_log_hook_type prev_emit_log_hook = NULL;

/* ---------------------------------------------------------------------
 * Preconditions
 * --------------------------------------------------------------------- */

/*
 * pg_cron's database, from its GUC.  A placeholder (cron.database_name set
 * in postgresql.conf while pg_cron is not preloaded) does not count: no
 * launcher would ever read the jobs.
 */
static const char *
cron_database_name(void)
{
	const char *name = GetConfigOption("cron.database_name", true, false);

	if (name == NULL ||
		(GetConfigOptionFlags("cron.database_name", true) & GUC_CUSTOM_PLACEHOLDER))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_cron is not loaded"),
				 errdetail("crm's jobs are run by pg_cron, which must be in shared_preload_libraries."),
				 errhint("Add pg_cron to shared_preload_libraries and restart the server; see README.md.")));
	return name;
}

static Oid
cron_database_oid(const char *name)
{
	Oid			dboid = get_database_oid(name, true);

	if (!OidIsValid(dboid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_DATABASE),
				 errmsg("database \"%s\" named by cron.database_name does not exist", name),
				 errhint("Create it and run CREATE EXTENSION pg_cron; there, or set cron.database_name and restart the server.")));
	return dboid;
}

/* In the cron database, inside a transaction. */
static void
require_pg_cron(void)
{
	const char *here = get_database_name(MyDatabaseId);

	if (!OidIsValid(get_extension_oid("pg_cron", true)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_cron is not installed in database \"%s\"", here),
				 errdetail("pg_cron keeps its jobs in database \"%s\", the one cron.database_name names.", here),
				 errhint("Run CREATE EXTENSION pg_cron; in database \"%s\".", here)));
}

/* ---------------------------------------------------------------------
 * The job list, read in crm's database
 * --------------------------------------------------------------------- */

/*
 * The name a job is registered under.  unschedule_jobs() finds crm's jobs
 * by the prefix, and "@" separates the database, so a definition may not
 * break either; nor may the result be longer than a name, as pg_cron would
 * cut it and we would never recognise the row again.
 */
static char *
registered_name(const char *name, const char *crm_database, bool suffixed)
{
	char	   *full;

	if (strncmp(name, JOB_PREFIX, strlen(JOB_PREFIX)) != 0 || strchr(name, '@') != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("job name \"%s\" in crm.job_definitions() is not valid", name),
				 errdetail("crm's job names start with \"%s\" and contain no \"@\".", JOB_PREFIX)));
	full = suffixed ? psprintf("%s@%s", name, crm_database) : pstrdup(name);
	if (strlen(full) > JOB_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("pg_cron job name \"%s\" is too long", full),
				 errdetail("pg_cron job names have at most %d bytes; outside the cron database, crm's are suffixed with \"@\" and the database name.",
						   JOB_NAME_MAX),
				 errhint("Use a shorter database name.")));
	return full;
}

/* A copy in the caller's memory, which SPI_finish() leaves alone. */
static char *
spi_strdup(const char *s)
{
	char	   *copy = SPI_palloc(strlen(s) + 1);

	strcpy(copy, s);
	return copy;
}

/* A column of crm.job_definitions(); none may be null. */
static char *
definition_field(uint64 row, int col)
{
	char	   *value = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);

	if (value == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("crm.job_definitions() returned a null %s",
						SPI_fname(SPI_tuptable->tupdesc, col))));
	return value;
}

static void
check_unique(const CronJob *jobs, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(jobs[i].name, jobs[n].name) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("crm.job_definitions() lists job \"%s\" twice", jobs[n].name)));
}

/* Fills req->jobs in the caller's memory; SPI is connected. */
static void
read_job_definitions(CronRequest *req, bool suffixed)
{
	if (SPI_execute("SELECT job_name, schedule, command FROM crm.job_definitions()",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm: reading crm.job_definitions() failed");
	req->njobs = (int) SPI_processed;
	req->jobs = SPI_palloc(sizeof(CronJob) * Max(req->njobs, 1));
	for (int i = 0; i < req->njobs; i++)
	{
		char	   *name = registered_name(definition_field(i, 1), req->crm_database, suffixed);

		req->jobs[i].name = spi_strdup(name);
		req->jobs[i].schedule = spi_strdup(definition_field(i, 2));
		req->jobs[i].command = spi_strdup(definition_field(i, 3));
		check_unique(req->jobs, i);
	}
}

/* ---------------------------------------------------------------------
 * The sync, in the cron database (SPI connected)
 * --------------------------------------------------------------------- */

static void
lock_sync(void)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(CRON_SYNC_LOCK_KEY)};

	if (SPI_execute_with_args("SELECT pg_advisory_xact_lock($1)",
							  1, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm: taking the job registration lock failed");
}

static void
unschedule_job(int64 jobid)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(jobid)};

	if (SPI_execute_with_args("SELECT cron.unschedule($1)",
							  1, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm: cron.unschedule(" INT64_FORMAT ") failed", jobid);
}

/*
 * No username: pg_cron 1.4 allows naming one (even one's own) only to
 * superusers, and without one the job runs as current_user, the caller.
 * An existing (jobname, username) row gets the new schedule and command
 * and keeps its jobid.
 */
static void
schedule_job(const CronJob *job, const char *crm_database)
{
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		args[4] = {CStringGetTextDatum(job->name), CStringGetTextDatum(job->schedule),
	CStringGetTextDatum(job->command), CStringGetTextDatum(crm_database)};

	if (SPI_execute_with_args("SELECT cron.schedule_in_database($1, $2, $3, $4, NULL, true)",
							  4, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm: cron.schedule_in_database() failed for job %s", job->name);
}

/*
 * Brings one job's row in line; returns whether it had to.  pg_cron's
 * upsert changes only schedule and command, so a row that runs elsewhere
 * or was deactivated is replaced instead.
 */
static bool
sync_job(const CronJob *job, const char *crm_database)
{
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		args[4] = {CStringGetTextDatum(job->name), CStringGetTextDatum(job->schedule),
	CStringGetTextDatum(job->command), CStringGetTextDatum(crm_database)};

	if (SPI_execute_with_args("SELECT jobid, schedule = $2 AND command = $3,"
							  " database = $4 AND active"
							  " FROM cron.job WHERE jobname = $1 AND username = current_user",
							  4, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm: reading cron.job failed");
	if (SPI_processed > 0)
	{
		bool		same_work = crm_spi_bool(0, 2);
		bool		same_place = crm_spi_bool(0, 3);

		if (same_work && same_place)
			return false;
		if (!same_place)
		{
			int64		jobid;

			(void) crm_spi_int8(0, 1, &jobid);
			unschedule_job(jobid);
		}
	}
	schedule_job(job, crm_database);
	return true;
}

static bool
is_defined(const CronRequest *req, const char *name)
{
	for (int i = 0; i < req->njobs; i++)
		if (strcmp(req->jobs[i].name, name) == 0)
			return true;
	return false;
}

/*
 * Removes this database's crm_ jobs the request does not keep: all of them
 * when unscheduling, otherwise those no longer defined or owned by another
 * role (which would run the same work twice).  Other roles' rows are
 * visible to superusers only (pg_cron's row security).
 */
static int
remove_jobs(const CronRequest *req)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(req->crm_database)};
	int64	   *doomed;
	int			ndoomed = 0;

	if (SPI_execute_with_args("SELECT jobid, jobname::text, username = current_user"
							  " FROM cron.job WHERE database = $1 AND jobname LIKE 'crm\\_%'"
							  " ORDER BY jobid",
							  1, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm: reading cron.job failed");
	doomed = palloc(sizeof(int64) * (SPI_processed + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
		if (req->unschedule || !crm_spi_bool(i, 3) || !is_defined(req, crm_spi_text(i, 2)))
			(void) crm_spi_int8(i, 1, &doomed[ndoomed++]);
	/* collected first: each cron.unschedule() replaces SPI_tuptable */
	for (int i = 0; i < ndoomed; i++)
		unschedule_job(doomed[i]);
	return ndoomed;
}

static int
sync_jobs(const CronRequest *req)
{
	int			nest = crm_pin_search_path();
	int			changed;

	require_pg_cron();
	lock_sync();
	changed = remove_jobs(req);
	if (!req->unschedule)
		for (int i = 0; i < req->njobs; i++)
			changed += sync_job(&req->jobs[i], req->crm_database);
	crm_unpin_search_path(nest);
	return changed;
}

/* ---------------------------------------------------------------------
 * The request in DSM
 * --------------------------------------------------------------------- */

static Size
shared_size(const CronRequest *req)
{
	Size		size = offsetof(CronShared, jobs);

	for (int i = 0; i < req->njobs; i++)
		size = add_size(size, strlen(req->jobs[i].name) + strlen(req->jobs[i].schedule) +
						strlen(req->jobs[i].command) + 3);
	return size;
}

static char *
put_string(char *to, const char *s)
{
	Size		len = strlen(s) + 1;

	memcpy(to, s, len);
	return to + len;
}

static void
pack_request(CronShared *shared, const CronRequest *req, Oid cron_dboid)
{
	char	   *p = shared->jobs;

	memset(shared, 0, offsetof(CronShared, jobs));
	shared->magic = CRON_SHARED_MAGIC;
	shared->cron_dboid = cron_dboid;
	shared->roleid = GetUserId();
	shared->unschedule = req->unschedule;
	strlcpy(shared->crm_database, req->crm_database, NAMEDATALEN);
	shared->njobs = req->njobs;
	shared->status = CRON_PENDING;
	for (int i = 0; i < req->njobs; i++)
	{
		p = put_string(p, req->jobs[i].name);
		p = put_string(p, req->jobs[i].schedule);
		p = put_string(p, req->jobs[i].command);
	}
}

/* The jobs point into the segment, which outlives the worker's use. */
static void
unpack_request(CronShared *shared, CronRequest *req)
{
	const char *p = shared->jobs;

	req->crm_database = shared->crm_database;
	req->unschedule = shared->unschedule;
	req->njobs = shared->njobs;
	req->jobs = palloc(sizeof(CronJob) * Max(req->njobs, 1));
	for (int i = 0; i < req->njobs; i++)
	{
		req->jobs[i].name = p;
		p += strlen(p) + 1;
		req->jobs[i].schedule = p;
		p += strlen(p) + 1;
		req->jobs[i].command = p;
		p += strlen(p) + 1;
	}
}

/* ---------------------------------------------------------------------
 * The worker, in the cron database
 * --------------------------------------------------------------------- */

/* Clipped on a character boundary: the caller re-raises it as text. */
static void
copy_text(char *to, const char *s)
{
	int			len;

	if (s == NULL)
	{
		to[0] = '\0';
		return;
	}
	len = pg_mbcliplen(s, strlen(s), CRON_TEXT_MAX - 1);
	memcpy(to, s, len);
	to[len] = '\0';
}

/*
 * Any error ends the worker: an ERROR is reported and the process exits
 * (PostgreSQL's background worker start-up code catches it), a FATAL, as
 * when the caller's role may not log in, exits at once.  Both pass this
 * hook on their way to the server log, so it keeps the first for the
 * caller; the transaction is rolled back on exit.
 */
static void
capture_error(ErrorData *edata)
{
	if (worker_shared != NULL && edata->elevel >= ERROR &&
		worker_shared->status == CRON_PENDING)
	{
		worker_shared->sqlerrcode = edata->sqlerrcode;
		copy_text(worker_shared->message, edata->message);
		copy_text(worker_shared->detail, edata->detail);
		copy_text(worker_shared->hint, edata->hint);
		worker_shared->status = CRON_FAILED;
	}
	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

static int
worker_sync(CronShared *shared)
{
	CronRequest req;
	int			changed;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm: SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "crm: registering pg_cron jobs");
	unpack_request(shared, &req);
	changed = sync_jobs(&req);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	return changed;
}

void
crm_cron_worker_main(Datum main_arg)
{
	dsm_segment *seg;
	CronShared *shared;

	/* a cancelled caller terminates us: roll back at the next interrupt check */
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	seg = dsm_attach(DatumGetUInt32(main_arg));
	/* the caller is gone (its segment with it): nobody wants the jobs */
	if (seg == NULL)
		return;
	shared = dsm_segment_address(seg);
	if (shared->magic != CRON_SHARED_MAGIC)
		return;
	worker_shared = shared;
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = capture_error;

	BackgroundWorkerInitializeConnectionByOid(shared->cron_dboid, shared->roleid, 0);
	shared->changed = worker_sync(shared);
	shared->status = CRON_DONE;
	/* nothing may be written to the segment once it is unmapped */
	worker_shared = NULL;
	dsm_detach(seg);
}

/* ---------------------------------------------------------------------
 * The caller's side of the worker
 * --------------------------------------------------------------------- */

static BackgroundWorkerHandle *
start_worker(dsm_segment *seg, const char *crm_database)
{
	BackgroundWorker worker = {0};
	BackgroundWorkerHandle *handle;

	snprintf(worker.bgw_name, BGW_MAXLEN, "crm job registration for database %s", crm_database);
	strlcpy(worker.bgw_type, "crm job registration", BGW_MAXLEN);
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "crm", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "crm_cron_worker_main", BGW_MAXLEN);
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("no background worker slot is free to register crm's pg_cron jobs"),
				 errdetail("crm is not in the cron database, so a background worker writes its jobs there."),
				 errhint("Raise max_worker_processes (pg_cron's jobs use slots too), or try again later.")));
	return handle;
}

/*
 * If the caller is cancelled while the worker runs, the worker is told to
 * stop too, so that jobs the caller gave up on are not registered (unless
 * already committed).  The segment needs no pin: the worker holds its own
 * mapping, so it lasts until both have detached, and one the worker never
 * attached to is simply gone.
 */
static BgwHandleStatus
wait_for_worker(BackgroundWorkerHandle *handle)
{
	BgwHandleStatus status = BGWH_NOT_YET_STARTED;

	PG_TRY();
	{
		status = WaitForBackgroundWorkerShutdown(handle);
	}
	PG_CATCH();
	{
		TerminateBackgroundWorker(handle);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return status;
}

static void
raise_worker_error(const CronShared *shared, const char *cron_database)
{
	if (shared->status == CRON_PENDING)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("the background worker that registers crm's jobs ended without a result"),
				 errdetail("It ran in database \"%s\".", cron_database),
				 errhint("The server log may say why.")));
	ereport(ERROR,
			(errcode(shared->sqlerrcode),
			 errmsg_internal("%s", shared->message),
			 errdetail("%s%sRaised in database \"%s\" by the background worker that registers crm's jobs.",
					   shared->detail, shared->detail[0] ? "\n" : "", cron_database),
			 shared->hint[0] ? errhint("%s", shared->hint) : 0));
}

static int
run_in_worker(const CronRequest *req, Oid cron_dboid, const char *cron_database)
{
	dsm_segment *seg = dsm_create(shared_size(req), 0);
	CronShared *shared = dsm_segment_address(seg);
	int			changed;

	pack_request(shared, req, cron_dboid);
	if (wait_for_worker(start_worker(seg, req->crm_database)) == BGWH_POSTMASTER_DIED)
		ereport(FATAL,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("postmaster exited while crm's pg_cron jobs were being registered")));
	if (shared->status != CRON_DONE)
		raise_worker_error(shared, cron_database);
	changed = shared->changed;
	dsm_detach(seg);
	return changed;
}

/* ---------------------------------------------------------------------
 * SQL
 * --------------------------------------------------------------------- */

/*
 * The caller becomes, or must already be, the role whose jobs these are
 * (crm.job_registration): pg_cron would let a second role register a
 * second set unseen.  In crm's database, in the caller's transaction.
 */
static void
claim_registration(bool unschedule)
{
	Oid			types[1] = {BOOLOID};
	Datum		args[1] = {BoolGetDatum(unschedule)};
	int			nest = crm_pin_search_path();

	if (SPI_execute_with_args("SELECT crm.job_registration_claim($1)",
							  1, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm: crm.job_registration_claim() failed");
	crm_unpin_search_path(nest);
}

static int
crm_cron_sync(bool unschedule, const char *what)
{
	const char *cron_database = cron_database_name();
	Oid			cron_dboid = cron_database_oid(cron_database);
	bool		here = cron_dboid == MyDatabaseId;
	CronRequest req = {0};
	int			changed = 0;

	/* the worker would not inherit these, nor start at all during recovery */
	PreventCommandIfReadOnly(what);
	PreventCommandDuringRecovery(what);
	req.crm_database = get_database_name(MyDatabaseId);
	req.unschedule = unschedule;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm: SPI_connect failed");
	claim_registration(unschedule);
	if (!unschedule)
		read_job_definitions(&req, !here);
	if (here)
		changed = sync_jobs(&req);
	SPI_finish();
	if (!here)
		changed = run_in_worker(&req, cron_dboid, cron_database);
	return changed;
}

PG_FUNCTION_INFO_V1(crm_schedule_jobs);

Datum
crm_schedule_jobs(PG_FUNCTION_ARGS)
{
	int			changed = crm_cron_sync(false, "crm.schedule_jobs()");

	/* registered either way: a warning, so that the count stays the contract's */
	crm_warn_cron_health();
	PG_RETURN_INT32(changed);
}

PG_FUNCTION_INFO_V1(crm_unschedule_jobs);

Datum
crm_unschedule_jobs(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(crm_cron_sync(true, "crm.unschedule_jobs()"));
}
