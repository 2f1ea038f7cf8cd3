/*
 * lead_time.c: the window a lead's submission time must lie in.
 *
 * Channels say when a lead was submitted.  A value nobody meant as a time
 * ('-infinity', 'epoch', 'now', 44 BC, year 99999) would otherwise be
 * stored as one and skew, or hang, every report over time ranges.  So a
 * lead time must be an ordinary date and time from crm.lead_time_floor up
 * to crm.lead_time_max_ahead after the current time (now(), the start of
 * the transaction).  Times without a zone, the floor's included, are read
 * in the lead's zone: its channel's, else crm's business time zone
 * (crm.business_time_zone()), never the session's, so that every client
 * stores the same payload at the same instant.  Chinese forms write dates
 * as 2026年11月20日 09:30, which is read as 2026-11-20 09:30.
 *
 * What is stored is held to less: crm.lead's CHECK keeps created_at
 * finite and after HARD_FLOOR, and this module's trigger keeps direct
 * writes within the moving ceiling.  The configurable floor applies to
 * what ingestion takes in, so that raising it does not make leads already
 * stored impossible to restore.
 */
#include "postgres.h"

#include <ctype.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#include "lead_time.h"
#include "quote.h"
#include "spi_plan.h"

PG_FUNCTION_INFO_V1(crm_lead_time_guard);

/* crm.lead's CHECK: after 1970-01-01 00:00 UTC, the epoch that stands in for "no time". */
#define HARD_FLOOR ((TimestampTz) (UNIX_EPOCH_JDATE - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY)
#define MAX_AHEAD_LIMIT (366 * SECS_PER_DAY)

static char *floor_setting = NULL;
static int	max_ahead_seconds = SECS_PER_DAY;

/* The floor as read in floor_zone; read again for another zone. */
static TimestampTz floor_value;
static pg_tz *floor_zone = NULL;

/*
 * DecodeDateTime reads a time without a zone in session_timezone, and
 * only it knows whether the text gave one: so it runs with the zone meant
 * standing in for the session's.
 */
static int
decode_in_zone(char **field, int *ftype, int nf, int *dtype, struct pg_tm *tm,
			   fsec_t *fsec, int *tz, pg_tz *zone)
{
	pg_tz	   *session_zone = session_timezone;
	int			dterr;

	session_timezone = zone;
	PG_TRY();
	{
		dterr = DecodeDateTime(field, ftype, nf, dtype, tm, fsec, tz);
	}
	PG_FINALLY();
	{
		session_timezone = session_zone;
	}
	PG_END_TRY();
	return dterr;
}

typedef enum TimeParse
{
	TIME_OK,
	TIME_BAD_FORMAT,			/* not a date and time */
	TIME_BAD_FIELD,				/* a field out of range: 2024-13-45 */
	TIME_SPECIAL,				/* infinity, epoch, now, today, allballs ... */
	TIME_OUT_OF_RANGE			/* beyond what timestamptz holds */
} TimeParse;

/*
 * Read a date and time as timestamptz_in does, a time without a zone in
 * zone, without raising an error that would quote the whole text, and
 * telling the special values apart.
 */
static TimeParse
parse_time(const char *text, pg_tz *zone, TimestampTz *result)
{
	char		workbuf[MAXDATELEN + MAXDATEFIELDS];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype;
	int			tz;
	int			special;
	int			dterr;
	struct pg_tm tm;
	fsec_t		fsec;

	if (ParseDateTime(text, workbuf, sizeof(workbuf), field, ftype, MAXDATEFIELDS, &nf) != 0)
		return TIME_BAD_FORMAT;
	/* ParseDateTime lower-cases words, as DecodeSpecial expects */
	for (int i = 0; i < nf; i++)
		if ((ftype[i] == DTK_STRING || ftype[i] == DTK_SPECIAL) &&
			DecodeSpecial(i, field[i], &special) == RESERV)
			return TIME_SPECIAL;
	dterr = decode_in_zone(field, ftype, nf, &dtype, &tm, &fsec, &tz, zone);
	if (dterr == DTERR_BAD_FORMAT)
		return TIME_BAD_FORMAT;
	if (dterr != 0)
		return TIME_BAD_FIELD;
	if (tm2timestamp(&tm, fsec, &tz, result) != 0)
		return TIME_OUT_OF_RANGE;
	return TIME_OK;
}

