/*
 * ingest_map.c: crm.map_payload(field_map, payload), the per-channel field
 * map that turns a webhook or push payload into lead fields.
 *
 * A map entry is a top-level key, an SQL/JSON path starting with '$', or
 * {"path": ..., "default": ..., "values": {"raw": "standard"}}.  A mapped
 * value the payload lacks is an error unless the entry gives a default
 * (null makes the field optional), so a channel whose payload changed shape
 * fails loudly instead of filling leads with blanks.
 */
#include "postgres.h"

#include <ctype.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "ingest_map.h"
#include "lead_time.h"
#include "quote.h"

PG_FUNCTION_INFO_V1(crm_map_payload);
PG_FUNCTION_INFO_V1(crm_check_field_map);

static const char *const lead_fields[] = {
	"external_id", "person_name", "company_name", "phone", "email", "uscc",
	"region_code", "title", "product_line", "wechat_openid", "created_at",
	"notes",
};

/* Fields any one of which identifies a person. */
static const char *const identifying_fields[] = {
	"phone", "email", "wechat_openid", "person_name",
};

/* What is being mapped, for the CONTEXT line of any error. */
typedef struct MapContext
{
	const char *field;
	const char *source;
} MapContext;

static void
map_error_context(void *arg)
{
	MapContext *ctx = arg;

	if (ctx->field)
		errcontext("lead field %s from %s", crm_quote_value(ctx->field), ctx->source);
}

static bool
is_lead_field(const char *name)
{
	for (size_t i = 0; i < lengthof(lead_fields); i++)
		if (strcmp(name, lead_fields[i]) == 0)
			return true;
	return false;
}

static const char *
json_type_name(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull: return "null";
		case jbvString: return "a string";
		case jbvNumeric: return "a number";
		case jbvBool: return "a boolean";
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? "an array" : "an object";
		default: return "a JSON value";
	}
}

/* One parsed entry of a field map. */
typedef struct MapEntry
{
	char	   *source;			/* top-level key, or a path starting with '$' */
	List	   *members;		/* a path that only names members: their keys */
	bool		has_default;
	JsonbValue	default_value;
	JsonbContainer *values;		/* raw value -> standard value, or NULL */
} MapEntry;

static void
bad_entry(const char *field, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid field map entry for %s", crm_quote_value(field)),
			 errdetail("%s", detail),
			 errhint("An entry is a payload key, a path starting with $, or {\"path\": ..., \"default\": ..., \"values\": {...}}.")));
}

/*
 * The keys of a path made of member accessors only ($.entry.field_1,
 * $."姓名"), or NIL for any other path: those are read without running
 * the SQL/JSON path engine, which would parse the path for every lead.
 */
static List *
member_keys(const char *path)
{
	List	   *keys = NIL;
	const char *p = path + 1;

	while (*p == '.')
	{
		const char *start = ++p;

		if (*p == '"')
		{
			start = ++p;
			while (*p && *p != '"' && *p != '\\')
				p++;
			if (*p != '"' || p == start)
				return NIL;
			keys = lappend(keys, pnstrdup(start, p - start));
			p++;
			continue;
		}
		while (isalnum((unsigned char) *p) || *p == '_')
			p++;
		if (p == start || isdigit((unsigned char) *start))
			return NIL;
		keys = lappend(keys, pnstrdup(start, p - start));
	}
	return *p == '\0' ? keys : NIL;
}

static void
set_source(MapEntry *entry, const char *field, const JsonbValue *v, bool validate)
{
	if (v->type != jbvString || v->val.string.len == 0)
		bad_entry(field, "The key or path must be a non-empty string.");
	entry->source = pnstrdup(v->val.string.val, v->val.string.len);
	if (entry->source[0] != '$')
		return;
	/* a syntax error surfaces when the map is saved (CHECK), not per lead */
	if (validate)
		(void) DirectFunctionCall1(jsonpath_in, CStringGetDatum(entry->source));
	entry->members = member_keys(entry->source);
}

/* Read the {"path", "default", "values"} form. */
static void
parse_entry_object(const char *field, JsonbContainer *obj, MapEntry *entry, bool validate)
{
	JsonbIterator *it = JsonbIteratorInit(obj);
	JsonbValue	key;
	JsonbValue	val;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
	{
		char	   *name;

		if (tok != WJB_KEY)
			continue;
		name = pnstrdup(key.val.string.val, key.val.string.len);
		(void) JsonbIteratorNext(&it, &val, true);
		if (strcmp(name, "path") == 0)
			set_source(entry, field, &val, validate);
		else if (strcmp(name, "default") == 0 && val.type != jbvBinary)
		{
			entry->has_default = true;
			entry->default_value = val;
		}
		else if (strcmp(name, "values") == 0 && val.type == jbvBinary &&
				 JsonContainerIsObject(val.val.binary.data))
			entry->values = val.val.binary.data;
		else
			bad_entry(field, psprintf("Unexpected %s: only \"path\", a scalar \"default\" and a \"values\" object are allowed.", crm_quote_value(name)));
	}
	if (entry->source == NULL)
		bad_entry(field, "The object has no \"path\".");
}

