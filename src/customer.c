/*
 * customer.c: BEFORE triggers that store contact points and credit codes
 * in their canonical form, or refuse them with an error that says why.
 *
 * They run for every row every client writes (apps, imports, psql), so
 * they are in C; the CHECK constraints behind them are the last guard.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#include "checkcode.h"
#include "core.h"
#include "customer.h"
#include "email.h"
#include "normalize.h"
#include "phone.h"
#include "quote.h"

PG_FUNCTION_INFO_V1(crm_contact_point_before_write);
PG_FUNCTION_INFO_V1(crm_account_before_write);

static TriggerData *
row_trigger_data(FunctionCallInfo fcinfo, const char *name)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s must be called as a BEFORE ROW trigger", name)));
	return trigdata;
}

static HeapTuple
new_tuple(TriggerData *trigdata)
{
	return TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
		trigdata->tg_newtuple : trigdata->tg_trigtuple;
}

/* Text value of column attname, or NULL. */
static char *
column_text(TriggerData *trigdata, HeapTuple tuple, const char *attname, int *attnum)
{
	TupleDesc	desc = RelationGetDescr(trigdata->tg_relation);

	*attnum = SPI_fnumber(desc, attname);
	if (*attnum <= 0)
		elog(ERROR, "column \"%s\" is missing from \"%s\"", attname,
			 RelationGetRelationName(trigdata->tg_relation));
	return SPI_getvalue(tuple, desc, *attnum);
}

/*
 * Replace column attname by its canonical form; raise an error naming
 * what was wrong if the value cannot be used.
 */
static HeapTuple
canonicalize_column(TriggerData *trigdata, HeapTuple tuple, const char *attname,
					CoreNormalizer normalizer, const char *what, const char *hint)
{
	int			attnum;
	char	   *raw = column_text(trigdata, tuple, attname, &attnum);
	char	   *canonical;
	Datum		value;
	bool		isnull = false;

	if (raw == NULL)
		return tuple;
	canonical = crm_normalize_bytes(normalizer, raw, strlen(raw));
	if (canonical == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid %s: %s", what, crm_quote_value(raw)),
				 errdetail("Column \"%s\" of \"%s\" only stores values that %s.",
						   attname, RelationGetRelationName(trigdata->tg_relation), hint)));
	if (strcmp(raw, canonical) == 0)
		return tuple;
	value = CStringGetTextDatum(canonical);
	return heap_modify_tuple_by_cols(tuple, RelationGetDescr(trigdata->tg_relation),
									 1, &attnum, &value, &isnull);
}

/* crm.contact_point: the value, read by its kind, in canonical form. */
Datum
crm_contact_point_before_write(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = row_trigger_data(fcinfo, "crm.contact_point_before_write()");
	HeapTuple	tuple = new_tuple(trigdata);
	int			attnum;
	char	   *kind = column_text(trigdata, tuple, "kind", &attnum);

	if (kind && strcmp(kind, "phone") == 0)
		tuple = canonicalize_column(trigdata, tuple, "value", crm_norm_phone,
									"phone number",
									"crm.norm_phone() reads as a possible phone number");
	else if (kind && strcmp(kind, "email") == 0)
		tuple = canonicalize_column(trigdata, tuple, "value", crm_norm_email,
									"e-mail address",
									"crm.norm_email() reads as an e-mail address");
	/* other kinds are left to the CHECK constraint on kind */
	return PointerGetDatum(tuple);
}

/* crm.account: the credit code in canonical form. */
Datum
crm_account_before_write(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = row_trigger_data(fcinfo, "crm.account_before_write()");

	return PointerGetDatum(canonicalize_column(trigdata, new_tuple(trigdata), "uscc",
											   crm_norm_uscc,
											   "unified social credit code",
											   "pass the GB 32100-2015 check"));
}
