/* cluster_init CONNINFO: creates the cluster's schema in the database
 * (kura_cluster_init) and prints its id; for tests that need the schema
 * without `kuractl cluster init`. */
#include <stdio.h>

#include "kura/cluster.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: cluster_init CONNINFO\n");
        return 2;
    }
    struct kura_err err = {0};
    struct kura_cluster *c = NULL;
    char id[KURA_CLUSTER_ID_LEN + 1];
    if (kura_cluster_connect(argv[1], NULL, &c, &err) != 0 || kura_cluster_init(c, id, &err) != 0) {
        fprintf(stderr, "cluster_init: %s\n", err.msg);
        kura_cluster_close(c);
        return 1;
    }
    kura_cluster_close(c);
    printf("%s\n", id);
    return 0;
}