static void
parse_entry(const char *field, const JsonbValue *spec, MapEntry *entry, bool validate)
{
	memset(entry, 0, sizeof(*entry));
	if (!is_lead_field(field))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field map names unknown lead field %s", crm_quote_value(field)),
				 errhint("Lead fields are external_id, person_name, company_name, phone, email, uscc, region_code, title, product_line, wechat_openid, created_at and notes.")));
	if (spec->type == jbvString)
		set_source(entry, field, spec, validate);
	else if (spec->type == jbvBinary && JsonContainerIsObject(spec->val.binary.data))
		parse_entry_object(field, spec->val.binary.data, entry, validate);
	else
		bad_entry(field, psprintf("The entry is %s.", json_type_name(spec)));
}

/* The first item an SQL/JSON path finds in the payload, or NULL. */
static JsonbValue *
lookup_path(Jsonb *payload, const char *path_text)
{
	LOCAL_FCINFO(call, 4);
	Datum		result;
	Jsonb	   *found;
	JsonbValue *v = palloc(sizeof(JsonbValue));

	InitFunctionCallInfoData(*call, NULL, 4, InvalidOid, NULL, NULL);
	call->args[0].value = JsonbPGetDatum(payload);
	call->args[1].value = DirectFunctionCall1(jsonpath_in, CStringGetDatum(path_text));
	call->args[2].value = DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
	call->args[3].value = BoolGetDatum(true);	/* structural errors: no match */
	for (int i = 0; i < 4; i++)
		call->args[i].isnull = false;
	result = jsonb_path_query_first(call);
	if (call->isnull)
		return NULL;
	found = DatumGetJsonbP(result);
	if (!JsonbExtractScalar(&found->root, v))
	{
		v->type = jbvBinary;
		v->val.binary.data = &found->root;
		v->val.binary.len = VARSIZE(found) - VARHDRSZ;
	}
	return v;
}

/*
 * Follow member keys down the payload; false when an array is met on the
 * way, whose members lax SQL/JSON paths would search, so the engine must.
 */
static bool
lookup_members(Jsonb *payload, List *keys, JsonbValue **found)
{
	JsonbContainer *container = &payload->root;
	ListCell   *lc;

	*found = NULL;
	foreach(lc, keys)
	{
		const char *key = lfirst(lc);
		JsonbValue *v;

		if (!JsonContainerIsObject(container))
			return !JsonContainerIsArray(container);
		v = getKeyJsonValueFromContainer(container, key, strlen(key), NULL);
		if (v == NULL)
			return true;
		if (lnext(keys, lc) == NULL)
		{
			*found = v;
			return true;
		}
		if (v->type != jbvBinary)
			return true;
		container = v->val.binary.data;
	}
	return true;
}

static JsonbValue *
lookup(Jsonb *payload, const MapEntry *entry)
{
	JsonbValue *found;

	if (entry->source[0] != '$')
		return getKeyJsonValueFromContainer(&payload->root, entry->source,
											strlen(entry->source), NULL);
	if (entry->members && lookup_members(payload, entry->members, &found))
		return found;
	return lookup_path(payload, entry->source);
}

/* A scalar as text; NULL for JSON null; arrays and objects are refused. */
static char *
scalar_text(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return NULL;
		case jbvString:
			return pnstrdup(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return DatumGetCString(DirectFunctionCall1(numeric_out,
													   NumericGetDatum(v->val.numeric)));
		case jbvBool:
			return pstrdup(v->val.boolean ? "true" : "false");
		default:
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("payload value is %s, not a string or a number",
							json_type_name(v))));
	}
	return NULL;				/* keep compiler quiet */
}

/* Replace a raw value by its standard one when the entry's table has it. */
static char *
standardize(const MapEntry *entry, char *raw)
{
	JsonbValue *std;

	if (raw == NULL || entry->values == NULL)
		return raw;
	std = getKeyJsonValueFromContainer(entry->values, raw, strlen(raw), NULL);
	return std ? scalar_text(std) : raw;
}

