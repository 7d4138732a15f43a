/* cli_pack.c: `edgekb pack`: knowledge packs (store_pack.h, docs/fleet.md).
 *   pack keygen PRIV PUB                      a P-256 key pair (PRIV mode 0600)
 *   pack build --kb DIR --key PRIV OUT.ekp     the KB in one signed file
 *   pack verify --pub PUB FILE.ekp             the signature and the contents
 *   pack install --kb DIR --pub PUB [--model FILE] FILE.ekp
 *                                              verify, check the embedder, swap in
 * Output: one line per command on stdout (bytes, counts, seconds); errors
 * one line on stderr. Failure: exit 1 (the old KB untouched), 2 usage. */
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "cmds.h"
#include "crypto.h"
#include "embed.h"
#include "store.h"
#include "store_pack.h"

#define PACK_BUF (1u << 20)

static int usage(void)
{
    fprintf(stderr, "usage: edgekb pack keygen PRIV.key PUB.pub\n"
                    "       edgekb pack build --kb DIR --key PRIV.key OUT.ekp\n"
                    "       edgekb pack verify --pub PUB.pub FILE.ekp\n"
                    "       edgekb pack install --kb DIR --pub PUB.pub [--model FILE] FILE.ekp\n");
    return 2;
}

static void said(const struct pack_info *in, const char *verb, double secs)
{
    printf("pack %s: %llu bytes, %u files, embedder %s (dim %u), %lld documents, %lld chunks, %lld facts, %.2f s\n",
           verb, (unsigned long long)in->bytes, in->nfiles, in->embedder, in->dim, in->documents, in->chunks,
           in->facts, secs);
}

int cmd_pack(struct app *a, const struct global_opts *g, int argc, char **argv)
{
    const struct port *p = a->port;
    const char *kb = NULL, *key = NULL, *pub = NULL, *model = NULL, *file = NULL;
    char err[600];
    (void)g;
    if (argc < 2)
        return usage();
    const char *sub = argv[1];
    if (!strcmp(sub, "keygen")) {
        if (argc != 4)
            return usage();
        if (pack_keygen(p, argv[2], argv[3], err, sizeof err) != 0) {
            fprintf(stderr, "edgekb %s\n", err);
            return 1;
        }
        printf("pack keygen: private key %s (keep it on the build server), public key %s (ship it to devices)\n",
               argv[2], argv[3]);
        return 0;
    }
    for (int i = 2; i < argc; i++) {
        int has = i + 1 < argc;
        if (has && !strcmp(argv[i], "--kb"))
            kb = argv[++i];
        else if (has && !strcmp(argv[i], "--key"))
            key = argv[++i];
        else if (has && !strcmp(argv[i], "--pub"))
            pub = argv[++i];
        else if (has && !strcmp(argv[i], "--model"))
            model = argv[++i];
        else if (argv[i][0] != '-' && !file)
            file = argv[i];
        else
            return usage();
    }
    if (!file)
        return usage();
    struct arena_region *sc = arena_budget(&a->arena, ARENA_SCRATCH);
    size_t mark = arena_mark(sc);
    char *buf = arena_alloc(sc, PACK_BUF, 64);
    struct pack_info *info = arena_zalloc(sc, sizeof *info, 16);
    if (!buf || !info) {
        fprintf(stderr, "edgekb pack: the scratch budget cannot hold a 1 MiB copy buffer\n");
        return 1;
    }
    int64_t t0 = p->mono_ns();
    int rc = 1;
    if (!strcmp(sub, "build")) {
        if (!kb || !key)
            return usage();
        struct kb k;
        if (cli_kb_open(a, &k, kb, 0, NULL, err, sizeof err) != 0) {
            fprintf(stderr, "edgekb pack build: %s\n", err);
            goto out;
        }
        rc = pack_build(&k.s, key, file, buf, PACK_BUF, info, err, sizeof err) != 0;
        kb_close(&k);
        if (rc)
            fprintf(stderr, "edgekb %s\n", err);
        else
            said(info, "build", (double)(p->mono_ns() - t0) * 1e-9);
    } else if (!strcmp(sub, "verify")) {
        if (!pub)
            return usage();
        rc = pack_verify(p, file, pub, buf, PACK_BUF, info, err, sizeof err) != 0;
        if (rc)
            fprintf(stderr, "edgekb %s\n", err);
        else
            said(info, "verify: signature ok", (double)(p->mono_ns() - t0) * 1e-9);
    } else if (!strcmp(sub, "install")) {
        if (!kb || !pub)
            return usage();
        /* the device's embedder: --model, else the board's MODEL_EMBED in the model directories */
        char def[EKB_PATH_MAX], hex[65];
        if (!model) {
            int found = app_model_path(p, a->board.model_embed, def, sizeof def);
            model = found > 0 ? def : NULL;
        }
        struct embedder e;
        if (embed_open(&e, &a->arena, p, model, err, sizeof err) != 0) {
            fprintf(stderr, "edgekb pack install: the device's embedder: %s\n", err);
            goto out;
        }
        crypto_hex(e.weights_sha256, 32, hex);
        struct pack_embedder pe = {e.name, hex, e.dim, e.path};
        struct arena_region *st = arena_budget(&a->arena, ARENA_STORE); /* SQLite's heap, as kb_open gives it */
        if (store_sqlite_init(st, arena_avail(st) & ~(size_t)0xfff) != 0) {
            fprintf(stderr, "edgekb pack install: cannot give SQLite its heap (BUDGET_STORE_MB)\n");
            embed_close(&e);
            goto out;
        }
        rc = pack_install(p, file, pub, kb, &pe, buf, PACK_BUF, info, err, sizeof err) != 0;
        store_sqlite_fini();
        embed_close(&e);
        if (rc)
            fprintf(stderr, "edgekb %s\n", err);
        else
            said(info, "install: verified and in place", (double)(p->mono_ns() - t0) * 1e-9);
    } else {
        return usage();
    }
out:
    arena_reset(sc, mark);
    return rc;
}
