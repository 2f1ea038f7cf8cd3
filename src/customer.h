/*
 * customer.h: row triggers of the customer core (accounts, contacts and
 * their contact points).
 */
#ifndef CRM_CUSTOMER_H
#define CRM_CUSTOMER_H

#endif							/* CRM_CUSTOMER_H */
