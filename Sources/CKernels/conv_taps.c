// Direct convolutions over a list of taps: the stride-2 3x3x3 convolutions (on the 8-phase split of
// their input, each phase a stride-1 convolution with 1, 2, 4 or 8 of the 27 taps) and the stride-2
// transposed 3x3x3 convolutions (one stride-1 convolution per output parity, again with 1..8 taps,
// written to every second output voxel). No column matrix, no scatter-add.
//
// As in conv3.c, every input grid is zero-padded and its planes flattened, so a run of consecutive
// output positions j = oh * pw + ow reads a run of consecutive inputs at every tap; positions with
// ow >= out_w are computed and dropped. Register tile: 4 output channels x 24 positions.
#include "ckernels.h"
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CKERNELS_X86 1
#endif

#define MR CKERNELS_MR
#define NR 24

static int total_taps(const ckernels_taps *k) {
    int n = 0;
    for (int p = 0; p < k->phases; p++) n += k->ntaps[p];
    return n;
}

void ckernels_pack_taps(const float *w, int cout, int cin, int transposed, int phases, const int *ntaps,
                        const int *tapk, float *packed) {
    int total = 0;
    for (int p = 0; p < phases; p++) total += ntaps[p];
    int blocks = (cout + MR - 1) / MR;
    for (int b = 0; b < blocks; b++) {
        float *dst = packed + (size_t)b * cin * total * MR;
        const int *kp = tapk;
        for (int p = 0; p < phases; p++) {
            for (int ci = 0; ci < cin; ci++) {
                for (int t = 0; t < ntaps[p]; t++, dst += MR) {
                    for (int r = 0; r < MR; r++) {
                        int co = b * MR + r;
                        dst[r] = co >= cout ? 0.0f
                               : transposed ? w[((size_t)ci * cout + co) * 27 + kp[t]]
                                            : w[((size_t)co * cin + ci) * 27 + kp[t]];
                    }
                }
            }
            kp += ntaps[p];
        }
    }
}

void ckernels_pack_phases(const float *x, int c, int c0, int c1, int d, int h, int w, float *xp) {
    int D = d / 2, H = h / 2, W = w / 2;
    size_t PW = (size_t)W + 1, PP = (size_t)(H + 1) * PW, PS = (size_t)(D + 1) * PP;
    for (int ch = c0; ch < c1; ch++) {
        for (int ph = 0; ph < 8; ph++) {
            int a = ph >> 2, b = (ph >> 1) & 1, e = ph & 1;
            float *dst = xp + ((size_t)ch * 8 + ph) * PS;
            memset(dst, 0, PP * sizeof(float));
            for (int z = 0; z < D; z++) {
                float *plane = dst + (size_t)(z + 1) * PP;
                memset(plane, 0, PW * sizeof(float));
                for (int y = 0; y < H; y++) {
                    float *row = plane + (size_t)(y + 1) * PW;
                    const float *src = x + (((size_t)ch * d + 2 * z + a) * h + 2 * y + b) * w + e;
                    row[0] = 0;
                    for (int i = 0; i < W; i++) row[1 + i] = src[2 * i];
                }
            }
        }
    }
    if (c1 == c) memset(xp + (size_t)c * 8 * PS, 0, CKERNELS_SLACK * sizeof(float));
}

static inline float prelu_of(float v, const float *prelu) { return prelu && !(v > 0) ? v * *prelu : v; }

