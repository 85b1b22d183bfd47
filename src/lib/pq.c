/* libpq opened at run time (pq.h). */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "pq.h"

static struct kura_pq table;
static char open_error[256];
static pthread_once_t opened = PTHREAD_ONCE_INIT;

/* Each member of struct kura_pq, its symbol's name and its place. */
#define FN(name) {"PQ" #name, offsetof(struct kura_pq, name)}
static const struct {
    const char *symbol;
    size_t offset;
} functions[] = {
    FN(connectdbParams), FN(status),     FN(finish),   FN(errorMessage), FN(resultStatus),
    FN(resultErrorMessage), FN(clear),   FN(ntuples),  FN(getvalue),     FN(getisnull),  FN(getlength),
    FN(consumeInput),   FN(notifies),    FN(freemem),  FN(socket),      FN(backendPID),
    FN(transactionStatus), FN(setnonblocking), FN(sendQueryParams), FN(flush), FN(isBusy), FN(getResult),
};
#undef FN

static void open_library(void)
{
    /* Never closed once whole: its functions serve until the process ends. */
    void *lib = dlopen(KURA_PQ_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        snprintf(open_error, sizeof open_error, "%s", dlerror());
        return;
    }
    struct kura_pq loaded = {0};
    for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
        void *fn = dlsym(lib, functions[i].symbol);
        if (!fn) {
            snprintf(open_error, sizeof open_error, "%s: no %s", KURA_PQ_LIBRARY, functions[i].symbol);
            dlclose(lib);
            return;
        }
        /* POSIX guarantees a data pointer from dlsym converts to a function pointer. */
        memcpy((char *)&loaded + functions[i].offset, &fn, sizeof fn);
    }
    table = loaded;
}

const struct kura_pq *kura_pq_open(struct kura_err *err)
{
    pthread_once(&opened, open_library);
    if (open_error[0]) {
        kura_err_set(err, ENOENT, "cluster mode needs PostgreSQL's client library (Debian package libpq5): %s",
                     open_error);
        return NULL;
    }
    return &table;
}
