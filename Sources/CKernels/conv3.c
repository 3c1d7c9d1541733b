// Direct 3x3x3 stride-1 pad-1 convolution: weight packing, padding and the weight gradient, without
// a column matrix. The forward (also the input gradient, with flipped, transposed weights) is the
// tap-list kernel of conv_taps.c with all 27 taps.
//
// Both read a zero-padded input whose planes are flattened: with padded row width PW = w + 2 the
// output position j = oh * PW + ow of a plane reads padded input element j + kd*PP + kh*PW + kw
// for tap (kd, kh, kw), so a run of consecutive j is a run of consecutive inputs for every tap.
// Positions with ow >= w are computed and thrown away (forward) or weighted by zero (weight
// gradient). Register tile of the weight gradient: 4 output channels x 3 taps x 8 positions.
#include "ckernels.h"
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CKERNELS_X86 1
#endif

#define MR CKERNELS_MR

ckernels_isa ckernels_best_isa(void) {
#ifdef CKERNELS_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return __builtin_cpu_supports("avx512f") ? CKERNELS_ISA_AVX512 : CKERNELS_ISA_AVX2;
#endif
    return CKERNELS_ISA_PLAIN;
}

void ckernels_pack_weights(const float *w, int cout, int cin, int flip_transpose, float *packed) {
    int blocks = (cout + MR - 1) / MR;
    for (int b = 0; b < blocks; b++) {
        float *dst = packed + (size_t)b * cin * 27 * MR;
        for (int ci = 0; ci < cin; ci++) {
            for (int t = 0; t < 27; t++) {
                for (int r = 0; r < MR; r++) {
                    int co = b * MR + r;
                    float v = 0;
                    if (co < cout) {
                        // flip_transpose: rows are the original input channels (co here), columns the
                        // original output channels (ci here): w is [ci][co][26 - t] in original order.
                        v = flip_transpose ? w[((size_t)ci * cout + co) * 27 + (26 - t)]
                                           : w[((size_t)co * cin + ci) * 27 + t];
                    }
                    dst[((size_t)ci * 27 + t) * MR + r] = v;
                }
            }
        }
    }
}

void ckernels_pad(const float *x, int c, int c0, int c1, int d, int h, int w, float *xp) {
    size_t PW = (size_t)w + 2, PP = ((size_t)h + 2) * PW, PS = ((size_t)d + 2) * PP;
    for (int ch = c0; ch < c1; ch++) {
        float *dst = xp + ch * PS;
        // zero only the border: the interior rows are copied over
        memset(dst, 0, (PP + PW + 1) * sizeof(float));
        for (int z = 0; z < d; z++) {
            for (int y = 0; y < h; y++) {
                float *row = dst + (z + 1) * PP + (y + 1) * PW;
                memcpy(row + 1, x + (((size_t)ch * d + z) * h + y) * w, (size_t)w * sizeof(float));
                // the gap to the next row's first element: this row's right pad, the next row's left pad
                // (and at a plane's end the bottom row and the next plane's top row)
                size_t gap = (y + 1 < h) ? 2 : 2 + 2 * PW;
                memset(row + 1 + w, 0, gap * sizeof(float));
            }
        }
        // after the last interior row's gap: the rest of the last padded plane
        float *tail = dst + (d + 1) * PP;
        memset(tail, 0, PP * sizeof(float));
    }
    if (c1 == c) memset(xp + c * PS, 0, CKERNELS_SLACK * sizeof(float));
}

static size_t plane_floats(int h, int w) { return (((size_t)h * (w + 2)) + 7) / 8 * 8; }

size_t ckernels_pad_rows_count(int c, int d, int h, int w) {
    return (size_t)c * d * plane_floats(h, w) + CKERNELS_SLACK;
}

void ckernels_pad_rows(const float *dy, int c, int c0, int c1, int d, int h, int w, float *out) {
    size_t PW = (size_t)w + 2, plane = plane_floats(h, w);
    for (int ch = c0; ch < c1; ch++)
        for (int z = 0; z < d; z++) {
            float *p = out + ((size_t)ch * d + z) * plane;
            for (int y = 0; y < h; y++) {
                memcpy(p + y * PW, dy + (((size_t)ch * d + z) * h + y) * w, (size_t)w * sizeof(float));
                p[y * PW + w] = 0; p[y * PW + w + 1] = 0;
            }
            memset(p + h * PW, 0, (plane - h * PW) * sizeof(float));
        }
    if (c1 == c) memset(out + (size_t)c * d * plane, 0, CKERNELS_SLACK * sizeof(float));
}