/// Writes the valid positions of a tile (`rows` x `nr`, positions j0.. of one plane; `yp` points at the
/// plane's first output element), one run of consecutive outputs per output row it covers.
static void store_tile_n(const float *tile, int nr, int rows, int co0, int j0, int lp, const ckernels_taps *k,
                         const float *prelu, float *yp) {
    int n = lp - j0 < nr ? lp - j0 : nr;
    int oh0 = j0 / k->pw, ow0 = j0 - oh0 * k->pw;
    for (int r = 0; r < rows; r++) {
        float *yc = yp + (size_t)(co0 + r) * k->y_chan;
        const float *src = tile + r * nr;
        int oh = oh0, ow = ow0;
        for (int q = 0; q < n;) {
            if (ow >= k->out_w) { q += k->pw - ow; ow = 0; oh++; continue; }  // the row's padding columns
            int run = k->out_w - ow < n - q ? k->out_w - ow : n - q;
            float *dst = yc + (size_t)oh * k->y_row;
            if (k->y_col == 1) {
                for (int i = 0; i < run; i++) dst[ow + i] = prelu_of(src[q + i], prelu);
            } else {
                for (int i = 0; i < run; i++) dst[(size_t)(ow + i) * k->y_col] = prelu_of(src[q + i], prelu);
            }
            q += run; ow += run;
        }
    }
}

static void store_tile(const float *tile, int rows, int co0, int j0, int lp, const ckernels_taps *k,
                       const float *prelu, float *yp) {
    store_tile_n(tile, NR, rows, co0, j0, lp, k, prelu, yp);
}

static void conv_taps_plain(const ckernels_taps *k, const float *xp, const float *packed, int cout,
                            const float *bias, const float *prelu, float *y, int d0, int d1) {
    int total = total_taps(k), lp = (k->out_h - 1) * k->pw + k->out_w;
    float tile[MR * NR];
    for (int od = d0; od < d1; od++) {
        float *yp = y + (size_t)od * k->y_plane;
        for (int co0 = 0; co0 < cout; co0 += MR) {
            int rows = cout - co0 < MR ? cout - co0 : MR;
            for (int j0 = 0; j0 < lp; j0 += NR) {
                for (int r = 0; r < MR; r++) {
                    float b0 = bias && r < rows ? bias[co0 + r] : 0;
                    for (int q = 0; q < NR; q++) tile[r * NR + q] = b0;
                }
                const float *wk = packed + (size_t)(co0 / MR) * k->cin * total * MR;
                const long *off = k->offsets;
                for (int p = 0; p < k->phases; off += k->ntaps[p], p++) {
                    const float *xc = xp + p * k->phase_stride + od * k->plane_stride + j0;
                    for (int ci = 0; ci < k->cin; ci++, xc += k->chan_stride) {
                        for (int t = 0; t < k->ntaps[p]; t++, wk += MR) {
                            const float *src = xc + off[t];
                            for (int r = 0; r < MR; r++)
                                for (int q = 0; q < NR; q++) tile[r * NR + q] += wk[r] * src[q];
                        }
                    }
                }
                store_tile(tile, rows, co0, j0, lp, k, prelu, yp);
            }
        }
    }
}

#ifdef CKERNELS_X86
/// acc (4 rows x 24 positions, 12 vectors) += the taps of one phase over `cin` channels, for a tap
/// count NT known at compile time (1, 2, 4, 8 here; 27 for the stride-1 layout). One tap is one
/// inline-assembly block (3 loads, 4 broadcasts, 12 FMAs) with the accumulators pinned to registers:
/// written with intrinsics, clang rotated the 12 accumulators through registers and spilled one on
/// every tap (half the speed; gcc did not). Only assembles; runs only where AVX2 + FMA were found.
#define CKERNELS_FMA_ROW(R, C0, C1, C2)                                                                          \
    "vbroadcastss " #R "*4(%[w]), %%ymm15\n\t"                                                                  \
    "vfmadd231ps %%ymm12, %%ymm15, %[" #C0 "]\n\t"                                                              \
    "vfmadd231ps %%ymm13, %%ymm15, %[" #C1 "]\n\t"                                                              \
    "vfmadd231ps %%ymm14, %%ymm15, %[" #C2 "]\n\t"
