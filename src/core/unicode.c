/*
 * unicode.c: NFKC_Casefold, traditional-to-simplified and Han readings
 * through ICU's C API, with per-character caches.
 */
#include "unicode.h"
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>
#include <unicode/utrans.h>

/* The cached block: CJK Extension A and the Unified Ideographs. */
#define CACHE_FIRST 0x3400
#define CACHE_LAST	0x9FFF
#define CACHE_SIZE	(CACHE_LAST - CACHE_FIRST + 1)

#define NO_READING	0xFFFF
#define MAX_SYLLABLE 16
#define MAX_SYLLABLES 4096		/* toneless pinyin has about 400; ICU's extras fit */

static UTransliterator *trad_simp;
static UTransliterator *han_latin;
static UTransliterator *latin_ascii;

/* 0 means not looked up yet; otherwise the simplified code point. */
static uint32_t *simplified_cache;

/* 0 means not looked up yet; NO_READING, or 1 + index into syllables. */
static uint16_t *reading_cache;
static char (*syllables)[MAX_SYLLABLE];
static int	n_syllables;

static UTransliterator *
open_transliterator(UTransliterator **slot, const char *id)
{
	UErrorCode	status = U_ZERO_ERROR;
	UChar		uid[64];

	if (*slot)
		return *slot;
	u_uastrncpy(uid, id, 64);
	*slot = utrans_openU(uid, -1, UTRANS_FORWARD, NULL, 0, NULL, &status);
	if (U_FAILURE(status) || *slot == NULL)
	{
		*slot = NULL;
		crm_core_error = "could not open an ICU transliterator";
	}
	return *slot;
}

/* Run t over one code point; the result, in UTF-16, goes to buf. */
static int32_t
transliterate_one(UTransliterator *t, uint32_t cp, UChar *buf, int32_t cap)
{
	UErrorCode	status = U_ZERO_ERROR;
	int32_t		len = 0;
	int32_t		limit;

	U16_APPEND_UNSAFE(buf, len, cp);
	limit = len;
	utrans_transUChars(t, buf, &len, cap, 0, &limit, &status);
	if (U_FAILURE(status))
	{
		crm_core_error = "ICU transliteration failed";
		return -1;
	}
	return limit;
}

static bool
caches_ready(void)
{
	if (simplified_cache && reading_cache && syllables)
		return true;
	if (!simplified_cache)
		simplified_cache = calloc(CACHE_SIZE, sizeof(uint32_t));
	if (!reading_cache)
		reading_cache = calloc(CACHE_SIZE, sizeof(uint16_t));
	if (!syllables)
		syllables = calloc(MAX_SYLLABLES, MAX_SYLLABLE);
	if (simplified_cache && reading_cache && syllables)
		return true;
	crm_core_error = "out of memory for the Han character caches";
	return false;
}

static uint32_t
simplify_uncached(uint32_t cp)
{
	UChar		buf[16];
	int32_t		len;
	UChar32		out;
	int32_t		i = 0;

	if (!open_transliterator(&trad_simp, "Traditional-Simplified"))
		return cp;
	len = transliterate_one(trad_simp, cp, buf, 16);
	if (len <= 0)
		return cp;
	U16_NEXT(buf, i, len, out);
	/* a phrase-level or multi-character result would not fold alike */
	return (i == len) ? (uint32_t) out : cp;
}

static uint32_t
simplify(uint32_t cp)
{
	uint32_t   *slot;

	if (!crm_is_han(cp))
		return cp;
	if (cp < CACHE_FIRST || cp > CACHE_LAST || !caches_ready())
		return simplify_uncached(cp);
	slot = &simplified_cache[cp - CACHE_FIRST];
	if (*slot == 0)
		*slot = simplify_uncached(cp);
	return *slot;
}

bool
crm_is_han(uint32_t cp)
{
	return (cp >= 0x4E00 && cp <= 0x9FFF) ||
		(cp >= 0x3400 && cp <= 0x4DBF) ||
		(cp >= 0x20000 && cp <= 0x323AF) ||
		(cp >= 0xF900 && cp <= 0xFAFF) ||
		cp == 0x3007;
}

bool
crm_is_alnum(uint32_t cp)
{
	if (cp < 0x80)
		return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') ||
			(cp >= 'A' && cp <= 'Z');
	return !crm_is_han(cp) && u_isalnum((UChar32) cp);
}

bool
crm_is_mark(uint32_t cp)
{
	int8_t		type = u_charType((UChar32) cp);

	return type == U_NON_SPACING_MARK || type == U_ENCLOSING_MARK ||
		type == U_COMBINING_SPACING_MARK;
}

/* UTF-8 to UTF-16, or NULL when the input is ill-formed or too long. */
static UChar *
to_utf16(const char *s, size_t len, int32_t *out_len)
{
	UErrorCode	status = U_ZERO_ERROR;
	UChar	   *buf;

	if (len > (size_t) INT32_MAX / 2)
		return NULL;
	buf = crm_alloc((len + 1) * sizeof(UChar));
	u_strFromUTF8(buf, (int32_t) len + 1, out_len, s, (int32_t) len, &status);
	if (U_FAILURE(status))
	{
		crm_free(buf);
		return NULL;
	}
	return buf;
}

