/*
 * cron_health.c: can pg_cron run crm's jobs?  crm.cron_setup_problems()
 * and the warnings crm.schedule_jobs() gives.
 *
 * Without cron.use_background_workers, pg_cron runs each job over a libpq
 * connection to cron.host, on this server's port, as the job's role, with
 * no password of its own: only a password file or PGPASSWORD in the
 * server's environment supplies one.  A cluster set up with the defaults
 * (cron.host = localhost, a password rule for TCP in pg_hba.conf) thus
 * registers the jobs and fails every run with "connection failed", which
 * only cron.job_run_details records.  What can be told without connecting
 * is checked here: where the connection would go, and the first
 * pg_hba.conf rule it would meet (readable by superusers only).  A verdict
 * is given only when the connection certainly fails.
 */
#include "postgres.h"

#include <pwd.h>
#include <unistd.h>
#include <sys/stat.h>

#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/pg_list.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "cron_health.h"
#include "spi_plan.h"

#define FIX_WORKERS "Set cron.use_background_workers = on in postgresql.conf and restart the server: " \
	"pg_cron then runs jobs in background workers and needs no connection."

typedef struct CronProblem
{
	const char *setting;
	char	   *problem;
	char	   *hint;
} CronProblem;

static List *
add_problem(List *problems, const char *setting, char *problem, const char *fix)
{
	CronProblem *p = palloc(sizeof(CronProblem));

	p->setting = setting;
	p->problem = problem;
	p->hint = psprintf("%s Or %s", FIX_WORKERS, fix);
	return lappend(problems, p);
}

/* A comma-separated setting (listen_addresses, unix_socket_directories). */
static bool
setting_lists(const char *setting, const char *item)
{
	char	   *raw = pstrdup(setting ? setting : "");
	List	   *items;
	ListCell   *lc;

	if (!SplitDirectoriesString(raw, ',', &items))
		return false;
	foreach(lc, items)
		if (strcmp((char *) lfirst(lc), item) == 0)
			return true;
	return false;
}

/* Whether libpq in the server's processes can find a password at all. */
static bool
server_has_password_source(void)
{
	const char *passfile = getenv("PGPASSFILE");
	const char *home = getenv("HOME");
	struct passwd *pw = getpwuid(geteuid());
	struct stat st;

	if (getenv("PGPASSWORD") != NULL)
		return true;
	if (passfile != NULL)
		return stat(passfile, &st) == 0;
	if (home != NULL && stat(psprintf("%s/.pgpass", home), &st) == 0)
		return true;
	return pw != NULL && stat(psprintf("%s/.pgpass", pw->pw_dir), &st) == 0;
}

/*
 * The first pg_hba.conf rule a connection meets: 'local' when address is
 * NULL, else TCP from that loopback address.  NULL: none matches.  A rule
 * whose address is a host name is returned as it is: the caller cannot
 * judge it.  SPI is connected and search_path pinned.
 */
static bool
first_hba_rule(const char *address, const char *user, char **method, char **line, char **options, char **rule_address)
{
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, BOOLOID};
	Datum		args[4] = {0, CStringGetTextDatum(get_database_name(MyDatabaseId)), CStringGetTextDatum(user),
	BoolGetDatum(strcmp(GetConfigOption("ssl", false, false), "on") == 0)};
	char		nulls[4] = {address ? ' ' : 'n', ' ', ' ', ' '};

	if (address)
		args[0] = CStringGetTextDatum(address);
	if (SPI_execute_with_args(
							  "SELECT r.auth_method, r.line_number::text, array_to_string(r.options, ' '), r.address"
							  "  FROM pg_catalog.pg_hba_file_rules r"
							  " WHERE r.error IS NULL"
							  "   AND CASE WHEN $1 IS NULL THEN r.type = 'local'"
							  "       ELSE r.type IN ('host', 'hostnogssenc')"
							  "            OR (r.type = 'hostssl' AND $4) OR (r.type = 'hostnossl' AND NOT $4) END"
							  /* CASE: a host name or another family must not reach the casts */
							  "   AND CASE WHEN $1 IS NULL OR r.address IN ('all', 'samehost', 'samenet')"
							  "                 OR r.address !~ '^[0-9A-Fa-f.:]+$' THEN true"
							  "            WHEN family(r.address::inet) <> family($1::inet) THEN false"
							  "            ELSE (r.address::inet & r.netmask::inet) = ($1::inet & r.netmask::inet) END"
							  "   AND (r.database && ARRAY['all', $2] OR ('sameuser' = ANY (r.database) AND $2 = $3)"
							  "        OR ('samerole' = ANY (r.database) AND EXISTS (SELECT FROM pg_catalog.pg_roles g"
							  "             WHERE g.rolname = $2 AND pg_catalog.pg_has_role($3, g.oid, 'MEMBER'))))"
							  "   AND (r.user_name && ARRAY['all', $3]"
							  "        OR EXISTS (SELECT FROM pg_catalog.unnest(r.user_name) u"
							  "                   JOIN pg_catalog.pg_roles g ON '+' || g.rolname = u"
							  "                  WHERE pg_catalog.pg_has_role($3, g.oid, 'MEMBER')))"
							  " ORDER BY r.line_number LIMIT 1",
							  4, types, args, nulls, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "crm: reading pg_hba_file_rules failed");
	if (SPI_processed == 0)
		return false;
	*method = crm_spi_text(0, 1);
	*line = crm_spi_text(0, 2);
	*options = crm_spi_text(0, 3);
	*rule_address = crm_spi_text(0, 4);
	return true;
}

