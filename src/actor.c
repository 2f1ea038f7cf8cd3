/*
 * actor.c: the person behind a call.
 *
 * Applications share one database role, so the role says nothing about
 * who reviewed a match or called a customer.  The application names the
 * person in the setting crm.actor, per session or per transaction
 * (SET LOCAL, set_config(..., true)), and crm.current_actor() is what crm
 * records wherever it writes a "who".  Without the setting it is the role
 * the session acts as: the outer user, which SET ROLE changes and a
 * SECURITY DEFINER function does not, so a function's owner is never
 * recorded as the person.
 *
 * A session may set crm.actor before crm.so is loaded: PostgreSQL keeps a
 * placeholder, and defining the variable here takes its value over.  A bad
 * value met there cannot be refused (PostgreSQL would only warn and drop
 * it, and the work would be recorded under the role), so it is kept and
 * crm.current_actor() refuses it when it is read.
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "actor.h"
#include "quote.h"

PG_FUNCTION_INFO_V1(crm_current_actor);

/* Bytes of a name: a login or an e-mail address fits with room to spare. */
#define ACTOR_MAX_BYTES 128
#define ACTOR_HINT "Set crm.actor to the login of the person acting (at most " \
	CppAsString2(ACTOR_MAX_BYTES) " bytes, no control characters), or RESET it to act as the session's role."

static char *actor_setting = NULL;
static bool defining = false;

/* Why value names no one, or NULL when it is a usable name. */
static const char *
actor_problem(const char *value)
{
	size_t		len = strlen(value);
	const unsigned char *p = (const unsigned char *) value;

	if (len == 0)
		return "it is empty";
	if (len > ACTOR_MAX_BYTES)
		return psprintf("it is longer than %d bytes", ACTOR_MAX_BYTES);
	if (!pg_verifymbstr(value, (int) len, true))
		return "it is not valid in the database encoding";
	if (isspace(p[0]) || isspace(p[len - 1]))
		return "it begins or ends with white space";
	for (size_t i = 0; i < len; i++)
		/* C0 controls, DEL, and C1 controls (U+0080-U+009F, C2 80-9F in UTF-8) */
		if (p[i] < 0x20 || p[i] == 0x7f ||
			(GetDatabaseEncoding() == PG_UTF8 && p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f))
			return "it contains a control character";
	return NULL;
}

static char *
refusal(const char *value, const char *problem)
{
	return psprintf("crm.actor %s names no one: %s", crm_quote_value(value), problem);
}

static bool
check_actor(char **newval, void **extra, GucSource source)
{
	const char *problem;

	/* unset (the default, RESET): the role acts */
	if (*newval == NULL || defining)
		return true;
	problem = actor_problem(*newval);
	if (problem == NULL)
		return true;
	GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
	GUC_check_errmsg("%s", refusal(*newval, problem));
	GUC_check_errhint(ACTOR_HINT);
	return false;
}

void
crm_actor_init(void)
{
	defining = true;
	DefineCustomStringVariable("crm.actor",
							   "The person behind this session's or transaction's calls to crm.",
							   "Recorded wherever crm writes who did something; unset, the session's role.",
							   &actor_setting, NULL, PGC_USERSET, 0, check_actor, NULL, NULL);
	defining = false;
}

/* crm.actor when set, else the role the session acts as (palloc'd). */
char *
crm_actor_name(void)
{
	const char *problem;

	if (actor_setting == NULL)
		return GetUserNameFromId(GetOuterUserId(), false);
	/* a value set before crm.so was loaded has not been checked yet */
	problem = actor_problem(actor_setting);
	if (problem)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg_internal("%s", refusal(actor_setting, problem)),
				 errhint(ACTOR_HINT)));
	return pstrdup(actor_setting);
}

/* crm.current_actor() -> text */
Datum
crm_current_actor(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(crm_actor_name()));
}
