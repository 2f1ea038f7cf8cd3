/*
 * quote.h: input values quoted in messages, cut to a readable length.
 */
#ifndef CRM_QUOTE_H
#define CRM_QUOTE_H

#include "postgres.h"

/* Characters of a value a message quotes before cutting it. */
#define CRM_QUOTE_MAX_CHARS 200

/*
 * The value in double quotes; one longer than CRM_QUOTE_MAX_CHARS
 * characters is cut on a character boundary and ends with an ellipsis and
 * its full length: "13900139000…" (20971520 bytes).  Every message that
 * quotes an input value goes through here, so a 20 MB value cannot make a
 * 20 MB warning, error or log line.
 */
extern char *crm_quote_value(const char *value);

#endif							/* CRM_QUOTE_H */
