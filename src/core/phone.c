/*
 * phone.c: the phone number key.
 *
 * The input is read into digit groups (split at separators), an optional
 * international prefix and an optional extension.  The national part must
 * then fit the mainland numbering plan.  Single pass, no ICU, one
 * allocation for the result: this runs for every lead and every import row.
 */
#include "phone.h"

#include <string.h>

#include "utf8.h"

#define MAX_INPUT_BYTES 128
#define MAX_DIGITS 24
#define MAX_GROUPS 12
#define MAX_EXTENSION 6

typedef struct PhoneParts
{
	char		digits[MAX_DIGITS];
	int			n_digits;
	int			group_end[MAX_GROUPS];	/* digit count at each group's end */
	int			n_groups;
	bool		plus;			/* written with a leading '+' */
	int			extension;		/* digits after an explicit marker */
} PhoneParts;

static bool
is_separator(uint32_t cp)
{
	switch (cp)
	{
		case ' ': case '-': case '.': case '(': case ')': case '/': case '\t':
		case 0x00B7: case 0x2010: case 0x2011: case 0x2012: case 0x2013:
		case 0x2014: case 0x2015: case 0x30FB:
			return true;
		default:
			return crm_is_space(cp);
	}
}

/* Length of an extension marker at s[pos] ("ext", "x", "转", "分机", "#"). */
static size_t
extension_marker(const char *s, size_t len, size_t pos)
{
	static const char *const markers[] = {
		"分机号", "分机", "转", "ext.", "ext", "EXT.", "EXT", "Ext.", "Ext",
		"x", "X", "#", ",", ";", "，", "；",
	};

	unsigned char first = (unsigned char) s[pos];

	/* most bytes cannot start a marker: keep the common path cheap */
	if (first < 0x80 && strchr("eExX#,;", first) == NULL)
		return 0;
	for (size_t i = 0; i < sizeof(markers) / sizeof(markers[0]); i++)
	{
		size_t		n = strlen(markers[i]);

		if (n <= len - pos && memcmp(s + pos, markers[i], n) == 0)
			return n;
	}
	return 0;
}

/* 1-6 extension digits after a marker, and nothing else. */
static bool
read_extension(const char *s, size_t len, size_t pos, PhoneParts *p)
{
	while (pos < len)
	{
		uint32_t	cp = crm_fold_fullwidth(crm_utf8_next(s, len, &pos));

		if (cp >= '0' && cp <= '9')
		{
			if (++p->extension > MAX_EXTENSION)
				return false;
		}
		else if (!is_separator(cp) && cp != ':')
			return false;
	}
	return p->extension > 0;
}

static bool
add_digit(PhoneParts *p, char digit, bool *in_group)
{
	if (p->n_digits == MAX_DIGITS)
		return false;
	if (!*in_group)
	{
		if (p->n_groups == MAX_GROUPS)
			return false;
		p->n_groups++;
		*in_group = true;
	}
	p->digits[p->n_digits++] = digit;
	p->group_end[p->n_groups - 1] = p->n_digits;
	return true;
}

/* Split the input into digit groups, a '+' and an extension. */
static bool
read_parts(const char *s, size_t len, PhoneParts *p)
{
	size_t		pos = 0;
	bool		in_group = false;

	memset(p, 0, sizeof(*p));
	while (pos < len)
	{
		size_t		marker = p->n_digits > 0 ? extension_marker(s, len, pos) : 0;
		uint32_t	cp;

		if (marker > 0)
			return read_extension(s, len, pos + marker, p);
		cp = crm_fold_fullwidth(crm_utf8_next(s, len, &pos));
		if (cp >= '0' && cp <= '9')
		{
			if (!add_digit(p, (char) cp, &in_group))
				return false;
		}
		else if (cp == '+' && p->n_digits == 0 && !p->plus)
			p->plus = true;
		else if (is_separator(cp))
			in_group = false;
		else
			return false;
	}
	return p->n_digits > 0;
}

typedef enum NumberKind
{
	NOT_A_NUMBER,
	MOBILE,
	LANDLINE,
	SERVICE						/* 400 and 800 numbers */
} NumberKind;

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
	if ((local != 8 && !(area == 3 && local == 7)) || d[area] == '0' || d[area] == '1')
		return NOT_A_NUMBER;
	return LANDLINE;
}

/*
 * Kind of d[0..n) as dialled in China: with the trunk 0 (*trunk set) for
 * landlines and optionally for mobiles.  A landline without its trunk 0 is
 * only accepted after +86, since "57188886666" is otherwise ambiguous.
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

static char *
e164(const char *country, const char *d, int n)
{
	size_t		cc = strlen(country);
	char	   *out = crm_alloc(cc + n + 2);

	out[0] = '+';
	memcpy(out + 1, country, cc);
	memcpy(out + 1 + cc, d, n);
	out[1 + cc + n] = '\0';
	return out;
}

/*
 * The mainland number in p->digits from offset on.  A last group of up to
 * six digits after a complete landline is its extension.
 */
static char *
mainland(const PhoneParts *p, int offset, bool after_country_code)
{
	const char *d = p->digits + offset;
	int			trunk;
	NumberKind	kind = dialled_kind(d, p->n_digits - offset, after_country_code, &trunk);
	int			end;

	if (kind != NOT_A_NUMBER && (kind != MOBILE || p->extension == 0))
		return e164("86", d + trunk, p->n_digits - offset - trunk);
	if (p->n_groups < 2 || p->extension > 0)
		return NULL;
	end = p->group_end[p->n_groups - 2];
	if (end <= offset || p->n_digits - end > MAX_EXTENSION)
		return NULL;
	kind = dialled_kind(d, end - offset, after_country_code, &trunk);
	if (kind != LANDLINE && kind != SERVICE)
		return NULL;
	return e164("86", d + trunk, end - offset - trunk);
}

/* A number written with a country code other than 86: kept as written. */
static char *
foreign(const PhoneParts *p, int offset)
{
	int			n = p->n_digits - offset;

	if (n < 8 || n > 15 || p->digits[offset] == '0')
		return NULL;
	return e164("", p->digits + offset, n);
}

char *
crm_norm_phone(const char *s, size_t len)
{
	PhoneParts	p;
	int			offset = 0;
	bool		international;

	if (len > MAX_INPUT_BYTES || !read_parts(s, len, &p))
		return NULL;
	international = p.plus;
	if (!international && p.n_digits > 2 && memcmp(p.digits, "00", 2) == 0)
	{
		international = true;
		offset = 2;
	}
	if (international)
		return memcmp(p.digits + offset, "86", 2) == 0 ?
			mainland(&p, offset + 2, true) : foreign(&p, offset);
	if (p.n_digits > 2 && memcmp(p.digits, "86", 2) == 0 &&
		dialled_kind(p.digits, p.n_digits, false, &offset) == NOT_A_NUMBER)
		return mainland(&p, 2, true);
	return mainland(&p, 0, false);
}
