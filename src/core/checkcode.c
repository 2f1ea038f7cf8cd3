/*
 * checkcode.c: check characters of the unified social credit code
 * (GB 32100-2015), the resident identity number (GB 11643-1999) and crm's
 * customer codes (ISO 7064 MOD 35,34).
 *
 * Each validator folds the input into a fixed-length upper-case buffer on
 * the stack, then checks that buffer; only crm_norm_uscc's result outlives
 * the call.
 */
#include "checkcode.h"

#include <string.h>

#include "utf8.h"

#define LENGTH(a) ((int) (sizeof(a) / sizeof((a)[0])))

#define USCC_LEN 18
#define RESIDENT_ID_LEN 18

/* GB 32100-2015 leaves out I, O, S, V and Z (misread as 1, 0, 5, U, 2). */
static const char uscc_alphabet[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";

/* 3^i mod 31 */
static const int uscc_weights[USCC_LEN - 1] = {
	1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
};

/* 2^(17-i) mod 11 */
static const int resident_weights[RESIDENT_ID_LEN - 1] = {
	7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2,
};

/* Customer codes leave out I and O, easily taken for 1 and 0. */
static const char customer_alphabet[] = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";

#define CUSTOMER_RADIX 34

/*
 * The scrambling bijection x -> (K * x + B) mod 34^7.  K is coprime to
 * 34^7 (odd, not a multiple of 17), so the map is one-to-one; K near
 * 34^7 times the golden ratio's fraction spreads consecutive serials far
 * apart.
 */
#define SCRAMBLE_K 32461215593ULL
#define SCRAMBLE_B 17391524870ULL

/* Position of c in alphabet, or -1 (never a match for the NUL byte). */
static int
alphabet_index(const char *alphabet, char c)
{
	const char *p;

	if (c == '\0')
		return -1;
	p = strchr(alphabet, c);
	return p ? (int) (p - alphabet) : -1;
}

/*
 * Fold s (trim, full-width to ASCII, upper case) into buf, which receives
 * want characters and a NUL.  False unless exactly want characters remain.
 */
static bool
fold_fixed(const char *s, size_t len, char *buf, size_t want)
{
	size_t		n;
	char	   *folded = crm_fold_to_ascii(s, len, &n);
	bool		ok;

	if (folded == NULL)
		return false;
	ok = (n == want);
	if (ok)
	{
		for (size_t i = 0; i < n; i++)
		{
			char		c = folded[i];

			buf[i] = (c >= 'a' && c <= 'z') ? c - 'a' + 'A' : c;
		}
		buf[n] = '\0';
	}
	crm_free(folded);
	return ok;
}

/*
 * Check a folded 18-character unified social credit code.
 *
 * Positions 9-17 hold the GB 11714 organisation code, which has its own
 * check character.  We deliberately do not verify it: some codes the
 * registries legitimately issued fail it, and rejecting a real company's
 * code is worse than the rare typo the 18th character does not catch.
 */
static bool
uscc_check(const char *code)
{
	int			sum = 0;

	if (code[0] == '0')
		return false;			/* no registration authority 0 */
	for (int i = 0; i < USCC_LEN - 1; i++)
	{
		int			v = alphabet_index(uscc_alphabet, code[i]);

		if (v < 0 || (i >= 2 && i < 8 && v > 9))
			return false;		/* positions 3-8: region, digits only */
		sum += v * uscc_weights[i];
	}
	return alphabet_index(uscc_alphabet, code[USCC_LEN - 1]) ==
		(31 - sum % 31) % 31;
}

bool
crm_uscc_is_valid(const char *s, size_t len)
{
	char		code[USCC_LEN + 1];

	return fold_fixed(s, len, code, USCC_LEN) && uscc_check(code);
}

char *
crm_norm_uscc(const char *s, size_t len)
{
	char		code[USCC_LEN + 1];
	char	   *result;

	if (!fold_fixed(s, len, code, USCC_LEN) || !uscc_check(code))
		return NULL;
	result = crm_alloc(USCC_LEN + 1);
	if (result == NULL)
	{
		crm_core_error = "out of memory";
		return NULL;
	}
	memcpy(result, code, USCC_LEN + 1);
	return result;
}

/* Decimal value of n digits known to be 0-9. */
static int
digits_value(const char *s, int n)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* GB/T 2260 province-level codes, with 71 (Taiwan), 81 and 82 (Hong Kong, Macao). */
static bool
province_is_valid(int code)
{
	static const struct
	{
		int			lo;
		int			hi;
	}			ranges[] = {
		{11, 15}, {21, 23}, {31, 37}, {41, 46}, {50, 54}, {61, 65},
		{71, 71}, {81, 82},
	};

	for (int i = 0; i < LENGTH(ranges); i++)
		if (code >= ranges[i].lo && code <= ranges[i].hi)
			return true;
	return false;
}

/*
 * Whether 8 digits YYYYMMDD are a calendar date in 1890..2099.  The upper
 * bound is fixed rather than "not after today" so that validation stays
 * IMMUTABLE and usable in indexes and CHECK constraints.
 */
static bool
birth_date_is_valid(const char *d)
{
	static const int month_days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};
	int			year = digits_value(d, 4);
	int			month = digits_value(d + 4, 2);
	int			day = digits_value(d + 6, 2);
	bool		leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	if (year < 1890 || year > 2099 || month < 1 || month > 12 || day < 1)
		return false;
	return day <= month_days[month - 1] + (month == 2 && leap ? 1 : 0);
}

