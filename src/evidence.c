/*
 * evidence.c: an attachment is evidence only when its bytes say what it
 * claims to be.
 *
 * crm.attachment's BEFORE INSERT trigger checks, in order: the kind is
 * known; it is added by the actor (added_by is crm.current_actor()), who
 * has access to the opportunity (src/opportunity_access.c), now (added_at
 * is the transaction's time: evidence counts from it); its content (stored) or its description (referenced: size,
 * SHA-256, a URL of a file store, content type) is whole; it is not empty and within its
 * kind's size limit; its magic bytes give a content type its kind allows
 * (PDF, PNG, JPEG; OFD, DOCX and XLSX by their ZIP container); its SHA-256
 * (PostgreSQL's sha256()) matches what was given; and for a kind unique to
 * a deal, no other opportunity has the same file.  A failed check refuses
 * the row, naming the check; nothing is stored.  Once stored, an
 * attachment is a record: only its file name may change.
 */
#include "postgres.h"

#include <zlib.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"

#include "actor.h"
#include "evidence.h"
#include "guards.h"
#include "opportunity_access.h"
#include "quote.h"
#include "spi_plan.h"

/* ---------------------------------------------------------------------
 * Content types by magic bytes
 * --------------------------------------------------------------------- */

static const char *const known_types[] = {
	CRM_TYPE_PDF, CRM_TYPE_PNG, CRM_TYPE_JPEG, CRM_TYPE_OFD, CRM_TYPE_DOCX, CRM_TYPE_XLSX
};

/* [Content_Types].xml is a few kilobytes; a larger one is not an Office file we read */
#define MAX_CONTENT_TYPES_XML (1024 * 1024)
#define ZIP_EOCD_SIZE 22
#define ZIP_CD_ENTRY_SIZE 46
#define ZIP_LOCAL_SIZE 30

static uint32
le16(const unsigned char *p)
{
	return p[0] | (p[1] << 8);
}

static uint32
le32(const unsigned char *p)
{
	return p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32) p[3] << 24);
}

/* A ZIP's end-of-central-directory record, searched back over a comment of up to 64 kB. */
static const unsigned char *
zip_eocd(const unsigned char *data, size_t len)
{
	size_t		lowest;

	if (len < ZIP_EOCD_SIZE)
		return NULL;
	lowest = len > ZIP_EOCD_SIZE + 65535 ? len - ZIP_EOCD_SIZE - 65535 : 0;
	for (size_t at = len - ZIP_EOCD_SIZE + 1; at-- > lowest;)
		if (memcmp(data + at, "PK\005\006", 4) == 0)
			return data + at;
	return NULL;
}

/* One stored member of a ZIP, whole or as far as [start, start + csize) is in range. */
typedef struct ZipMember
{
	uint32		method;
	size_t		csize;
	size_t		usize;
	size_t		local;			/* offset of its local header */
} ZipMember;

/* The data of a member: NULL when its headers point outside the file. */
static const unsigned char *
zip_member_data(const unsigned char *data, size_t len, const ZipMember *m)
{
	size_t		start;

	if (m->local > len - ZIP_LOCAL_SIZE || len < ZIP_LOCAL_SIZE ||
		memcmp(data + m->local, "PK\003\004", 4) != 0)
		return NULL;
	start = m->local + ZIP_LOCAL_SIZE + le16(data + m->local + 26) + le16(data + m->local + 28);
	if (start > len || m->csize > len - start)
		return NULL;
	return data + start;
}

/* The member uncompressed, NUL-terminated (stored or deflated); NULL when it cannot be read. */
static char *
zip_member_text(const unsigned char *data, size_t len, const ZipMember *m)
{
	const unsigned char *in = zip_member_data(data, len, m);
	char	   *out;
	z_stream	z = {0};
	int			rc;

	if (in == NULL || m->usize > MAX_CONTENT_TYPES_XML)
		return NULL;
	out = palloc(m->usize + 1);
	out[m->usize] = '\0';
	if (m->method == 0)
		return m->csize == m->usize ? memcpy(out, in, m->usize) : NULL;
	if (m->method != 8 || inflateInit2(&z, -MAX_WBITS) != Z_OK)
		return NULL;
	z.next_in = (unsigned char *) in;
	z.avail_in = m->csize;
	z.next_out = (unsigned char *) out;
	z.avail_out = m->usize;
	rc = inflate(&z, Z_FINISH);
	inflateEnd(&z);
	return rc == Z_STREAM_END && z.total_out == m->usize ? out : NULL;
}