#define CKERNELS_TILE_AVX2(NT)                                                                                      \
__attribute__((target("avx2,fma"), noinline))                                                                   \
static void tile_avx2_##NT(const float *xc, size_t chan_stride, int cin, const long *off, const float *wk,      \
                           __m256 *acc) {                                                                       \
    __m256 c00 = acc[0], c01 = acc[1], c02 = acc[2], c10 = acc[3], c11 = acc[4], c12 = acc[5];                  \
    __m256 c20 = acc[6], c21 = acc[7], c22 = acc[8], c30 = acc[9], c31 = acc[10], c32 = acc[11];                \
    for (int ci = 0; ci < cin; ci++, xc += chan_stride) {                                                        \
        for (int t = 0; t < NT; t++, wk += MR) {                                                                 \
            const float *src = xc + off[t];                                                                      \
            __asm__("vmovups (%[s]), %%ymm12\n\t"                                                                \
                    "vmovups 32(%[s]), %%ymm13\n\t"                                                              \
                    "vmovups 64(%[s]), %%ymm14\n\t"                                                              \
                    CKERNELS_FMA_ROW(0, c00, c01, c02) CKERNELS_FMA_ROW(1, c10, c11, c12)                        \
                    CKERNELS_FMA_ROW(2, c20, c21, c22) CKERNELS_FMA_ROW(3, c30, c31, c32)                        \
                    : [c00] "+x"(c00), [c01] "+x"(c01), [c02] "+x"(c02), [c10] "+x"(c10), [c11] "+x"(c11),       \
                      [c12] "+x"(c12), [c20] "+x"(c20), [c21] "+x"(c21), [c22] "+x"(c22), [c30] "+x"(c30),       \
                      [c31] "+x"(c31), [c32] "+x"(c32)                                                           \
                    : [s] "r"(src), [w] "r"(wk), "m"(*(const float (*)[24])src), "m"(*(const float (*)[4])wk)   \
                    : "xmm12", "xmm13", "xmm14", "xmm15");                                                       \
        }                                                                                                        \
    }                                                                                                            \
    acc[0] = c00; acc[1] = c01; acc[2] = c02; acc[3] = c10; acc[4] = c11; acc[5] = c12;                          \
    acc[6] = c20; acc[7] = c21; acc[8] = c22; acc[9] = c30; acc[10] = c31; acc[11] = c32;                        \
}
CKERNELS_TILE_AVX2(1)
CKERNELS_TILE_AVX2(2)
CKERNELS_TILE_AVX2(4)
CKERNELS_TILE_AVX2(8)
CKERNELS_TILE_AVX2(27)

/// One phase's taps on the kernel of its tap count (any other count: one tap at a time).
__attribute__((target("avx2,fma")))
static void tile_avx2(const float *xc, size_t chan_stride, int cin, int nt, const long *off, const float *wk,
                      __m256 *acc) {
    switch (nt) {
    case 1: tile_avx2_1(xc, chan_stride, cin, off, wk, acc); return;
    case 2: tile_avx2_2(xc, chan_stride, cin, off, wk, acc); return;
    case 4: tile_avx2_4(xc, chan_stride, cin, off, wk, acc); return;
    case 8: tile_avx2_8(xc, chan_stride, cin, off, wk, acc); return;
    case 27: tile_avx2_27(xc, chan_stride, cin, off, wk, acc); return;
    default:
        // tap by tap: channel stride nt * MR weights apart
        for (int t = 0; t < nt; t++) {
            for (int ci = 0; ci < cin; ci++)
                tile_avx2_1(xc + ci * chan_stride, chan_stride, 1, off + t, wk + ((size_t)ci * nt + t) * MR, acc);
        }
    }
}

