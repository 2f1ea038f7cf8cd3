/*
 * normalize.c: SQL-callable normalisers and validators.
 *
 * Each wrapper hands the argument's bytes to the pure-C core and turns
 * the core's answer into a Datum: a NULL result means "unusable input",
 * and a core failure (ICU, memory) becomes an error, never a silent NULL.
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "checkcode.h"
#include "company.h"
#include "core.h"
#include "email.h"
#include "normalize.h"
#include "person.h"
#include "phone.h"
#include "pinyin.h"
#include "pinyin_overrides.h"

/* crm.pinyin() keys long text too, but not without bound. */
#define PINYIN_MAX_BYTES (16 * 1024 * 1024)

typedef bool (*CoreValidator) (const char *s, size_t len);

PG_FUNCTION_INFO_V1(crm_norm_phone_sql);
PG_FUNCTION_INFO_V1(crm_norm_email_sql);
PG_FUNCTION_INFO_V1(crm_norm_person_name_sql);
PG_FUNCTION_INFO_V1(crm_norm_company_name_sql);
PG_FUNCTION_INFO_V1(crm_company_region_sql);
PG_FUNCTION_INFO_V1(crm_pinyin_sql);
PG_FUNCTION_INFO_V1(crm_norm_uscc_sql);
PG_FUNCTION_INFO_V1(crm_uscc_is_valid_sql);
PG_FUNCTION_INFO_V1(crm_resident_id_is_valid_sql);
PG_FUNCTION_INFO_V1(crm_region_code_is_valid_sql);
PG_FUNCTION_INFO_V1(crm_customer_code_is_valid_sql);
PG_FUNCTION_INFO_V1(crm_customer_code_from_serial_sql);

static void *
palloc_hook(size_t size)
{
	return palloc(size);
}

void
crm_normalize_init(void)
{
	crm_core_set_allocator(palloc_hook, pfree);
}

/* The core works on UTF-8; other server encodings are refused up front. */
static void
require_utf8(void)
{
	if (GetDatabaseEncoding() != PG_UTF8)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("crm requires a UTF8 database"),
				 errdetail("The database encoding is %s.", GetDatabaseEncodingName())));
}

void
crm_raise_core_error(void)
{
	if (crm_core_error)
	{
		const char *msg = crm_core_error;

		crm_core_error = NULL;
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("crm normalisation failed: %s", msg)));
	}
}

char *
crm_normalize_bytes(CoreNormalizer normalizer, const char *s, size_t len)
{
	char	   *result;

	require_utf8();
	if (normalizer == crm_pinyin)
		crm_pinyin_overrides_ensure_loaded();
	crm_core_error = NULL;
	result = normalizer(s, len);
	crm_raise_core_error();
	return result;
}

static Datum
normalize_with(FunctionCallInfo fcinfo, CoreNormalizer normalizer)
{
	text	   *arg = PG_GETARG_TEXT_PP(0);
	char	   *result;

	result = crm_normalize_bytes(normalizer, VARDATA_ANY(arg), VARSIZE_ANY_EXHDR(arg));
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

static Datum
validate_with(FunctionCallInfo fcinfo, CoreValidator validator)
{
	text	   *arg = PG_GETARG_TEXT_PP(0);

	PG_RETURN_BOOL(validator(VARDATA_ANY(arg), VARSIZE_ANY_EXHDR(arg)));
}

Datum
crm_norm_phone_sql(PG_FUNCTION_ARGS)
{
	return normalize_with(fcinfo, crm_norm_phone);
}

Datum
crm_norm_email_sql(PG_FUNCTION_ARGS)
{
	return normalize_with(fcinfo, crm_norm_email);
}

Datum
crm_norm_person_name_sql(PG_FUNCTION_ARGS)
{
	return normalize_with(fcinfo, crm_norm_person_name);
}

Datum
crm_norm_company_name_sql(PG_FUNCTION_ARGS)
{
	return normalize_with(fcinfo, crm_norm_company_name);
}

Datum
crm_company_region_sql(PG_FUNCTION_ARGS)
{
	return normalize_with(fcinfo, crm_company_region);
}

Datum
crm_norm_uscc_sql(PG_FUNCTION_ARGS)
{
	return normalize_with(fcinfo, crm_norm_uscc);
}

Datum
crm_pinyin_sql(PG_FUNCTION_ARGS)
{
	text	   *arg = PG_GETARG_TEXT_PP(0);

	if (VARSIZE_ANY_EXHDR(arg) > PINYIN_MAX_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("argument exceeds the maximum length of %d bytes",
						PINYIN_MAX_BYTES)));
	return normalize_with(fcinfo, crm_pinyin);
}

Datum
crm_uscc_is_valid_sql(PG_FUNCTION_ARGS)
{
	return validate_with(fcinfo, crm_uscc_is_valid);
}

Datum
crm_resident_id_is_valid_sql(PG_FUNCTION_ARGS)
{
	return validate_with(fcinfo, crm_resident_id_is_valid);
}

Datum
crm_region_code_is_valid_sql(PG_FUNCTION_ARGS)
{
	return validate_with(fcinfo, crm_region_code_is_valid);
}

Datum
crm_customer_code_is_valid_sql(PG_FUNCTION_ARGS)
{
	return validate_with(fcinfo, crm_customer_code_is_valid);
}

Datum
crm_customer_code_from_serial_sql(PG_FUNCTION_ARGS)
{
	int64		serial = PG_GETARG_INT64(0);
	char		code[CRM_CUSTOMER_CODE_LEN + 1];

	if (!crm_customer_code_encode(serial, code))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("customer code serial %lld is out of range", (long long) serial),
				 errdetail("Serials run from 0 to %lld.",
						   (long long) CRM_CUSTOMER_CODE_SPACE - 1)));
	PG_RETURN_TEXT_P(cstring_to_text(code));
}
