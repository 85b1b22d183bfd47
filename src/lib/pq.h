/* libpq, opened when the process first connects to a cluster's database
 * (dlopen), not linked: a single server, and every command that does not
 * reach the database, never maps it nor the Kerberos, LDAP, SASL and TLS
 * libraries it brings. They cost about 10 ms of every kuractl start on the
 * test machine, and are code a root process holding keys has no use for. */
#ifndef KURA_PQ_H
#define KURA_PQ_H
#include <libpq-fe.h>

#include "kura/error.h"

/* The soname opened: Debian's libpq5. */
#define KURA_PQ_LIBRARY "libpq.so.5"

/* The libpq functions kura calls, named as libpq names them without "PQ". */
struct kura_pq {
    PGconn *(*connectdbParams)(const char *const *keywords, const char *const *values, int expand_dbname);
    ConnStatusType (*status)(const PGconn *conn);
    void (*finish)(PGconn *conn);
    char *(*errorMessage)(const PGconn *conn);
    ExecStatusType (*resultStatus)(const PGresult *res);
    char *(*resultErrorMessage)(const PGresult *res);
    void (*clear)(PGresult *res);
    int (*ntuples)(const PGresult *res);
    char *(*getvalue)(const PGresult *res, int row, int column);
    int (*getisnull)(const PGresult *res, int row, int column);
    int (*getlength)(const PGresult *res, int row, int column);
    int (*consumeInput)(PGconn *conn);
    PGnotify *(*notifies)(PGconn *conn);
    void (*freemem)(void *ptr);
    int (*socket)(const PGconn *conn);
    int (*backendPID)(const PGconn *conn);
    PGTransactionStatusType (*transactionStatus)(const PGconn *conn);
    int (*setnonblocking)(PGconn *conn, int arg);
    int (*sendQueryParams)(PGconn *conn, const char *command, int nparams, const Oid *types,
                           const char *const *values, const int *lengths, const int *formats, int result_format);
    int (*flush)(PGconn *conn);
    int (*isBusy)(PGconn *conn);
    PGresult *(*getResult)(PGconn *conn);
};

/* libpq's functions: opened at the first call, the same table after
 * (thread-safe). NULL with err set when the library or one of its
 * functions cannot be found (libpq5 not installed). */
const struct kura_pq *kura_pq_open(struct kura_err *err);

#endif
