/*
 * customer_code.c: issuing customer codes and guarding the code columns.
 *
 * Every account and contact insert issues a code through the column
 * default and checks it in a trigger, so both are in C with kept plans:
 * as SQL and PL/pgSQL they were re-planned on every row.
 *
 * Codes this transaction issued and has not used yet are remembered with
 * their kind, and the guard takes a new row's code from that memo instead
 * of looking it up.  That is sound because the registry row was written by
 * this transaction, registry rows are never deleted and their code and kind
 * never change (crm.guard_code_registry), and the foreign key to the
 * registry still checks that the row exists: a rolled-back subtransaction
 * may have taken it away.  The memo lives in the transaction's memory and
 * holds at most ISSUED_CODES_MAX codes, so codes issued and never used cost
 * no more than that.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "checkcode.h"
#include "code_registry.h"
#include "customer_code.h"
#include "spi_plan.h"

/* Codes issued and not yet used that the memo keeps, at most. */
#define ISSUED_CODES_MAX 10000
/* 'account' or 'contact', and room to spare */
#define CODE_KIND_MAX 16

PG_FUNCTION_INFO_V1(crm_issue_customer_code);
PG_FUNCTION_INFO_V1(crm_guard_customer_code);

CRM_KEPT_PLAN(issue_code) = {
	"INSERT INTO crm.customer_code (code, kind)"
	" VALUES (crm.customer_code_from_serial(nextval('crm.customer_code_seq')), $1)"
	" RETURNING code",
	1, {TEXTOID}
};
CRM_KEPT_PLAN(code_issued_for) = {
	"SELECT 1 FROM crm.customer_code WHERE code = $1 AND kind = $2",
	2, {TEXTOID, TEXTOID}
};

typedef struct IssuedCode
{
	char		code[CRM_CUSTOMER_CODE_LEN + 1];	/* hash key */
	char		kind[CODE_KIND_MAX];
} IssuedCode;

static HTAB *issued_codes = NULL;
static LocalTransactionId issued_codes_lxid = InvalidLocalTransactionId;

/* This transaction's memo; a new transaction starts with none. */
static HTAB *
issued_memo(bool create)
{
	HASHCTL		ctl;

	if (issued_codes_lxid != MyProc->lxid)
		issued_codes = NULL;	/* freed with the last transaction's memory */
	if (issued_codes || !create)
		return issued_codes;
	ctl.keysize = CRM_CUSTOMER_CODE_LEN + 1;
	ctl.entrysize = sizeof(IssuedCode);
	ctl.hcxt = TopTransactionContext;
	issued_codes = hash_create("crm issued customer codes", 256, &ctl,
							   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	issued_codes_lxid = MyProc->lxid;
	return issued_codes;
}

/* Remember that this transaction issued code for kind. */
void
crm_code_issued(const char *code, const char *kind)
{
	HTAB	   *memo = issued_memo(true);
	IssuedCode *entry;

	if (strlen(code) != CRM_CUSTOMER_CODE_LEN || strlen(kind) >= CODE_KIND_MAX ||
		hash_get_num_entries(memo) >= ISSUED_CODES_MAX)
		return;
	entry = hash_search(memo, code, HASH_ENTER, NULL);
	strlcpy(entry->kind, kind, CODE_KIND_MAX);
}

/* Whether this transaction issued code for kind; the memo forgets it. */
static bool
take_issued(const char *code, const char *kind)
{
	HTAB	   *memo = issued_memo(false);
	IssuedCode *entry;
	bool		same_kind;

	if (memo == NULL || strlen(code) != CRM_CUSTOMER_CODE_LEN)
		return false;
	entry = hash_search(memo, code, HASH_FIND, NULL);
	if (entry == NULL)
		return false;
	same_kind = strcmp(entry->kind, kind) == 0;
	(void) hash_search(memo, code, HASH_REMOVE, NULL);
	return same_kind;
}

/* crm.issue_customer_code(kind text) -> text: a new registered code. */
Datum
crm_issue_customer_code(PG_FUNCTION_ARGS)
{
	Datum		kind = PG_GETARG_DATUM(0);
	MemoryContext caller = CurrentMemoryContext;
	char	   *code;

	SPI_connect();
	(void) crm_registry_run(&issue_code, &kind, SPI_OK_INSERT_RETURNING);
	MemoryContextSwitchTo(caller);
	code = crm_spi_text(0, 1);
	SPI_finish();
	crm_code_issued(code, text_to_cstring(DatumGetTextPP(kind)));
	PG_RETURN_TEXT_P(cstring_to_text(code));
}

static char *
code_of(TriggerData *td, HeapTuple tuple)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);

	return SPI_getvalue(tuple, desc, SPI_fnumber(desc, "code"));
}

/*
 * Trigger crm.guard_customer_code(kind): a new row's code must have been
 * issued for its kind, and a code never changes.
 */
Datum
crm_guard_customer_code(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *table;
	char	   *code;
	Datum		args[2];

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || td->tg_trigger->tgnargs != 1)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("crm.guard_customer_code() must be a BEFORE ROW trigger with the kind as argument")));
	table = RelationGetRelationName(td->tg_relation);
	code = code_of(td, td->tg_trigtuple);
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		char	   *new_code = code_of(td, td->tg_newtuple);

		if (new_code == NULL || strcmp(code, new_code) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION),
					 errmsg("customer code \"%s\" cannot be changed", code),
					 errdetail("Service and ERP records refer to customers by code."),
					 errhint("Merge the records instead; crm.resolve_code() follows merges.")));
		return PointerGetDatum(td->tg_newtuple);
	}
	if (code == NULL)
		return PointerGetDatum(td->tg_trigtuple);	/* NOT NULL says so */
	if (take_issued(code, td->tg_trigger->tgargs[0]))
		return PointerGetDatum(td->tg_trigtuple);
	args[0] = CStringGetTextDatum(code);
	args[1] = CStringGetTextDatum(td->tg_trigger->tgargs[0]);
	SPI_connect();
	if (crm_plan_run(&code_issued_for, args, NULL, 1, SPI_OK_SELECT) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("customer code \"%s\" was not issued for crm.%s", code, table),
				 errdetail("Codes come from crm.issue_customer_code() and are never reused."),
				 errhint("Leave the code column out and one is issued.")));
	SPI_finish();
	return PointerGetDatum(td->tg_trigtuple);
}
