/*
 * jobs.c: crm.schedule_jobs() and crm.unschedule_jobs(), crm's pg_cron jobs.
 *
 * pg_cron keeps its jobs in one database per cluster (cron.database_name)
 * and runs each in the database it names.  When crm lives elsewhere, the
 * jobs must still be written there: a short-lived background worker
 * connects to the cron database as the calling user and does it, and the
 * request and the result travel in a DSM segment.  The job list itself is
 * data in crm's database, crm.job_definitions().
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "spi_plan.h"

#define MAX_JOBS 8

typedef struct JobDefinition
{
	char		name[2 * NAMEDATALEN];
	char		schedule[64];
	char		command[512];
} JobDefinition;

/* What the caller asks for and what comes back; lives in DSM. */
typedef struct JobsRequest
{
	char		crm_database[NAMEDATALEN];
	char		cron_database[NAMEDATALEN];
	char		username[NAMEDATALEN];
	bool		unschedule;
	int			n_jobs;
	JobDefinition jobs[MAX_JOBS];
	/* the result */
	bool		ok;
	int			changed;
	int			sqlerrcode;
	char		message[512];
	char		hint[256];
} JobsRequest;

PGDLLEXPORT void crm_jobs_worker_main(Datum arg);

/* ---------------------------------------------------------------------
 * The work, in the cron database
 * --------------------------------------------------------------------- */

static void
require_pg_cron(const JobsRequest *r)
{
	if (SPI_execute("SELECT FROM pg_catalog.pg_extension WHERE extname = 'pg_cron'", true, 1) != SPI_OK_SELECT ||
		SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_cron is not installed in database \"%s\"", r->cron_database),
				 errhint("Run CREATE EXTENSION pg_cron; in database \"%s\" (cron.database_name).",
						 r->cron_database)));
}

/* An existing job with exactly these settings is left alone. */
static bool
job_unchanged(const JobsRequest *r, const JobDefinition *job)
{
	Oid			types[5] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		args[5] = {CStringGetTextDatum(job->name), CStringGetTextDatum(r->username),
		CStringGetTextDatum(job->schedule), CStringGetTextDatum(job->command),
	CStringGetTextDatum(r->crm_database)};

	if (SPI_execute_with_args("SELECT FROM cron.job WHERE jobname = $1 AND username = $2"
							  " AND schedule = $3 AND command = $4 AND database = $5 AND active",
							  5, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "crm: reading cron.job failed");
	return SPI_processed > 0;
}

static int
schedule_all(const JobsRequest *r)
{
	Oid			types[5] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	int			changed = 0;

	for (int i = 0; i < r->n_jobs; i++)
	{
		const JobDefinition *job = &r->jobs[i];
		Datum		args[5] = {CStringGetTextDatum(job->name), CStringGetTextDatum(job->schedule),
			CStringGetTextDatum(job->command), CStringGetTextDatum(r->crm_database),
		CStringGetTextDatum(r->username)};

		if (job_unchanged(r, job))
			continue;
		if (SPI_execute_with_args("SELECT cron.schedule_in_database($1, $2, $3, $4, $5, true)",
								  5, types, args, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "crm: cron.schedule_in_database failed");
		changed++;
	}
	return changed;
}

static int
unschedule_all(const JobsRequest *r)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(r->crm_database)};

	if (SPI_execute_with_args("SELECT cron.unschedule(jobid) FROM cron.job"
							  " WHERE jobname LIKE 'crm\\_%' AND database = $1",
							  1, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm: cron.unschedule failed");
	return (int) SPI_processed;
}

static int
sync_jobs(const JobsRequest *r)
{
	require_pg_cron(r);
	return r->unschedule ? unschedule_all(r) : schedule_all(r);
}

/* ---------------------------------------------------------------------
 * The background worker, for a crm database that is not the cron one
 * --------------------------------------------------------------------- */

static void
keep_error(JobsRequest *r)
{
	ErrorData  *e;

	MemoryContextSwitchTo(TopMemoryContext);
	e = CopyErrorData();
	FlushErrorState();
	r->sqlerrcode = e->sqlerrcode;
	strlcpy(r->message, e->message, sizeof(r->message));
	strlcpy(r->hint, e->hint ? e->hint : "", sizeof(r->hint));
	FreeErrorData(e);
}

void
crm_jobs_worker_main(Datum arg)
{
	dsm_segment *seg;
	JobsRequest *r;

	BackgroundWorkerUnblockSignals();
	seg = dsm_attach(DatumGetUInt32(arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("crm: the caller of crm.schedule_jobs() went away")));
	r = dsm_segment_address(seg);
	BackgroundWorkerInitializeConnection(r->cron_database, r->username, 0);
	pgstat_report_activity(STATE_RUNNING, "crm: registering pg_cron jobs");
	PG_TRY();
	{
		StartTransactionCommand();
		SPI_connect();
		PushActiveSnapshot(GetTransactionSnapshot());
		r->changed = sync_jobs(r);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
		r->ok = true;
	}
	PG_CATCH();
	{
		keep_error(r);
		AbortCurrentTransaction();
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	dsm_detach(seg);
	proc_exit(0);
}

static void
run_in_worker(JobsRequest *r)
{
	BackgroundWorker w = {0};
	BackgroundWorkerHandle *handle;
	dsm_segment *seg = dsm_create(sizeof(JobsRequest), 0);
	JobsRequest *shared = dsm_segment_address(seg);

	memcpy(shared, r, sizeof(JobsRequest));
	snprintf(w.bgw_name, BGW_MAXLEN, "crm job registration for %s", r->crm_database);
	snprintf(w.bgw_type, BGW_MAXLEN, "crm job registration");
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(w.bgw_library_name, "crm", BGW_MAXLEN);
	strlcpy(w.bgw_function_name, "crm_jobs_worker_main", BGW_MAXLEN);
	w.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	w.bgw_notify_pid = MyProcPid;
	if (!RegisterDynamicBackgroundWorker(&w, &handle))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("no background worker slot is free to register crm's pg_cron jobs"),
				 errhint("Raise max_worker_processes, or call this again when fewer workers run.")));
	if (WaitForBackgroundWorkerShutdown(handle) != BGWH_STOPPED)
		ereport(ERROR,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("the server is shutting down; crm's pg_cron jobs were not registered")));
	memcpy(r, shared, sizeof(JobsRequest));
	dsm_detach(seg);
}

