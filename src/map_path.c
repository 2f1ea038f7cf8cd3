/*
 * map_path.c: a field map's SQL/JSON path, read before any payload.
 *
 * A path selects a value from the payload and never computes one: an
 * item method or arithmetic on the value's own chain is refused.
 *
 * A lead field takes one value.  Some paths cannot give one on any
 * payload: they name a variable the map never binds, or they select
 * several items by construction.  Others may select several only on some
 * payloads: a filter over an array, a member accessor that lax mode
 * applies to every element of an array it meets ($.entry.name when entry
 * is a list).  Those cannot be decided here; ingestion refuses a payload
 * on which a path finds more than one item (ingest_map.c).
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonpath.h"

#include "map_path.h"
#include "quote.h"

static const char *chain_problem(JsonPathItem *first, bool selecting);

/* The problem of a subscript's expressions, or NULL. */
static const char *
subscripts_problem(JsonPathItem *item)
{
	for (int i = 0; i < item->content.array.nelems; i++)
	{
		JsonPathItem from;
		JsonPathItem to;
		bool		range = jspGetArraySubscript(item, &from, &to, i);
		const char *problem;

		if ((problem = chain_problem(&from, false)) != NULL ||
			(range && (problem = chain_problem(&to, false)) != NULL))
			return problem;
	}
	return NULL;
}

/* The problem of the items an operator, filter or method reads, or NULL. */
static const char *
operands_problem(JsonPathItem *item)
{
	JsonPathItem left;
	JsonPathItem right;
	const char *problem;

	switch (item->type)
	{
		case jpiAnd:
		case jpiOr:
		case jpiEqual:
		case jpiNotEqual:
		case jpiLess:
		case jpiGreater:
		case jpiLessOrEqual:
		case jpiGreaterOrEqual:
		case jpiAdd:
		case jpiSub:
		case jpiMul:
		case jpiDiv:
		case jpiMod:
		case jpiStartsWith:
			jspGetLeftArg(item, &left);
			jspGetRightArg(item, &right);
			if ((problem = chain_problem(&left, false)) != NULL)
				return problem;
			return chain_problem(&right, false);
		case jpiNot:
		case jpiIsUnknown:
		case jpiExists:
		case jpiPlus:
		case jpiMinus:
		case jpiFilter:
			jspGetArg(item, &left);
			return chain_problem(&left, false);
		case jpiDatetime:
			if (item->content.arg == 0)
				return NULL;
			jspGetArg(item, &left);
			return chain_problem(&left, false);
		case jpiLikeRegex:
			jspInitByBuffer(&left, item->base, item->content.like_regex.expr);
			return chain_problem(&left, false);
		case jpiIndexArray:
			return subscripts_problem(item);
		default:
			return NULL;
	}
}

/* Whether an item yields true, false or unknown (the enum keeps && to >= together). */
static bool
is_predicate(JsonPathItemType type)
{
	return (type >= jpiAnd && type <= jpiGreaterOrEqual) ||
		type == jpiExists || type == jpiStartsWith || type == jpiLikeRegex;
}

/*
 * The method or operator with which a step computes a value instead of
 * reading one from the payload, or NULL.  On the value's own chain it
 * would give every lead the same value (.type() names every lead
 * "string") or fold different ones together (.abs() makes ids -5 and 5
 * one lead); inside a filter or a subscript it only chooses, and is fine.
 */
static const char *
computing_step(JsonPathItemType type)
{
	switch (type)
	{
		case jpiType:
			return ".type()";
		case jpiSize:
			return ".size()";
		case jpiAbs:
			return ".abs()";
		case jpiFloor:
			return ".floor()";
		case jpiCeiling:
			return ".ceiling()";
		case jpiDouble:
			return ".double()";
		case jpiDatetime:
			return ".datetime()";
		case jpiKeyValue:
			return ".keyvalue()";
		case jpiAdd:
			return "the operator +";
		case jpiSub:
			return "the operator -";
		case jpiMul:
			return "the operator *";
		case jpiDiv:
			return "the operator /";
		case jpiMod:
			return "the operator %";
		default:
			return NULL;
	}
}

/*
 * What is wrong with one item wherever it stands, or NULL.  A selecting
 * item gives the field's value; the rest (conditions, operands,
 * subscripts) may yield booleans, but not name variables either.
 */
static const char *
item_problem(JsonPathItem *item, bool selecting)
{
	int32		len;
	char	   *name;

	switch (item->type)
	{
		case jpiVariable:
			name = jspGetString(item, &len);
			return psprintf("$%.*s is a variable, and a field map binds none", len, name);
		default:
			break;
	}
	if (selecting && is_predicate(item->type))
		return "it is a predicate, which yields true or false, not a value";
	return operands_problem(item);
}

/* Why a step of the value's own chain selects several items, or NULL. */
static const char *
selects_several(JsonPathItem *item)
{
	JsonPathItem from;
	JsonPathItem to;

	switch (item->type)
	{
		case jpiAnyArray:
			return "[*] selects every element of an array";
		case jpiAnyKey:
			return ".* selects every member of an object";
		case jpiAny:
			return ".** selects values at every depth";
		case jpiIndexArray:
			if (item->content.array.nelems > 1 || jspGetArraySubscript(item, &from, &to, 0))
				return "a range or a list of subscripts selects several elements";
			return NULL;
		default:
			return NULL;
	}
}

/*
 * The problem of a chain of items, or NULL.  On the value's chain a step
 * that selects several items is a problem unless a filter after it picks.
 */
static const char *
chain_problem(JsonPathItem *first, bool selecting)
{
	JsonPathItem item = *first;
	JsonPathItem next;
	const char *several = NULL;

	check_stack_depth();
	for (;;)
	{
		const char *problem = item_problem(&item, selecting);

		if (problem != NULL)
			return problem;
		if (selecting && item.type == jpiFilter)
			several = NULL;
		else if (selecting && (problem = selects_several(&item)) != NULL)
			several = problem;
		if (!jspGetNext(&item, &next))
			break;
		item = next;
	}
	if (several == NULL)
		return NULL;
	return psprintf("%s, and a field takes one value: write a subscript such as [0], the full path, or a filter that picks one item",
					several);
}

/* The first step of the value's own chain that computes, or NULL. */
static const char *
chain_computes(JsonPathItem *root)
{
	JsonPathItem item = *root;
	JsonPathItem next;

	for (;;)
	{
		const char *computing = computing_step(item.type);

		if (computing != NULL)
			return computing;
		if (!jspGetNext(&item, &next))
			return NULL;
		item = next;
	}
}

void
crm_check_map_path(const char *field, const char *path)
{
	JsonPath   *parsed = DatumGetJsonPathP(DirectFunctionCall1(jsonpath_in, CStringGetDatum(path)));
	JsonPathItem root;
	const char *problem;
	const char *computing;

	jspInit(&root, parsed);
	if ((computing = chain_computes(&root)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid field map entry for %s: %s computes a value", crm_quote_value(field), computing),
				 errdetail("Path %s: a field map path selects a value from the payload, and a computed one could be the same for different leads.",
						   crm_quote_value(path)),
				 errhint("Map the raw value: crm normalises phones, times and ids itself. Methods and arithmetic may choose inside a filter, as in ? (@.type() == \"string\").")));
	if (root.type == jpiRoot && !jspHasNext(&root))
		problem = "$ alone is the whole payload, and a field takes one value: name a member, such as $.name";
	else
		problem = chain_problem(&root, true);
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid field map entry for %s", crm_quote_value(field)),
				 errdetail("Path %s: %s.", crm_quote_value(path), problem)));
}
