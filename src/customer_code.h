/*
 * customer_code.h: issuing customer codes.
 */
#ifndef CRM_CUSTOMER_CODE_H
#define CRM_CUSTOMER_CODE_H

extern void crm_code_issued(const char *code, const char *kind);

#endif							/* CRM_CUSTOMER_CODE_H */
