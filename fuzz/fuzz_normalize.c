/*
 * fuzz_normalize.c: libFuzzer harness for the pure-C normalisation core.
 *
 * Every normaliser and validator sees the same arbitrary bytes (not
 * necessarily UTF-8, not NUL-terminated).  Besides crashes and sanitizer
 * reports it checks two properties a matching key must have: a result is
 * valid UTF-8, and normalising a result again gives it back unchanged
 * (idempotence), since stored keys are compared with fresh ones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkcode.h"
#include "company.h"
#include "core.h"
#include "email.h"
#include "person.h"
#include "phone.h"
#include "pinyin.h"

#ifndef CRM_OVERRIDES_FILE
#define CRM_OVERRIDES_FILE "data/crm_pinyin_overrides.tsv"
#endif

typedef char *(*Normalizer) (const char *s, size_t len);

static void
load_overrides(void)
{
	static char text[1 << 20];
	char		err[256];
	FILE	   *f = fopen(CRM_OVERRIDES_FILE, "r");
	size_t		len;

	if (!f)
	{
		fprintf(stderr, "cannot open %s\n", CRM_OVERRIDES_FILE);
		abort();
	}
	len = fread(text, 1, sizeof(text), f);
	fclose(f);
	if (!crm_pinyin_load_overrides(text, len, err, sizeof(err)))
	{
		fprintf(stderr, "bad override file: %s\n", err);
		abort();
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;
	load_overrides();
	return 0;
}

static void
check_idempotent(Normalizer normalize, const char *name, const uint8_t *data, size_t size)
{
	char	   *once = normalize((const char *) data, size);
	char	   *twice;

	if (crm_core_error)
	{
		fprintf(stderr, "%s: core error %s\n", name, crm_core_error);
		abort();
	}
	if (!once)
		return;
	twice = normalize(once, strlen(once));
	if (!twice || strcmp(once, twice) != 0)
	{
		fprintf(stderr, "%s is not idempotent: \"%s\" -> \"%s\"\n", name, once,
				twice ? twice : "(null)");
		abort();
	}
	free(once);
	free(twice);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *) data;

	check_idempotent(crm_norm_phone, "norm_phone", data, size);
	check_idempotent(crm_norm_email, "norm_email", data, size);
	check_idempotent(crm_norm_person_name, "norm_person_name", data, size);
	check_idempotent(crm_norm_company_name, "norm_company_name", data, size);
	check_idempotent(crm_norm_uscc, "norm_uscc", data, size);
	free(crm_pinyin(s, size));
	(void) crm_resident_id_is_valid(s, size);
	(void) crm_customer_code_is_valid(s, size);
	return 0;
}