static bool
resident_id_check(const char *id)
{
	int			sum = 0;
	int			check;

	for (int i = 0; i < RESIDENT_ID_LEN - 1; i++)
	{
		if (id[i] < '0' || id[i] > '9')
			return false;
		sum += (id[i] - '0') * resident_weights[i];
	}
	/* 83: residence permits of Taiwan residents, numbered like resident IDs */
	if (!(province_is_valid(digits_value(id, 2)) || digits_value(id, 2) == 83) ||
		!birth_date_is_valid(id + 6))
		return false;
	check = (12 - sum % 11) % 11;
	return id[RESIDENT_ID_LEN - 1] == (check == 10 ? 'X' : '0' + check);
}

bool
crm_region_code_is_valid(const char *s, size_t len)
{
	if (len != 6)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return province_is_valid(digits_value(s, 2));
}

bool
crm_resident_id_is_valid(const char *s, size_t len)
{
	char		id[RESIDENT_ID_LEN + 1];

	return fold_fixed(s, len, id, RESIDENT_ID_LEN) && resident_id_check(id);
}

/*
 * ISO 7064 hybrid system MOD 35,34 over the values of the first
 * CRM_CUSTOMER_CODE_LEN - 1 characters: the value c that makes
 * (P + c) mod 34 == 1.  Like MOD 11,10 it catches every single
 * substitution, because each step permutes the running value P (35 is
 * odd, so doubling mod 35 is one-to-one).
 */
static int
customer_check_value(const int *values)
{
	int			p = CUSTOMER_RADIX;

	for (int i = 0; i < CRM_CUSTOMER_CODE_LEN - 1; i++)
	{
		int			s = (p + values[i]) % CUSTOMER_RADIX;

		if (s == 0)
			s = CUSTOMER_RADIX;
		p = (2 * s) % (CUSTOMER_RADIX + 1);
	}
	return (CUSTOMER_RADIX + 1 - p) % CUSTOMER_RADIX;
}

bool
crm_customer_code_is_valid(const char *s, size_t len)
{
	char		code[CRM_CUSTOMER_CODE_LEN + 1];
	int			values[CRM_CUSTOMER_CODE_LEN];

	if (!fold_fixed(s, len, code, CRM_CUSTOMER_CODE_LEN))
		return false;
	for (int i = 0; i < CRM_CUSTOMER_CODE_LEN; i++)
	{
		values[i] = alphabet_index(customer_alphabet, code[i]);
		if (values[i] < 0)
			return false;
	}
	return values[CRM_CUSTOMER_CODE_LEN - 1] == customer_check_value(values);
}

/*
 * (K * x + B) mod 34^7 for x < 34^7 < 2^36 in 64-bit arithmetic (no
 * __int128, which 32-bit targets lack): x is split at bit 18 so that every
 * product stays below 2^54.
 */
static uint64_t
scramble(uint64_t x)
{
	const uint64_t m = (uint64_t) CRM_CUSTOMER_CODE_SPACE;
	uint64_t	hi = (SCRAMBLE_K * (x >> 18)) % m;
	uint64_t	lo = (SCRAMBLE_K * (x & 0x3FFFF)) % m;

	return (((hi << 18) % m) + lo + SCRAMBLE_B) % m;
}

bool
crm_customer_code_encode(int64_t n, char out[CRM_CUSTOMER_CODE_LEN + 1])
{
	int			values[CRM_CUSTOMER_CODE_LEN];
	uint64_t	x;

	out[0] = '\0';
	if (n < 0 || n >= CRM_CUSTOMER_CODE_SPACE)
		return false;
	x = scramble((uint64_t) n);
	for (int i = CRM_CUSTOMER_CODE_LEN - 2; i >= 0; i--)
	{
		values[i] = (int) (x % CUSTOMER_RADIX);
		x /= CUSTOMER_RADIX;
	}
	values[CRM_CUSTOMER_CODE_LEN - 1] = customer_check_value(values);
	for (int i = 0; i < CRM_CUSTOMER_CODE_LEN; i++)
		out[i] = customer_alphabet[values[i]];
	out[CRM_CUSTOMER_CODE_LEN] = '\0';
	return true;
}