__attribute__((target("avx2,fma")))
static void conv_taps_avx2(const ckernels_taps *k, const float *xp, const float *packed, int cout,
                           const float *bias, const float *prelu, float *y, int d0, int d1) {
    int total = total_taps(k), lp = (k->out_h - 1) * k->pw + k->out_w;
    __m256 acc[MR * 3] __attribute__((aligned(32)));
    __m256 zero = _mm256_setzero_ps(), slope = _mm256_set1_ps(prelu ? *prelu : 1.0f);
    for (int od = d0; od < d1; od++) {
        float *yp = y + (size_t)od * k->y_plane;
        for (int j0 = 0; j0 < lp; j0 += NR) {
            for (int co0 = 0; co0 < cout; co0 += MR) {
                int rows = cout - co0 < MR ? cout - co0 : MR;
                for (int r = 0; r < MR; r++) {
                    __m256 b0 = _mm256_set1_ps(bias && r < rows ? bias[co0 + r] : 0.0f);
                    acc[r * 3] = b0; acc[r * 3 + 1] = b0; acc[r * 3 + 2] = b0;
                }
                const float *wk = packed + (size_t)(co0 / MR) * k->cin * total * MR;
                const long *off = k->offsets;
                for (int p = 0; p < k->phases; off += k->ntaps[p], p++) {
                    tile_avx2(xp + p * k->phase_stride + od * k->plane_stride + j0, k->chan_stride, k->cin, k->ntaps[p],
                              off, wk, acc);
                    wk += (size_t)k->cin * k->ntaps[p] * MR;
                }
                if (prelu) {
                    for (int q = 0; q < MR * 3; q++)
                        acc[q] = _mm256_fmadd_ps(_mm256_min_ps(acc[q], zero), slope, _mm256_max_ps(acc[q], zero));
                }
                int oh = j0 / k->pw, ow = j0 - oh * k->pw;
                if (k->y_col == 1 && j0 + NR <= lp && ow + NR <= k->out_w) {
                    // the whole tile inside one output row: store directly
                    for (int r = 0; r < rows; r++) {
                        float *dst = yp + (size_t)(co0 + r) * k->y_chan + oh * k->y_row + ow;
                        _mm256_storeu_ps(dst, acc[r * 3]); _mm256_storeu_ps(dst + 8, acc[r * 3 + 1]);
                        _mm256_storeu_ps(dst + 16, acc[r * 3 + 2]);
                    }
                } else {
                    // the activation is applied already
                    store_tile((const float *)acc, rows, co0, j0, lp, k, NULL, yp);
                }
            }
        }
    }
}

/// The AVX-512 tile: 4 output channels x 48 positions (12 zmm accumulators, 3 loads and 4 broadcasts per
/// tap). With 32 vector registers clang keeps the accumulators in registers with intrinsics. Measured on this
/// project's AMD EPYC (Zen 4, 512-bit operations on 256-bit units): 5-20% more per core than the AVX2 tile on
/// the 16- and 32-channel layers (fewer loads and instructions per FLOP), none on small planes.
#define NR5 48
#define CKERNELS_TILE_AVX512(NT)                                                                                    \
__attribute__((target("avx512f"), noinline))                                                                     \
static void tile_avx512_##NT(const float *xc, size_t chan_stride, int cin, const long *off, const float *wk,    \
                             __m512 *acc) {                                                                     \
    __m512 c00 = acc[0], c01 = acc[1], c02 = acc[2], c10 = acc[3], c11 = acc[4], c12 = acc[5];                  \
    __m512 c20 = acc[6], c21 = acc[7], c22 = acc[8], c30 = acc[9], c31 = acc[10], c32 = acc[11];                \
    for (int ci = 0; ci < cin; ci++, xc += chan_stride) {                                                        \
        for (int t = 0; t < NT; t++, wk += MR) {                                                                 \
            const float *s = xc + off[t];                                                                        \
            __m512 x0 = _mm512_loadu_ps(s), x1 = _mm512_loadu_ps(s + 16), x2 = _mm512_loadu_ps(s + 32);          \
            __m512 w = _mm512_set1_ps(wk[0]);                                                                    \
            c00 = _mm512_fmadd_ps(x0, w, c00); c01 = _mm512_fmadd_ps(x1, w, c01); c02 = _mm512_fmadd_ps(x2, w, c02); \
            w = _mm512_set1_ps(wk[1]);                                                                           \
            c10 = _mm512_fmadd_ps(x0, w, c10); c11 = _mm512_fmadd_ps(x1, w, c11); c12 = _mm512_fmadd_ps(x2, w, c12); \
            w = _mm512_set1_ps(wk[2]);                                                                           \
            c20 = _mm512_fmadd_ps(x0, w, c20); c21 = _mm512_fmadd_ps(x1, w, c21); c22 = _mm512_fmadd_ps(x2, w, c22); \
            w = _mm512_set1_ps(wk[3]);                                                                           \
            c30 = _mm512_fmadd_ps(x0, w, c30); c31 = _mm512_fmadd_ps(x1, w, c31); c32 = _mm512_fmadd_ps(x2, w, c32); \
        }                                                                                                        \
    }                                                                                                            \
    acc[0] = c00; acc[1] = c01; acc[2] = c02; acc[3] = c10; acc[4] = c11; acc[5] = c12;                          \
    acc[6] = c20; acc[7] = c21; acc[8] = c22; acc[9] = c30; acc[10] = c31; acc[11] = c32;                        \
}
CKERNELS_TILE_AVX512(1)
CKERNELS_TILE_AVX512(2)
CKERNELS_TILE_AVX512(4)
CKERNELS_TILE_AVX512(8)
CKERNELS_TILE_AVX512(27)

