/*
 * utf8.c: UTF-8 decoding, full-width folding and trimming.
 */
#include "utf8.h"

#include <string.h>

static int
sequence_length(unsigned char lead)
{
	if (lead < 0x80)
		return 1;
	if (lead >= 0xC2 && lead <= 0xDF)
		return 2;
	if (lead >= 0xE0 && lead <= 0xEF)
		return 3;
	if (lead >= 0xF0 && lead <= 0xF4)
		return 4;
	return 0;
}

uint32_t
crm_utf8_next(const char *s, size_t len, size_t *pos)
{
	const unsigned char *p = (const unsigned char *) s + *pos;
	int			n = sequence_length(p[0]);
	uint32_t	cp;
	static const uint32_t min_for_length[5] = {0, 0, 0x80, 0x800, 0x10000};

	if (n == 0 || *pos + n > len)
	{
		(*pos)++;
		return CRM_UTF8_INVALID;
	}
	cp = (n == 1) ? p[0] : (p[0] & (0x7F >> n));
	for (int i = 1; i < n; i++)
	{
		if ((p[i] & 0xC0) != 0x80)
		{
			(*pos)++;
			return CRM_UTF8_INVALID;
		}
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	/* overlong forms, surrogates and values past U+10FFFF are ill-formed */
	if (cp < min_for_length[n] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
	{
		(*pos)++;
		return CRM_UTF8_INVALID;
	}
	*pos += n;
	return cp;
}

int
crm_utf8_put(uint32_t cp, char *out)
{
	unsigned char *o = (unsigned char *) out;

	if (cp < 0x80)
	{
		o[0] = (unsigned char) cp;
		return 1;
	}
	if (cp < 0x800)
	{
		o[0] = 0xC0 | (cp >> 6);
		o[1] = 0x80 | (cp & 0x3F);
		return 2;
	}
	if (cp < 0x10000)
	{
		o[0] = 0xE0 | (cp >> 12);
		o[1] = 0x80 | ((cp >> 6) & 0x3F);
		o[2] = 0x80 | (cp & 0x3F);
		return 3;
	}
	o[0] = 0xF0 | (cp >> 18);
	o[1] = 0x80 | ((cp >> 12) & 0x3F);
	o[2] = 0x80 | ((cp >> 6) & 0x3F);
	o[3] = 0x80 | (cp & 0x3F);
	return 4;
}

uint32_t
crm_fold_fullwidth(uint32_t cp)
{
	if (cp >= 0xFF01 && cp <= 0xFF5E)
		return cp - 0xFF01 + 0x21;
	if (cp == 0x3000)
		return ' ';
	return cp;
}

bool
crm_is_space(uint32_t cp)
{
	switch (cp)
	{
		case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20:
		case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
		case 0x202F: case 0x205F: case 0x3000: case 0x200B: case 0xFEFF:
			return true;
		default:
			return cp >= 0x2000 && cp <= 0x200A;
	}
}

/* C0 and C1 controls and DEL */
static bool
is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

size_t
crm_drop_controls(char *s, size_t len)
{
	size_t		in = 0;
	size_t		out = 0;

	while (in < len)
	{
		size_t		start = in;
		uint32_t	cp = crm_utf8_next(s, len, &in);

		if (cp != CRM_UTF8_INVALID && is_control(cp))
		{
			if (crm_is_space(cp))
				s[out++] = ' ';
			continue;
		}
		memmove(s + out, s + start, in - start);
		out += in - start;
	}
	return out;
}

void
crm_trim_spaces(const char *s, size_t *start, size_t *end)
{
	size_t		pos;

	while (*start < *end)
	{
		pos = *start;
		if (!crm_is_space(crm_utf8_next(s, *end, &pos)))
			break;
		*start = pos;
	}
	while (*end > *start)
	{
		size_t		lead = *end - 1;

		/* back to the lead byte of the last code point */
		while (lead > *start && *end - lead < 4 && ((unsigned char) s[lead] & 0xC0) == 0x80)
			lead--;
		pos = lead;
		if (!crm_is_space(crm_utf8_next(s, *end, &pos)) || pos != *end)
			break;
		*end = lead;
	}
}

char *
crm_fold_to_ascii(const char *s, size_t len, size_t *out_len)
{
	char	   *out = crm_alloc(len + 1);
	size_t		n = 0;
	size_t		pos = 0;

	crm_trim_spaces(s, &pos, &len);
	while (pos < len)
	{
		uint32_t	cp = crm_utf8_next(s, len, &pos);

		if (crm_is_space(cp))
			cp = ' ';
		cp = crm_fold_fullwidth(cp);
		if (cp >= 0x80)
		{
			crm_free(out);
			return NULL;
		}
		out[n++] = (char) cp;
	}
	out[n] = '\0';
	*out_len = n;
	return out;
}