/*
 * Why the connection of a job run as user fails at authentication, or
 * NULL when it may well succeed (or nobody here can tell).
 */
static char *
hba_refusal(const char *address, const char *user)
{
	char	   *method,
			   *line,
			   *options,
			   *rule_address;
	struct passwd *pw;

	if (!first_hba_rule(address, user, &method, &line, &options, &rule_address))
		return psprintf("no pg_hba.conf line lets role \"%s\" connect to database \"%s\" %s",
						user, get_database_name(MyDatabaseId), address ? psprintf("from %s", address) : "over the socket");
	if (address && rule_address && strspn(rule_address, "0123456789abcdefABCDEF.:") != strlen(rule_address) &&
		strcmp(rule_address, "all") != 0 && strcmp(rule_address, "samehost") != 0 && strcmp(rule_address, "samenet") != 0)
		return NULL;			/* a host name: cannot judge */
	if (strcmp(method, "reject") == 0)
		return psprintf("pg_hba.conf line %s rejects the connection", line);
	if ((strcmp(method, "md5") == 0 || strcmp(method, "scram-sha-256") == 0 || strcmp(method, "password") == 0) &&
		!server_has_password_source())
		return psprintf("pg_hba.conf line %s asks for a password (%s), and the server has no password file nor PGPASSWORD for pg_cron to use",
						line, method);
	pw = getpwuid(geteuid());
	if (strcmp(method, "peer") == 0 && (options == NULL || strstr(options, "map=") == NULL) &&
		pw != NULL && strcmp(pw->pw_name, user) != 0)
		return psprintf("pg_hba.conf line %s uses peer authentication, which lets the server's operating system user \"%s\" in only as role \"%s\", not as \"%s\"",
						line, pw->pw_name, pw->pw_name, user);
	return NULL;
}

static bool
may_read_hba_rules(void)
{
	return pg_proc_aclcheck(F_PG_HBA_FILE_RULES, GetUserId(), ACL_EXECUTE) == ACLCHECK_OK;
}

/* The libpq connection pg_cron would make: to a socket directory, or over TCP. */
static List *
connection_problems(const char *host, const char *user)
{
	List	   *problems = NIL;
	const char *listen = GetConfigOption("listen_addresses", false, false);
	const char *loopback[2] = {"127.0.0.1", "::1"};
	char	   *refusal = NULL;
	int			naddresses = 0;

	if (host[0] == '/')
	{
		if (!setting_lists(GetConfigOption("unix_socket_directories", false, false), host))
			return add_problem(problems, "cron.host",
							   psprintf("cron.host is \"%s\", a directory where this server keeps no socket (unix_socket_directories)", host),
							   "set cron.host to a directory unix_socket_directories lists.");
		if (may_read_hba_rules() && (refusal = hba_refusal(NULL, user)) != NULL)
			return add_problem(problems, "cron.host", psprintf("pg_cron connects over the socket in %s, but %s", host, refusal),
							   "add a pg_hba.conf line that lets this role in over the socket (trust for local connections, or a password file for the server's operating system user).");
		return problems;
	}
	if (listen == NULL || listen[0] == '\0')
		return add_problem(problems, "listen_addresses",
						   psprintf("cron.host is \"%s\", a TCP host, but the server does not listen on TCP (listen_addresses is empty)", host),
						   "set cron.host to a directory unix_socket_directories lists.");
	if (strcmp(host, "localhost") == 0)
		naddresses = 2;
	else if (strspn(host, "0123456789abcdefABCDEF.:") == strlen(host))
	{
		loopback[0] = host;
		naddresses = 1;
	}
	/* any other host name: where it leads is not known here */
	if (naddresses == 0 || !may_read_hba_rules())
		return problems;
	for (int i = 0; i < naddresses; i++)
	{
		char	   *this = hba_refusal(loopback[i], user);

		if (this == NULL)
			return problems;	/* that address may let the job in */
		if (refusal == NULL)
			refusal = this;
	}
	return add_problem(problems, "cron.host", psprintf("pg_cron connects to %s over TCP, but %s", host, refusal),
					   "set cron.host to a directory unix_socket_directories lists and let this role in over the socket in pg_hba.conf, or give the server's operating system user a password file.");
}

