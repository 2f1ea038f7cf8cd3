/*
 * import.c: the migration: its settings, and what a lead of its channel
 * carries besides the lead fields.
 *
 * crm.import_commit feeds a migration's people through lead ingestion, with
 * the same matching; only the bar for merging without a person is its own.
 * A lead that merges wrongly is one record a rep notices; a migration of
 * 127,000 rows merges in bulk, with nobody watching.  Name and organisation
 * agreeing against a different phone scores 12.35 (crm's weights: name
 * +8.68, organisation +6.41, phone -2.74), just above the lead threshold of
 * 12: two colleagues of one name.  The import's default of 13 sends such
 * pairs to review; one shared phone, e-mail or openid still merges.
 */
#include "postgres.h"

#include "executor/spi.h"
#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/jsonb.h"

#include "import.h"

/* The channel crm.import_commit feeds contacts and leads through (19_migration.sql). */
#define IMPORT_CHANNEL "migration"
/* The payload key of the customer's owner in the old system */
#define OWNER_KEY "owner"

static double import_merge_threshold = 13.0;

/* When an import chunk claims its rows' keys (match_claim.c). */
typedef enum ImportClaims
{
	CLAIMS_NEVER,
	CLAIMS_AUTO,				/* while another import commits */
	CLAIMS_ALWAYS
} ImportClaims;

static int	import_claims = CLAIMS_AUTO;
static const struct config_enum_entry import_claims_options[] = {
	{"never", CLAIMS_NEVER, false},
	{"auto", CLAIMS_AUTO, false},
	{"always", CLAIMS_ALWAYS, false},
	{NULL, 0, false}
};

void
crm_import_init(void)
{
	DefineCustomRealVariable("crm.import_merge_threshold",
							 "Score from which crm.import_commit merges a row into its best candidate contact.",
							 "The higher of this and crm.match_merge_threshold counts during an import.",
							 &import_merge_threshold, 13.0, -100.0, 100.0,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("crm.import_claims",
							 "When crm.import_commit claims the keys of a chunk's rows instead of taking the matching locks whole.",
							 "never (imports take turns chunk by chunk); auto: while another import commits, so that the two match side by side; always: every chunk.",
							 &import_claims, CLAIMS_AUTO, import_claims_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
}

bool
crm_import_carries_customer(const Lead *lead)
{
	return strcmp(lead->channel, IMPORT_CHANNEL) == 0;
}

/* crm.import_commit has refused rows whose owner is not a rep's login. */
char *
crm_import_owner(const Lead *lead)
{
	JsonbValue *v;

	if (lead->payload == NULL || !JB_ROOT_IS_OBJECT(lead->payload))
		return NULL;
	v = getKeyJsonValueFromContainer(&lead->payload->root, OWNER_KEY, strlen(OWNER_KEY), NULL);
	return v && v->type == jbvString ? pnstrdup(v->val.string.val, v->val.string.len) : NULL;
}

/* Whether s reads "<digits>:<digits>", the import_ref crm.import_commit gives a row. */
static bool
names_import_row(const char *s)
{
	size_t		batch = strspn(s, "0123456789");

	return batch > 0 && s[batch] == ':' && s[batch + 1] != '\0' &&
		strspn(s + batch + 1, "0123456789") == strlen(s + batch + 1);
}

void
crm_import_require_own_ref(const Lead *lead)
{
	if (crm_import_carries_customer(lead) && lead->external_id != NULL &&
		!crm_import_writing() && names_import_row(lead->external_id))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("lead external id \"%s\" of channel \"%s\" names a row of an import batch",
						lead->external_id, IMPORT_CHANNEL),
				 errdetail("Only crm.import_commit stores the rows of crm.import_row; \"batch:row\" is the import_ref it gives them."),
				 errhint("Give rows of your own another import_ref, or load them with crm.import_begin and crm.import_row.")));
}

/* Whether another session is committing an import (its call registered its pid). */
static bool
another_import_commits(void)
{
	bool		isnull;
	Datum		found;

	/* once per chunk: no hot path, so no kept plan */
	if (SPI_execute("SELECT EXISTS (SELECT FROM crm.import_batch x"
					" JOIN pg_catalog.pg_stat_activity a ON a.pid OPERATOR(pg_catalog.=) x.pid"
					" WHERE x.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()"
					" AND x.committed_at IS NULL)", true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "crm: could not read crm.import_batch");
	found = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return !isnull && DatumGetBool(found);
}

/*
 * Decided at the chunk's first batch of leads, so that a session that
 * started its call a moment after this one is seen, and kept to the
 * chunk's end: its batches must not mix claims with the locks whole.
 */
bool
crm_import_claims_keys(void)
{
	static LocalTransactionId decided_in = InvalidLocalTransactionId;
	static bool claims;

	if (!crm_import_writing() || import_claims == CLAIMS_NEVER)
		return false;
	if (decided_in != MyProc->lxid)
	{
		claims = import_claims == CLAIMS_ALWAYS || another_import_commits();
		decided_in = MyProc->lxid;
	}
	return claims;
}