static bool
check_floor(char **newval, void **extra, GucSource source)
{
	TimestampTz floor;

	if (parse_time(*newval, session_timezone, &floor) != TIME_OK)
	{
		GUC_check_errdetail("The floor must be a date, or a date and time, such as 2000-01-01.");
		return false;
	}
	if (floor <= HARD_FLOOR)
	{
		GUC_check_errdetail("The floor must be after 1970-01-01 00:00:00+00, the earliest lead time crm.lead stores.");
		return false;
	}
	if (floor > GetCurrentTimestamp())
	{
		GUC_check_errdetail("The floor cannot be in the future.");
		return false;
	}
	return true;
}

static void
assign_floor(const char *newval, void *extra)
{
	floor_zone = NULL;
}

void
crm_lead_time_init(void)
{
	DefineCustomStringVariable("crm.lead_time_floor",
							   "Earliest lead submission time ingestion accepts.",
							   "A date or timestamp; without a zone it is read in the lead's time zone (its channel's, else crm.business_time_zone()).",
							   &floor_setting, "2000-01-01", PGC_USERSET, 0,
							   check_floor, assign_floor, NULL);
	DefineCustomIntVariable("crm.lead_time_max_ahead",
							"How far after the current time a lead submission time may lie.",
							"Channels' clocks run a little ahead; a time further ahead is refused.",
							&max_ahead_seconds, SECS_PER_DAY, 0, MAX_AHEAD_LIMIT,
							PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);
}

static TimestampTz
lead_time_floor(pg_tz *zone)
{
	if (floor_zone != zone)
	{
		/* check_floor read it already: only the zone can make it differ */
		if (parse_time(floor_setting, zone, &floor_value) != TIME_OK)
			elog(ERROR, "crm.lead_time_floor \"%s\" cannot be read", floor_setting);
		floor_value = Max(floor_value, HARD_FLOOR + 1);
		floor_zone = zone;
	}
	return floor_value;
}

static TimestampTz
lead_time_ceiling(void)
{
	return GetCurrentTransactionStartTimestamp() + (TimestampTz) max_ahead_seconds * USECS_PER_SEC;
}

static void
refuse(int sqlerrcode, const char *field, const char *problem, const char *value, pg_tz *zone)
{
	ereport(ERROR,
			(errcode(sqlerrcode),
			 errmsg("lead field \"%s\" %s: %s", field, problem, crm_quote_value(value)),
			 errdetail("Lead times must lie between %s and %s after the current time.",
					   timestamptz_to_str(lead_time_floor(zone)),
					   GetConfigOptionByName("crm.lead_time_max_ahead", NULL, false)),
			 errhint("The window is set by crm.lead_time_floor and crm.lead_time_max_ahead.")));
}

/*
 * Epoch seconds or milliseconds, as Baidu and WeChat send them: 13 digits
 * are milliseconds, 9 to 12 seconds.  Only 10-digit seconds (2001-09-09 to
 * 2286) and 13-digit milliseconds can lie in today's window; other lengths
 * are read as dates (20261120) or refused.
 */
static bool
is_epoch_number(const char *text)
{
	size_t		len = strlen(text);

	return len >= 9 && len <= 13 && strspn(text, "0123456789") == len;
}

/* Skip the UTF-8 word at *p, if it is there. */
static bool
skip_word(const char **p, const char *word)
{
	size_t		len = strlen(word);

	if (strncmp(*p, word, len) != 0)
		return false;
	*p += len;
	return true;
}

/* Read 1 to max_digits ASCII digits at *p into *value. */
static bool
read_number(const char **p, int max_digits, int *value)
{
	int			n = 0;

	*value = 0;
	while (n < max_digits && isdigit((unsigned char) (*p)[n]))
		*value = *value * 10 + ((*p)[n++] - '0');
	*p += n;
	return n > 0;
}

/*
 * 2026年11月20日 (or 号), then nothing, an ordinary time (09:30), or 9时30分
 * (点 for 时, seconds optional), as "2026-11-20 09:30" for parse_time;
 * NULL when the text is not that form.  Parts are not range-checked here:
 * 2026年13月20日 reaches parse_time as 2026-13-20 and is refused there.
 */
static char *
chinese_date_as_iso(const char *text)
{
	const char *p = text;
	const char *time_of_day;
	int			year, month, day, hour, minute, second = 0;

	while (*p == ' ')
		p++;
	if (!(read_number(&p, 4, &year) && skip_word(&p, "年") &&
		  read_number(&p, 2, &month) && skip_word(&p, "月") &&
		  read_number(&p, 2, &day) && (skip_word(&p, "日") || skip_word(&p, "号"))))
		return NULL;
	while (*p == ' ')
		p++;
	time_of_day = p;
	if (!(read_number(&p, 2, &hour) && (skip_word(&p, "时") || skip_word(&p, "点"))))
		return psprintf("%04d-%02d-%02d %s", year, month, day, time_of_day);
	minute = 0;
	if (read_number(&p, 2, &minute) && !skip_word(&p, "分"))
		return NULL;
	if (read_number(&p, 2, &second) && !skip_word(&p, "秒"))
		return NULL;
	return psprintf("%04d-%02d-%02d %02d:%02d:%02d%s", year, month, day, hour, minute, second, p);
}

