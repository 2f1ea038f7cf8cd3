/*
 * person.c: the person-name key.
 *
 * Leads carry names as people type them: "王先生", "張偉（經理）", "李总",
 * "Mr. David  Chen".  The key keeps what identifies the person and drops
 * what describes the relationship.
 */
#include "person.h"

#include "cpstring.h"
#include "unicode.h"
#include "wordlist.h"

#define LENGTH(a) ((int) (sizeof(a) / sizeof((a)[0])))

/* Result longer than this (in code points) is not a name. */
#define PERSON_NAME_MAX_CHARS 64

/* Titles that follow a surname; the longest match is removed first. */
static const char *const han_titles[] = {
	"先生", "女士", "小姐", "太太", "夫人", "同学", "老师", "师傅", "医生",
	"大夫", "护士", "护士长", "教授", "副教授", "博士", "院士", "律师",
	"会计", "总经理", "副总经理", "经理", "副经理", "总监", "副总监",
	"主任", "副主任", "主管", "院长", "副院长", "校长", "副校长", "园长",
	"董事长", "副董事长", "董事", "总裁", "副总裁", "书记", "处长",
	"副处长", "科长", "副科长", "部长", "副部长", "局长", "副局长", "厂长",
	"副厂长", "所长", "站长", "组长", "老板", "老总", "副总", "总工", "总",
	"工",
};
static const int n_han_titles = LENGTH(han_titles);
static CrmWordList han_title_list = CRM_WORDLIST(han_titles, n_han_titles);

static const char *const latin_honorifics[] = {
	"mr", "mr.", "mrs", "mrs.", "ms", "ms.", "miss", "dr", "dr.", "prof",
	"prof.", "sir", "madam",
};
static const int n_latin_honorifics = LENGTH(latin_honorifics);
static CrmWordList latin_honorific_list =
	CRM_WORDLIST(latin_honorifics, n_latin_honorifics);

static CrmCharAction
classify_person_char(uint32_t *cp)
{
	switch (*cp)
	{
		case 0x00B7: case 0x30FB: case 0x2022: case 0x2027: case 0x2219:
		case 0x22C5: case 0x2E31:
			*cp = CRM_MIDDLE_DOT;	/* 迪丽热巴·迪力木拉提 */
			return CRM_KEEP;
		case 0x2018: case 0x2019: case 0x02BC:
			*cp = '\'';
			return CRM_KEEP;
		case 0x2010: case 0x2011: case 0x2012: case 0x2013:
			*cp = '-';
			return CRM_KEEP;
		case '\'': case '-': case '.':
			return CRM_KEEP;
		default:
			return crm_classify_common(*cp);
	}
}

static bool
is_edge_punct(uint32_t cp)
{
	return cp == ' ' || cp == '.' || cp == '-' || cp == '\'' || cp == CRM_MIDDLE_DOT;
}

/* Trim punctuation at both ends; returns the new start via *start. */
static size_t
trim_punct(const uint32_t *s, size_t n, size_t *start)
{
	*start = 0;
	while (*start < n && is_edge_punct(s[*start]))
		(*start)++;
	while (n > *start && is_edge_punct(s[n - 1]))
		n--;
	return n - *start;
}

/*
 * Drop trailing titles while something remains before them; a string that
 * is nothing but a title names nobody, so it comes back empty.
 */
static long
strip_han_titles(const uint32_t *s, size_t n)
{
	for (;;)					/* each round removes at least one character */
	{
		long		m = crm_wordlist_suffix(&han_title_list, s, n);

		if (m <= 0)
			return m < 0 ? -1 : (long) n;
		if (crm_count_letters(s, n - m) == 0)
			return 0;
		n = crm_rtrim(s, n - m);
	}
	return (long) n;
}

/* Drop a leading "Mr." or "Dr" when a name follows it. */
static size_t
strip_latin_honorific(const uint32_t *s, size_t n, size_t *start)
{
	long		m = crm_wordlist_prefix(&latin_honorific_list, s, n);

	*start = 0;
	if (m <= 0 || (size_t) m >= n)
		return n;
	*start = (size_t) m;
	while (*start < n && s[*start] == ' ')
		(*start)++;
	return n - *start;
}

/*
 * Peel punctuation, honorifics and titles off the ends until nothing
 * changes, so that normalising a key again gives the key back.
 */
static long
strip_decorations(uint32_t **s, size_t n)
{
	for (;;)					/* each round removes at least one character */
	{
		size_t		before = n;
		size_t		start;
		long		len;

		n = trim_punct(*s, n, &start);
		*s += start;
		n = strip_latin_honorific(*s, n, &start);
		*s += start;
		len = strip_han_titles(*s, n);
		if (len < 0)
			return -1;
		n = (size_t) len;
		if (n == before)
			break;
	}
	return (long) n;
}

static char *
person_key(uint32_t *s, size_t n)
{
	long		len;

	n = crm_drop_bracketed(s, n);
	n = crm_clean_chars(s, n, classify_person_char);
	n = crm_collapse_spaces(s, n);
	n = crm_squeeze_han_spaces(s, n);
	len = strip_decorations(&s, n);
	if (len < 0)
		return NULL;
	n = (size_t) len;
	if (n == 0 || n > PERSON_NAME_MAX_CHARS || crm_count_letters(s, n) == 0)
		return NULL;
	return crm_encode_utf8(s, n);
}

char *
crm_norm_person_name(const char *s, size_t len)
{
	return crm_key_of_folded(s, len, CRM_PERSON_NAME_MAX_BYTES, person_key);
}
