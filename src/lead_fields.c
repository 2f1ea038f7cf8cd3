/*
 * lead_fields.c: the lead fields of lead_fields.h as a table, for code that
 * goes through them all (the field map's checks, ingestion, re-sends,
 * storing leads).
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/memutils.h"

#include "lead_fields.h"
#include "match.h"

#define CRM_LEAD_FIELD_INFO(name, kind, takes_number, no_constant, on_resend) \
	{#name, kind, takes_number, no_constant, on_resend, offsetof(Lead, name)},

const LeadFieldInfo crm_lead_fields[CRM_N_LEAD_FIELDS] = {
	CRM_LEAD_FIELDS(CRM_LEAD_FIELD_INFO)
};

const LeadFieldInfo *
crm_lead_field(const char *name)
{
	for (int i = 0; i < CRM_N_LEAD_FIELDS; i++)
		if (strcmp(name, crm_lead_fields[i].name) == 0)
			return &crm_lead_fields[i];
	return NULL;
}

const char *
crm_lead_field_names(void)
{
	static char *names = NULL;
	StringInfoData list;

	if (names != NULL)
		return names;
	initStringInfo(&list);
	for (int i = 0; i < CRM_N_LEAD_FIELDS; i++)
		appendStringInfo(&list, "%s%s", i == 0 ? "" : i == CRM_N_LEAD_FIELDS - 1 ? " and " : ", ",
						 crm_lead_fields[i].name);
	names = MemoryContextStrdup(TopMemoryContext, list.data);
	pfree(list.data);
	return names;
}
