/*
 * ingest_map.c: crm.map_payload(field_map, payload), the per-channel field
 * map that turns a webhook or push payload into lead fields.
 *
 * A map entry is a top-level key, an SQL/JSON path starting with '$', or
 * {"path": ..., "default": ..., "values": {"raw": "standard"}, "on_miss":
 * "keep" or "refuse"}.  A mapped value the payload lacks is an error unless
 * the entry gives a default (null makes the field optional), so a channel
 * whose payload changed shape fails loudly instead of filling leads with
 * blanks.  So is a value of the wrong JSON type (a boolean for a name), and
 * a path that finds several values.  What would fail on every lead (an
 * unbound variable, a wildcard, a default that is no value of its field)
 * is refused when the map is saved instead.
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

#include "checkcode.h"
#include "ingest_map.h"
#include "lead_time.h"
#include "lead_fields.h"
#include "map_path.h"
#include "quote.h"

PG_FUNCTION_INFO_V1(crm_map_payload);
PG_FUNCTION_INFO_V1(crm_check_field_map);

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

static const LeadFieldInfo *
lead_field(const char *name)
{
	const LeadFieldInfo *field = crm_lead_field(name);

	if (field == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field map names unknown lead field %s", crm_quote_value(name)),
				 errhint("Lead fields are %s.", crm_lead_field_names())));
	return field;
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

/* Whether a lead field can take a JSON value of this type (null: none). */
static bool
type_fits(const LeadFieldInfo *field, const JsonbValue *v)
{
	return v->type == jbvNull || v->type == jbvString ||
		(v->type == jbvNumeric && field->takes_number);
}

/* What a field takes, for messages. */
static const char *
what_field_takes(const LeadFieldInfo *field)
{
	return field->takes_number ? "a string or a number" : "a string";
}

/* One parsed entry of a field map. */
typedef struct MapEntry
{
	const LeadFieldInfo *field;
	char	   *source;			/* top-level key, or a path starting with '$' */
	List	   *members;		/* a path that only names members: their keys */
	bool		has_default;
	JsonbValue	default_value;
	JsonbContainer *values;		/* raw value -> standard value, or NULL */
	bool		refuse_miss;	/* a raw value missing from values is an error */
} MapEntry;

static void
bad_entry(const char *field, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid field map entry for %s", crm_quote_value(field)),
			 errdetail("%s", detail),
			 errhint("An entry is a payload key, a path starting with $, or {\"path\": ..., \"default\": ..., \"values\": {...}, \"on_miss\": ...}.")));
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
	/* a path that fails on every lead is refused when the map is saved (CHECK) */
	if (validate)
		crm_check_map_path(field, entry->source);
	entry->members = member_keys(entry->source);
}

/* Standard values are text; null drops a raw value that means "none". */
static void
check_values(const char *field, JsonbContainer *values)
{
	JsonbIterator *it = JsonbIteratorInit(values);
	JsonbValue	raw;
	JsonbValue	standard;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &raw, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		(void) JsonbIteratorNext(&it, &standard, true);
		if (standard.type != jbvString && standard.type != jbvNull)
			bad_entry(field, psprintf("\"values\" gives %s %s; a standard value is a string, or null for none.",
									  crm_quote_value(pnstrdup(raw.val.string.val, raw.val.string.len)),
									  json_type_name(&standard)));
	}
}

static bool
is_string(const JsonbValue *v, const char *s)
{
	return v->type == jbvString && (size_t) v->val.string.len == strlen(s) &&
		memcmp(v->val.string.val, s, v->val.string.len) == 0;
}

static void
set_on_miss(MapEntry *entry, const char *field, const JsonbValue *v)
{
	if (!is_string(v, "keep") && !is_string(v, "refuse"))
		bad_entry(field, "\"on_miss\" is \"keep\" (a raw value missing from \"values\" is kept, with a warning) or \"refuse\".");
	entry->refuse_miss = is_string(v, "refuse");
}