/* What a ZIP is: OFD (OFD.xml at its root), DOCX or XLSX (by [Content_Types].xml), or NULL. */
static const char *
zip_type(const unsigned char *data, size_t len)
{
	const unsigned char *eocd = zip_eocd(data, len);
	size_t		at;
	uint32		entries;
	ZipMember	types = {0};
	bool		has_types = false;
	char	   *xml;

	if (eocd == NULL)
		return NULL;
	entries = le16(eocd + 10);
	at = le32(eocd + 16);
	for (uint32 i = 0; i < entries; i++)
	{
		size_t		name_len;

		if (at > len || len - at < ZIP_CD_ENTRY_SIZE || memcmp(data + at, "PK\001\002", 4) != 0)
			return NULL;
		name_len = le16(data + at + 28);
		if (len - at - ZIP_CD_ENTRY_SIZE < name_len)
			return NULL;
		if (name_len == 7 && memcmp(data + at + ZIP_CD_ENTRY_SIZE, "OFD.xml", 7) == 0)
			return CRM_TYPE_OFD;
		if (name_len == 19 && memcmp(data + at + ZIP_CD_ENTRY_SIZE, "[Content_Types].xml", 19) == 0)
		{
			types = (ZipMember) {le16(data + at + 10), le32(data + at + 20), le32(data + at + 24), le32(data + at + 42)};
			has_types = true;
		}
		at += ZIP_CD_ENTRY_SIZE + name_len + le16(data + at + 30) + le16(data + at + 32);
	}
	if (!has_types || (xml = zip_member_text(data, len, &types)) == NULL)
		return NULL;
	if (strstr(xml, "wordprocessingml.document.main+xml") != NULL)
		return CRM_TYPE_DOCX;
	if (strstr(xml, "spreadsheetml.sheet.main+xml") != NULL)
		return CRM_TYPE_XLSX;
	return NULL;
}

const char *
crm_evidence_type(const unsigned char *data, size_t len)
{
	static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

	if (len >= 5 && memcmp(data, "%PDF-", 5) == 0)
		return CRM_TYPE_PDF;
	if (len >= 8 && memcmp(data, png, 8) == 0)
		return CRM_TYPE_PNG;
	if (len >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
		return CRM_TYPE_JPEG;
	if (len >= 4 && memcmp(data, "PK\003\004", 4) == 0)
		return zip_type(data, len);
	return NULL;
}

PG_FUNCTION_INFO_V1(crm_evidence_content_type);

/* crm.evidence_content_type(bytea) */
Datum
crm_evidence_content_type(PG_FUNCTION_ARGS)
{
	bytea	   *content = PG_GETARG_BYTEA_PP(0);
	const char *type = crm_evidence_type((unsigned char *) VARDATA_ANY(content), VARSIZE_ANY_EXHDR(content));

	if (type == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(type));
}

PG_FUNCTION_INFO_V1(crm_evidence_content_types);

/* crm.evidence_content_types() */
Datum
crm_evidence_content_types(PG_FUNCTION_ARGS)
{
	Datum		types[lengthof(known_types)];

	for (int i = 0; i < (int) lengthof(known_types); i++)
		types[i] = CStringGetTextDatum(known_types[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(types, lengthof(known_types), TEXTOID, -1, false, TYPALIGN_INT));
}

/* ---------------------------------------------------------------------
 * The checks of a new attachment
 * --------------------------------------------------------------------- */

typedef struct Attachment
{
	TupleDesc	desc;
	HeapTuple	tuple;
	int64		opportunity_id;
	const char *kind;
	bytea	   *content;		/* detoasted; NULL when referenced */
	const char *content_type;	/* given */
	bool		has_size;
	int64		size;
	bytea	   *sha256;			/* given */
	const char *url;
	const char *added_by;
	TimestampTz added_at;
} Attachment;

static void
refuse(const char *check, int sqlstate, const char *detail, const char *hint)
{
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg("attachment refused by the %s check", check),
			 errdetail_internal("%s", detail),
			 hint ? errhint("%s", hint) : 0));
}