/* ---------------------------------------------------------------------
 * SQL
 * --------------------------------------------------------------------- */

/* The jobs crm.job_definitions() lists, named for where they run. */
static void
read_definitions(JobsRequest *r, bool suffixed)
{
	if (SPI_execute("SELECT job_name, schedule, command FROM crm.job_definitions()", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm: reading crm.job_definitions() failed");
	if (SPI_processed > MAX_JOBS)
		elog(ERROR, "crm: more than %d jobs defined", MAX_JOBS);
	r->n_jobs = (int) SPI_processed;
	for (int i = 0; i < r->n_jobs; i++)
	{
		JobDefinition *job = &r->jobs[i];
		char	   *name = crm_spi_text(i, 1);

		if (suffixed)
			snprintf(job->name, sizeof(job->name), "%s@%s", name, r->crm_database);
		else
			strlcpy(job->name, name, sizeof(job->name));
		strlcpy(job->schedule, crm_spi_text(i, 2), sizeof(job->schedule));
		if (strlcpy(job->command, crm_spi_text(i, 3), sizeof(job->command)) >= sizeof(job->command))
			elog(ERROR, "crm: the command of job %s is too long", name);
	}
}

static int
register_jobs(bool unschedule)
{
	const char *cron_database = GetConfigOption("cron.database_name", true, false);
	JobsRequest *r = palloc0(sizeof(JobsRequest));
	bool		here;

	if (cron_database == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_cron is not loaded"),
				 errhint("Add pg_cron to shared_preload_libraries and restart the server; see crm's README.")));
	strlcpy(r->crm_database, get_database_name(MyDatabaseId), NAMEDATALEN);
	strlcpy(r->cron_database, cron_database, NAMEDATALEN);
	strlcpy(r->username, GetUserNameFromId(GetUserId(), false), NAMEDATALEN);
	r->unschedule = unschedule;
	here = strcmp(r->crm_database, r->cron_database) == 0;

	if (!OidIsValid(get_database_oid(cron_database, true)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_DATABASE),
				 errmsg("cron.database_name names database \"%s\", which does not exist", cron_database),
				 errhint("Create it and run CREATE EXTENSION pg_cron; there, or set cron.database_name.")));
	SPI_connect();
	read_definitions(r, !here);
	if (here)
		r->changed = sync_jobs(r);
	SPI_finish();
	if (!here)
	{
		run_in_worker(r);
		if (!r->ok)
			ereport(ERROR,
					(errcode(r->sqlerrcode ? r->sqlerrcode : ERRCODE_INTERNAL_ERROR),
					 errmsg("%s", r->message[0] ? r->message : "the worker that registers crm's jobs failed"),
					 errdetail("Raised in database \"%s\" by the background worker that registers crm's jobs.",
							   r->cron_database),
					 r->hint[0] ? errhint("%s", r->hint) : errhint("The server log may say more.")));
	}
	return r->changed;
}

PG_FUNCTION_INFO_V1(crm_schedule_jobs);

Datum
crm_schedule_jobs(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(register_jobs(false));
}

PG_FUNCTION_INFO_V1(crm_unschedule_jobs);

Datum
crm_unschedule_jobs(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(register_jobs(true));
}
