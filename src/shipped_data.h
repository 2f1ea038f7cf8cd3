/*
 * shipped_data.h: data files installed beside the extension's scripts.
 */
#ifndef CRM_SHIPPED_DATA_H
#define CRM_SHIPPED_DATA_H

/* The path of a file crm installs in the share directory's extension/. */
extern char *crm_shipped_data_path(const char *name);

#endif							/* CRM_SHIPPED_DATA_H */