static void conv3_weight_grad_plain(const float *dyr, int cout, const float *xp, int cin,
                                    int d, int h, int w, float *dw, int d0, int d1) {
    int PW = w + 2;
    size_t PP = (size_t)(h + 2) * PW, PS = (size_t)(d + 2) * PP, plane = plane_floats(h, w);
    for (int co = 0; co < cout; co++) {
        for (int ci = 0; ci < cin; ci++) {
            for (int t = 0; t < 27; t++) {
                size_t off = (t / 9) * PP + ((t / 3) % 3) * PW + t % 3;
                double acc = 0;
                for (int od = d0; od < d1; od++) {
                    const float *g = dyr + ((size_t)co * d + od) * plane;
                    const float *x = xp + ci * PS + od * PP + off;
                    float s = 0;
                    for (size_t j = 0; j < plane; j++) s += g[j] * x[j];
                    acc += s;
                }
                dw[((size_t)co * cin + ci) * 27 + t] += (float)acc;
            }
        }
    }
}

#ifdef CKERNELS_X86
__attribute__((target("avx2,fma")))
static inline float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma")))
static void conv3_weight_grad_avx2(const float *dyr, int cout, const float *xp, int cin,
                                   int d, int h, int w, float *dw, int d0, int d1) {
    enum { JC = 512 };  // positions per chunk: the 4 gradient rows of a chunk stay in L1
    int PW = w + 2;
    size_t PP = (size_t)(h + 2) * PW, PS = (size_t)(d + 2) * PP, plane = plane_floats(h, w);
    // per (ci, kd*3+kh): 4 rows x 3 taps of vector partial sums, summed horizontally at the end
    __m256 *acc = aligned_alloc(32, sizeof(__m256) * (size_t)cin * 9 * MR * 3);
    if (!acc) { conv3_weight_grad_plain(dyr, cout, xp, cin, d, h, w, dw, d0, d1); return; }
    for (int co0 = 0; co0 < cout; co0 += MR) {
        int rows = cout - co0 < MR ? cout - co0 : MR;
        for (size_t i = 0; i < (size_t)cin * 9 * MR * 3; i++) acc[i] = _mm256_setzero_ps();
        for (int od = d0; od < d1; od++) {
            const float *g[MR];
            for (int r = 0; r < MR; r++)  // rows past cout reread row 0; their sums are dropped
                g[r] = dyr + ((size_t)(co0 + (r < rows ? r : 0)) * d + od) * plane;
            for (size_t jc = 0; jc < plane; jc += JC) {
                size_t je = jc + JC < plane ? jc + JC : plane;
                for (int ci = 0; ci < cin; ci++) {
                    for (int kdh = 0; kdh < 9; kdh++) {
                        const float *x = xp + ci * PS + od * PP + (kdh / 3) * PP + (kdh % 3) * PW;
                        __m256 c[MR][3];
                        for (int r = 0; r < MR; r++) c[r][0] = c[r][1] = c[r][2] = _mm256_setzero_ps();
                        for (size_t j = jc; j < je; j += 8) {
                            __m256 x0 = _mm256_loadu_ps(x + j), x1 = _mm256_loadu_ps(x + j + 1), x2 = _mm256_loadu_ps(x + j + 2);
                            for (int r = 0; r < MR; r++) {
                                __m256 gv = _mm256_loadu_ps(g[r] + j);
                                c[r][0] = _mm256_fmadd_ps(gv, x0, c[r][0]);
                                c[r][1] = _mm256_fmadd_ps(gv, x1, c[r][1]);
                                c[r][2] = _mm256_fmadd_ps(gv, x2, c[r][2]);
                            }
                        }
                        __m256 *a = acc + ((size_t)ci * 9 + kdh) * MR * 3;
                        for (int r = 0; r < MR; r++)
                            for (int k = 0; k < 3; k++) a[r * 3 + k] = _mm256_add_ps(a[r * 3 + k], c[r][k]);
                    }
                }
            }
        }
        for (int r = 0; r < rows; r++)
            for (int ci = 0; ci < cin; ci++)
                for (int kdh = 0; kdh < 9; kdh++)
                    for (int k = 0; k < 3; k++)
                        dw[((size_t)(co0 + r) * cin + ci) * 27 + kdh * 3 + k] += hsum256(acc[((size_t)ci * 9 + kdh) * MR * 3 + r * 3 + k]);
    }
    free(acc);
}
#endif

void ckernels_conv3_weight_grad(ckernels_isa isa, const float *dyr, int cout, const float *xp, int cin,
                                int d, int h, int w, float *dw, int d0, int d1) {
#ifdef CKERNELS_X86
    if (isa >= CKERNELS_ISA_AVX2) { conv3_weight_grad_avx2(dyr, cout, xp, cin, d, h, w, dw, d0, d1); return; }
#endif
    conv3_weight_grad_plain(dyr, cout, xp, cin, d, h, w, dw, d0, d1);
}