/*
 * The problems of pg_cron's settings for jobs run as user in this database.
 * use_workers and host: what to assume (NULL: the server's settings).
 */
static List *
cron_setup_problems(const bool *use_workers, const char *host, const char *user)
{
	const char *workers = GetConfigOption("cron.use_background_workers", true, false);
	List	   *problems = NIL;
	int			nest;

	if (workers == NULL || (GetConfigOptionFlags("cron.use_background_workers", true) & GUC_CUSTOM_PLACEHOLDER))
		return add_problem(problems, "shared_preload_libraries", pstrdup("pg_cron is not loaded"),
						   "add pg_cron to shared_preload_libraries and restart the server.");
	if (use_workers ? *use_workers : strcmp(workers, "on") == 0)
		return problems;
	if (host == NULL)
		host = GetConfigOption("cron.host", false, false);
	if (host == NULL || host[0] == '\0')
		return problems;		/* libpq's default socket: cannot judge */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm: SPI_connect failed");
	nest = crm_pin_search_path();
	problems = connection_problems(host, user);
	crm_unpin_search_path(nest);
	SPI_finish();
	return problems;
}

/* ---------------------------------------------------------------------
 * SQL
 * --------------------------------------------------------------------- */

PG_FUNCTION_INFO_V1(crm_cron_setup_problems);

Datum
crm_cron_setup_problems(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		use_workers = PG_ARGISNULL(0) ? false : PG_GETARG_BOOL(0);
	char	   *host = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	foreach(lc, cron_setup_problems(PG_ARGISNULL(0) ? NULL : &use_workers, host,
									GetUserNameFromId(GetUserId(), false)))
	{
		CronProblem *p = lfirst(lc);
		Datum		values[3] = {CStringGetTextDatum(p->setting), CStringGetTextDatum(p->problem),
		CStringGetTextDatum(p->hint)};
		bool		nulls[3] = {false, false, false};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* Jobs whose latest run failed, as crm.job_health() says where it can. */
static void
warn_failed_runs(void)
{
	int			nest;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "crm: SPI_connect failed");
	nest = crm_pin_search_path();
	if (SPI_execute("SELECT job_name, failures_since_success::text, coalesce(last_failure_message, ''),"
					" coalesce(last_success::text, 'never')"
					"  FROM crm.job_health() WHERE status IN ('failing', 'last_run_failed') ORDER BY job_name",
					true, 0) != SPI_OK_SELECT)
		elog(ERROR, "crm: reading crm.job_health() failed");
	for (uint64 i = 0; i < SPI_processed; i++)
		ereport(WARNING,
				(errmsg("crm's pg_cron job %s failed its last %s run(s): %s",
						crm_spi_text(i, 1), crm_spi_text(i, 2), crm_spi_text(i, 3)),
				 errdetail("Its last success: %s.", crm_spi_text(i, 4)),
				 errhint("See crm.job_health() and cron.job_run_details; \"connection failed\" means pg_cron's settings cannot run jobs: %s",
						 FIX_WORKERS)));
	crm_unpin_search_path(nest);
	SPI_finish();
}

void
crm_warn_cron_health(void)
{
	ListCell   *lc;

	foreach(lc, cron_setup_problems(NULL, NULL, GetUserNameFromId(GetUserId(), false)))
	{
		CronProblem *p = lfirst(lc);

		ereport(WARNING,
				(errmsg("pg_cron cannot run crm's jobs: %s", p->problem),
				 errdetail("The jobs are registered, but every run will fail with \"connection failed\" in cron.job_run_details."),
				 errhint("%s", p->hint)));
	}
	warn_failed_runs();
}