/*
 * The value of one lead field, or NULL when the payload leaves it empty.
 * A submission time is checked, local times read in zone (lead_time.c).
 */
static char *
map_field(Jsonb *payload, const char *field, const MapEntry *entry, pg_tz *zone)
{
	JsonbValue *found = lookup(payload, entry);
	char	   *value;

	if (found == NULL && !entry->has_default)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("payload has no value at %s for lead field \"%s\"",
						entry->source, field),
				 errhint("Give the field map entry a \"default\" (null makes it optional).")));
	value = standardize(entry, scalar_text(found ? found : &entry->default_value));
	if (value != NULL && strcmp(field, "created_at") == 0)
		value = crm_lead_time_text(field, value, zone);
	return value;
}

static void
push_text(JsonbParseState **state, JsonbIteratorToken token, const char *s)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = strlen(s);
	(void) pushJsonbValue(state, token, &v);
}

static void
require_object(Jsonb *payload)
{
	JsonbValue	root;

	if (JB_ROOT_IS_OBJECT(payload))
		return;
	if (JB_ROOT_IS_SCALAR(payload))
		(void) JsonbExtractScalar(&payload->root, &root);
	else
	{
		root.type = jbvBinary;
		root.val.binary.data = &payload->root;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("lead payload must be a JSON object"),
			 errdetail("The payload is %s.", json_type_name(&root))));
}

/* Refuse a lead nobody could ever contact or recognise. */
static void
require_identity(Jsonb *lead)
{
	for (size_t i = 0; i < lengthof(identifying_fields); i++)
	{
		const char *f = identifying_fields[i];

		if (getKeyJsonValueFromContainer(&lead->root, f, strlen(f), NULL))
			return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("lead payload identifies nobody"),
			 errdetail("It gives none of phone, email, wechat_openid or person_name.")));
}

static void
require_map_object(Jsonb *map)
{
	if (!JB_ROOT_IS_OBJECT(map))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field map must be a JSON object of lead field to key or path")));
}

/*
 * Parse every entry of the map and, when a payload is given, push the
 * fields it fills into *state, its local times read in zone.  Errors name
 * the field and its source.
 */
static void
map_entries(Jsonb *map, Jsonb *payload, pg_tz *zone, JsonbParseState **state)
{
	JsonbIterator *it = JsonbIteratorInit(&map->root);
	JsonbValue	key;
	JsonbValue	spec;
	JsonbIteratorToken tok;
	MapContext	ctx = {NULL, "the field map"};
	ErrorContextCallback callback = {error_context_stack, map_error_context, &ctx};

	error_context_stack = &callback;
	while ((tok = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
	{
		MapEntry	entry;
		char	   *value;

		if (tok != WJB_KEY)
			continue;
		ctx.field = pnstrdup(key.val.string.val, key.val.string.len);
		ctx.source = "the field map";
		(void) JsonbIteratorNext(&it, &spec, true);
		parse_entry(ctx.field, &spec, &entry, payload == NULL);
		if (payload == NULL)
			continue;
		ctx.source = entry.source;
		value = map_field(payload, ctx.field, &entry, zone);
		if (value == NULL || value[0] == '\0')
			continue;
		push_text(state, WJB_KEY, ctx.field);
		push_text(state, WJB_VALUE, value);
	}
	error_context_stack = callback.previous;
}

Jsonb *
crm_map_lead(Jsonb *map, Jsonb *payload, pg_tz *zone)
{
	JsonbParseState *state = NULL;
	Jsonb	   *lead;

	require_map_object(map);
	require_object(payload);
	(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	map_entries(map, payload, zone, &state);
	lead = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
	require_identity(lead);
	return lead;
}

/*
 * crm.map_payload(field_map jsonb, payload jsonb, time_zone text) -> jsonb:
 * the lead fields the map finds in the payload, local times read in
 * time_zone; empty ones are left out.
 */
Datum
crm_map_payload(PG_FUNCTION_ARGS)
{
	pg_tz	   *zone = crm_time_zone(text_to_cstring(PG_GETARG_TEXT_PP(2)));

	PG_RETURN_JSONB_P(crm_map_lead(PG_GETARG_JSONB_P(0), PG_GETARG_JSONB_P(1), zone));
}

/* crm.check_field_map(jsonb) -> boolean: true, or an error saying what is wrong. */
Datum
crm_check_field_map(PG_FUNCTION_ARGS)
{
	Jsonb	   *map = PG_GETARG_JSONB_P(0);

	require_map_object(map);
	map_entries(map, NULL, NULL, NULL);
	PG_RETURN_BOOL(true);
}