static Datum
attr(const Attachment *a, const char *name, bool *isnull)
{
	return heap_getattr(a->tuple, SPI_fnumber(a->desc, name), a->desc, isnull);
}

static const char *
attr_text(const Attachment *a, const char *name)
{
	bool		isnull;
	Datum		d = attr(a, name, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

static void
read_attachment(Attachment *a)
{
	bool		isnull;
	Datum		d;

	a->opportunity_id = DatumGetInt64(attr(a, "opportunity_id", &isnull));
	a->kind = attr_text(a, "kind");
	d = attr(a, "content", &isnull);
	a->content = isnull ? NULL : DatumGetByteaPP(d);
	a->content_type = attr_text(a, "content_type");
	d = attr(a, "size", &a->has_size);
	a->has_size = !a->has_size;
	a->size = a->has_size ? DatumGetInt64(d) : 0;
	d = attr(a, "sha256", &isnull);
	a->sha256 = isnull ? NULL : DatumGetByteaPP(d);
	a->url = attr_text(a, "url");
	a->added_by = attr_text(a, "added_by");
	d = attr(a, "added_at", &isnull);
	a->added_at = isnull ? GetCurrentTransactionStartTimestamp() : DatumGetTimestampTz(d);
}

/* false when there is no such opportunity (its foreign key says so) */
static bool
check_access(const Attachment *a)
{
	OpportunityAccess access;
	char	   *actor = crm_actor_name();

	if (strcmp(a->added_by, actor) != 0)
		refuse("added_by", ERRCODE_INSUFFICIENT_PRIVILEGE,
			   psprintf("added_by says %s; the actor is %s.", crm_quote_value(a->added_by), crm_quote_value(actor)),
			   "Leave added_by out: it is who adds the attachment, crm.current_actor() (SET crm.actor to who adds it).");
	if (!crm_opportunity_access(a->opportunity_id, a->added_by, &access))
		return false;
	if (!access.allowed)
		refuse("access", ERRCODE_INSUFFICIENT_PRIVILEGE,
			   crm_opportunity_access_refused(&access, a->opportunity_id, a->added_by, "add evidence to"),
			   "Evidence is added by the opportunity's owner, a rep of its team, or the team's manager or director "
			   "(SET crm.actor to who adds it).");
	if (a->added_at != GetCurrentTransactionStartTimestamp())
		refuse("added_at", ERRCODE_GENERATED_ALWAYS,
			   psprintf("added_at says %s; an attachment is added now.", timestamptz_to_str(a->added_at)),
			   "Leave added_at out: it is the time of the transaction, and evidence counts from it.");
	return true;
}

/* The stored form: the bytes give size, type and hash; what was given must agree. */
static void
check_stored(Attachment *a)
{
	const unsigned char *data = (unsigned char *) VARDATA_ANY(a->content);
	size_t		len = VARSIZE_ANY_EXHDR(a->content);
	const char *type = crm_evidence_type(data, len);
	bytea	   *hash;

	if (a->has_size && a->size != (int64) len)
		refuse("size", ERRCODE_CHECK_VIOLATION,
			   psprintf("size says %lld bytes; the content has %zu.", (long long) a->size, len),
			   "Leave size out: it is taken from the content.");
	a->size = len;
	if (a->content_type != NULL && (type == NULL || strcmp(type, a->content_type) != 0))
		refuse("content type", ERRCODE_CHECK_VIOLATION,
			   psprintf("content_type says %s; the content's magic bytes say %s.", crm_quote_value(a->content_type),
						type ? crm_quote_value(type) : "none crm recognises"),
			   "Leave content_type out: it is taken from the content.");
	a->content_type = type;
	hash = DatumGetByteaPP(DirectFunctionCall1(sha256_bytea, PointerGetDatum(a->content)));
	if (a->sha256 != NULL && (VARSIZE_ANY_EXHDR(a->sha256) != 32 ||
							  memcmp(VARDATA_ANY(a->sha256), VARDATA_ANY(hash), 32) != 0))
		refuse("sha256", ERRCODE_CHECK_VIOLATION, "sha256 is not the SHA-256 of the content.",
			   "Leave sha256 out: it is computed from the content.");
	a->sha256 = hash;
}

/*
 * Where referenced content may be: a web or object store, by URL.  Not
 * file:// (a path on some machine), nor a scheme crm cannot tell.
 */
static const char *const storage_schemes[] = {"https", "http", "s3", "oss", "cos", "obs", "gs"};
#define STORAGE_SCHEMES_TEXT "https://, http://, s3://, oss://, cos://, obs://, gs://"

static bool
storage_url(const char *url)
{
	const char *sep = strstr(url, "://");

	if (sep == NULL || sep[3] == '\0')
		return false;
	for (int i = 0; i < (int) lengthof(storage_schemes); i++)
		if ((size_t) (sep - url) == strlen(storage_schemes[i]) &&
			pg_strncasecmp(url, storage_schemes[i], sep - url) == 0)
			return true;
	return false;
}

/* The referenced form: the description must be whole; the bytes are elsewhere. */
static void
check_referenced(const Attachment *a)
{
	if (a->url == NULL || !a->has_size || a->sha256 == NULL || a->content_type == NULL)
		refuse("reference", ERRCODE_CHECK_VIOLATION,
			   "Content stored elsewhere needs url, size, sha256 and content_type.",
			   "Give all four, or the content itself.");
	if (!storage_url(a->url))
		refuse("reference", ERRCODE_CHECK_VIOLATION,
			   psprintf("url %s is not the URL of a file store.", crm_quote_value(a->url)),
			   "Give the storage URL with one of the schemes " STORAGE_SCHEMES_TEXT ".");
	if (VARSIZE_ANY_EXHDR(a->sha256) != 32)
		refuse("sha256", ERRCODE_CHECK_VIOLATION,
			   psprintf("sha256 has %zu bytes, not 32.", (size_t) VARSIZE_ANY_EXHDR(a->sha256)),
			   "Give the SHA-256 of the stored file as 32 bytes (decode(hex, 'hex')).");
}

CRM_KEPT_PLAN(kind_rules) = {
	"SELECT k.max_size, k.unique_to_deal, $2 = ANY (k.content_types), array_to_string(k.content_types, ', '), k.label"
	" FROM crm.evidence_kind k WHERE k.code = $1",
	2, {TEXTOID, TEXTOID}
};

/* Returns whether the kind is unique to a deal. */
static bool
check_kind(const Attachment *a)
{
	Datum		args[2] = {CStringGetTextDatum(a->kind), (Datum) 0};
	char		nulls[2] = {' ', a->content_type ? ' ' : 'n'};
	int64		max_size;

	if (a->content_type)
		args[1] = CStringGetTextDatum(a->content_type);
	if (crm_plan_run(&kind_rules, args, nulls, 1, SPI_OK_SELECT) == 0)
		refuse("kind", ERRCODE_FOREIGN_KEY_VIOLATION, psprintf("No evidence kind %s.", crm_quote_value(a->kind)),
			   "The kinds are in crm.evidence_kind.");
	crm_spi_int8(0, 1, &max_size);
	if (a->size <= 0)
		refuse("not empty", ERRCODE_CHECK_VIOLATION, "The attachment has no content.", NULL);
	if (a->size > max_size)
		refuse("size limit", ERRCODE_CHECK_VIOLATION,
			   psprintf("%lld bytes, over the %lld a %s (%s) may have.", (long long) a->size, (long long) max_size,
						crm_spi_text(0, 5), a->kind), NULL);
	if (!crm_spi_bool(0, 3))
		refuse("content type", ERRCODE_CHECK_VIOLATION,
			   psprintf("The content is %s; a %s (%s) must be one of: %s.",
						a->content_type ? a->content_type : "of no type crm recognises by its magic bytes",
						crm_spi_text(0, 5), a->kind, crm_spi_text(0, 4)),
			   "Attach the document itself, not a renamed file of another type.");
	return crm_spi_bool(0, 2);
}

CRM_KEPT_PLAN(evidence_elsewhere) = {
	"SELECT a.opportunity_id FROM crm.attachment a WHERE a.sha256 = $1 AND a.opportunity_id <> $2 LIMIT 1",
	2, {BYTEAOID, INT8OID}
};

/*
 * One file, one deal: a session adding the same file waits for the other
 * to end.  The lock is on one of EVIDENCE_LOCK_BUCKETS buckets of the hash,
 * held to the end of the transaction: a bulk insert takes a bounded number
 * of locks, and two sessions adding different files wait for each other
 * only when their hashes share a bucket.
 */
#define EVIDENCE_LOCK_CLASS 0x43524D45
#define EVIDENCE_LOCK_BUCKETS 256

static void
check_unique(const Attachment *a)
{
	Datum		args[2] = {PointerGetDatum(a->sha256), Int64GetDatum(a->opportunity_id)};
	LOCKTAG		tag;
	int64		other;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, EVIDENCE_LOCK_CLASS,
						 le32((unsigned char *) VARDATA_ANY(a->sha256)) % EVIDENCE_LOCK_BUCKETS, 2);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
	if (crm_plan_run(&evidence_elsewhere, args, NULL, 1, SPI_OK_SELECT) == 0)
		return;
	crm_spi_int8(0, 1, &other);
	refuse("unique to deal", ERRCODE_UNIQUE_VIOLATION,
		   psprintf("The same file (SHA-256) is already evidence on opportunity %lld.", (long long) other),
		   "A signature scan or an approval backs one deal: attach this deal's own.");
}

static HeapTuple
checked_attachment(Attachment *a)
{
	int			cols[4];
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	read_attachment(a);
	if (a->added_by == NULL || a->kind == NULL || !check_access(a))
		return a->tuple;		/* NOT NULL and the foreign key say so */
	if (a->content != NULL)
		check_stored(a);
	else
		check_referenced(a);
	if (check_kind(a))
		check_unique(a);
	cols[0] = SPI_fnumber(a->desc, "content_type");
	values[0] = CStringGetTextDatum(a->content_type);
	cols[1] = SPI_fnumber(a->desc, "size");
	values[1] = Int64GetDatum(a->size);
	cols[2] = SPI_fnumber(a->desc, "sha256");
	values[2] = PointerGetDatum(a->sha256);
	cols[3] = SPI_fnumber(a->desc, "added_at");
	values[3] = TimestampTzGetDatum(a->added_at);
	return heap_modify_tuple_by_cols(a->tuple, a->desc, 4, cols, values, nulls);
}

PG_FUNCTION_INFO_V1(crm_attachment_before_write);

/* BEFORE INSERT OR UPDATE ON crm.attachment FOR EACH ROW */
Datum
crm_attachment_before_write(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Attachment	a = {0};
	MemoryContext caller = CurrentMemoryContext;
	HeapTuple	result;

	crm_require_write_row_trigger(fcinfo, "crm.attachment_before_write()");
	a.desc = td->tg_relation->rd_att;
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		crm_check_record_unchanged(td, "attachment", "file_name");
		return PointerGetDatum(td->tg_newtuple);
	}
	if (crm_restoring())
		return PointerGetDatum(td->tg_trigtuple);
	a.tuple = td->tg_trigtuple;
	SPI_connect();
	/* what is read and the new tuple live in the caller's (per-row) context */
	MemoryContextSwitchTo(caller);
	result = checked_attachment(&a);
	SPI_finish();
	return PointerGetDatum(result);
}
