/*
 * phone.c: the phone number key.
 *
 * One pass reads the input into digits, split into groups at separators,
 * plus an optional leading '+' and an optional explicit extension.  The
 * digits then have to fit the mainland numbering plan, or carry another
 * country code.  No ICU and one allocation, for the result: this runs for
 * every lead and every imported row.
 */
#include "phone.h"

#include <string.h>

#include "utf8.h"

/* the longest real input, full-width with an extension, is under 80 bytes */
#define MAX_TRIMMED_BYTES 128
#define MAX_DIGITS 24			/* "00", 15 digits, a 6-digit extension */
#define MAX_EXTENSION 6
#define MIN_FOREIGN 8			/* digits of a foreign number, with its */
#define MAX_FOREIGN 15			/* country code (E.164 allows 15) */

typedef struct PhoneParts
{
	char		digits[MAX_DIGITS];
	int			n_digits;
	int			last_group;		/* digits before the last group */
	bool		in_group;		/* the last character read was a digit */
	bool		plus;			/* written with a leading '+' */
	bool		extension;		/* an explicit extension was dropped */
} PhoneParts;

typedef enum NumberKind
{
	NOT_A_NUMBER,
	MOBILE,
	LANDLINE,
	SERVICE						/* 400 and 800 numbers */
} NumberKind;

/* The next code point, full-width forms folded; ASCII without decoding. */
static inline uint32_t
next_char(const char *s, size_t len, size_t *pos)
{
	unsigned char c = (unsigned char) s[*pos];

	if (c < 0x80)
	{
		(*pos)++;
		return c;
	}
	return crm_fold_fullwidth(crm_utf8_next(s, len, pos));
}

/* What people type between digit groups (full-width forms come folded). */
static bool
is_separator(uint32_t cp)
{
	switch (cp)
	{
		case ' ': case '-': case '.': case '(': case ')': case '/':
		case 0x00B7:			/* middle dot */
		case 0x2010: case 0x2011: case 0x2012: case 0x2013: case 0x2014:
		case 0x2015: case 0x2212:	/* hyphens, dashes, minus sign */
		case 0x30FB: case 0xFF65:	/* katakana middle dots, from IMEs */
			return true;
		default:
			return crm_is_space(cp);
	}
}

/* Consume the code point want (ASCII matched case-insensitively), if next. */
static bool
accept_char(const char *s, size_t len, size_t *pos, uint32_t want)
{
	size_t		next = *pos;
	uint32_t	cp;

	if (next >= len)
		return false;
	cp = next_char(s, len, &next);
	if (cp >= 'A' && cp <= 'Z')
		cp += 'a' - 'A';
	if (cp != want)
		return false;
	*pos = next;
	return true;
}

/*
 * Is cp (just read) the start of an extension marker?  Markers of more
 * than one character ("ext", "分机", "分机号") are consumed.
 */
static bool
extension_marker(const char *s, size_t len, size_t *pos, uint32_t cp)
{
	switch (cp)
	{
		case 'x': case 'X': case '#': case ',': case ';':
		case 0x8F6C:			/* 转 */
			return true;
		case 'e': case 'E':
			return accept_char(s, len, pos, 'x') && accept_char(s, len, pos, 't');
		case 0x5206:			/* 分机, 分机号 */
			if (!accept_char(s, len, pos, 0x673A))
				return false;
			(void) accept_char(s, len, pos, 0x53F7);
			return true;
		default:
			return false;
	}
}

/* After a marker: 1-6 extension digits, separators and colons only. */
static bool
read_extension(const char *s, size_t len, size_t pos, PhoneParts *p)
{
	int			digits = 0;

	while (pos < len)
	{
		uint32_t	cp = next_char(s, len, &pos);

		if (cp >= '0' && cp <= '9')
		{
			if (++digits > MAX_EXTENSION)
				return false;
		}
		else if (!is_separator(cp) && cp != ':')
			return false;
	}
	p->extension = true;
	return digits > 0;
}

static bool
add_digit(PhoneParts *p, char digit)
{
	if (p->n_digits == MAX_DIGITS)
		return false;
	if (!p->in_group)
	{
		p->last_group = p->n_digits;
		p->in_group = true;
	}
	p->digits[p->n_digits++] = digit;
	return true;
}

/* Split the input into digit groups, a leading '+' and an extension. */
static bool
read_parts(const char *s, size_t len, PhoneParts *p)
{
	size_t		pos = 0;

	memset(p, 0, sizeof(*p));
	while (pos < len)
	{
		uint32_t	cp = next_char(s, len, &pos);

		if (cp >= '0' && cp <= '9')
		{
			if (!add_digit(p, (char) cp))
				return false;
		}
		else if (is_separator(cp))
			p->in_group = false;
		else if (cp == '+' && p->n_digits == 0 && !p->plus)
			p->plus = true;
		else if (p->n_digits > 0 && extension_marker(s, len, &pos, cp))
			return read_extension(s, len, pos, p);
		else
			return false;		/* letters, emoji, control characters */
	}
	return p->n_digits > 0;
}

