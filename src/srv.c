/* srv.c: the protocol server (docs/protocol.md): start, the event loop
 * and shutdown. Connections, commands, queue and workers are in
 * srv_conn.c, srv_cmd.c, srv_kb.c, srv_gen.c and srv_admin.c (srv_int.h
 * draws the threads and the connection states).
 *
 * Owns: a fixed table of connections (slot 0: the serial line, then up to
 * max_clients socket clients), each with fixed input, line, request and
 * output buffers; EKB_SRV_UPLOADS payload buffers; a ring queue of at most
 * `queue` connection indices; `workers` threads, each with its own reply
 * buffer and search scratch. All of it from the CORE budget at start.
 * Loop: poll the wake-up pipe, the listening socket and every connection;
 * read, then per connection: a finished job is collected, input is
 * processed, output flushed, and the state decides what comes next
 * (closing a gone, drained or idle connection). The governor ticks once
 * per pass.
 * SQLite: the store has one connection; all store and embedder calls run
 * under store_mu (SQLITE_OPEN_NOMUTEX). The decoder has its own gen_mu.
 * Failure: a client that does not read its replies fills its output buffer
 * and is disconnected; others are unaffected. Queue full, too many clients,
 * no upload buffer, governor shedding: ERR BUSY at once. SIGTERM/SIGINT:
 * stop accepting, cancel generations, let in-flight requests finish, flush
 * replies (2 s at most), close everything, remove the socket file. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ekb_err.h"
#include "log.h"
#include "srv_int.h"

/* Workers on one job longer than job_stall_s are stalled: said in the log
 * and HEALTH, and the watchdogs are no longer fed until they are not. */
static void check_workers(struct srv *s)
{
    int64_t now = s->p->mono_ns(), lim = (int64_t)s->cf->job_stall_s * 1000000000LL;
    unsigned n = 0;
    for (unsigned i = 0; i < s->nworkers; i++) {
        int64_t b = atomic_load(&s->w[i].busy_ns);
        if (b && now - b > lim) {
            if (n++ == 0 && s->stalled == 0)
                log_err("serve: worker %u stalled: %s running for %.1f s (job_stall %u s): the watchdog is no longer "
                        "fed", i, proto_cmd_name((enum proto_cmd)atomic_load(&s->w[i].busy_cmd)),
                        (double)(now - b) * 1e-9, s->cf->job_stall_s);
        }
    }
    if (n == 0 && s->stalled)
        log_info("serve: no worker stalled any more: the watchdog is fed again");
    s->stalled = n;
    gov_hold(&s->gov, n > 0);
}

