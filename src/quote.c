/*
 * quote.c: input values quoted in messages, cut to a readable length.
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "quote.h"

PG_FUNCTION_INFO_V1(crm_quote_value_sql);

char *
crm_quote_value(const char *value)
{
	size_t		len = strlen(value);
	int			kept;

	/* a text value is below 1 GB, so its length fits an int */
	kept = pg_mbcharcliplen(value, (int) len, CRM_QUOTE_MAX_CHARS);
	if ((size_t) kept == len)
		return psprintf("\"%s\"", value);
	return psprintf("\"%.*s…\" (%zu bytes)", kept, value, len);
}

/* crm.quote_value(text) -> text: the same, for messages raised in SQL. */
Datum
crm_quote_value_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(crm_quote_value(text_to_cstring(PG_GETARG_TEXT_PP(0)))));
}