static TimestampTz
lead_time_in(const char *field, const char *text, pg_tz *zone)
{
	TimestampTz t;
	TimeParse	parsed = TIME_OK;
	char	   *iso;

	if (is_epoch_number(text))
	{
		double		seconds = strtod(text, NULL);

		t = DatumGetTimestampTz(DirectFunctionCall1(float8_timestamptz,
													Float8GetDatum(strlen(text) == 13 ? seconds / 1000 : seconds)));
	}
	else
		parsed = parse_time((iso = chinese_date_as_iso(text)) ? iso : text, zone, &t);
	switch (parsed)
	{
		case TIME_BAD_FORMAT:
		case TIME_BAD_FIELD:
			ereport(ERROR,
					(errcode(parsed == TIME_BAD_FORMAT ? ERRCODE_INVALID_DATETIME_FORMAT
							 : ERRCODE_DATETIME_FIELD_OVERFLOW),
					 errmsg("lead field \"%s\" is not a valid time: %s", field, crm_quote_value(text)),
					 errdetail("Lead times are ISO 8601 text (2026-11-20T09:30:00+08:00), a local date and time read in %s (2026-11-20 09:30, 2026年11月20日 09:30), or epoch seconds (10 digits) or milliseconds (13).",
							   pg_get_timezone_name(zone))));
			break;
		case TIME_SPECIAL:
			refuse(ERRCODE_INVALID_DATETIME_FORMAT, field, "has a special time value", text, zone);
			break;
		case TIME_OUT_OF_RANGE:
			refuse(ERRCODE_DATETIME_FIELD_OVERFLOW, field, "is outside the lead time window", text, zone);
			break;
		case TIME_OK:
			if (t < lead_time_floor(zone) || t > lead_time_ceiling())
				refuse(ERRCODE_DATETIME_FIELD_OVERFLOW, field, "is outside the lead time window", text, zone);
			break;
	}
	return t;
}

char *
crm_lead_time_text(const char *field, const char *text, pg_tz *zone)
{
	TimestampTz t = lead_time_in(field, text, zone);
	struct pg_tm tm;
	fsec_t		fsec;
	int			offset;

	if (timestamp2tm(t, &offset, &tm, &fsec, NULL, zone) != 0)
		elog(ERROR, "lead time out of range");	/* lead_time_in kept it in range */
	return JsonEncodeDateTime(NULL, TimestampTzGetDatum(t), TIMESTAMPTZOID, &offset);
}

pg_tz *
crm_time_zone(const char *name)
{
	pg_tz	   *zone = pg_tzset(name);

	if (zone == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone %s is not known to this server", crm_quote_value(name)),
				 errhint("Set a zone listed in pg_timezone_names on crm.channel.time_zone, or with crm.set_business_time_zone().")));
	return zone;
}

CRM_KEPT_PLAN(business_time_zone) = {
	"SELECT crm.business_time_zone()", 0, {InvalidOid}
};

static pg_tz *
business_zone(void)
{
	pg_tz	   *zone;

	SPI_connect();
	(void) crm_plan_run(&business_time_zone, NULL, NULL, 1, SPI_OK_SELECT);
	zone = crm_time_zone(crm_spi_text(0, 1));
	SPI_finish();
	return zone;
}

/*
 * Trigger on crm.lead, BEFORE INSERT OR UPDATE OF created_at: a lead time
 * written directly may not lie beyond the ceiling.  (The ceiling moves, so
 * it cannot be a CHECK; a time that passed it once passes it for good.)
 */
Datum
crm_lead_time_guard(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	HeapTuple	row;
	int			attnum;
	bool		isnull;
	TimestampTz t;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || TRIGGER_FIRED_BY_DELETE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.lead_time_guard() must be a BEFORE INSERT OR UPDATE row trigger")));
	row = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	attnum = SPI_fnumber(td->tg_relation->rd_att, "created_at");
	t = DatumGetTimestampTz(heap_getattr(row, attnum, td->tg_relation->rd_att, &isnull));
	if (!isnull && t > lead_time_ceiling())
		refuse(ERRCODE_DATETIME_FIELD_OVERFLOW, "created_at", "is outside the lead time window",
			   pstrdup(timestamptz_to_str(t)), business_zone());
	return PointerGetDatum(row);
}
