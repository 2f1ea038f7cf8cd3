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
 * stores the same payload at the same instant.  For the same reason the
 * text is read here, in a closed set of forms (ISO 8601, the year first,
 * 2026年11月20日 09:30, epoch numbers), and not by PostgreSQL's parser,
 * whose reading of 05/12/2026, EST or UTC+8 follows DateStyle and
 * timezone_abbreviations.
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

#include "guards.h"
#include "lead_time.h"
#include "quote.h"
#include "spi_plan.h"

PG_FUNCTION_INFO_V1(crm_lead_time_guard);
PG_FUNCTION_INFO_V1(crm_business_time_zone);

/* crm.lead's CHECK: after 1970-01-01 00:00 UTC, the epoch that stands in for "no time". */
#define HARD_FLOOR ((TimestampTz) (UNIX_EPOCH_JDATE - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY)
#define MAX_AHEAD_LIMIT (366 * SECS_PER_DAY)

static char *floor_setting = NULL;
static int	max_ahead_seconds = SECS_PER_DAY;

/* The floor as read in floor_zone; read again for another zone. */
static TimestampTz floor_value;
static pg_tz *floor_zone = NULL;

typedef enum TimeParse
{
	TIME_OK,
	TIME_BAD_FORMAT,			/* not one of the accepted forms */
	TIME_BAD_FIELD,				/* a field out of range: 2024-13-45 */
	TIME_SPECIAL,				/* infinity, epoch, now, today, allballs ... */
	TIME_OUT_OF_RANGE			/* BC, or beyond what timestamptz holds */
} TimeParse;

/* A date and time as the payload wrote it, before it is placed in a zone. */
typedef struct TimeParts
{
	struct pg_tm tm;
	fsec_t		fsec;
	bool		has_offset;
	int			offset;			/* seconds west of UTC, as PostgreSQL counts */
	pg_tz	   *named_zone;		/* Asia/Tokyo after the time, or NULL */
} TimeParts;

/* Longer text is no time crm accepts (the longest zone name is 32 bytes). */
#define TIME_TEXT_MAX 128

/*
 * Copy text into buf without surrounding white space, full-width forms
 * (U+FF01 to U+FF5E: ２０２６，：，／) and the ideographic space folded to
 * ASCII as NFKC does; false when it is too long to be a time.
 */
