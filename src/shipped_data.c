/*
 * shipped_data.c: where the data files crm ships are installed.
 *
 * "make install" puts the files of data/ into the share directory's extension/,
 * found from the running server's binaries (so a relocated copy of
 * PostgreSQL finds its own), as unaccent finds its rules.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "quote.h"
#include "shipped_data.h"

PG_FUNCTION_INFO_V1(crm_shipped_data_path_sql);

char *
crm_shipped_data_path(const char *name)
{
	char		sharepath[MAXPGPATH];

	get_share_path(my_exec_path, sharepath);
	return psprintf("%s/extension/%s", sharepath, name);
}

/* crm.shipped_data_path(name): a bare file name, never a path of the caller's. */
Datum
crm_shipped_data_path_sql(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (name[0] == '\0' || name[0] == '.' || strchr(name, '/') != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid shipped data file name %s", crm_quote_value(name)),
				 errdetail("A shipped file is named without a directory, such as crm_region_codes.tsv.")));
	PG_RETURN_TEXT_P(cstring_to_text(crm_shipped_data_path(name)));
}