static int serve_loop(struct srv *s)
{
    static struct port_pollfd fds[EKB_SRV_MAX_CLIENTS + 3];
    int map[EKB_SRV_MAX_CLIENTS + 3];
    while (!*s->stop) {
        unsigned n = 0;
        fds[n].fd = s->wake[0], fds[n].events = PORT_POLLIN, map[n++] = -1;
        if (s->lfd >= 0)
            fds[n].fd = s->lfd, fds[n].events = PORT_POLLIN, map[n++] = -2;
        for (unsigned i = 0; i < s->nconn; i++) {
            struct conn *c = &s->c[i];
            if (c->kind == K_FREE)
                continue;
            short ev = 0;
            if (!c->gone && !c->eof && c->in_len < EKB_SRV_IN_MAX && c->state != CONN_DRAIN &&
                c->state != CONN_CLOSING)
                ev |= PORT_POLLIN;
            if (conn_out_pending(c))
                ev |= PORT_POLLOUT;
            fds[n].fd = c->fd, fds[n].events = ev, fds[n].revents = 0, map[n++] = (int)i;
        }
        int pr = s->p->poll(fds, n, 250);
        if (pr < 0 && pr != -4)
            return EKB_EIO;
        int64_t now = s->p->mono_ns();
        for (unsigned k = 0; pr > 0 && k < n; k++) {
            short re = fds[k].revents;
            if (!re)
                continue;
            if (map[k] == -1) {
                char drain[64];
                while (s->p->read(s->wake[0], drain, sizeof drain) > 0) {
                }
                continue;
            }
            if (map[k] == -2) {
                srv_accept_all(s);
                continue;
            }
            struct conn *c = &s->c[map[k]];
            if (re & PORT_POLLOUT)
                conn_flush(s, c);
            if ((re & PORT_POLLIN) && c->in_len < EKB_SRV_IN_MAX) {
                int64_t r = s->p->read(c->fd, c->in + c->in_len, EKB_SRV_IN_MAX - c->in_len);
                if (r > 0) {
                    c->in_len += (size_t)r;
                    c->last_ns = now;
                } else if (r == 0) {
                    c->eof = 1; /* half-closed: pipelined requests are still answered */
                } else if (r != -EAGAIN && r != -EINTR) {
                    c->gone = 1;
                    conn_abort(c);
                }
            } else if (re & (PORT_POLLHUP | PORT_POLLERR)) {
                c->gone = 1; /* the peer is gone in both directions */
                conn_abort(c);
            }
        }
        for (unsigned i = 0; i < s->nconn; i++) {
            struct conn *c = &s->c[i];
            if (c->kind == K_FREE)
                continue;
            if (c->state == CONN_JOB && !atomic_load(&c->busy))
                conn_job_done(s, c);
            conn_process(s, c);
            if (c->overflow) {
                if (c->state == CONN_JOB) {
                    conn_abort(c);
                    continue;
                }
                atomic_fetch_add(&s->dropped_slow, 1);
                conn_set_state(s, c, CONN_CLOSING);
                conn_close(s, c, "it stopped reading its replies");
                continue;
            }
            if (conn_out_pending(c))
                conn_flush(s, c);
            if (c->state == CONN_JOB) {
                conn_check_stall(s, c, now);
                continue;
            }
            if (c->gone || c->state == CONN_CLOSING) {
                conn_set_state(s, c, CONN_CLOSING);
                conn_close(s, c, "peer closed");
            } else if (c->eof && !c->have_pend && !conn_out_pending(c)) {
                conn_set_state(s, c, CONN_CLOSING);
                conn_close(s, c, "peer closed");
            } else if (c->state == CONN_DRAIN && !conn_out_pending(c)) {
                conn_close(s, c, "QUIT");
            } else if (c->kind == K_SERIAL && c->authed && now - c->last_ns > (int64_t)s->cf->idle_s * 1000000000LL) {
                srv_serial_session_reset(s, c); /* an idle serial session must authenticate again */
                log_info("serve: serial session idle: authentication reset");
            } else if (c->kind == K_SOCK && c->state != CONN_DRAIN &&
                       now - c->last_ns > (int64_t)s->cf->idle_s * 1000000000LL) {
                srv_loop_err(s, c, PROTO_IDLE, "idle too long; closing");
                conn_flush(s, c);
                conn_set_state(s, c, CONN_CLOSING);
                conn_close(s, c, "idle");
            }
        }
        srv_serial_try_open(s);
        check_workers(s);
        gov_tick(&s->gov, 0);
        srv_gen_govern(s);
        srv_obs_tick(s);
    }
    return 0;
}


/* ------------------------------------------------------------------ start and stop */
static int load_secret(struct srv *s, char *err, size_t errlen)
{
    if (!s->cf->secret_file[0])
        return 0;
    int fd = s->p->open(s->cf->secret_file, PORT_O_RDONLY, 0);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open secret file %s", s->cf->secret_file);
        return EKB_ENOENT;
    }
    int64_t n = s->p->read(fd, s->secret, sizeof s->secret);
    s->p->close(fd);
    while (n > 0 && (s->secret[n - 1] == '\n' || s->secret[n - 1] == '\r'))
        n--;
    if (n < EKB_SRV_SECRET_MIN || n >= (int64_t)sizeof s->secret) {
        snprintf(err, errlen, "secret file %s: want %d..%d bytes", s->cf->secret_file, EKB_SRV_SECRET_MIN,
                 EKB_SRV_SECRET_MAX - 1);
        return EKB_EINVAL;
    }
    s->secret_len = (size_t)n;
    return 0;
}

