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

#include "utils/guc.h"
#include "utils/jsonb.h"

#include "import.h"

/* The channel crm.import_commit feeds contacts and leads through (19_migration.sql). */
#define IMPORT_CHANNEL "migration"
/* The payload key of the customer's owner in the old system */
#define OWNER_KEY "owner"

static double import_merge_threshold = 13.0;

/* When an import chunk claims its rows' keys (match_claim.c, crm.import_people). */
static int	import_claims = 0;
static const struct config_enum_entry import_claims_options[] = {
	{"never", 0, false},
	{"auto", 1, false},			/* while another import commits */
	{"always", 2, false},
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
							 &import_claims, 0, import_claims_options,
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
