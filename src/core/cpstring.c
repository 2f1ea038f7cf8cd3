/*
 * cpstring.c: bracket, space and symbol handling on code point strings.
 */
#include "cpstring.h"

#include <string.h>

#include <unicode/uchar.h>

#include "unicode.h"
#include "utf8.h"

static int
bracket_kind(uint32_t cp)
{
	switch (cp)
	{
		case '(': case '[': case '{': case 0x3010: case 0x3014:
		case 0x3008: case 0x300A: case 0x300C: case 0x300E: case 0x3016:
			return 1;
		case ')': case ']': case '}': case 0x3011: case 0x3015:
		case 0x3009: case 0x300B: case 0x300D: case 0x300F: case 0x3017:
			return -1;
		default:
			return 0;
	}
}

size_t
crm_drop_bracketed(uint32_t *s, size_t n)
{
	size_t		out = 0;
	int			depth = 0;

	for (size_t i = 0; i < n; i++)
	{
		int			kind = bracket_kind(s[i]);

		/* what is removed leaves a space, so no new neighbours meet */
		if (kind == 1 && depth++ == 0)
			s[out++] = ' ';
		else if (kind == -1 && depth > 0)
			depth--;
		else if (kind == -1)
			s[out++] = ' ';
		else if (depth == 0)
			s[out++] = s[i];
	}
	return out;
}

CrmCharAction
crm_classify_common(uint32_t cp)
{
	if (crm_is_han(cp) || crm_is_alnum(cp))
		return CRM_KEEP;
	if (crm_is_space(cp) || u_isUWhiteSpace((UChar32) cp))
		return CRM_SEPARATE;
	switch (u_charType((UChar32) cp))
	{
		case U_NON_SPACING_MARK:
		case U_ENCLOSING_MARK:
		case U_COMBINING_SPACING_MARK:
			return CRM_KEEP;	/* crm_clean_chars decides */
		case U_CONTROL_CHAR:
		case U_FORMAT_CHAR:
		case U_PRIVATE_USE_CHAR:
		case U_UNASSIGNED:
		case U_SURROGATE:
		case U_OTHER_SYMBOL:
		case U_MODIFIER_SYMBOL:
		case U_MATH_SYMBOL:
		case U_CURRENCY_SYMBOL:
			return CRM_DROP;
		default:
			return CRM_SEPARATE;
	}
}

size_t
crm_clean_chars(uint32_t *s, size_t n, CrmCharAction (*classify) (uint32_t *cp))
{
	size_t		out = 0;
	bool		after_letter = false;	/* the previous input character */

	for (size_t i = 0; i < n; i++)
	{
		uint32_t	cp = s[i];
		CrmCharAction action = classify(&cp);
		bool		mark = crm_is_mark(cp);

		/* a mark stays only on the letter it followed in the input */
		if (action == CRM_KEEP && mark && !after_letter)
			action = CRM_DROP;
		after_letter = action == CRM_KEEP && (mark || crm_is_alnum(cp));
		if (action == CRM_KEEP)
			s[out++] = cp;
		else if (action == CRM_SEPARATE)
			s[out++] = ' ';
	}
	return out;
}

size_t
crm_collapse_spaces(uint32_t *s, size_t n)
{
	size_t		out = 0;

	for (size_t i = 0; i < n; i++)
	{
		if (s[i] == ' ' && (out == 0 || s[out - 1] == ' '))
			continue;
		s[out++] = s[i];
	}
	return crm_rtrim(s, out);
}

static bool
binds_tight(uint32_t cp)
{
	return crm_is_han(cp) || cp == CRM_MIDDLE_DOT;
}

size_t
crm_squeeze_han_spaces(uint32_t *s, size_t n)
{
	size_t		out = 0;

	for (size_t i = 0; i < n; i++)
	{
		if (s[i] == ' ' && ((out > 0 && binds_tight(s[out - 1])) ||
							(i + 1 < n && binds_tight(s[i + 1]))))
			continue;
		s[out++] = s[i];
	}
	return out;
}

size_t
crm_rtrim(const uint32_t *s, size_t n)
{
	while (n > 0 && s[n - 1] == ' ')
		n--;
	return n;
}

size_t
crm_count_letters(const uint32_t *s, size_t n)
{
	size_t		count = 0;

	for (size_t i = 0; i < n; i++)
		if (crm_is_han(s[i]) || crm_is_alnum(s[i]))
			count++;
	return count;
}
