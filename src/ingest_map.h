/*
 * ingest_map.h: turning a channel's payload into lead fields.
 */
#ifndef CRM_INGEST_MAP_H
#define CRM_INGEST_MAP_H

#endif							/* CRM_INGEST_MAP_H */
