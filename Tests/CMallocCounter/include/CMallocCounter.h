// Counts heap allocations of the whole test process (glibc only), so a test can prove that a
// code path allocates nothing. The counter includes every thread.
#pragma once
#include <stdint.h>

/// Number of malloc/calloc/realloc/posix_memalign/aligned_alloc/memalign calls so far.
int64_t mmo_allocation_count(void);
/// Whether the interposed allocator is active in this process (false off glibc).
int mmo_allocation_counting_available(void);