/// One phase's taps on the AVX-512 kernel of its tap count (any other count: one tap at a time).
__attribute__((target("avx512f")))
static void tile_avx512(const float *xc, size_t chan_stride, int cin, int nt, const long *off, const float *wk,
                        __m512 *acc) {
    switch (nt) {
    case 1: tile_avx512_1(xc, chan_stride, cin, off, wk, acc); return;
    case 2: tile_avx512_2(xc, chan_stride, cin, off, wk, acc); return;
    case 4: tile_avx512_4(xc, chan_stride, cin, off, wk, acc); return;
    case 8: tile_avx512_8(xc, chan_stride, cin, off, wk, acc); return;
    case 27: tile_avx512_27(xc, chan_stride, cin, off, wk, acc); return;
    default:
        for (int t = 0; t < nt; t++) {
            for (int ci = 0; ci < cin; ci++)
                tile_avx512_1(xc + ci * chan_stride, chan_stride, 1, off + t, wk + ((size_t)ci * nt + t) * MR, acc);
        }
    }
}

/// As conv_taps_avx2 with 48-position tiles; partial tiles go through store_tile with their width.
__attribute__((target("avx512f")))
static void conv_taps_avx512(const ckernels_taps *k, const float *xp, const float *packed, int cout,
                             const float *bias, const float *prelu, float *y, int d0, int d1) {
    int total = total_taps(k), lp = (k->out_h - 1) * k->pw + k->out_w;
    __m512 acc[MR * 3] __attribute__((aligned(64)));
    __m512 zero = _mm512_setzero_ps(), slope = _mm512_set1_ps(prelu ? *prelu : 1.0f);
    for (int od = d0; od < d1; od++) {
        float *yp = y + (size_t)od * k->y_plane;
        for (int j0 = 0; j0 < lp; j0 += NR5) {
            for (int co0 = 0; co0 < cout; co0 += MR) {
                int rows = cout - co0 < MR ? cout - co0 : MR;
                for (int r = 0; r < MR; r++) {
                    __m512 b0 = _mm512_set1_ps(bias && r < rows ? bias[co0 + r] : 0.0f);
                    acc[r * 3] = b0; acc[r * 3 + 1] = b0; acc[r * 3 + 2] = b0;
                }
                const float *wk = packed + (size_t)(co0 / MR) * k->cin * total * MR;
                const long *off = k->offsets;
                for (int p = 0; p < k->phases; off += k->ntaps[p], p++) {
                    tile_avx512(xp + p * k->phase_stride + od * k->plane_stride + j0, k->chan_stride, k->cin, k->ntaps[p],
                                off, wk, acc);
                    wk += (size_t)k->cin * k->ntaps[p] * MR;
                }
                if (prelu) {
                    for (int q = 0; q < MR * 3; q++)
                        acc[q] = _mm512_fmadd_ps(_mm512_min_ps(acc[q], zero), slope, _mm512_max_ps(acc[q], zero));
                }
                int oh = j0 / k->pw, ow = j0 - oh * k->pw;
                if (k->y_col == 1 && j0 + NR5 <= lp && ow + NR5 <= k->out_w) {
                    for (int r = 0; r < rows; r++) {
                        float *dst = yp + (size_t)(co0 + r) * k->y_chan + oh * k->y_row + ow;
                        _mm512_storeu_ps(dst, acc[r * 3]); _mm512_storeu_ps(dst + 16, acc[r * 3 + 1]);
                        _mm512_storeu_ps(dst + 32, acc[r * 3 + 2]);
                    }
                } else {
                    store_tile_n((const float *)acc, NR5, rows, co0, j0, lp, k, NULL, yp);
                }
            }
        }
    }
}
#endif

