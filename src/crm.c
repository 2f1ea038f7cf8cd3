/*
 * crm.c: module entry point.
 *
 * _PG_init only hands over to each module's own init, so every module keeps
 * its GUCs and caches to itself.
 */
#include "postgres.h"

#include "fmgr.h"

#include "utils/guc.h"

#include "actor.h"
#include "import.h"
#include "ingest_batch.h"
#include "lead_state.h"
#include "lead_time.h"
#include "match.h"
#include "match_weight.h"
#include "normalize.h"
#include "opportunity_stage.h"
#include "score.h"
#include "spi_plan.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	crm_normalize_init();
	crm_match_init();
	crm_match_weight_init();
	crm_ingest_batch_init();
	crm_score_init();
	crm_lead_state_init();
	crm_lead_time_init();
	crm_spi_plan_init();
	crm_actor_init();
	crm_opportunity_stage_init();
	crm_import_init();
	MarkGUCPrefixReserved("crm");
}