/* Allocated mobile prefixes: 13x, 145-149, 15x but 154, 162/165-167, ... */
static bool
mobile_prefix_allocated(const char *d)
{
	switch (d[1])
	{
		case '3': case '8':
			return true;
		case '4':
			return d[2] >= '5';
		case '5': case '9':
			return d[2] != '4';
		case '6':
			return d[2] == '2' || (d[2] >= '5' && d[2] <= '7');
		case '7':
			return d[2] <= '8';
		default:
			return false;
	}
}

/* Kind of a national significant number (no trunk 0). */
static NumberKind
national_kind(const char *d, int n)
{
	int			area;
	int			local;

	if (n < 10 || n > 11)
		return NOT_A_NUMBER;
	if (d[0] == '1' && d[1] != '0')
		return (n == 11 && mobile_prefix_allocated(d)) ? MOBILE : NOT_A_NUMBER;
	if (n == 10 && (memcmp(d, "400", 3) == 0 || memcmp(d, "800", 3) == 0))
		return SERVICE;
	if (d[0] == '1' || d[0] == '2')
		area = 2;				/* 10 Beijing, 2x the largest cities */
	else if (d[0] >= '3')
		area = 3;
	else
		return NOT_A_NUMBER;
	local = n - area;
	if (local != 8 && !(area == 3 && local == 7))
		return NOT_A_NUMBER;
	/* local numbers never start with 0 (trunk) or 1 (short service codes) */
	return (d[area] == '0' || d[area] == '1') ? NOT_A_NUMBER : LANDLINE;
}

/*
 * Kind of d[0..n) as dialled in China: with the trunk 0 (*trunk set) for
 * landlines and optionally for mobiles.  A landline without its trunk 0 is
 * only accepted after a country code: "57188886666" is not a number.
 */
static NumberKind
dialled_kind(const char *d, int n, bool after_country_code, int *trunk)
{
	NumberKind	kind;

	*trunk = (n > 0 && d[0] == '0') ? 1 : 0;
	kind = national_kind(d + *trunk, n - *trunk);
	if (kind == LANDLINE && !*trunk && !after_country_code)
		return NOT_A_NUMBER;
	return kind;
}

/* "+" country d[0..n), in memory from crm_alloc. */
static char *
e164(const char *country, const char *d, int n)
{
	size_t		cc = strlen(country);
	char	   *out = crm_alloc(cc + n + 2);

	if (out == NULL)
	{
		crm_core_error = "out of memory";
		return NULL;
	}
	out[0] = '+';
	memcpy(out + 1, country, cc);
	memcpy(out + 1 + cc, d, n);
	out[1 + cc + n] = '\0';
	return out;
}

/*
 * The mainland number in p->digits from offset on.  Failing that, a last
 * group of up to six digits after a complete landline or service number
 * is its extension ("0571-8888 6666-123").  Mobiles have no extensions, so
 * a group after one is taken for a typo.  (An extension after an explicit
 * marker was dropped by read_parts, whatever the kind of number.)
 */
static char *
mainland(const PhoneParts *p, int offset, bool after_country_code)
{
	const char *d = p->digits + offset;
	int			n = p->n_digits - offset;
	int			trunk;
	NumberKind	kind = dialled_kind(d, n, after_country_code, &trunk);

	if (kind != NOT_A_NUMBER)
		return e164("86", d + trunk, n - trunk);
	if (p->extension || p->last_group <= offset ||
		p->n_digits - p->last_group > MAX_EXTENSION)
		return NULL;
	n = p->last_group - offset;
	kind = dialled_kind(d, n, after_country_code, &trunk);
	if (kind != LANDLINE && kind != SERVICE)
		return NULL;
	return e164("86", d + trunk, n - trunk);
}

/* A number with a country code other than 86: kept as written. */
static char *
foreign(const PhoneParts *p, int offset)
{
	int			n = p->n_digits - offset;

	if (n < MIN_FOREIGN || n > MAX_FOREIGN || p->digits[offset] == '0')
		return NULL;
	return e164("", p->digits + offset, n);
}

static bool
digits_start_with(const PhoneParts *p, int offset, const char *prefix)
{
	return p->n_digits - offset >= 2 && memcmp(p->digits + offset, prefix, 2) == 0;
}

char *
crm_norm_phone(const char *s, size_t len)
{
	PhoneParts	p;
	size_t		start = 0;
	size_t		end = len;
	int			offset = 0;

	crm_trim_spaces(s, &start, &end);
	if (end - start > MAX_TRIMMED_BYTES || !read_parts(s + start, end - start, &p))
		return NULL;
	if (!p.plus && digits_start_with(&p, 0, "00"))
		offset = 2;				/* international prefix "00" */
	if (p.plus || offset > 0)
		return digits_start_with(&p, offset, "86") ?
			mainland(&p, offset + 2, true) : foreign(&p, offset);

	/*
	 * Unprefixed mainland numbers start with 0, 1, 400 or 800, so a leading
	 * "86" can only be the country code without its '+'.
	 */
	if (digits_start_with(&p, 0, "86"))
		return mainland(&p, 2, true);
	return mainland(&p, 0, false);
}
