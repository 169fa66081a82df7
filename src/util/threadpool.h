/* A fixed pool of worker threads for data-parallel kernels. threadpool_run
 * calls fn(ctx, ith, nth) once on each of the nth threads (the caller is
 * thread 0) and returns when all are done. Workers spin briefly between jobs,
 * since a decode step dispatches hundreds of small jobs, then sleep. */
#ifndef RK_THREADPOOL_H
#define RK_THREADPOOL_H

typedef struct threadpool threadpool;
typedef void (*threadpool_fn)(void *ctx, int ith, int nth);

threadpool *threadpool_new(int n_threads);
void threadpool_free(threadpool *p);
int threadpool_size(const threadpool *p);
void threadpool_run(threadpool *p, threadpool_fn fn, void *ctx);

/* Splits [0, n) evenly: the part of thread ith of nth. */
static inline void threadpool_range(long n, int ith, int nth, long *begin, long *end)
{
    long per = (n + nth - 1) / nth;
    *begin = per * ith < n ? per * ith : n;
    *end = *begin + per < n ? *begin + per : n;
}

#endif