/* A default must be a value its field could take from every payload. */
static void
check_default(const char *field, const MapEntry *entry)
{
	const JsonbValue *v = &entry->default_value;
	char	   *text;

	if (v->type == jbvNull)
		return;
	if (!type_fits(entry->field, v))
		bad_entry(field, psprintf("The default is %s; %s takes %s.", json_type_name(v), field,
								  what_field_takes(entry->field)));
	if (entry->field->no_constant)
		bad_entry(field, psprintf("The default must be null: it would give the same %s to every lead that lacks one.", field));
	text = v->type == jbvString ? pnstrdup(v->val.string.val, v->val.string.len) :
		DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	if (strcmp(field, "region_code") == 0 && !crm_region_code_is_valid(text, strlen(text)))
		bad_entry(field, psprintf("The default %s is not a GB/T 2260 region code.", crm_quote_value(text)));
	if (entry->refuse_miss &&
		getKeyJsonValueFromContainer(entry->values, text, strlen(text), NULL) == NULL)
		bad_entry(field, psprintf("The default %s is not among the \"values\", and \"on_miss\" is \"refuse\".",
								  crm_quote_value(text)));
}

/* Read the {"path", "default", "values", "on_miss"} form. */
static void
parse_entry_object(const char *field, JsonbContainer *obj, MapEntry *entry, bool validate)
{
	bool		has_on_miss = false;

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
		else if (strcmp(name, "on_miss") == 0)
		{
			set_on_miss(entry, field, &val);
			has_on_miss = true;
		}
		else
			bad_entry(field, psprintf("Unexpected %s: only \"path\", a scalar \"default\", a \"values\" object and \"on_miss\" are allowed.", crm_quote_value(name)));
	}
	if (entry->source == NULL)
		bad_entry(field, "The object has no \"path\".");
	if (!validate)
		return;
	if (has_on_miss && entry->values == NULL)
		bad_entry(field, "\"on_miss\" says what to do with a value missing from \"values\", and the entry has none.");
	if (entry->values)
		check_values(field, entry->values);
	if (entry->has_default)
		check_default(field, entry);
}

static void
parse_entry(const char *field, const JsonbValue *spec, MapEntry *entry, bool validate)
{
	memset(entry, 0, sizeof(*entry));
	entry->field = lead_field(field);
	if (spec->type == jbvString)
		set_source(entry, field, spec, validate);
	else if (spec->type == jbvBinary && JsonContainerIsObject(spec->val.binary.data))
		parse_entry_object(field, spec->val.binary.data, entry, validate);
	else
		bad_entry(field, psprintf("The entry is %s.", json_type_name(spec)));
}

/*
 * The item an SQL/JSON path finds in the payload, or NULL; a path that
 * finds several is an error, as SQL's JSON_VALUE makes it.
 */
static JsonbValue *
lookup_path(Jsonb *payload, const char *field, const char *path_text)
{
	LOCAL_FCINFO(call, 4);
	Jsonb	   *found;
	int			n;

	InitFunctionCallInfoData(*call, NULL, 4, InvalidOid, NULL, NULL);
	call->args[0].value = JsonbPGetDatum(payload);
	call->args[1].value = DirectFunctionCall1(jsonpath_in, CStringGetDatum(path_text));
	call->args[2].value = DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
	call->args[3].value = BoolGetDatum(true);	/* structural errors: no match */
	for (int i = 0; i < 4; i++)
		call->args[i].isnull = false;
	found = DatumGetJsonbP(jsonb_path_query_array(call));
	n = JB_ROOT_COUNT(found);
	if (n > 1)
		ereport(ERROR,
				(errcode(ERRCODE_MORE_THAN_ONE_SQL_JSON_ITEM),
				 errmsg("payload has %d values at %s for lead field \"%s\"", n, path_text, field),
				 errdetail("A lead field takes one value."),
				 errhint("Make the field map path pick one item: a subscript such as [0], or a filter.")));
	return n == 1 ? getIthJsonbValueFromContainer(&found->root, 0) : NULL;
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
	return lookup_path(payload, entry->field->name, entry->source);
}

/*
 * A payload value as the field's text; NULL for JSON null.  A boolean,
 * an object or an array is no name, phone or code, and neither is a
 * number for a field of words: a sender's bug, which the SQL/JSON
 * SQLSTATEs for JSON_VALUE ... RETURNING name.
 */
