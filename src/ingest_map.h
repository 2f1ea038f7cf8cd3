/*
 * ingest_map.h: turning a channel's payload into lead fields.
 */
#ifndef CRM_INGEST_MAP_H
#define CRM_INGEST_MAP_H

#include "postgres.h"

#include "pgtime.h"
#include "utils/jsonb.h"

/*
 * The lead fields a field map finds in a payload, as a JSON object of
 * strings, local times read in zone; errors name the field and why.
 */
extern Jsonb *crm_map_lead(Jsonb *map, Jsonb *payload, pg_tz *zone);

#endif							/* CRM_INGEST_MAP_H */
