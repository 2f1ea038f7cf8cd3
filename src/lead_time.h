/*
 * lead_time.h: the window a lead's submission time must lie in
 * (crm.lead_time_floor, crm.lead_time_max_ahead).
 */
#ifndef CRM_LEAD_TIME_H
#define CRM_LEAD_TIME_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "pgtime.h"

extern void crm_lead_time_init(void);

/*
 * A lead time from a payload field, as ISO 8601 text with zone's offset:
 * the field holds ISO 8601 text, a local date and time with the year
 * first (read in zone: 2026/11/20 09:30, 2026年11月20日 09:30, full-width
 * digits too), or epoch seconds or milliseconds; no session setting
 * changes what it means.  Special
 * values ('infinity', 'epoch', 'now' ...), times outside the window and
 * text that is not a time raise an error naming the field and quoting the
 * value.
 */
extern char *crm_lead_time_text(const char *field, const char *text, pg_tz *zone);

/* crm.business_time_zone(): crm.settings.time_zone, else Asia/Shanghai. */
extern char *crm_business_time_zone_name(void);

/* The zone of that name (a crm.channel.time_zone or the business zone). */
extern pg_tz *crm_time_zone(const char *name);

#endif							/* CRM_LEAD_TIME_H */