static char *
field_text(const LeadFieldInfo *field, const JsonbValue *v)
{
	if (v->type == jbvBinary)
		ereport(ERROR,
				(errcode(ERRCODE_SQL_JSON_SCALAR_REQUIRED),
				 errmsg("lead field \"%s\" takes %s, not %s", field->name,
						what_field_takes(field), json_type_name(v)),
				 errhint("Point the field map's path at the value inside it.")));
	if (!type_fits(field, v))
		ereport(ERROR,
				(errcode(ERRCODE_SQL_JSON_ITEM_CANNOT_BE_CAST_TO_TARGET_TYPE),
				 errmsg("lead field \"%s\" takes %s, not %s", field->name,
						what_field_takes(field), json_type_name(v)),
				 errdetail("The payload gives %s.", v->type == jbvBool ?
						   (v->val.boolean ? "true" : "false") :
						   crm_quote_value(DatumGetCString(DirectFunctionCall1(numeric_out,
																				 NumericGetDatum(v->val.numeric)))))));
	if (v->type == jbvNull)
		return NULL;
	if (v->type == jbvString)
		return pnstrdup(v->val.string.val, v->val.string.len);
	return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
}

/*
 * Replace a raw value by its standard one from the entry's values.  A raw
 * value they lack is refused, or kept with a warning that
 * crm.field_map_misses counts.
 */
static char *
standardize(const MapEntry *entry, char *raw, List **warnings)
{
	JsonbValue *std;

	if (raw == NULL || entry->values == NULL)
		return raw;
	std = getKeyJsonValueFromContainer(entry->values, raw, strlen(raw), NULL);
	if (std)
		return std->type == jbvString ? pnstrdup(std->val.string.val, std->val.string.len) : NULL;
	if (entry->refuse_miss)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lead field \"%s\" has a value its field map does not list: %s",
						entry->field->name, crm_quote_value(raw)),
				 errhint("Add it to the entry's \"values\", or set \"on_miss\": \"keep\".")));
	*warnings = lappend(*warnings, psprintf("%s %s " CRM_VALUES_MISS_WARNING,
											entry->field->name, crm_quote_value(raw)));
	return raw;
}

/*
 * The value of one lead field, or NULL when the payload leaves it empty.
 * A submission time is checked, local times read in zone (lead_time.c).
 */
static char *
map_field(Jsonb *payload, const char *field, const MapEntry *entry, pg_tz *zone, List **warnings)
{
	JsonbValue *found = lookup(payload, entry);
	char	   *value;

	if (found == NULL && !entry->has_default)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("payload has no value at %s for lead field \"%s\"",
						entry->source, field),
				 errhint("Give the field map entry a \"default\" (null makes it optional).")));
	value = standardize(entry, field_text(entry->field, found ? found : &entry->default_value),
						warnings);
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
map_entries(Jsonb *map, Jsonb *payload, pg_tz *zone, JsonbParseState **state, List **warnings)
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
		value = map_field(payload, ctx.field, &entry, zone, warnings);
		if (value == NULL || value[0] == '\0')
			continue;
		push_text(state, WJB_KEY, ctx.field);
		push_text(state, WJB_VALUE, value);
	}
	error_context_stack = callback.previous;
}

Jsonb *
crm_map_lead(Jsonb *map, Jsonb *payload, pg_tz *zone, List **warnings)
{
	JsonbParseState *state = NULL;
	Jsonb	   *lead;

	require_map_object(map);
	require_object(payload);
	(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	map_entries(map, payload, zone, &state, warnings);
	lead = JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
	require_identity(lead);
	return lead;
}

/*
 * crm.map_payload(field_map jsonb, payload jsonb, time_zone text) -> jsonb:
 * the lead fields the map finds in the payload, local times read in
 * time_zone; empty ones are left out.  What a lead would be warned about
 * is a NOTICE here, for whoever tries a map.
 */
Datum
crm_map_payload(PG_FUNCTION_ARGS)
{
	pg_tz	   *zone = crm_time_zone(text_to_cstring(PG_GETARG_TEXT_PP(2)));
	List	   *warnings = NIL;
	Jsonb	   *lead = crm_map_lead(PG_GETARG_JSONB_P(0), PG_GETARG_JSONB_P(1), zone, &warnings);
	ListCell   *lc;

	foreach(lc, warnings)
		ereport(NOTICE, (errmsg("%s", (char *) lfirst(lc))));
	PG_RETURN_JSONB_P(lead);
}

/* crm.check_field_map(jsonb) -> boolean: true, or an error saying what is wrong. */
Datum
crm_check_field_map(PG_FUNCTION_ARGS)
{
	Jsonb	   *map = PG_GETARG_JSONB_P(0);

	require_map_object(map);
	map_entries(map, NULL, NULL, NULL, NULL);
	PG_RETURN_BOOL(true);
}