static bool
clean_time_text(const char *text, char *buf)
{
	const unsigned char *s = (const unsigned char *) text;
	char	   *out = buf;

	while (*s)
	{
		if (out - buf >= TIME_TEXT_MAX - 1)
			return false;
		if (s[0] == 0xEF && s[1] == 0xBC && s[2] >= 0x81 && s[2] <= 0xBF)
			*out++ = 0x20 + (s[2] & 0x3F), s += 3;
		else if (s[0] == 0xEF && s[1] == 0xBD && s[2] >= 0x80 && s[2] <= 0x9E)
			*out++ = 0x60 + (s[2] & 0x3F), s += 3;
		else if (s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80)
			*out++ = ' ', s += 3;
		else
			*out++ = *s++;
	}
	while (out > buf && isspace((unsigned char) out[-1]))
		out--;
	*out = '\0';
	s = (const unsigned char *) buf;
	while (isspace(*s))
		s++;
	memmove(buf, s, out - (char *) s + 1);
	return true;
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

static void
skip_spaces(const char **p)
{
	while (**p == ' ')
		(*p)++;
}

/*
 * Read min_digits to max_digits ASCII digits at *p into *value; on false,
 * *p is where it was.
 */
static bool
read_number(const char **p, int min_digits, int max_digits, int *value)
{
	int			n = 0;

	*value = 0;
	while (n < max_digits && isdigit((unsigned char) (*p)[n]))
		*value = *value * 10 + ((*p)[n++] - '0');
	if (n < min_digits || isdigit((unsigned char) (*p)[n]))
		return false;
	*p += n;
	return true;
}

/*
 * HH:MM[:SS[.f]], the hour in one or two digits; fractions past
 * microseconds are rounded, as PostgreSQL does.
 */
static bool
read_clock(const char **p, TimeParts *parts)
{
	int			digits;

	if (!(read_number(p, 1, 2, &parts->tm.tm_hour) && skip_word(p, ":") &&
		  read_number(p, 2, 2, &parts->tm.tm_min)))
		return false;
	if (!skip_word(p, ":"))
		return true;
	if (!read_number(p, 2, 2, &parts->tm.tm_sec))
		return false;
	if (!(skip_word(p, ".") || skip_word(p, ",")))
		return true;
	if (!isdigit((unsigned char) **p))
		return false;
	for (digits = 0; isdigit((unsigned char) **p); (*p)++, digits++)
		if (digits < 6)
			parts->fsec = parts->fsec * 10 + (**p - '0');
		else if (digits == 6 && **p >= '5')
			parts->fsec++;
	for (; digits < 6; digits++)
		parts->fsec *= 10;
	return true;
}

/* 9时30分 (点 for 时; minutes and seconds optional, each with its word). */
static bool
read_chinese_clock(const char **p, TimeParts *parts)
{
	const char *start = *p;

	if (!(read_number(p, 1, 2, &parts->tm.tm_hour) &&
		  (skip_word(p, "时") || skip_word(p, "点"))))
	{
		*p = start;
		return false;
	}
	if (read_number(p, 1, 2, &parts->tm.tm_min) && !skip_word(p, "分"))
		return false;
	if (read_number(p, 1, 2, &parts->tm.tm_sec) && !skip_word(p, "秒"))
		return false;
	return true;
}

/*
 * A tz database name: Area/Location, or Etc/GMT-8.  pg_tzset would also
 * take a POSIX rule (Asia/X+8, 8 hours west), so digits and signs are
 * allowed only in Etc/GMT names.
 */
static bool
is_zone_name(const char *name)
{
	const char *offset = name + strlen("Etc/GMT");
	int			hours;

	if (pg_strncasecmp(name, "Etc/GMT", strlen("Etc/GMT")) == 0 &&
		(*offset == '+' || *offset == '-'))
	{
		offset++;
		return read_number(&offset, 1, 2, &hours) && *offset == '\0';
	}
	return isalpha((unsigned char) *name) && strchr(name, '/') != NULL &&
		strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_/-") == strlen(name);
}

/*
 * What may follow a time: nothing, Z, +08:00, +0800, +08, UTC or GMT, or
 * a tz database name (Asia/Tokyo).  Abbreviations (EST, CST, IST) and
 * POSIX offsets (UTC+8) are not: they mean different instants to
 * different senders, or to PostgreSQL under different settings.
 */
static TimeParse
read_zone(const char *p, TimeParts *parts)
{
	int			hours, minutes = 0;

	skip_spaces(&p);
	if (*p == '\0')
		return TIME_OK;
	parts->has_offset = true;
	if (pg_strcasecmp(p, "Z") == 0 || pg_strcasecmp(p, "UTC") == 0 || pg_strcasecmp(p, "GMT") == 0)
		return TIME_OK;
	if (*p == '+' || *p == '-')
	{
		const char *q = p + 1;

		if (read_number(&q, 4, 4, &hours))
			minutes = hours % 100, hours /= 100;
		else if (!(read_number(&q, 2, 2, &hours) &&
				   (*q == '\0' || (skip_word(&q, ":") && read_number(&q, 2, 2, &minutes)))))
			return TIME_BAD_FORMAT;
		if (*q != '\0')
			return TIME_BAD_FORMAT;
		if (hours > MAX_TZDISP_HOUR || minutes >= MINS_PER_HOUR)
			return TIME_BAD_FIELD;
		parts->offset = (*p == '+' ? -1 : 1) * (hours * SECS_PER_HOUR + minutes * SECS_PER_MINUTE);
		return TIME_OK;
	}
	parts->has_offset = false;
	if (!is_zone_name(p) || (parts->named_zone = pg_tzset(p)) == NULL)
		return TIME_BAD_FORMAT;
	return TIME_OK;
}

/*
 * The date: YYYY-MM-DD with -, / or . (the year first, so never read
 * month- or day-first), YYYYMMDD, or 2026年11月20日 (or 号).
 */
static TimeParse
read_date(const char **p, struct pg_tm *tm, bool *chinese)
{
	const char *start = *p;
	int			number;
	char		sep;

	if (!read_number(p, 1, 8, &number))
		return TIME_BAD_FORMAT;
	*chinese = skip_word(p, "年");
	if (*chinese)
	{
		tm->tm_year = number;
		return read_number(p, 1, 2, &tm->tm_mon) && skip_word(p, "月") &&
			read_number(p, 1, 2, &tm->tm_mday) &&
			(skip_word(p, "日") || skip_word(p, "号")) ? TIME_OK : TIME_BAD_FORMAT;
	}
	if (*p - start == 8)
	{
		tm->tm_year = number / 10000;
		tm->tm_mon = number / 100 % 100;
		tm->tm_mday = number % 100;
		return TIME_OK;
	}
	sep = **p;
	tm->tm_year = number;
	if (*p - start < 4 || !(sep == '-' || sep == '/' || sep == '.'))
		return TIME_BAD_FORMAT;
	(*p)++;
	return read_number(p, 1, 2, &tm->tm_mon) && *(*p)++ == sep &&
		read_number(p, 1, 2, &tm->tm_mday) ? TIME_OK : TIME_BAD_FORMAT;
}

/* A date, then nothing or a time with the zone it may name. */
static TimeParse
read_date_time(const char *p, TimeParts *parts)
{
	bool		chinese;
	TimeParse	parsed = read_date(&p, &parts->tm, &chinese);

	if (parsed != TIME_OK || *p == '\0')
		return parsed;
	if (chinese)
		skip_spaces(&p);
	else if (*p == 'T' || *p == 't')
		p++;
	else if (*p == ' ')
		skip_spaces(&p);
	else
		return TIME_BAD_FORMAT;
	if (!((chinese && read_chinese_clock(&p, parts)) || read_clock(&p, parts)))
		return TIME_BAD_FORMAT;
	return read_zone(p, parts);
}

static bool
fields_in_range(const TimeParts *parts)
{
	const struct pg_tm *tm = &parts->tm;

	return tm->tm_mon >= 1 && tm->tm_mon <= MONTHS_PER_YEAR && tm->tm_mday >= 1 &&
		tm->tm_mday <= day_tab[isleap(tm->tm_year)][tm->tm_mon - 1] &&
		tm->tm_hour < HOURS_PER_DAY && tm->tm_min < MINS_PER_HOUR && tm->tm_sec < SECS_PER_MINUTE;
}

/* Words PostgreSQL reads as special times, anywhere in the text. */
static bool
names_special_value(const char *text)
{
	static const char *const specials[] = {
		"infinity", "epoch", "now", "today", "tomorrow", "yesterday", "allballs"
	};

	for (const char *p = text; *p; p++)
	{
		size_t		len = 0;

		while (isalpha((unsigned char) p[len]))
			len++;
		for (size_t i = 0; i < lengthof(specials); i++)
			if (len == strlen(specials[i]) && pg_strncasecmp(p, specials[i], len) == 0)
				return true;
		p += len > 0 ? len - 1 : 0;
	}
	return false;
}

/*
 * Read a date and time of the accepted forms (cleaned by clean_time_text)
 * into *result, a time without a zone in zone.  Nothing else is read: not
 * through PostgreSQL's parser, whose reading of 05/12/2026, EST or
 * UTC+8 depends on DateStyle and timezone_abbreviations.  A BC date is
 * read only to be refused as outside every window.
 */
static TimeParse
parse_time(const char *text, pg_tz *zone, TimestampTz *result)
{
	TimeParts	parts = {0};
	char		date_time[TIME_TEXT_MAX];
	size_t		len = strlen(text);
	bool		bc = len > 3 && pg_strcasecmp(text + len - 3, " BC") == 0;
	TimeParse	parsed;
	int			tz;

	strlcpy(date_time, text, bc ? len - 2 : len + 1);
	parsed = read_date_time(date_time, &parts);
	if (parsed == TIME_BAD_FORMAT && names_special_value(text))
		return TIME_SPECIAL;
	if (parsed != TIME_OK)
		return parsed;
	if (!fields_in_range(&parts))
		return TIME_BAD_FIELD;
	if (bc)
		return TIME_OUT_OF_RANGE;
	tz = parts.has_offset ? parts.offset
		: DetermineTimeZoneOffset(&parts.tm, parts.named_zone ? parts.named_zone : zone);
	if (tm2timestamp(&parts.tm, parts.fsec, &tz, result) != 0)
		return TIME_OUT_OF_RANGE;
	return TIME_OK;
}

/* parse_time for text as given: white space and full-width forms allowed. */
static TimeParse
parse_time_text(const char *text, pg_tz *zone, TimestampTz *result)
{
	char		cleaned[TIME_TEXT_MAX];

	if (!clean_time_text(text, cleaned))
		return TIME_BAD_FORMAT;
	return parse_time(cleaned, zone, result);
}

static bool
check_floor(char **newval, void **extra, GucSource source)
{
	TimestampTz floor;

	if (parse_time_text(*newval, session_timezone, &floor) != TIME_OK)
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
		if (parse_time_text(floor_setting, zone, &floor_value) != TIME_OK)
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
			 max_ahead_seconds > 0 ?
			 errdetail("Lead times must lie between crm.lead_time_floor (%s) and crm.lead_time_max_ahead (%s) after the current time.",
					   timestamptz_to_str(lead_time_floor(zone)),
					   GetConfigOptionByName("crm.lead_time_max_ahead", NULL, false)) :
			 errdetail("Lead times must lie between crm.lead_time_floor (%s) and the current time (crm.lead_time_max_ahead is 0).",
					   timestamptz_to_str(lead_time_floor(zone))),
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

static void refuse_unreadable(TimeParse parsed, const char *field, const char *text, pg_tz *zone) pg_attribute_noreturn();

static void
refuse_unreadable(TimeParse parsed, const char *field, const char *text, pg_tz *zone)
{
	ereport(ERROR,
			(errcode(parsed == TIME_BAD_FORMAT ? ERRCODE_INVALID_DATETIME_FORMAT
					 : ERRCODE_DATETIME_FIELD_OVERFLOW),
			 errmsg("lead field \"%s\" is not a valid time: %s", field, crm_quote_value(text)),
			 errdetail("Lead times are ISO 8601 text (2026-11-20T09:30:00+08:00, 2026-11-20T01:30:00.5Z, +0800, +08), a local date and time with the year first read in %s (2026-11-20 09:30, 2026/11/20 09:30:15, 2026.11.20, 20261120, 2026年11月20日 09:30), or epoch seconds (10 digits) or milliseconds (13).",
					   pg_get_timezone_name(zone)),
			 parsed == TIME_BAD_FORMAT ?
			 errhint("Month-first or day-first dates (05/12/2026), zone abbreviations (EST, CST, IST), POSIX offsets (UTC+8), Julian days, days of the year and words are refused: senders mean different times by them.  Give an offset (+08:00) or a zone name (Asia/Shanghai).") : 0));
	pg_unreachable();
}

static TimestampTz
lead_time_in(const char *field, const char *text, pg_tz *zone)
{
	TimestampTz t;
	TimeParse	parsed = TIME_OK;
	char		cleaned[TIME_TEXT_MAX];

	if (!clean_time_text(text, cleaned))
		refuse_unreadable(TIME_BAD_FORMAT, field, text, zone);
	if (is_epoch_number(cleaned))
	{
		double		seconds = strtod(cleaned, NULL);

		t = DatumGetTimestampTz(DirectFunctionCall1(float8_timestamptz,
													Float8GetDatum(strlen(cleaned) == 13 ? seconds / 1000 : seconds)));
	}
	else
		parsed = parse_time(cleaned, zone, &t);
	switch (parsed)
	{
		case TIME_BAD_FORMAT:
		case TIME_BAD_FIELD:
			refuse_unreadable(parsed, field, text, zone);
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

/* Without a row in crm.settings (DELETE goes back to it). */
#define DEFAULT_BUSINESS_TIME_ZONE "Asia/Shanghai"

CRM_KEPT_PLAN(settings_time_zone) = {
	"SELECT s.time_zone FROM crm.settings s WHERE s.singleton", 0, {InvalidOid}
};

char *
crm_business_time_zone_name(void)
{
	MemoryContext caller = CurrentMemoryContext;
	char	   *name = NULL;

	SPI_connect();
	if (crm_plan_run(&settings_time_zone, NULL, NULL, 1, SPI_OK_SELECT) > 0)
		name = crm_spi_text(0, 1);
	name = MemoryContextStrdup(caller, name ? name : DEFAULT_BUSINESS_TIME_ZONE);
	SPI_finish();
	return name;
}

/*
 * crm.business_time_zone(): in C because a SQL function reading a table is
 * not inlined, and one called from a kept plan is planned again on every
 * call (0.1-0.2 ms of each crm.ingest, measured with pg_stat_statements).
 */
Datum
crm_business_time_zone(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(crm_business_time_zone_name()));
}

static pg_tz *
business_zone(void)
{
	return crm_time_zone(crm_business_time_zone_name());
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

	crm_require_write_row_trigger(fcinfo, "crm.lead_time_guard()");
	row = TRIGGER_FIRED_BY_UPDATE(td->tg_event) ? td->tg_newtuple : td->tg_trigtuple;
	attnum = SPI_fnumber(td->tg_relation->rd_att, "created_at");
	t = DatumGetTimestampTz(heap_getattr(row, attnum, td->tg_relation->rd_att, &isnull));
	if (!isnull && t > lead_time_ceiling())
		refuse(ERRCODE_DATETIME_FIELD_OVERFLOW, "created_at", "is outside the lead time window",
			   pstrdup(timestamptz_to_str(t)), business_zone());
	return PointerGetDatum(row);
}
