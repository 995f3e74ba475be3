// Interposes the C allocator of the test executable: each entry point bumps an atomic counter
// and forwards to glibc's own implementation (`__libc_*`), so behaviour is unchanged. Symbols
// defined in the executable take precedence over libc's for every shared library (Swift
// runtime, Foundation, OpenBLAS), which is what makes the count complete.
#include "CMallocCounter.h"

#if defined(__linux__) && defined(__GLIBC__)
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static _Atomic int64_t count;
static _Thread_local int64_t threadCount;

static inline void bump(void) {
    atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
    threadCount += 1;
}

void *malloc(size_t size) { bump(); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { bump(); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { bump(); return __libc_realloc(p, size); }
void *memalign(size_t alignment, size_t size) { bump(); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { bump(); return __libc_memalign(alignment, size); }

int posix_memalign(void **out, size_t alignment, size_t size) {
    bump();
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    void *p = __libc_memalign(alignment, size);
    if (p == NULL) return ENOMEM;
    *out = p;
    return 0;
}

int64_t mmo_allocation_count(void) { return atomic_load_explicit(&count, memory_order_relaxed); }
int64_t mmo_thread_allocation_count(void) { return threadCount; }
int mmo_allocation_counting_available(void) { return 1; }
#else
int64_t mmo_allocation_count(void) { return 0; }
int64_t mmo_thread_allocation_count(void) { return 0; }
int mmo_allocation_counting_available(void) { return 0; }
#endif