static UChar *
nfkc_casefold(const UChar *src, int32_t len, int32_t *out_len)
{
	UErrorCode	status = U_ZERO_ERROR;
	const UNormalizer2 *norm = unorm2_getNFKCCasefoldInstance(&status);
	int32_t		cap = len + 16;
	UChar	   *dst;

	if (U_FAILURE(status))
	{
		crm_core_error = "could not load ICU's NFKC_Casefold data";
		return NULL;
	}
	dst = crm_alloc(cap * sizeof(UChar));
	*out_len = unorm2_normalize(norm, src, len, dst, cap, &status);
	if (status == U_BUFFER_OVERFLOW_ERROR)
	{
		crm_free(dst);
		cap = *out_len + 1;
		status = U_ZERO_ERROR;
		dst = crm_alloc(cap * sizeof(UChar));
		*out_len = unorm2_normalize(norm, src, len, dst, cap, &status);
	}
	if (U_FAILURE(status))
	{
		crm_free(dst);
		crm_core_error = "ICU normalisation failed";
		return NULL;
	}
	return dst;
}

uint32_t *
crm_fold_text(const char *s, size_t len, size_t *n_out)
{
	int32_t		n16;
	int32_t		nf_len;
	UChar	   *u16 = to_utf16(s, len, &n16);
	UChar	   *nf;
	uint32_t   *cps;
	size_t		n = 0;

	if (!u16)
		return NULL;
	nf = nfkc_casefold(u16, n16, &nf_len);
	crm_free(u16);
	if (!nf)
		return NULL;
	cps = crm_alloc((nf_len + 1) * sizeof(uint32_t));
	for (int32_t i = 0; i < nf_len;)
	{
		UChar32		cp;

		U16_NEXT(nf, i, nf_len, cp);
		cps[n++] = simplify((uint32_t) cp);
	}
	crm_free(nf);
	*n_out = n;
	return cps;
}

char *
crm_key_of_folded(const char *s, size_t len, size_t max_bytes,
				  char *(*key) (uint32_t *cps, size_t n))
{
	size_t		n;
	uint32_t   *cps;
	char	   *result;

	if (len > max_bytes)
		return NULL;
	cps = crm_fold_text(s, len, &n);
	if (!cps)
		return NULL;
	result = key(cps, n);
	crm_free(cps);
	return result;
}

char *
crm_encode_utf8(const uint32_t *cps, size_t n)
{
	char	   *out = crm_alloc(n * 4 + 1);
	size_t		len = 0;

	for (size_t i = 0; i < n; i++)
		len += crm_utf8_put(cps[i], out + len);
	out[len] = '\0';
	return out;
}

/*
 * Turn Han-Latin output (tone-marked pinyin) into a toneless ASCII
 * syllable: ü becomes v, as Chinese keyboards and IDs write it, then
 * Latin-ASCII drops the tone marks.
 */
static bool
toneless_syllable(UChar *buf, int32_t len, char *out)
{
	int32_t		limit;
	UErrorCode	status = U_ZERO_ERROR;
	int			n = 0;

	for (int32_t i = 0; i < len; i++)
	{
		/* ü, Ü, and the toned ǖ ǘ ǚ ǜ (the even code points U+01D6..U+01DC) */
		if (buf[i] == 0x00FC || buf[i] == 0x00DC ||
			(buf[i] >= 0x01D6 && buf[i] <= 0x01DC && buf[i] % 2 == 0))
			buf[i] = 'v';
	}
	if (!open_transliterator(&latin_ascii, "Latin-ASCII"))
		return false;
	limit = len;
	utrans_transUChars(latin_ascii, buf, &len, 32, 0, &limit, &status);
	if (U_FAILURE(status))
		return false;
	for (int32_t i = 0; i < limit; i++)
	{
		UChar		c = u_tolower(buf[i]);

		if (c == ' ')
			continue;
		if (c < 'a' || c > 'z' || n >= MAX_SYLLABLE - 1)
			return false;
		out[n++] = (char) c;
	}
	out[n] = '\0';
	return n > 0;
}

static uint16_t
intern_syllable(const char *syllable)
{
	for (int i = 0; i < n_syllables; i++)
		if (strcmp(syllables[i], syllable) == 0)
			return (uint16_t) (i + 1);
	if (n_syllables >= MAX_SYLLABLES)
		return NO_READING;
	strcpy(syllables[n_syllables++], syllable);
	return (uint16_t) n_syllables;
}

static uint16_t
reading_uncached(uint32_t cp)
{
	UChar		buf[32];
	int32_t		len;
	char		syllable[MAX_SYLLABLE];

	if (!open_transliterator(&han_latin, "Han-Latin"))
		return NO_READING;
	len = transliterate_one(han_latin, cp, buf, 32);
	if (len <= 0 || !toneless_syllable(buf, len, syllable))
		return NO_READING;
	return intern_syllable(syllable);
}

const char *
crm_han_reading(uint32_t cp)
{
	uint16_t   *slot;
	uint16_t	id;

	if (!crm_is_han(cp) || !caches_ready())
		return NULL;
	if (cp < CACHE_FIRST || cp > CACHE_LAST)
		id = reading_uncached(cp);
	else
	{
		slot = &reading_cache[cp - CACHE_FIRST];
		if (*slot == 0)
			*slot = reading_uncached(cp);
		id = *slot;
	}
	return id == NO_READING ? NULL : syllables[id - 1];
}
