// Direct 3x3x3 convolution kernels (float32) for the U-Net's stride-1, stride-2 and transposed layers.
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
    CKERNELS_ISA_AVX512 = 2, ///< AVX-512F (x86-64 only): the tap-list forward on wide planes; AVX2 + FMA elsewhere
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


/// A direct convolution over a list of taps (for stride-2 and transposed layers, see conv_taps.c).
/// The input holds `phases` groups of `cin` padded channels, channel `ci` of phase `p` at
/// `xp + p * phase_stride + ci * chan_stride`, planes `plane_stride` floats apart, rows `pw` wide.
/// Output plane `od`, position `j = oh * pw + ow` (`oh < out_h`, `ow < out_w`) is the sum over
/// phases, channels and the phase's taps of weight times `xp[... + od * plane_stride + j + offset]`,
/// plus the bias, through PReLU with slope `*prelu` when `prelu` is not NULL, and goes to
/// `y[co * y_chan + od * y_plane + oh * y_row + ow * y_col]` (`y` points at the output's first element).
typedef struct {
    int phases, cin;
    size_t phase_stride, chan_stride, plane_stride;
    int pw, out_h, out_w;
    const int *ntaps;     ///< taps of each phase
    const long *offsets;  ///< the taps' input offsets, phase after phase (sum of ntaps entries)
    size_t y_chan, y_plane, y_row, y_col;
} ckernels_taps;

/// Packs weights for ckernels_conv_taps: `ceil(cout/4)` blocks of (phase, ci, tap) x 4 output channels;
/// tap `t` of the list reads original tap `tapk[t]` (0..26, kd*9 + kh*3 + kw) of `w`, which is
/// `cout x cin x 27` (a convolution's weights) or, with `transposed`, `cin x cout x 27` (a transposed
/// convolution's weights, PyTorch order). `packed` holds `ceil(cout/4) * cin * (sum of ntaps) * 4` floats.
void ckernels_pack_taps(const float *w, int cout, int cin, int transposed, int phases, const int *ntaps,
                        const int *tapk, float *packed);

/// Output planes `d0..<d1` of the convolution `k` describes (see ckernels_taps); `bias` (`cout`
/// values) and `prelu` (one slope) may be NULL. The input needs CKERNELS_SLACK readable floats after
/// its last element.
void ckernels_conv_taps(ckernels_isa isa, const ckernels_taps *k, const float *xp, const float *packed,
                        int cout, const float *bias, const float *prelu, float *y, int d0, int d1);

/// The polyphase input of a stride-2 3x3x3 pad-1 convolution: channels `c0..<c1` of one sample's grid
/// `x` (`c x d x h x w`, even extents) split into 8 phases `(a, b, e)` (`x[2i + a][2j + b][2k + e]`),
/// each zero-padded by one voxel at the low side of every axis: `xp` is `c x 8 x (d/2+1) x (h/2+1) x
/// (w/2+1)`, then CKERNELS_SLACK zeros (with the last channel).
void ckernels_pack_phases(const float *x, int c, int c0, int c1, int d, int h, int w, float *xp);

/// Output planes `2m` and `2m + 1` of the stride-2 3x3x3 transposed convolution (padding 1, output
/// padding 1) of one sample: `xp` is the input (`cin x d x h x w`) padded by ckernels_pad, `packed[ph]`
/// the weights of output parity `ph = 4a + 2b + e` (from ckernels_pack_taps with its `ntaps[ph]` taps,
/// whose offsets follow each other in `offsets`), `y` the output `cout x 2d x 2h x 2w`. Each parity is a
/// stride-1 convolution written to `scratch` (`2 * cout * h * w` floats), then the even and odd output
/// columns are interleaved into `y`.
void ckernels_conv_transposed_plane(ckernels_isa isa, const float *xp, int cin, int d, int h, int w,
                                    const float *const *packed, const int *ntaps, const long *offsets,
                                    int cout, const float *bias, const float *prelu, float *scratch, float *y, int m);

#ifdef __cplusplus
}
#endif
#endif
