/*
 * email.c: the e-mail address key.
 *
 * Addresses arrive typed on Chinese keyboards: full-width letters, "＠",
 * "。" for the dot, stray spaces, upper case.  The key folds those and
 * accepts only what a mail server would: dot-atom local part, host name
 * domain.  Internationalised addresses are out of scope and give NULL.
 */
#include "email.h"

#include <string.h>

#include "utf8.h"

#define MAX_INPUT_BYTES 1024
#define MAX_ADDRESS 254
#define MAX_LOCAL 64
#define MAX_LABEL 63

/* Fold to lower-case ASCII; false when a non-ASCII character remains. */
static bool
fold_ascii(const char *s, size_t len, char *out, size_t *out_len)
{
	size_t		pos = 0;
	size_t		n = 0;

	while (pos < len)
	{
		uint32_t	cp = (unsigned char) s[pos];

		if (cp < 0x80)			/* the common case: no decoding */
			pos++;
		else
			cp = crm_fold_fullwidth(crm_utf8_next(s, len, &pos));
		if (cp == 0x3002 || cp == 0xFF61)
			cp = '.';
		else if (crm_is_space(cp))
			cp = ' ';
		if (cp >= 0x80)
			return false;
		out[n++] = (cp >= 'A' && cp <= 'Z') ? (char) (cp + 32) : (char) cp;
	}
	*out_len = n;
	return true;
}

/* Narrow [*start, *end) to the address: trim, "mailto:", "Name <addr>". */
static void
unwrap(const char *s, size_t *start, size_t *end)
{
	const char *lt;

	while (*start < *end && s[*start] == ' ')
		(*start)++;
	while (*end > *start && s[*end - 1] == ' ')
		(*end)--;
	if (*end - *start > 7 && strncmp(s + *start, "mailto:", 7) == 0)
		*start += 7;
	if (*end > *start && s[*end - 1] == '>' &&
		(lt = memchr(s + *start, '<', *end - *start)) != NULL)
	{
		*start = (size_t) (lt - s) + 1;
		(*end)--;
	}
}

static bool
is_atext(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		(c != '\0' && strchr("!#$%&'*+/=?^_`{|}~-", c) != NULL);
}

/* Dot-atom: atext runs separated by single dots. */
static bool
valid_local(const char *s, size_t n)
{
	if (n == 0 || n > MAX_LOCAL || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(is_atext(s[i]) || (s[i] == '.' && s[i + 1] != '.')))
			return false;
	return true;
}

static bool
valid_label(const char *s, size_t n)
{
	if (n == 0 || n > MAX_LABEL || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* Host name of two labels or more; the top-level one alphabetic. */
static bool
valid_domain(const char *s, size_t n)
{
	size_t		label_start = 0;
	int			labels = 0;

	for (size_t i = 0; i <= n; i++)
	{
		if (i < n && s[i] != '.')
			continue;
		if (!valid_label(s + label_start, i - label_start))
			return false;
		labels++;
		if (i == n)
			for (size_t k = label_start; k < n; k++)
				if (!(s[k] >= 'a' && s[k] <= 'z') || n - label_start < 2)
					return false;
		label_start = i + 1;
	}
	return labels >= 2;
}

char *
crm_norm_email(const char *s, size_t len)
{
	char		buf[MAX_INPUT_BYTES];
	size_t		n;
	size_t		start = 0;
	const char *at;
	char	   *out;

	if (len > MAX_INPUT_BYTES || !fold_ascii(s, len, buf, &n))
		return NULL;
	unwrap(buf, &start, &n);
	n -= start;
	if (n > MAX_ADDRESS || (at = memchr(buf + start, '@', n)) == NULL)
		return NULL;
	if (!valid_local(buf + start, (size_t) (at - buf) - start) ||
		!valid_domain(at + 1, (size_t) (buf + start + n - at - 1)))
		return NULL;
	out = crm_alloc(n + 1);
	memcpy(out, buf + start, n);
	out[n] = '\0';
	return out;
}
