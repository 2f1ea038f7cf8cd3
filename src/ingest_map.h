/*
 * ingest_map.h: turning a channel's payload into lead fields.
 */
#ifndef CRM_INGEST_MAP_H
#define CRM_INGEST_MAP_H

#include "postgres.h"

#include "utils/jsonb.h"

/*
 * The lead fields a field map finds in a payload, as a JSON object of
 * strings; errors name the field and why.
 */
extern Jsonb *crm_map_lead(Jsonb *map, Jsonb *payload);

#endif							/* CRM_INGEST_MAP_H */
