/*
 * company.c: the company-name key.
 *
 * "杭州海康威视数字技术股份有限公司", "海康威视数字技术（杭州）有限公司" and
 * "Hangzhou Hikvision Digital Technology Co., Ltd." differ only in what the
 * registration adds: a legal form, a region, a bracketed note.  The key
 * drops those and keeps the rest.
 */
#include "company.h"

#include "cpstring.h"
#include "regions.h"
#include "unicode.h"
#include "wordlist.h"

#define LENGTH(a) ((int) (sizeof(a) / sizeof((a)[0])))

static const char *const legal_forms[] = {
	"股份有限公司", "有限责任公司", "有限公司", "股份公司", "集团公司",
	"总公司", "公司", "集团", "控股", "有限合伙", "普通合伙", "合伙企业",
	"co", "company", "ltd", "limited", "inc", "incorporated", "corp",
	"corporation", "llc", "llp", "lp", "gmbh", "ag", "plc", "pte", "pty",
	"bv", "holdings", "holding", "group",
};
static const int n_legal_forms = LENGTH(legal_forms);
static CrmWordList legal_form_list = CRM_WORDLIST(legal_forms, n_legal_forms);

/* A branch names its parent plus a place: "XX有限公司杭州分公司". */
static const char *const branch_forms[] = {
	"分公司", "分厂", "分店", "办事处", "分部", "branch", "office",
};
static const int n_branch_forms = LENGTH(branch_forms);
static CrmWordList branch_list = CRM_WORDLIST(branch_forms, n_branch_forms);

/* Organisations whose region is part of their identity. */
static const char *const institutions[] = {
	"大学", "学院", "医院", "中学", "小学", "学校", "幼儿园", "卫生院",
	"保健院", "中心", "研究院", "研究所", "诊所", "门诊部", "政府", "委员会",
	"局", "厅", "银行", "分行", "支行", "university", "college", "hospital",
	"school", "bank",
};
static const int n_institutions = LENGTH(institutions);
static CrmWordList institution_list = CRM_WORDLIST(institutions, n_institutions);

static CrmWordList region_han_list =
	CRM_WORDLIST(crm_region_han, crm_n_region_han);
static CrmWordList region_latin_list =
	CRM_WORDLIST(crm_region_latin, crm_n_region_latin);
static CrmWordList region_suffix_list =
	CRM_WORDLIST(crm_region_suffixes, crm_n_region_suffixes);

static CrmCharAction
classify_company_char(uint32_t *cp)
{
	return *cp == '&' ? CRM_KEEP : crm_classify_common(*cp);
}

/* Length of a region name (with its 省/市 suffix) ending s[0..n), or 0. */
static long
trailing_region(const uint32_t *s, size_t n)
{
	long		k = crm_wordlist_suffix(&region_suffix_list, s, n);
	long		r;

	if (k < 0)
		return -1;
	r = crm_wordlist_suffix(&region_han_list, s, n - k);
	if (r == 0)
		r = crm_wordlist_suffix(&region_latin_list, s, crm_rtrim(s, n - k));
	return r <= 0 ? r : r + k;
}

/* A branch suffix and the place before it ("杭州分公司"), or 0. */
static long
trailing_branch(const uint32_t *s, size_t n)
{
	long		m = crm_wordlist_suffix(&branch_list, s, n);
	size_t		rest;
	long		place;

	if (m <= 0)
		return m;
	rest = crm_rtrim(s, n - m);
	place = trailing_region(s, rest);
	return place < 0 ? -1 : (long) (n - rest) + place;
}

/* Legal forms and branch suffixes off the end. */
static long
strip_legal_forms(const uint32_t *s, size_t n)
{
	for (;;)					/* each round removes at least one character */
	{
		long		m = trailing_branch(s, n);

		if (m == 0)
			m = crm_wordlist_suffix(&legal_form_list, s, n);
		if (m <= 0)
			return m < 0 ? -1 : (long) n;
		if (crm_count_letters(s, n - m) == 0)
			return 0;			/* nothing but a legal form names nobody */
		n = crm_rtrim(s, n - m);
	}
	return (long) n;
}

/* Length of a region name (and its 省/市 suffix) at the head of s, or 0. */
static long
leading_region(const uint32_t *s, size_t n)
{
	long		r = crm_wordlist_prefix(&region_han_list, s, n);
	long		k;

	if (r == 0)
		r = crm_wordlist_prefix(&region_latin_list, s, n);
	if (r <= 0)
		return r;
	k = crm_wordlist_prefix(&region_suffix_list, s + r, n - r);
	return k < 0 ? -1 : r + k;
}

/* A district after a city: two or three Han characters then 区 or 县. */
static long
leading_district(const uint32_t *s, size_t n)
{
	for (size_t k = 2; k <= 3 && k < n; k++)
	{
		if (!crm_is_han(s[k - 1]))
			return 0;
		if (s[k] == 0x533A || s[k] == 0x53BF)
			return (long) k + 1;
	}
	return 0;
}

/*
 * Whether s[0..n) still names the organisation without the region before
 * it: a few letters at least, and not "银行" or "第一人民医院", whose region
 * tells one from another.
 */
static bool
stands_alone(const uint32_t *s, size_t n)
{
	return crm_count_letters(s, n) >= 2 &&
		crm_wordlist_suffix(&institution_list, s, n) == 0;
}

/* Regions (and a district after them) off the head; returns the new start. */
static long
strip_leading_regions(const uint32_t *s, size_t n)
{
	size_t		start = 0;

	for (;;)					/* each round removes at least one character */
	{
		long		r = leading_region(s + start, n - start);

		if (r == 0 && start > 0)
			r = leading_district(s + start, n - start);
		if (r < 0)
			return -1;
		while (r > 0 && start + r < n && s[start + r] == ' ')
			r++;
		if (r == 0 || !stands_alone(s + start + r, n - start - r))
			break;
		start += (size_t) r;
	}
	return (long) start;
}

static char *
company_key(uint32_t *s, size_t n)
{
	long		len;
	long		start;

	n = crm_drop_bracketed(s, n);
	n = crm_clean_chars(s, n, classify_company_char);
	n = crm_collapse_spaces(s, n);
	n = crm_squeeze_han_spaces(s, n);
	len = strip_legal_forms(s, n);
	if (len < 0)
		return NULL;
	start = strip_leading_regions(s, (size_t) len);
	if (start < 0 || crm_count_letters(s + start, (size_t) (len - start)) == 0)
		return NULL;
	return crm_encode_utf8(s + start, (size_t) (len - start));
}

char *
crm_norm_company_name(const char *s, size_t len)
{
	return crm_key_of_folded(s, len, CRM_COMPANY_NAME_MAX_BYTES, company_key);
}

/*
 * The region a company name starts with or names in brackets: "杭州" for
 * both "杭州康泰医疗器械有限公司" and "康泰医疗器械（杭州）有限公司".  The key
 * drops it, so it is what tells apart same-named companies of two cities.
 */
static char *
company_region(uint32_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
	{
		long		r;

		if (i > 0 && s[i - 1] != '(')
			continue;
		r = crm_wordlist_prefix(&region_han_list, s + i, n - i);
		if (r == 0)
			r = crm_wordlist_prefix(&region_latin_list, s + i, n - i);
		if (r > 0)
			return crm_encode_utf8(s + i, (size_t) r);
	}
	return NULL;
}

char *
crm_company_region(const char *s, size_t len)
{
	return crm_key_of_folded(s, len, CRM_COMPANY_NAME_MAX_BYTES, company_region);
}
