/*
 * ingest_map.h: turning a channel's payload into lead fields.
 */
#ifndef CRM_INGEST_MAP_H
#define CRM_INGEST_MAP_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "pgtime.h"
#include "utils/jsonb.h"

/*
 * The end of the warning a raw value missing from its entry's "values"
 * leaves on a lead kept with it ("product_line \"x\" " before it):
 * crm.field_map_misses finds the warnings by it.
 */
#define CRM_VALUES_MISS_WARNING "is not among its field map values; kept as given"

/*
 * The lead fields a field map finds in a payload, as a JSON object of
 * strings, local times read in zone; errors name the field and why.
 * Warnings about values kept are appended to *warnings.
 */
extern Jsonb *crm_map_lead(Jsonb *map, Jsonb *payload, pg_tz *zone, List **warnings);

#endif							/* CRM_INGEST_MAP_H */
