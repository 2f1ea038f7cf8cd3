/*
 * email.c: the e-mail address key.
 *
 * Addresses arrive typed on Chinese keyboards: full-width letters, "＠",
 * "。" for the dot, stray spaces, upper case.  The key folds those and
 * accepts only what a mail server would: dot-atom local part, host name
 * domain.  Internationalised addresses are out of scope and give NULL.
 * The address is folded into a buffer on the stack, checked there, and
 * copied into the one allocation, the result.
 */
#include "email.h"

#include <string.h>

#include "utf8.h"

#define MAX_ADDRESS 254			/* RFC 5321 path limit, less the brackets */
#define MAX_LOCAL 64
#define MAX_DOMAIN 253
#define MAX_LABEL 63
#define MAILTO "mailto:"
#define MAILTO_LEN 7
#define MAX_FOLDED (MAX_ADDRESS + MAILTO_LEN)

/* How far back from a closing '>' to look for its '<' (4 bytes a char). */
#define MAX_BRACKETED_BYTES (4 * MAX_FOLDED)

/* Classes of lower-case ASCII characters. */
#define ATEXT 0x01				/* dot-atom text (RFC 5322), less the dot */
#define LDH 0x02				/* letter, digit, hyphen: host name labels */
#define ALPHA 0x04				/* top-level domains */

static const unsigned char ascii_class[128] = {
	['a' ... 'z'] = ATEXT | LDH | ALPHA,
	['0' ... '9'] = ATEXT | LDH,
	['-'] = ATEXT | LDH,
	['!'] = ATEXT, ['#'] = ATEXT, ['$'] = ATEXT, ['%'] = ATEXT,
	['&'] = ATEXT, ['\''] = ATEXT, ['*'] = ATEXT, ['+'] = ATEXT,
	['/'] = ATEXT, ['='] = ATEXT, ['?'] = ATEXT, ['^'] = ATEXT,
	['_'] = ATEXT, ['`'] = ATEXT, ['{'] = ATEXT, ['|'] = ATEXT,
	['}'] = ATEXT, ['~'] = ATEXT,
};

/*
 * The next code point with full-width forms folded, and the ideographic
 * full stops that Chinese input methods type for '.'; ASCII undecoded.
 */
static inline uint32_t
next_char(const char *s, size_t len, size_t *pos)
{
	unsigned char c = (unsigned char) s[*pos];
	uint32_t	cp;

	if (c < 0x80)
	{
		(*pos)++;
		return c;
	}
	cp = crm_fold_fullwidth(crm_utf8_next(s, len, pos));
	return (cp == 0x3002 || cp == 0xFF61) ? '.' : cp;
}

/* Bytes of c, or of its full-width form wide, ending s[start..end); else 0. */
static size_t
ends_with(const char *s, size_t start, size_t end, char c, const char *wide)
{
	if (end > start && s[end - 1] == c)
		return 1;
	if (end - start >= 3 && memcmp(s + end - 3, wide, 3) == 0)
		return 3;
	return 0;
}

/*
 * "Display Name <addr>": narrow [*start, *end) to addr.  The name may be
 * anything (Chinese, quoted, with brackets), so the last '<' counts.
 */
static void
unwrap_brackets(const char *s, size_t *start, size_t *end)
{
	size_t		close = ends_with(s, *start, *end, '>', "\xEF\xBC\x9E");
	size_t		limit = *start;

	if (close == 0)
		return;
	if (*end - *start > MAX_BRACKETED_BYTES)
		limit = *end - MAX_BRACKETED_BYTES;
	for (size_t i = *end - close; i > limit; i--)
	{
		if (ends_with(s, limit, i, '<', "\xEF\xBC\x9C") > 0)
		{
			*start = i;
			*end -= close;
			crm_trim_spaces(s, start, end);
			return;
		}
	}
}

/* Fold into lower-case ASCII; false on anything else, or when too long. */
static bool
fold_address(const char *s, size_t len, char *out, size_t *out_len)
{
	size_t		pos = 0;
	size_t		n = 0;

	while (pos < len)
	{
		uint32_t	cp = next_char(s, len, &pos);

		if (cp >= 0x80 || n == MAX_FOLDED)
			return false;
		out[n++] = (cp >= 'A' && cp <= 'Z') ? (char) (cp + 'a' - 'A') : (char) cp;
	}
	*out_len = n;
	return true;
}

static inline bool
has_class(char c, unsigned char class)
{
	return (ascii_class[(unsigned char) c & 0x7F] & class) != 0;
}

/* Dot-atom: atext runs separated by single dots. */
static bool
valid_local(const char *s, size_t n)
{
	if (n == 0 || n > MAX_LOCAL || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
	{
		if (s[i] == '.' ? s[i + 1] == '.' : !has_class(s[i], ATEXT))
			return false;
	}
	return true;
}

/* Characters were checked by the caller; here, length and hyphens. */
static bool
valid_label(const char *s, size_t n)
{
	return n > 0 && n <= MAX_LABEL && s[0] != '-' && s[n - 1] != '-';
}

/* Host name of two labels or more, the top-level one alphabetic. */
static bool
valid_domain(const char *s, size_t n)
{
	size_t		label = 0;		/* start of the current label */

	if (n > MAX_DOMAIN)
		return false;
	for (size_t i = 0; i < n; i++)
	{
		if (s[i] != '.')
		{
			if (!has_class(s[i], LDH))
				return false;
		}
		else if (!valid_label(s + label, i - label))
			return false;
		else
			label = i + 1;
	}
	if (label == 0 || n - label < 2 || !valid_label(s + label, n - label))
		return false;
	for (size_t i = label; i < n; i++)
		if (!has_class(s[i], ALPHA))
			return false;
	return true;
}

char *
crm_norm_email(const char *s, size_t len)
{
	char		buf[MAX_FOLDED];
	const char *addr = buf;
	const char *at;
	size_t		start = 0;
	size_t		end = len;
	size_t		n;
	char	   *out;

	crm_trim_spaces(s, &start, &end);
	unwrap_brackets(s, &start, &end);
	if (!fold_address(s + start, end - start, buf, &n))
		return NULL;
	if (n > MAILTO_LEN && memcmp(buf, MAILTO, MAILTO_LEN) == 0)
	{
		addr += MAILTO_LEN;
		n -= MAILTO_LEN;
	}
	if (n > MAX_ADDRESS || (at = memchr(addr, '@', n)) == NULL ||
		!valid_local(addr, at - addr) || !valid_domain(at + 1, addr + n - at - 1))
		return NULL;
	if ((out = crm_alloc(n + 1)) == NULL)
	{
		crm_core_error = "out of memory";
		return NULL;
	}
	memcpy(out, addr, n);
	out[n] = '\0';
	return out;
}
