// Direct 3x3x3 stride-1 convolution kernels (float32) for the U-Net's stride-1 layers.
// One implementation per instruction set, chosen at run time (see ckernels_best_isa); the plain
// path is portable C and is what CPUs without AVX2 + FMA run.
#ifndef SEGVIZ_CKERNELS_H
#define SEGVIZ_CKERNELS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction sets of the kernels.
typedef enum {
    CKERNELS_ISA_PLAIN = 0,  ///< portable C, any CPU
    CKERNELS_ISA_AVX2 = 1,   ///< AVX2 + FMA (x86-64 only)
} ckernels_isa;

/// The fastest instruction set this CPU runs (CKERNELS_ISA_PLAIN on non-x86 CPUs).
ckernels_isa ckernels_best_isa(void);

/// Output channels per packed weight block.
#define CKERNELS_MR 4
/// Floats of slack every padded buffer needs after its last element (vector over-reads).
#define CKERNELS_SLACK 64

/// Packs convolution weights `w` (`cout x cin x 27`, PyTorch order) into `ceil(cout/4)` blocks of
/// `cin*27 x 4` (zero rows past cout). With `flip_transpose`, packs the weights of the matching
/// input-gradient convolution instead: `w'[ci][co][t] = w[co][ci][26 - t]` (then `cout` is the
/// number of rows of the result, i.e. the original cin, and `cin` the original cout).
/// `packed` holds `ceil(cout/4) * cin * 27 * 4` floats.
void ckernels_pack_weights(const float *w, int cout, int cin, int flip_transpose, float *packed);

/// Zero-pads channels `c0..<c1` of one sample's grid `x` (`c x d x h x w`) by one voxel on every
/// side into `xp` (`c x (d+2) x (h+2) x (w+2)`, then CKERNELS_SLACK zeros, written with the last
/// channel). Disjoint channel ranges may run concurrently.
void ckernels_pad(const float *x, int c, int c0, int c1, int d, int h, int w, float *xp);

/// Output planes `d0..<d1` of `y` (`cout x d x h x w`, one sample) of the 3x3x3 stride-1 pad-1
/// convolution of the padded input `xp` (from ckernels_pad, `cin` channels) with packed weights,
/// plus `bias` (`cout` values, or NULL). `y` is overwritten.
void ckernels_conv3_forward(ckernels_isa isa, const float *xp, int cin, int d, int h, int w,
                            const float *packed, int cout, const float *bias,
                            float *y, int d0, int d1);

/// Copies one sample's `dy` (`c x d x h x w`) into the row-padded layout the weight gradient reads:
/// `c x d x plane` with `plane = roundup8(h * (w + 2))`, rows `w + 2` wide, zeros in the two extra
/// columns and the plane's tail, then CKERNELS_SLACK zeros; channels `c0..<c1` only (the slack with
/// the last channel).
void ckernels_pad_rows(const float *dy, int c, int c0, int c1, int d, int h, int w, float *out);
/// Floats of ckernels_pad_rows's output.
size_t ckernels_pad_rows_count(int c, int d, int h, int w);

/// `dw[co][ci][t] += sum over output planes d0..<d1 of dyr[co] * xp[ci] at tap t` for the 3x3x3
/// stride-1 pad-1 convolution: `dyr` from ckernels_pad_rows (`cout` channels), `xp` from
/// ckernels_pad (`cin` channels), `dw` is `cout x cin x 27` (PyTorch order).
void ckernels_conv3_weight_grad(ckernels_isa isa, const float *dyr, int cout, const float *xp, int cin,
                                int d, int h, int w, float *dw, int d0, int d1);

#ifdef __cplusplus
}
#endif
#endif
