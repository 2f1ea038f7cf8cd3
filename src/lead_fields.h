/*
 * lead_fields.h: the fields of a lead, listed once.
 *
 * Each field is at the same time a key a channel's field map may give
 * (crm.channel.field_map), a member of Lead (match.h) and a column of
 * crm.lead, under one name.  The field map's checks, ingestion's reading
 * of the mapped values, the re-send comparison and the statement storing
 * leads are all built from this list.  To add a field, see "Adding a lead
 * field" in install/README.md.
 *
 * CRM_LEAD_FIELD(name, kind, takes_number, no_constant, on_resend):
 *   kind          how ingestion reads the mapped value (LeadFieldKind)
 *   takes_number  the field map may give it as a JSON number (ids, phone
 *                 numbers, codes and epoch times come so)
 *   no_constant   a field map default is refused: it would give every lead
 *                 one identity or one time
 *   on_resend     a re-send of a stored lead must repeat it to be a
 *                 duplicate (external_id is what finds the stored lead;
 *                 created_at is compared as a time)
 */
#ifndef CRM_LEAD_FIELDS_H
#define CRM_LEAD_FIELDS_H

#include "postgres.h"

typedef enum LeadFieldKind
{
	LEAD_TEXT,					/* as given */
	LEAD_NAME,					/* as given, at most MAX_NAME_BYTES */
	LEAD_IDENTIFIER,			/* trimmed, at most MAX_IDENTIFIER_BYTES */
	LEAD_KEY,					/* normalised; stored normalised */
	LEAD_TIME					/* the submission time, read by lead_time.c */
} LeadFieldKind;

#define CRM_LEAD_FIELDS(X) \
	X(external_id,   LEAD_IDENTIFIER, true,  true,  false) \
	X(person_name,   LEAD_NAME,       false, false, true) \
	X(company_name,  LEAD_NAME,       false, false, true) \
	X(phone,         LEAD_KEY,        true,  true,  true) \
	X(email,         LEAD_KEY,        false, true,  true) \
	X(uscc,          LEAD_KEY,        true,  true,  true) \
	X(region_code,   LEAD_NAME,       true,  false, true) \
	X(title,         LEAD_NAME,       false, false, true) \
	X(product_line,  LEAD_NAME,       false, false, true) \
	X(wechat_openid, LEAD_IDENTIFIER, false, true,  true) \
	X(created_at,    LEAD_TIME,       true,  true,  false) \
	X(notes,         LEAD_TEXT,       false, false, true)

/* Lead's members, one per field (char *, NULL when the lead gave none). */
#define CRM_LEAD_MEMBER(name, kind, takes_number, no_constant, on_resend) char *name;

/* A field's description, for lists built from CRM_LEAD_FIELDS. */
typedef struct LeadFieldInfo
{
	const char *name;
	LeadFieldKind kind;
	bool		takes_number;
	bool		no_constant;
	bool		on_resend;
	size_t		offset;			/* of its member in Lead */
} LeadFieldInfo;


#define CRM_LEAD_FIELD_INDEX(name, kind, takes_number, no_constant, on_resend) LEAD_FIELD_##name,

/* LEAD_FIELD_phone and so on: a field's place in crm_lead_fields. */
enum
{
	CRM_LEAD_FIELDS(CRM_LEAD_FIELD_INDEX)
	CRM_N_LEAD_FIELDS
};

/* Every field, in CRM_LEAD_FIELDS order. */
extern const LeadFieldInfo crm_lead_fields[CRM_N_LEAD_FIELDS];

/* The field of that name, or NULL. */
extern const LeadFieldInfo *crm_lead_field(const char *name);

/* The member of lead that holds field f. */
#define crm_lead_value(lead, f) (*(char **) ((char *) (lead) + (f)->offset))

/* "external_id, person_name, ... and notes", for messages. */
extern const char *crm_lead_field_names(void);

#endif							/* CRM_LEAD_FIELDS_H */