static int open_kb(struct srv *s, char *err, size_t errlen)
{
    int rc = kb_open(&s->kb, &s->a->arena, s->p, s->cf->kb, 0, NULL, NULL, err, errlen);
    if (rc != 0)
        return rc;
    /* the entity name index now, not in the first FIND */
    const struct names *nx;
    char e2[300];
    if (store_names_get(&s->kb.s, &nx, e2, sizeof e2) != 0)
        log_warn("srv: %s (FIND will say so)", e2);
    return 0;
}

static int alloc_all(struct srv *s, char *err, size_t errlen)
{
    struct arena_region *core = arena_budget(&s->a->arena, ARENA_CORE);
    s->nconn = s->cf->max_clients + 1;
    s->c = arena_zalloc(core, s->nconn * sizeof *s->c, 64);
    s->q = arena_zalloc(core, s->cf->queue * sizeof *s->q, 64);
    if (!s->c || !s->q)
        goto nomem;
    for (unsigned i = 0; i < s->nconn; i++) {
        struct conn *c = &s->c[i];
        c->rxline = arena_alloc(core, PROTO_RX_LINE_CAP, 64);
        c->in = arena_alloc(core, EKB_SRV_IN_MAX, 64);
        c->req_line = arena_alloc(core, EKB_PROTO_LINE_MAX + 1, 64);
        c->out = arena_alloc(core, EKB_SRV_OUT_MAX, 64);
        if (!c->rxline || !c->in || !c->req_line || !c->out)
            goto nomem;
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->cv, NULL);
        c->upload = -1;
        conn_reset(s, c);
    }
    for (int i = 0; i < EKB_SRV_UPLOADS; i++)
        if (!(s->upload_buf[i] = arena_alloc(core, EKB_PROTO_PAYLOAD_MAX + 1, 64)))
            goto nomem;
    for (unsigned i = 0; i < s->nworkers; i++) {
        struct worker *w = &s->w[i];
        w->s = s;
        w->txbuf = arena_alloc(core, EKB_SRV_OUT_MAX, 64);
        w->hits = arena_alloc(core, EKB_STORE_K_MAX * sizeof *w->hits, 64);
        w->vec = arena_alloc(core, (s->kb.emb.dim + 16) * sizeof(float), 64);
        w->esc = arena_alloc(core, EKB_SRV_OUT_MAX / 2, 64);
        w->ask = arena_alloc(core, sizeof *w->ask, 64);
        if (!w->txbuf || !w->hits || !w->vec || !w->esc || !w->ask)
            goto nomem;
        int rc = embed_clone(&w->qe, &s->kb.emb, &s->a->arena, err, errlen);
        if (rc == EKB_EUNSUPP || rc == EKB_ENOMEM) /* BERT, or a SCRATCH budget too small: the old way, still correct */
            log_warn("srv: worker %u: %s: its queries are embedded under the store lock", i, err);
        else if (rc != 0)
            return rc;
        else
            w->has_qe = 1;
        if (w->has_qe && pool_bg_start(&w->bg, core) != 0) {
            log_warn("srv: worker %u: no helper thread: hybrid queries embed before their text leg", i);
            w->bg = NULL;
        }
    }
    return 0;
nomem:
    snprintf(err, errlen, "the core budget (%zu bytes) cannot hold %u connections, %u workers and %d upload buffers",
             core->size, s->cf->max_clients, s->nworkers, EKB_SRV_UPLOADS);
    return EKB_ENOMEM;
}

