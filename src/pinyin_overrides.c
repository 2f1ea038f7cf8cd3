/*
 * pinyin_overrides.c: the override table as an installed data file.
 *
 * crm.pinyin() is IMMUTABLE and indexed, so its readings must not change
 * under a running index.  Keeping the overrides in a file beside the
 * extension, read once per backend (as unaccent does with its rules),
 * makes a change a deliberate act of the DBA, followed by a REINDEX.
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"

#include "core.h"
#include "pinyin.h"
#include "pinyin_overrides.h"
#include "shipped_data.h"

#define OVERRIDES_FILE "crm_pinyin_overrides.tsv"

static bool overrides_loaded = false;

PG_FUNCTION_INFO_V1(crm_pinyin_overrides_sql);

static void
load_overrides(const char *path, const char *text, size_t len)
{
	char		reason[256];

	crm_core_error = NULL;
	if (!crm_pinyin_load_overrides(text, len, reason, sizeof(reason)))
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("invalid pinyin override file \"%s\"", path),
				 errdetail("%s", crm_core_error ? crm_core_error : reason),
				 errhint("Each line is key<TAB>reading<TAB>surname|phrase.")));
}

void
crm_pinyin_overrides_ensure_loaded(void)
{
	char	   *path;
	char	   *text;
	size_t		len;
	FILE	   *file;

	if (overrides_loaded)
		return;
	path = crm_shipped_data_path(OVERRIDES_FILE);
	file = AllocateFile(path, "r");
	if (file == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open pinyin override file \"%s\": %m", path),
				 errhint("Reinstall the crm extension files (make install).")));
	text = palloc(1024 * 1024 + 1);
	len = fread(text, 1, 1024 * 1024, file);
	if (ferror(file) || !feof(file))
	{
		FreeFile(file);
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("could not read pinyin override file \"%s\"", path),
				 errdetail("The file must be readable and at most 1 MB.")));
	}
	FreeFile(file);
	load_overrides(path, text, len);
	pfree(text);
	overrides_loaded = true;
}

/* crm.pinyin_overrides(): the table this backend uses, for inspection. */
Datum
crm_pinyin_overrides_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	crm_pinyin_overrides_ensure_loaded();
	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < crm_pinyin_override_count(); i++)
	{
		const char *key;
		const char *reading;
		bool		surname;
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		crm_pinyin_override_get(i, &key, &reading, &surname);
		values[0] = CStringGetTextDatum(key);
		values[1] = CStringGetTextDatum(reading);
		values[2] = CStringGetTextDatum(surname ? "surname" : "phrase");
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
