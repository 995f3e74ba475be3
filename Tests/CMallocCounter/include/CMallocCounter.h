// Counts heap allocations of the whole test process (glibc only), so a test can prove that a
// code path allocates nothing. `mmo_allocation_count` includes every thread,
// `mmo_thread_allocation_count` the calling thread's.
#pragma once
#include <stdint.h>

/// Number of malloc/calloc/realloc/posix_memalign/aligned_alloc/memalign calls so far.
int64_t mmo_allocation_count(void);
/// The same count for the calling thread only: for code that runs on the caller, so that an
/// allocation by an unrelated thread of the test process (XCTest's, a reader of an earlier
/// test's child process) cannot fail the test.
int64_t mmo_thread_allocation_count(void);
/// Whether the interposed allocator is active in this process (false off glibc).
int mmo_allocation_counting_available(void);
