// hnswlib_ref.cpp: Debian's hnswlib (header-only, libhnswlib-dev) on the same
// vectors and ground truth as bench_hnsw, for a side-by-side comparison.
// Built only by bench/bench_hnsw.sh with g++ into build/; never part of
// edgekb. Float32 vectors, InnerProductSpace (1 - dot on normalised data),
// single thread (plain addPoint / searchKnn loops), hnswlib's default
// level seed (100). qps / qps_cpu: median wall / thread-CPU time of 5
// passes, as bench_hnsw.c.
//
//   hnswlib_ref BASE.f32 QUERY.f32 DIM N NQ LABEL GT.u32 M EFC EF,EF,...
//
// Index memory: heap bytes in use (mallinfo2) after the build and a first
// search minus before construction: level-0 block, upper link lists, label
// map, per-element locks, visited-list pool. Prints the same line format as
// bench_hnsw with impl=hnswlib.
#include <hnswlib/hnswlib.h>
#include <malloc.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

static double now()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static double cpu_now()
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static bool load(const char *path, std::vector<float> &v, size_t rows, size_t dim)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    v.resize(rows * dim);
    size_t got = fread(v.data(), sizeof(float) * dim, rows, f);
    fclose(f);
    return got == rows;
}

static size_t heap_used()
{
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

int main(int argc, char **argv)
{
    if (argc < 11) {
        fprintf(stderr, "usage: hnswlib_ref BASE QUERY DIM N NQ LABEL GT M EFC EF,EF,...\n");
        return 2;
    }
    size_t dim = atoi(argv[3]), n = atoi(argv[4]), nq = atoi(argv[5]);
    const char *label = argv[6];
    size_t M = atoi(argv[8]), efc = atoi(argv[9]);
    std::vector<size_t> efs;
    for (char *t = strtok(argv[10], ","); t; t = strtok(nullptr, ","))
        efs.push_back(atoi(t));
    std::vector<float> x, q;
    std::vector<uint32_t> gt(nq * 10);
    FILE *g = fopen(argv[7], "rb");
    if (!load(argv[1], x, n, dim) || !load(argv[2], q, nq, dim) || !g ||
        fread(gt.data(), sizeof(uint32_t) * 10, nq, g) != nq) {
        fprintf(stderr, "hnswlib_ref: cannot read the data or ground truth files\n");
        return 1;
    }
    fclose(g);

    size_t h0 = heap_used();
    hnswlib::InnerProductSpace space(dim);
    auto *h = new hnswlib::HierarchicalNSW<float>(&space, n, M, efc);
    double t0 = now(), c0 = cpu_now();
    for (size_t j = 0; j < n; j++) {
        h->addPoint(x.data() + j * dim, j);
        if ((j + 1) % 100000 == 0)
            fprintf(stderr, "hnswlib_ref: %zu inserted, %.1f s\n", j + 1, now() - t0);
    }
    double build_s = now() - t0, build_cpu_s = cpu_now() - c0;
    h->setEf(10);
    h->searchKnn(q.data(), 10);
    double bpv = (double)(heap_used() - h0) / n;

    std::vector<uint32_t> got(nq * 10);
    for (size_t ef : efs) {
        h->setEf(ef);
        const int passes = 5; // as bench_hnsw.c's PASSES
        double t[passes], c[passes], rec = 0;
        for (int r = 0; r < passes; r++) {
            t0 = now();
            c0 = cpu_now();
            for (size_t i = 0; i < nq; i++) {
                auto res = h->searchKnn(q.data() + i * dim, 10);
                size_t c = res.size();
                for (size_t a = 0; a < 10; a++)
                    got[i * 10 + a] = UINT32_MAX;
                while (!res.empty()) { // a max-heap: the farthest comes out first
                    got[i * 10 + --c] = (uint32_t)res.top().second;
                    res.pop();
                }
            }
            t[r] = now() - t0;
            c[r] = cpu_now() - c0;
            size_t hit = 0;
            for (size_t i = 0; i < nq; i++)
                for (int a = 0; a < 10; a++)
                    for (int b = 0; b < 10; b++)
                        hit += gt[i * 10 + a] == got[i * 10 + b];
            rec = (double)hit / (nq * 10.0);
        }
        std::sort(t, t + passes);
        std::sort(c, c + passes);
        printf("bench hnsw impl=hnswlib data=%s n=%zu dim=%zu M=%zu efc=%zu ef=%zu recall10=%.4f qps=%.0f "
               "qps_cpu=%.0f bytes_per_vec=%.1f build_s=%.2f build_cpu_s=%.2f\n",
               label, n, dim, M, efc, ef, rec, nq / t[passes / 2], nq / c[passes / 2], bpv, build_s, build_cpu_s);
        fflush(stdout);
    }
    delete h;
    return 0;
}
