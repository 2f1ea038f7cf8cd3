/*
 * lead_time.h: the window a lead's submission time must lie in
 * (crm.lead_time_floor, crm.lead_time_max_ahead).
 */
#ifndef CRM_LEAD_TIME_H
#define CRM_LEAD_TIME_H

#include "postgres.h"

#include "datatype/timestamp.h"

extern void crm_lead_time_init(void);

/*
 * A lead time from a payload field: ISO 8601 text, a local date and time
 * (read in the session's TimeZone), or epoch seconds or milliseconds.
 * Special values ('infinity', 'epoch', 'now' ...), times outside the
 * window and text that is not a time raise an error naming the field and
 * quoting the value.
 */
extern TimestampTz crm_lead_time_in(const char *field, const char *text);

#endif							/* CRM_LEAD_TIME_H */
