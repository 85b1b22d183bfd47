/* Fuzz target: control-socket requests, the bytes any local user can send
 * the root daemon (the socket is 0666). The input is a request body as the
 * server hands it to kura_ctl_request_decode (the length prefix is the
 * server's, checked before the body is read).
 *
 * Invariants for what decodes: at most KURA_CTL_MAX_ARGS arguments of at
 * most KURA_CTL_MAX_ARG bytes, none holding NUL, argv NULL-terminated, and
 * it re-encodes to exactly the input (prefix + body), so nothing in the
 * frame is ignored. Then the request runs as the daemon would run it
 * (kura_cmd_execute in socket mode) for a listed user who is not the PI
 * and not an operator, against a throwaway state with one dataset: option
 * parsing, command lookup and the role checks see hostile argv. The exit
 * status is 0, 1 or 2; an operator or PI command never succeeds for this
 * caller except for --help; the state files never change. */
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kura/commands.h"
#include "kura/config.h"
#include "kura/ctlproto.h"
#include "kura/secmem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            abort();                                                                                                   \
    } while (0)

#define HOST "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
static const char dataset_ini[] = "[dataset]\n"
                                  "id = JGAD000001\n"
                                  "title = fuzz\n"
                                  "kind = JGA\n"
                                  "level = type1\n"
                                  "pi = alice\n"
                                  "pi_uid = 1001\n"
                                  "from = 2020-04-01T00:00:00+09:00\n"
                                  "until = 2090-04-01T00:00:00+09:00\n"
                                  "status = active\n"
                                  "status_reason =\n"
                                  "host_id = " HOST "\n"
                                  "guard = denylist\n"
                                  "\n"
                                  "[user bob]\n"
                                  "uid = 1002\n"
                                  "role = co-investigator\n"
                                  "from = 2020-04-01T00:00:00+09:00\n"
                                  "until = 2090-04-01T00:00:00+09:00\n"
                                  "approval =\n"
                                  "added_at = 2020-04-02T10:00:00+09:00\n"
                                  "added_by = alice\n";

static char root[64];
static char ini_path[1024];
static struct kura_config cfg;
static struct kura_cmd_env env;
static struct kura_actor bob;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    kura_config_free(&cfg);
    if (root[0])
        nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0);
}

static void setup(void)
{
    kura_secmem_init();
    snprintf(root, sizeof root, "/tmp/kura-fuzz-ctl.XXXXXX");
    CHECK(mkdtemp(root));
    atexit(cleanup);
    struct kura_err err = {0};
    char *text = kura_config_default_text(root, &err);
    CHECK(text);
    /* A fixed host id: the state must not depend on this machine. */
    char conf[8192];
    snprintf(conf, sizeof conf, "%s\n", text);
    free(text);
    char *server = strstr(conf, "[server]\n");
    CHECK(server);
    char with_host[8400];
    size_t head = (size_t)(server - conf) + strlen("[server]\n");
    snprintf(with_host, sizeof with_host, "%.*shost_id = " HOST "\n%s", (int)head, conf, conf + head);
    CHECK(kura_config_parse("fuzz.conf", with_host, strlen(with_host), KURA_MACHINE_ID_PATH, &cfg, &err) == 0);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/lib", root);
    CHECK(mkdir(dir, 0700) == 0);
    snprintf(dir, sizeof dir, "%s/datasets", cfg.state_dir);
    CHECK(mkdir(dir, 0700) == 0);
    snprintf(dir, sizeof dir, "%s/datasets/JGAD000001", cfg.state_dir);
    CHECK(mkdir(dir, 0700) == 0);
    snprintf(ini_path, sizeof ini_path, "%s/dataset.ini", dir);
    write_file(ini_path, dataset_ini);
    char tsv[1024];
    snprintf(tsv, sizeof tsv, "%s/files.tsv", dir);
    write_file(tsv, "path\tfile_id\tsize\tsamples\n"
                    "a/x.bam\t0123456789abcdef0123456789abcdef\t10\tS1\n");
    env = (struct kura_cmd_env){.cfg = &cfg, .config_path = "fuzz.conf", .socket_mode = true};
    bob = (struct kura_actor){.uid = 1002, .gid = 1002, .pid = 1, .name = "bob", .operator = false};
}

static bool asks_help(const struct kura_ctl_request *req)
{
    for (int i = 0; i < req->argc; i++) {
        if (strcmp(req->argv[i], "--") == 0)
            return false;
        if (strcmp(req->argv[i], "--help") == 0 || strcmp(req->argv[i], "-h") == 0 ||
            strcmp(req->argv[i], "--version") == 0)
            return true;
    }
    return false;
}

static void check_round_trip(const uint8_t *data, size_t size, const struct kura_ctl_request *req)
{
    CHECK(req->argc >= 0 && (unsigned)req->argc <= KURA_CTL_MAX_ARGS && req->argv[req->argc] == NULL);
    for (int i = 0; i < req->argc; i++)
        CHECK(strlen(req->argv[i]) <= KURA_CTL_MAX_ARG);
    uint8_t *buf;
    size_t len;
    struct kura_err err = {0};
    CHECK(kura_ctl_request_encode(req->flags, req->argc, req->argv, &buf, &len, &err) == 0);
    CHECK(len == size + 4 && buf[0] == (uint8_t)size && buf[1] == (uint8_t)(size >> 8) &&
          buf[2] == (uint8_t)(size >> 16) && buf[3] == 0 && memcmp(buf + 4, data, size) == 0);
    free(buf);
}

static void run_as_bob(const struct kura_ctl_request *req)
{
    char *obuf = NULL, *ebuf = NULL;
    size_t olen = 0, elen = 0;
    FILE *out = open_memstream(&obuf, &olen), *errf = open_memstream(&ebuf, &elen);
    CHECK(out && errf);
    struct kura_cmd_env e = env;
    e.flags = req->flags;
    int rc = kura_cmd_execute(&e, &bob, req->argc, req->argv, out, errf);
    fclose(out);
    fclose(errf);
    CHECK(rc == KURA_EXIT_OK || rc == KURA_EXIT_FAIL || rc == KURA_EXIT_USAGE);
    int words = 0;
    const struct kura_cmd *k = kura_cmd_find(req->argc, req->argv, &words);
    /* bob may only ask for status, the audit (which shows him nothing) and help. */
    if (rc == KURA_EXIT_OK && k && k->role != KURA_CMD_ANYONE && !asks_help(req))
        abort();
    /* Messages are lines: a newline from the caller's argv cannot forge one. */
    for (size_t i = 0; i + 1 < elen; i++)
        if (ebuf[i] == '\r')
            abort();
    free(obuf);
    free(ebuf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        setup();
        ready = 1;
    }
    struct kura_ctl_request req;
    struct kura_err err = {0};
    if (kura_ctl_request_decode(data, size, &req, &err) != 0) {
        CHECK(req.argv == NULL && err.msg[0] != '\0');
        return 0;
    }
    check_round_trip(data, size, &req);
    run_as_bob(&req);
    kura_ctl_request_clear(&req);
    /* Nothing bob sends changes the dataset. */
    struct stat st;
    CHECK(stat(ini_path, &st) == 0 && st.st_size == (off_t)(sizeof dataset_ini - 1));
    return 0;
}