int srv_run(struct app *a, const struct srv_conf *cf, volatile int *stop, char *err, size_t errlen)
{
    static struct srv S;
    struct srv *s = &S;
    int rc;
    memset(s, 0, sizeof *s);
    s->a = a;
    s->p = a->port;
    s->cf = cf;
    s->stop = stop;
    s->lfd = -1;
    s->wake[0] = s->wake[1] = -1;
    s->qcap = cf->queue;
    s->nworkers = cf->workers;
    int want_sock = cf->sock[0] && strcmp(cf->sock, "none") != 0;
    int want_serial = cf->serial[0] && strcmp(cf->serial, "none") != 0;
    if (!want_sock && !want_serial) {
        snprintf(err, errlen, "nothing to listen on: give --sock PATH and/or --serial DEV");
        return EKB_EINVAL;
    }
    if ((rc = load_secret(s, err, errlen)) != 0)
        return rc;
    if (want_serial && cf->serial_auth && s->secret_len == 0) {
        snprintf(err, errlen, "the serial line requires AUTH: give --secret FILE (or --serial-auth off)");
        return EKB_EINVAL;
    }
    if (cf->sock_auth && s->secret_len == 0) {
        snprintf(err, errlen, "--sock-auth on needs --secret FILE");
        return EKB_EINVAL;
    }
    if ((rc = open_kb(s, err, errlen)) != 0)
        return rc;
    srv_gen_open(s);
    if ((rc = alloc_all(s, err, errlen)) != 0)
        goto out_kb;
    if (s->p->sensor_paths(cf->meminfo, cf->psi, cf->thermal_dir) != 0) {
        snprintf(err, errlen, "a sensor path is too long");
        rc = EKB_EINVAL;
        goto out_kb;
    }
    gov_init(&s->gov, s->p, &a->board);
    uint64_t rss0 = 0;
    if (s->p->rss(&rss0, NULL) == 0 && rss0 > 0) { /* what may be resident: now, plus the whole arena, plus slack */
        uint64_t lim = rss0 + a->arena.map_size + ((uint64_t)EKB_GOV_RSS_SLACK_MB << 20);
        gov_rss_limits(&s->gov, lim, a->arena.map_size / 4 + ((uint64_t)EKB_GOV_RSS_SLACK_MB << 20));
    }
    if ((rc = gov_watchdog_open(&s->gov, cf->watchdog, a->board.watchdog_timeout_s)) != 0) /* served anyway */
        log_err("serve: cannot open the watchdog %s: %s: SERVING WITHOUT A HARDWARE WATCHDOG (HEALTH says "
                "watchdog=none)", cf->watchdog, ekb_strerror(rc));
    rc = 0;
    if (s->gov.wdt_fd >= 0)
        log_info("serve: watchdog %s (timeout %u s), fed while no worker is stalled (job_stall %u s)", cf->watchdog,
                 a->board.watchdog_timeout_s, cf->job_stall_s);
    const char *slow = getenv("EDGEKB_TEST_SLOW_FIND_MS"); /* tests only: a FIND that takes this long */
    if (slow && *slow) {
        s->test_slow_ns = (int64_t)atol(slow) * 1000000;
        log_warn("serve: EDGEKB_TEST_SLOW_FIND_MS=%s: every FIND is slowed down (a test hook)", slow);
    }
    if ((slow = getenv("EDGEKB_TEST_SLOW_SEARCH_MS")) && *slow) { /* tests only: a SEARCH that starts late */
        s->test_slow_search_ns = (int64_t)atol(slow) * 1000000;
        log_warn("serve: EDGEKB_TEST_SLOW_SEARCH_MS=%s: every SEARCH starts late (a test hook)", slow);
    }
    gov_tick(&s->gov, 1);
    if ((rc = s->p->pipe(s->wake)) != 0) {
        snprintf(err, errlen, "cannot make the wake-up pipe: %s", strerror(-rc));
        rc = EKB_EIO;
        goto out_kb;
    }
    s->p->on_terminate(stop, s->wake[1]);
    pthread_mutex_init(&s->qmu, NULL);
    pthread_cond_init(&s->qcv, NULL);
    pthread_mutex_init(&s->store_mu, NULL);
    pthread_mutex_init(&s->gen_mu, NULL);
    if (want_sock) {
        s->p->unlink(cf->sock); /* a stale socket file from a crash */
        s->lfd = s->p->unix_listen(cf->sock, cf->sock_mode, 128);
        if (s->lfd < 0) {
            snprintf(err, errlen, "cannot listen on %s: %s", cf->sock, strerror(-s->lfd));
            rc = EKB_EIO;
            goto out_pipe;
        }
        s->p->set_nonblock(s->lfd, true);
    }
    if ((rc = srv_obs_init(s, err, errlen)) != 0)
        goto out_workers;
    if ((rc = srv_cache_init(s, err, errlen)) != 0)
        goto out_workers;
    if ((rc = srv_workers_start(s)) != 0) {
        snprintf(err, errlen, "cannot start the worker threads");
        goto out_workers;
    }
    if (s->kb.emb.is_fallback)
        log_warn("serve: RUNNING ON A REDUCED FALLBACK: no embedding model file, vector search uses the lexical "
                 "hash embedder (run `make models`)");
    log_info("serve: knowledge base %s, embedder %s (dim %u), %u vectors, decoder %s, %u workers, queue %u", cf->kb,
             s->kb.emb.name, s->kb.emb.dim, s->kb.s.ci.n, s->have_lm ? s->lm_path : "none", s->nworkers, s->qcap);
    if (want_sock)
        log_info("serve: listening on %s (mode %04o, auth %s, %s)", cf->sock, cf->sock_mode,
                 cf->sock_auth ? "required" : "off", cf->n_allow ? "uid allowlist" : "any uid");
    srv_serial_try_open(s);
    s->p->notify("READY=1");
    rc = serve_loop(s);
    /* shutdown: no new work, cancel generations, let in-flight jobs finish */
    log_info("serve: shutting down");
    s->stopping = 1;
    if (s->lfd >= 0) {
        s->p->close(s->lfd);
        s->lfd = -1;
    }
    int64_t deadline = s->p->mono_ns() + 30000000000LL;
    for (;;) {
        int running = 0, late = s->p->mono_ns() > deadline;
        for (unsigned i = 0; i < s->nconn; i++) {
            struct conn *c = &s->c[i];
            if (c->state == CONN_JOB && !atomic_load(&c->busy))
                conn_job_done(s, c);
            if (c->state != CONN_JOB)
                continue;
            running = 1;
            if (c->req.cmd == PCMD_GEN || late) {
                conn_abort(c); /* generations stop; a streamed DOC GET may finish */
            } else if (!c->gone) {
                conn_flush(s, c);
                conn_check_stall(s, c, s->p->mono_ns());
            }
        }
        if (!running || s->p->mono_ns() > deadline + 5000000000LL)
            break;
        struct port_pollfd w1 = {s->wake[0], PORT_POLLIN, 0};
        s->p->poll(&w1, 1, 100);
        char drain[64];
        while (s->p->read(s->wake[0], drain, sizeof drain) > 0) {
        }
    }
    deadline = s->p->mono_ns() + 2000000000LL;
    for (unsigned i = 0; i < s->nconn; i++) {
        struct conn *c = &s->c[i];
        if (c->kind == K_FREE)
            continue;
        while (conn_out_pending(c) && !c->gone && s->p->mono_ns() < deadline) {
            conn_flush(s, c);
            struct port_pollfd w1 = {c->fd, PORT_POLLOUT, 0};
            if (conn_out_pending(c))
                s->p->poll(&w1, 1, 50);
        }
        if (c->state != CONN_JOB) {
            conn_set_state(s, c, CONN_CLOSING);
            conn_close(s, c, "server shutdown");
        }
    }
out_workers:
    srv_workers_stop(s);
    srv_cache_fini(s);
    srv_obs_fini(s);
    gov_fini(&s->gov); /* the watchdog closed with the magic character: a clean stop is no hang */
    if (s->lfd >= 0)
        s->p->close(s->lfd);
    if (want_sock)
        s->p->unlink(cf->sock);
out_pipe:
    s->p->on_terminate(stop, -1);
    s->p->close(s->wake[0]);
    s->p->close(s->wake[1]);
out_kb:
    if (s->kb.s.db)
        kb_close(&s->kb);
    srv_gen_close(s);
    log_info("serve: stopped: %llu requests, %llu errors, %llu connections, %llu refused, %llu slow clients dropped",
             srv_total(s->req_by_cmd, PCMD_COUNT), srv_total(s->err_by_code, PROTO_NCODES),
             (unsigned long long)atomic_load(&s->accepted), (unsigned long long)atomic_load(&s->refused),
             (unsigned long long)atomic_load(&s->dropped_slow));
    return rc;
}
