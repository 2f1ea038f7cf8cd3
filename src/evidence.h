/*
 * evidence.h: what an attachment is, by its bytes (magic numbers, ZIP
 * containers), for crm.attachment's checks.
 */
#ifndef CRM_EVIDENCE_H
#define CRM_EVIDENCE_H

#include "postgres.h"

#define CRM_TYPE_PDF  "application/pdf"
#define CRM_TYPE_PNG  "image/png"
#define CRM_TYPE_JPEG "image/jpeg"
#define CRM_TYPE_OFD  "application/ofd"
#define CRM_TYPE_DOCX "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
#define CRM_TYPE_XLSX "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

/*
 * The content type of data by its bytes: one of the CRM_TYPE_ values, or
 * NULL when it is none of them (a ZIP that is neither OFD, DOCX nor XLSX
 * included).  Reads only the first bytes, and for a ZIP its central
 * directory and [Content_Types].xml.
 */
extern const char *crm_evidence_type(const unsigned char *data, size_t len);

#endif							/* CRM_EVIDENCE_H */
