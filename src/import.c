/*
 * import.c: settings of the migration.
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

#include "import.h"

static double import_merge_threshold = 13.0;

void
crm_import_init(void)
{
	DefineCustomRealVariable("crm.import_merge_threshold",
							 "Score from which crm.import_commit merges a row into its best candidate contact.",
							 "The higher of this and crm.match_merge_threshold counts during an import.",
							 &import_merge_threshold, 13.0, -100.0, 100.0,
							 PGC_USERSET, 0, NULL, NULL, NULL);
}
