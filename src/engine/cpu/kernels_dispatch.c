/* Picks kernels for the running CPU. Vector files are compiled with their
 * own target flags, so nothing from them may run before the CPU and the OS
 * (which must save the wider registers on context switch) are checked. */
#include "engine/cpu/kernels.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if defined(__x86_64__)
#include <cpuid.h>
#define RK_X86 1
#elif defined(__aarch64__)
#include <sys/auxv.h>
#define RK_ARM64 1
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1ul << 20)
#endif
#endif

static const char *const ISA_NAMES[RK_ISA_COUNT] = {"scalar", "avx2", "avx512", "neon"};

/* The ISAs of this architecture from weakest to strongest; a cap selects a
 * prefix of this list. */
#if defined(RK_X86)
static const rk_isa LADDER[] = {RK_ISA_SCALAR, RK_ISA_AVX2, RK_ISA_AVX512};
#elif defined(RK_ARM64)
static const rk_isa LADDER[] = {RK_ISA_SCALAR, RK_ISA_NEON};
#else
static const rk_isa LADDER[] = {RK_ISA_SCALAR};
#endif
#define LADDER_LEN (sizeof(LADDER) / sizeof(LADDER[0]))

typedef struct {
    unsigned usable; /* 1u << isa */
    unsigned ext;    /* RK_EXT_* */
} cpu_caps;

#if defined(RK_X86)
static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static cpu_caps detect(void)
{
    cpu_caps c = {1u << RK_ISA_SCALAR, 0};
    unsigned a, b, cx, d;
    if (!__get_cpuid(1, &a, &b, &cx, &d)) return c;
    bool osxsave = cx & (1u << 27), avx = cx & (1u << 28);
    bool fma = cx & (1u << 12), f16c = cx & (1u << 29);
    if (!osxsave || !avx) return c;
    uint64_t xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return c; /* OS does not save YMM state */
    if (!__get_cpuid_count(7, 0, &a, &b, &cx, &d)) return c;
    bool avx2 = b & (1u << 5);
    if (!(avx2 && fma && f16c)) return c;
    c.usable |= 1u << RK_ISA_AVX2;
    bool f = b & (1u << 16), dq = b & (1u << 17), bw = b & (1u << 30), vl = b & (1u << 31);
    /* opmask, upper halves of ZMM0-15 and ZMM16-31 must all be OS-managed */
    if (f && dq && bw && vl && (xcr0 & 0xe0) == 0xe0) {
        c.usable |= 1u << RK_ISA_AVX512;
        if (cx & (1u << 11)) c.ext |= RK_EXT_AVX512VNNI;
    }
    return c;
}
#elif defined(RK_ARM64)
static cpu_caps detect(void)
{
    cpu_caps c = {(1u << RK_ISA_SCALAR) | (1u << RK_ISA_NEON), 0}; /* NEON is baseline on aarch64 */
    if (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) c.ext |= RK_EXT_NEON_DOTPROD;
    return c;
}
#else
static cpu_caps detect(void)
{
    return (cpu_caps){1u << RK_ISA_SCALAR, 0};
}
#endif

static pthread_once_t once = PTHREAD_ONCE_INIT;
static cpu_caps caps;
static rk_kernels tables[RK_ISA_COUNT];
static const rk_kernels *best;

static bool build(rk_kernels *k, rk_isa isa, unsigned ext)
{
    kernels_fill_scalar(k);
    if (isa == RK_ISA_SCALAR) return true;
    if ((unsigned)isa >= RK_ISA_COUNT || !(caps.usable & (1u << isa))) return false;
    ext &= caps.ext;
#if defined(RK_X86)
    kernels_fill_avx2(k);
    if (isa == RK_ISA_AVX512) {
        k->ext = ext;
        kernels_fill_avx512(k);
    }
    return true;
#elif defined(RK_ARM64)
    k->ext = ext;
    kernels_fill_neon(k);
    return true;
#else
    return false;
#endif
}

static void init(void)
{
    caps = detect();
    for (int i = 0; i < RK_ISA_COUNT; i++) build(&tables[i], (rk_isa)i, ~0u);
    const char *cap = getenv("RKSERVE_ISA");
    rk_isa isa = kernels_pick_isa(cap, caps.usable);
    if (cap && *cap && strcasecmp(cap, ISA_NAMES[isa]) != 0) {
        bool known = false;
        for (size_t i = 0; i < LADDER_LEN; i++) known |= strcasecmp(cap, ISA_NAMES[LADDER[i]]) == 0;
        if (!known) fprintf(stderr, "rkserve: RKSERVE_ISA=%s is not an ISA of this CPU type; ignored\n", cap);
    }
    best = &tables[isa];
}

rk_isa kernels_pick_isa(const char *cap, unsigned usable)
{
    size_t top = LADDER_LEN - 1;
    if (cap && *cap)
        for (size_t i = 0; i < LADDER_LEN; i++)
            if (strcasecmp(cap, ISA_NAMES[LADDER[i]]) == 0) top = i;
    for (size_t i = top; i > 0; i--)
        if (usable & (1u << LADDER[i])) return LADDER[i];
    return RK_ISA_SCALAR;
}

const rk_kernels *kernels_get(void)
{
    pthread_once(&once, init);
    return best;
}

const rk_kernels *kernels_for_isa(rk_isa isa)
{
    pthread_once(&once, init);
    if ((unsigned)isa >= RK_ISA_COUNT || !(caps.usable & (1u << isa))) return NULL;
    return &tables[isa];
}

bool kernels_build(rk_kernels *k, rk_isa isa, unsigned ext)
{
    pthread_once(&once, init);
    return build(k, isa, ext);
}

unsigned kernels_cpu_ext(void)
{
    pthread_once(&once, init);
    return caps.ext;
}

const char *kernels_isa_name(rk_isa isa)
{
    return (unsigned)isa < RK_ISA_COUNT ? ISA_NAMES[isa] : "unknown";
}