/// Output positions per plane from which the AVX-512 tile pays: below it, the 48-wide tiles waste more of a
/// plane's tail than they gain (measured: 12 x 12 planes ran 10% slower than on the AVX2 tile).
#define CKERNELS_AVX512_MIN_POSITIONS 400

void ckernels_conv_taps(ckernels_isa isa, const ckernels_taps *k, const float *xp, const float *packed,
                        int cout, const float *bias, const float *prelu, float *y, int d0, int d1) {
#ifdef CKERNELS_X86
    if (isa == CKERNELS_ISA_AVX512 && (k->out_h - 1) * k->pw + k->out_w >= CKERNELS_AVX512_MIN_POSITIONS) {
        conv_taps_avx512(k, xp, packed, cout, bias, prelu, y, d0, d1);
        return;
    }
    if (isa >= CKERNELS_ISA_AVX2) { conv_taps_avx2(k, xp, packed, cout, bias, prelu, y, d0, d1); return; }
#endif
    conv_taps_plain(k, xp, packed, cout, bias, prelu, y, d0, d1);
}

void ckernels_conv_transposed_plane(ckernels_isa isa, const float *xp, int cin, int d, int h, int w,
                                    const float *const *packed, const int *ntaps, const long *offsets,
                                    int cout, const float *bias, const float *prelu, float *scratch, float *y, int m) {
    size_t PW = (size_t)w + 2, PP = ((size_t)h + 2) * PW, hw = (size_t)h * w, W2 = 2 * (size_t)w;
    size_t out_plane = 4 * hw, vol = 2 * (size_t)d * out_plane;
    const long *off[8];
    for (int ph = 0, n = 0; ph < 8; n += ntaps[ph], ph++) off[ph] = offsets + n;
    float *s0 = scratch, *s1 = scratch + (size_t)cout * hw;
    for (int ab = 0; ab < 4; ab++) {
        int a = ab >> 1, b = ab & 1;
        for (int e = 0; e < 2; e++) {
            int ph = ab * 2 + e;
            ckernels_taps k = {1, cin, 0, (size_t)(d + 2) * PP, PP, (int)PW, h, w, &ntaps[ph], off[ph],
                               hw, 0, (size_t)w, 1};
            ckernels_conv_taps(isa, &k, xp, packed[ph], cout, bias, prelu, e ? s1 : s0, m, m + 1);
        }
        // interleave the even and odd output columns into rows 2n + b of plane 2m + a
        for (int co = 0; co < cout; co++) {
            for (int n = 0; n < h; n++) {
                float *dst = y + co * vol + (size_t)(2 * m + a) * out_plane + (2 * (size_t)n + b) * W2;
                const float *e0 = s0 + (size_t)co * hw + (size_t)n * w, *e1 = s1 + (size_t)co * hw + (size_t)n * w;
                for (int p = 0; p < w; p++) { dst[2 * p] = e0[p]; dst[2 * p + 1] = e1[p]; }
            }
        }
    }
}
