/*
 * flowtune's own WebAssembly SIMD kernels (see ../fused.ts, which loads them; build.sh builds them).
 *
 * The module has no memory of its own: it imports tfjs-backend-wasm's memory ("env"."memory"), and
 * every pointer argument is the heap offset of a tensor the backend allocated (or of a scratch
 * tensor). So there are no copies in or out. The code must never touch memory other than what it
 * is handed: no static data, no shadow stack (only scalar and v128 locals, no arrays whose address
 * escapes), no libc. build.sh checks the linked modules for data sections and global accesses.
 * Functions take a range (of images, positions or windows), so that ../fused.ts can split one step
 * between the calling thread and helper threads (each with its own instance on the same shared
 * memory); per-channel sums come back as one partial sum per range, added up by a *_finish /
 * *_coefficients / sum_parts call.
 *
 * Layout: channels last (NHWC), float32, the channel count c a multiple of 4 (../fused.ts checks).
 * Sums over positions are float32 within blocks of BLOCK positions and double across blocks.
 *
 * The block kernels compute batch normalisation (batch statistics) → ReLU → 2×2/2 max pooling
 * ('valid': odd trailing rows/columns belong to no window) in one pass, and its gradient in two:
 *
 *   forward, per window and channel: v_k = (x_k − μ)·(γσ⁻¹) + β for the 4 positions; the winner is
 *   the first maximum (strict >, row-major), as tfjs's MaxPoolGrad; valid = v_winner > 0.
 *   y = valid ? v_winner : 0;  sel = (valid ? winner : 0) | (valid ? 4 : 0);  xw = x_winner − μ.
 *
 *   backward: the gradient reaching the batch norm is dybn = dy·valid at the winner, 0 elsewhere
 *   (what MaxPoolGrad followed by ReLU's gradient, dy·step(v), gives), so with
 *   Σdy = Σ dy·valid and Σdyxc = Σ dy·valid·xw (per channel, over windows), k = γσ⁻¹,
 *   q = −k·σ⁻²·Σdyxc/N, r = −k·Σdy/N:
 *   dx = (dybn·k + (x − μ)·q) + r,  dγ = σ⁻¹·Σdyxc,  dβ = Σdy.
 */
#include <wasm_simd128.h>

#define EXPORT(name) __attribute__((export_name(#name)))
#define BLOCK 256

typedef float f32;
typedef int i32;

static inline v128_t ld(const f32 *p) { return wasm_v128_load(p); }

/*
 * acc + a·b. Built twice: plain SIMD128 (a multiply, then an add: what every engine runs) and, with
 * FLOWTUNE_RELAXED (build.sh: the *-relaxed.wasm modules), relaxed SIMD's f32x4.relaxed_madd, which
 * V8 runs as one fused multiply-add where the CPU has FMA. clang-14 only knows the prototype's
 * f32x4.fma; relax.mjs turns it into relaxed_madd(a, b, c) = a·b + c, hence the operand order.
 */
#ifdef FLOWTUNE_RELAXED
#define MADD(acc, a, b) __builtin_wasm_fma_f32x4((a), (b), (acc))
#else
#define MADD(acc, a, b) wasm_f32x4_add((acc), wasm_f32x4_mul((a), (b)))
#endif
static inline void st(f32 *p, v128_t v) { wasm_v128_store(p, v); }

/* out[0..len) = Σ over parts of parts[part·stride + i], as float32 (parts: nparts·stride doubles). */
EXPORT(sum_parts)
void sum_parts(const double *parts, i32 nparts, i32 stride, i32 len, f32 *out) {
  for (i32 i = 0; i < len; i++) {
    double t = 0;
    for (i32 k = 0; k < nparts; k++) t += parts[(long)k * stride + i];
    out[i] = (f32)t;
  }
}

/*
 * Per-channel sums over positions [p0, p1) of x[positions, c]: Σx when mean is 0 (null), else
 * Σ(x − μ)². out: c doubles; acc: c floats of scratch.
 */
EXPORT(channel_sums)
void channel_sums(const f32 *x, i32 p0, i32 p1, i32 c, const f32 *mean, double *out, f32 *acc) {
  for (i32 j = 0; j < c; j++) out[j] = 0;
  for (i32 q0 = p0; q0 < p1; q0 += BLOCK) {
    i32 q1 = q0 + BLOCK < p1 ? q0 + BLOCK : p1;
    for (i32 j = 0; j < c; j += 4) st(acc + j, wasm_f32x4_splat(0));
    const f32 *row = x + (long)q0 * c;
    if (!mean) {
      for (i32 p = q0; p < q1; p++, row += c)
        for (i32 j = 0; j < c; j += 4) st(acc + j, wasm_f32x4_add(ld(acc + j), ld(row + j)));
    } else {
      for (i32 p = q0; p < q1; p++, row += c)
        for (i32 j = 0; j < c; j += 4) {
          v128_t d = wasm_f32x4_sub(ld(row + j), ld(mean + j));
          st(acc + j, MADD(ld(acc + j), d, d));
        }
    }
    for (i32 j = 0; j < c; j++) out[j] += acc[j];
  }
}

/*
 * From nparts partial channel_sums: the mean (variance null) or the biased variance and
 * invstd = 1/√(variance + eps) (mean ignored).
 */
EXPORT(moments_finish)
void moments_finish(const double *parts, i32 nparts, i32 c, i32 positions, f32 eps, f32 *mean, f32 *variance, f32 *invstd) {
  for (i32 j = 0; j < c; j++) {
    double t = 0;
    for (i32 k = 0; k < nparts; k++) t += parts[(long)k * c + j];
    if (!variance) {
      mean[j] = (f32)(t / positions);
    } else {
      variance[j] = (f32)(t / positions);
      invstd[j] = 1.0f / __builtin_sqrtf(variance[j] + eps);
    }
  }
}

/*
 * Forward of batch norm → ReLU → max pool 2×2/2 'valid' over images [b0, b1) of x[n, h, w, c].
 * y, sel (int32), xw: [n, h/2, w/2, c]. mean, invstd, gamma, beta: [c].
 */
EXPORT(bn_relu_pool2_forward)
void bn_relu_pool2_forward(const f32 *x, i32 b0, i32 b1, i32 h, i32 w, i32 c, const f32 *mean, const f32 *invstd,
                           const f32 *gamma, const f32 *beta, f32 *y, i32 *sel, f32 *xw) {
  const i32 oh = h / 2, ow = w / 2;
  const long rowStride = (long)w * c;
  const v128_t zero = wasm_f32x4_splat(0);
  const v128_t one = wasm_i32x4_splat(1), two = wasm_i32x4_splat(2), three = wasm_i32x4_splat(3);
  const v128_t four = wasm_i32x4_splat(4);
  long o = (long)b0 * oh * ow * c;
  for (i32 b = b0; b < b1; b++) {
    for (i32 i = 0; i < oh; i++) {
      const f32 *r0 = x + ((long)b * h + 2 * i) * rowStride;
      const f32 *r1 = r0 + rowStride;
      for (i32 jw = 0; jw < ow; jw++, r0 += 2 * c, r1 += 2 * c, o += c) {
        for (i32 j = 0; j < c; j += 4) {
          v128_t m = ld(mean + j);
          v128_t s = wasm_f32x4_mul(ld(gamma + j), ld(invstd + j));
          v128_t bt = ld(beta + j);
          v128_t c0 = wasm_f32x4_sub(ld(r0 + j), m);
          v128_t c1 = wasm_f32x4_sub(ld(r0 + c + j), m);
          v128_t c2 = wasm_f32x4_sub(ld(r1 + j), m);
          v128_t c3 = wasm_f32x4_sub(ld(r1 + c + j), m);
          v128_t best = wasm_f32x4_add(wasm_f32x4_mul(c0, s), bt);
          v128_t win = wasm_i32x4_splat(0);
          v128_t xc = c0;
          v128_t v, gt;
          v = wasm_f32x4_add(wasm_f32x4_mul(c1, s), bt);
          gt = wasm_f32x4_gt(v, best);
          best = wasm_v128_bitselect(v, best, gt);
          win = wasm_v128_bitselect(one, win, gt);
          xc = wasm_v128_bitselect(c1, xc, gt);
          v = wasm_f32x4_add(wasm_f32x4_mul(c2, s), bt);
          gt = wasm_f32x4_gt(v, best);
          best = wasm_v128_bitselect(v, best, gt);
          win = wasm_v128_bitselect(two, win, gt);
          xc = wasm_v128_bitselect(c2, xc, gt);
          v = wasm_f32x4_add(wasm_f32x4_mul(c3, s), bt);
          gt = wasm_f32x4_gt(v, best);
          best = wasm_v128_bitselect(v, best, gt);
          win = wasm_v128_bitselect(three, win, gt);
          xc = wasm_v128_bitselect(c3, xc, gt);
          v128_t valid = wasm_f32x4_gt(best, zero);
          st(y + o + j, wasm_v128_and(best, valid));
          wasm_v128_store(sel + o + j, wasm_v128_or(wasm_v128_and(win, valid), wasm_v128_and(four, valid)));
          st(xw + o + j, wasm_v128_bitselect(xc, c0, valid));
        }
      }
    }
  }
}

/* dybn at the winner: dy·1 when valid, dy·0 otherwise (a non-finite dy stays non-finite, as in tfjs). */
static inline v128_t validFactor(v128_t s) {
  v128_t valid = wasm_i32x4_ne(wasm_v128_and(s, wasm_i32x4_splat(4)), wasm_i32x4_splat(0));
  return wasm_v128_and(valid, wasm_f32x4_splat(1.0f));
}

/*
 * Backward, step 1, over windows [w0, w1) (window = one (b, i, j) of the pooled output): per
 * channel Σdy·valid (out[0..c)) and Σdy·valid·xw (out[c..2c)). dy, sel, xw: [windows, c].
 * out: 2c doubles; acc: 2c floats of scratch.
 */
EXPORT(bn_pool_grad_sums)
void bn_pool_grad_sums(const f32 *dy, const i32 *sel, const f32 *xw, i32 w0, i32 w1, i32 c, double *out, f32 *acc) {
  double *tdy = out, *tdyxc = out + c;
  f32 *ady = acc, *adyxc = acc + c;
  for (i32 j = 0; j < c; j++) tdy[j] = tdyxc[j] = 0;
  for (i32 p0 = w0; p0 < w1; p0 += BLOCK) {
    i32 p1 = p0 + BLOCK < w1 ? p0 + BLOCK : w1;
    for (i32 j = 0; j < c; j += 4) {
      st(ady + j, wasm_f32x4_splat(0));
      st(adyxc + j, wasm_f32x4_splat(0));
    }
    for (i32 p = p0; p < p1; p++) {
      const long base = (long)p * c;
      for (i32 j = 0; j < c; j += 4) {
        v128_t g = wasm_f32x4_mul(ld(dy + base + j), validFactor(wasm_v128_load(sel + base + j)));
        st(ady + j, wasm_f32x4_add(ld(ady + j), g));
        st(adyxc + j, MADD(ld(adyxc + j), g, ld(xw + base + j)));
      }
    }
    for (i32 j = 0; j < c; j++) {
      tdy[j] += ady[j];
      tdyxc[j] += adyxc[j];
    }
  }
}

/*
 * Backward, step 2: from nparts partial bn_pool_grad_sums, dγ, dβ and the coefficients k, q, r
 * (coef: 3c floats) of dx; count = N, the positions per channel.
 */
EXPORT(bn_pool_grad_coefficients)
void bn_pool_grad_coefficients(const double *parts, i32 nparts, i32 c, i32 count, const f32 *invstd, const f32 *gamma,
                               f32 *dgamma, f32 *dbeta, f32 *coef) {
  f32 *k = coef, *q = coef + c, *r = coef + 2 * c;
  const f32 n = (f32)count;
  for (i32 j = 0; j < c; j++) {
    double tdy = 0, tdyxc = 0;
    for (i32 p = 0; p < nparts; p++) {
      tdy += parts[(long)p * 2 * c + j];
      tdyxc += parts[(long)p * 2 * c + c + j];
    }
    f32 sdy = (f32)tdy, sdyxc = (f32)tdyxc, inv = invstd[j];
    dbeta[j] = sdy;
    dgamma[j] = sdyxc * inv;
    k[j] = gamma[j] * inv;
    q[j] = (k[j] * (inv * inv) * sdyxc) / -n;
    r[j] = (k[j] * sdy) / -n;
  }
}

/*
 * Backward, step 3, over images [b0, b1): dx = (dybn·k + (x − μ)·q) + r, with dybn non-zero only at
 * each window's winner. dy, sel: [n, h/2, w/2, c]; x, dx: [n, h, w, c]; coef from step 2.
 */
EXPORT(bn_relu_pool2_dx)
void bn_relu_pool2_dx(const f32 *dy, const i32 *sel, const f32 *x, i32 b0, i32 b1, i32 h, i32 w, i32 c, const f32 *mean,
                      const f32 *coef, f32 *dx) {
  const i32 oh = h / 2, ow = w / 2;
  const f32 *k = coef, *q = coef + c, *r = coef + 2 * c;
  const v128_t three = wasm_i32x4_splat(3);
  for (i32 b = b0; b < b1; b++) {
    for (i32 hh = 0; hh < h; hh++) {
      const long rowBase = ((long)b * h + hh) * w * c;
      const i32 windowRow = hh >> 1;
      const i32 inRows = windowRow < oh;
      for (i32 ww = 0; ww < w; ww++) {
        const f32 *xp = x + rowBase + (long)ww * c;
        f32 *dxp = dx + rowBase + (long)ww * c;
        if (inRows && ww < 2 * ow) {
          const long wbase = (((long)b * oh + windowRow) * ow + (ww >> 1)) * c;
          const v128_t pos = wasm_i32x4_splat(((hh & 1) << 1) | (ww & 1));
          for (i32 j = 0; j < c; j += 4) {
            v128_t s = wasm_v128_load(sel + wbase + j);
            v128_t here = wasm_i32x4_eq(wasm_v128_and(s, three), pos);
            v128_t g = wasm_f32x4_mul(wasm_f32x4_mul(ld(dy + wbase + j), validFactor(s)), ld(k + j));
            v128_t t = wasm_f32x4_mul(wasm_f32x4_sub(ld(xp + j), ld(mean + j)), ld(q + j));
            t = wasm_f32x4_add(wasm_v128_and(g, here), t);
            st(dxp + j, wasm_f32x4_add(t, ld(r + j)));
          }
        } else {
          for (i32 j = 0; j < c; j += 4) {
            v128_t t = wasm_f32x4_mul(wasm_f32x4_sub(ld(xp + j), ld(mean + j)), ld(q + j));
            st(dxp + j, wasm_f32x4_add(t, ld(r + j)));
          }
        }
      }
    }
  }
}

/* xp[b, r, c] = x[b, r − top, c − left] (0 outside x) for images [b0, b1); x: [n, h, w, 1], xp: [n, hp, wp]. */
static void pad_c1(const f32 *x, i32 b0, i32 b1, i32 h, i32 w, i32 hp, i32 wp, i32 top, i32 left, f32 *xp) {
  for (i32 b = b0; b < b1; b++) {
    for (i32 r = 0; r < hp; r++) {
      const i32 sr = r - top;
      f32 *dst = xp + ((long)b * hp + r) * wp;
      if (sr < 0 || sr >= h) {
        for (i32 cidx = 0; cidx < wp; cidx++) dst[cidx] = 0;
        continue;
      }
      const f32 *src = x + ((long)b * h + sr) * w;
      for (i32 cidx = 0; cidx < wp; cidx++) {
        const i32 sc = cidx - left;
        dst[cidx] = sc >= 0 && sc < w ? src[sc] : 0;
      }
    }
  }
}

/*
 * Convolution with one input channel and at most 25 taps, plus bias, over images [b0, b1):
 * y[b, i, j, o] = bias[o] + Σ_t xp[b, i·sh + kh, j·sw + kw] · filter[t, o] (t = kh·fw + kw), xp the
 * zero-padded input (scratch, as in conv2d_filter_grad_c1). x: [n, h, w, 1]; filter: [fh, fw, 1, co];
 * y: [n, oh, ow, co]. The taps are summed in order, after the bias.
 */
EXPORT(conv2d_c1_forward)
void conv2d_c1_forward(const f32 *x, i32 b0, i32 b1, i32 h, i32 w, const f32 *filter, const f32 *bias, i32 oh, i32 ow,
                       i32 co, i32 fh, i32 fw, i32 sh, i32 sw, i32 top, i32 left, f32 *xp, f32 *y) {
  const i32 hp = (oh - 1) * sh + fh, wp = (ow - 1) * sw + fw;
  pad_c1(x, b0, b1, h, w, hp, wp, top, left, xp);
  for (i32 b = b0; b < b1; b++) {
    for (i32 i = 0; i < oh; i++) {
      const f32 *xrow = xp + ((long)b * hp + (long)i * sh) * wp;
      f32 *yq = y + ((long)b * oh + i) * ow * co;
      if (fh == 3 && fw == 3) {
        for (i32 j = 0; j < ow; j++, yq += co) {
          const f32 *xq = xrow + (long)j * sw;
          v128_t s0 = wasm_v128_load32_splat(xq), s1 = wasm_v128_load32_splat(xq + 1), s2 = wasm_v128_load32_splat(xq + 2);
          v128_t s3 = wasm_v128_load32_splat(xq + wp), s4 = wasm_v128_load32_splat(xq + wp + 1);
          v128_t s5 = wasm_v128_load32_splat(xq + wp + 2), s6 = wasm_v128_load32_splat(xq + 2 * wp);
          v128_t s7 = wasm_v128_load32_splat(xq + 2 * wp + 1), s8 = wasm_v128_load32_splat(xq + 2 * wp + 2);
          for (i32 cb = 0; cb < co; cb += 4) {
            const f32 *f = filter + cb;
            v128_t a = ld(bias + cb);
            a = MADD(a, s0, ld(f));
            a = MADD(a, s1, ld(f + co));
            a = MADD(a, s2, ld(f + 2 * co));
            a = MADD(a, s3, ld(f + 3 * co));
            a = MADD(a, s4, ld(f + 4 * co));
            a = MADD(a, s5, ld(f + 5 * co));
            a = MADD(a, s6, ld(f + 6 * co));
            a = MADD(a, s7, ld(f + 7 * co));
            a = MADD(a, s8, ld(f + 8 * co));
            st(yq + cb, a);
          }
        }
      } else {
        // Any other size (5×5 …): 8 channels per splat where they fit, taps in order after the bias.
        for (i32 j = 0; j < ow; j++, yq += co) {
          const f32 *xq = xrow + (long)j * sw;
          i32 cb = 0;
          for (; cb + 8 <= co; cb += 8) {
            v128_t a0 = ld(bias + cb), a1 = ld(bias + cb + 4);
            const f32 *f = filter + cb;
            for (i32 kh = 0; kh < fh; kh++) {
              const f32 *xr = xq + (long)kh * wp;
              for (i32 kw = 0; kw < fw; kw++, f += co) {
                v128_t sx = wasm_v128_load32_splat(xr + kw);
                a0 = MADD(a0, sx, ld(f));
                a1 = MADD(a1, sx, ld(f + 4));
              }
            }
            st(yq + cb, a0), st(yq + cb + 4, a1);
          }
          for (; cb < co; cb += 4) {
            v128_t a = ld(bias + cb);
            const f32 *f = filter + cb;
            for (i32 kh = 0; kh < fh; kh++) {
              const f32 *xr = xq + (long)kh * wp;
              for (i32 kw = 0; kw < fw; kw++, f += co) a = MADD(a, wasm_v128_load32_splat(xr + kw), ld(f));
            }
            st(yq + cb, a);
          }
        }
      }
    }
  }
}

/*
 * Filter and bias gradients of a convolution with one input channel (the first layer on grey
 * images) and at most 25 taps, over images [b0, b1):
 * out[t·co + o] = Σ_{b, i, j} xp[b, i·sh + kh, j·sw + kw] · dy[b, i, j, o] (t = kh·fw + kw < T = fh·fw) and
 * out[T·co + o] = Σ_{b, i, j} dy[b, i, j, o], with xp the input zero-padded by (top, left), written
 * here into xp (scratch of n·hp·wp floats, hp = (oh−1)·sh + fh, wp = (ow−1)·sw + fw; this call
 * writes its images only). The taps go in groups of 9 (the bias with the first): the group's
 * accumulators for a block of 4 output channels stay in registers over an output row; taps past T
 * in the last group accumulate into a junk row that is never read. Partial sums are float32 per
 * image (acc: (T + 2)·co floats of scratch) and double across images (out: (T + 1)·co doubles;
 * sum_parts turns the parts into dW[fh, fw, 1, co] and the bias gradient). x: [n, h, w, 1]; dy: [n, oh, ow, co].
 */
EXPORT(conv2d_filter_grad_c1)
void conv2d_filter_grad_c1(const f32 *x, i32 b0, i32 b1, i32 h, i32 w, const f32 *dy, i32 oh, i32 ow, i32 co, i32 fh,
                           i32 fw, i32 sh, i32 sw, i32 top, i32 left, f32 *xp, double *out, f32 *acc) {
  const i32 hp = (oh - 1) * sh + fh, wp = (ow - 1) * sw + fw;
  pad_c1(x, b0, b1, h, w, hp, wp, top, left, xp);
  const i32 taps = fh * fw, rows = taps + 1;
  f32 *junk = acc + (long)rows * co;
  for (i32 t = 0; t < rows * co; t++) out[t] = 0;
  for (i32 b = b0; b < b1; b++) {
    for (i32 t = 0; t < rows * co; t += 4) st(acc + t, wasm_f32x4_splat(0));
    for (i32 g = 0; g < taps; g += 9) {
      // Tap offsets in xp relative to a window's top-left corner, and where each tap accumulates.
#define C1_TAP(k)                                                                      \
  const i32 o##k = g + k < taps ? ((g + k) / fw) * wp + (g + k) % fw : 0;            \
  f32 *p##k = g + k < taps ? acc + (long)(g + k) * co : junk;
      C1_TAP(0) C1_TAP(1) C1_TAP(2) C1_TAP(3) C1_TAP(4) C1_TAP(5) C1_TAP(6) C1_TAP(7) C1_TAP(8)
#undef C1_TAP
      f32 *p9 = g == 0 ? acc + (long)taps * co : junk;
      for (i32 i = 0; i < oh; i++) {
        const f32 *xrow = xp + ((long)b * hp + (long)i * sh) * wp;
        const f32 *dyrow = dy + ((long)b * oh + i) * ow * co;
        for (i32 cb = 0; cb < co; cb += 4) {
          v128_t a0 = ld(p0 + cb), a1 = ld(p1 + cb), a2 = ld(p2 + cb), a3 = ld(p3 + cb), a4 = ld(p4 + cb);
          v128_t a5 = ld(p5 + cb), a6 = ld(p6 + cb), a7 = ld(p7 + cb), a8 = ld(p8 + cb), a9 = ld(p9 + cb);
          const f32 *xq = xrow;
          const f32 *dq = dyrow + cb;
          for (i32 j = 0; j < ow; j++, xq += sw, dq += co) {
            v128_t d = ld(dq);
            a0 = MADD(a0, wasm_v128_load32_splat(xq + o0), d);
            a1 = MADD(a1, wasm_v128_load32_splat(xq + o1), d);
            a2 = MADD(a2, wasm_v128_load32_splat(xq + o2), d);
            a3 = MADD(a3, wasm_v128_load32_splat(xq + o3), d);
            a4 = MADD(a4, wasm_v128_load32_splat(xq + o4), d);
            a5 = MADD(a5, wasm_v128_load32_splat(xq + o5), d);
            a6 = MADD(a6, wasm_v128_load32_splat(xq + o6), d);
            a7 = MADD(a7, wasm_v128_load32_splat(xq + o7), d);
            a8 = MADD(a8, wasm_v128_load32_splat(xq + o8), d);
            a9 = wasm_f32x4_add(a9, d);
          }
          st(p0 + cb, a0), st(p1 + cb, a1), st(p2 + cb, a2), st(p3 + cb, a3), st(p4 + cb, a4);
          st(p5 + cb, a5), st(p6 + cb, a6), st(p7 + cb, a7), st(p8 + cb, a8), st(p9 + cb, a9);
        }
      }
    }
    for (i32 t = 0; t < rows * co; t++) out[t] += acc[t];
  }
}

/* xp[b, r, c, :] = x[b, r − top, c − left, :] (0 outside x) for images [b0, b1); x: [n, h, w, ci], xp: [n, hp, wp, ci]. */
static void pad_nhwc(const f32 *x, i32 b0, i32 b1, i32 h, i32 w, i32 ci, i32 hp, i32 wp, i32 top, i32 left, f32 *xp) {
  for (i32 b = b0; b < b1; b++) {
    for (i32 r = 0; r < hp; r++) {
      const i32 sr = r - top;
      f32 *dst = xp + ((long)b * hp + r) * wp * ci;
      for (i32 cidx = 0; cidx < wp; cidx++, dst += ci) {
        const i32 sc = cidx - left;
        if (sr < 0 || sr >= h || sc < 0 || sc >= w) {
          for (i32 k = 0; k < ci; k += 4) st(dst + k, wasm_f32x4_splat(0));
        } else {
          const f32 *src = x + (((long)b * h + sr) * w + sc) * ci;
          for (i32 k = 0; k < ci; k += 4) st(dst + k, ld(src + k));
        }
      }
    }
  }
}

/*
 * Filter gradient of a convolution (dilation 1), c_in and c_out multiples of 4, over images
 * [b0, b1): out[(t·ci + c)·co + o] = Σ_{b, i, j} xp[b, i·sh + kh, j·sw + kw, c] · dy[b, i, j, o]
 * (t = kh·fw + kw), xp the zero-padded input (scratch of n·hp·wp·ci floats; this call writes its
 * images). A register block of 4 input × 8 output channels (4 × 4 at an odd tail) runs over one
 * image's positions (which stay in cache across the taps and blocks); partial sums are float32 per
 * image (acc: fh·fw·ci·co floats of scratch) and double across images (out: fh·fw·ci·co doubles).
 * x: [n, h, w, ci]; dy: [n, oh, ow, co].
 */
EXPORT(conv2d_filter_grad)
void conv2d_filter_grad(const f32 *x, i32 b0, i32 b1, i32 h, i32 w, i32 ci, const f32 *dy, i32 oh, i32 ow, i32 co,
                        i32 fh, i32 fw, i32 sh, i32 sw, i32 top, i32 left, f32 *xp, double *out, f32 *acc) {
  const i32 hp = (oh - 1) * sh + fh, wp = (ow - 1) * sw + fw;
  const i32 size = fh * fw * ci * co;
  const long xstep = (long)sw * ci;
  pad_nhwc(x, b0, b1, h, w, ci, hp, wp, top, left, xp);
  for (i32 t = 0; t < size; t++) out[t] = 0;
  for (i32 b = b0; b < b1; b++) {
    for (i32 t = 0; t < size; t += 4) st(acc + t, wasm_f32x4_splat(0));
    const f32 *xb = xp + (long)b * hp * wp * ci;
    const f32 *dyb = dy + (long)b * oh * ow * co;
    for (i32 kh = 0; kh < fh; kh++) {
      for (i32 kw = 0; kw < fw; kw++) {
        f32 *accT = acc + (long)(kh * fw + kw) * ci * co;
        for (i32 c = 0; c < ci; c += 4) {
          f32 *a = accT + (long)c * co;
          i32 o = 0;
          for (; o + 8 <= co; o += 8) {
            v128_t a0 = ld(a + o), a1 = ld(a + o + 4);
            v128_t a2 = ld(a + co + o), a3 = ld(a + co + o + 4);
            v128_t a4 = ld(a + 2 * co + o), a5 = ld(a + 2 * co + o + 4);
            v128_t a6 = ld(a + 3 * co + o), a7 = ld(a + 3 * co + o + 4);
            for (i32 i = 0; i < oh; i++) {
              const f32 *xr = xb + (((long)i * sh + kh) * wp + kw) * ci + c;
              const f32 *dr = dyb + (long)i * ow * co + o;
              for (i32 j = 0; j < ow; j++, xr += xstep, dr += co) {
                v128_t d0 = ld(dr), d1 = ld(dr + 4), s;
                s = wasm_v128_load32_splat(xr);
                a0 = MADD(a0, s, d0);
                a1 = MADD(a1, s, d1);
                s = wasm_v128_load32_splat(xr + 1);
                a2 = MADD(a2, s, d0);
                a3 = MADD(a3, s, d1);
                s = wasm_v128_load32_splat(xr + 2);
                a4 = MADD(a4, s, d0);
                a5 = MADD(a5, s, d1);
                s = wasm_v128_load32_splat(xr + 3);
                a6 = MADD(a6, s, d0);
                a7 = MADD(a7, s, d1);
              }
            }
            st(a + o, a0), st(a + o + 4, a1), st(a + co + o, a2), st(a + co + o + 4, a3);
            st(a + 2 * co + o, a4), st(a + 2 * co + o + 4, a5), st(a + 3 * co + o, a6), st(a + 3 * co + o + 4, a7);
          }
          for (; o < co; o += 4) {
            v128_t a0 = ld(a + o), a2 = ld(a + co + o), a4 = ld(a + 2 * co + o), a6 = ld(a + 3 * co + o);
            for (i32 i = 0; i < oh; i++) {
              const f32 *xr = xb + (((long)i * sh + kh) * wp + kw) * ci + c;
              const f32 *dr = dyb + (long)i * ow * co + o;
              for (i32 j = 0; j < ow; j++, xr += xstep, dr += co) {
                v128_t d0 = ld(dr);
                a0 = MADD(a0, wasm_v128_load32_splat(xr), d0);
                a2 = MADD(a2, wasm_v128_load32_splat(xr + 1), d0);
                a4 = MADD(a4, wasm_v128_load32_splat(xr + 2), d0);
                a6 = MADD(a6, wasm_v128_load32_splat(xr + 3), d0);
              }
            }
            st(a + o, a0), st(a + co + o, a2), st(a + 2 * co + o, a4), st(a + 3 * co + o, a6);
          }
        }
      }
    }
    for (i32 t = 0; t < size; t++) out[t] += acc[t];
  }
}

/*
 * Convolution (dilation 1), c_in a multiple of 4, c_out a multiple of 4, over images [b0, b1):
 * y[b, i, j, o] = bias[o] + Σ_{kh, kw, c} xp[b, i·sh + kh, j·sw + kw, c] · filter[kh, kw, c, o] (bias 0 = none), xp the
 * zero-padded input (scratch of n·hp·wp·ci floats; this call writes its images). A register block
 * of 4 output pixels × 8 output channels (4 at an odd tail; single pixels only in rows of < 4).
 * x: [n, h, w, ci]; filter: [fh, fw, ci, co]; y: [n, oh, ow, co].
 */
#define CONV_PIXELS4(NV)                                                                                   \
  for (i32 kh = 0; kh < fh; kh++) {                                                                        \
    for (i32 kw = 0; kw < fw; kw++) {                                                                      \
      const f32 *x0 = xb + (((long)i * sh + kh) * wp + (long)j * sw + kw) * ci;                            \
      const f32 *x1 = x0 + xstep, *x2 = x1 + xstep, *x3 = x2 + xstep;                                      \
      const f32 *f = filter + (long)(kh * fw + kw) * ci * co + o;                                          \
      for (i32 c = 0; c < ci; c++, f += co) {                                                              \
        v128_t w0 = ld(f), w1 = NV == 2 ? ld(f + 4) : w0, s;                                               \
        s = wasm_v128_load32_splat(x0 + c);                                                                \
        a00 = MADD(a00, s, w0);                                                  \
        if (NV == 2) a01 = MADD(a01, s, w1);                                     \
        s = wasm_v128_load32_splat(x1 + c);                                                                \
        a10 = MADD(a10, s, w0);                                                  \
        if (NV == 2) a11 = MADD(a11, s, w1);                                     \
        s = wasm_v128_load32_splat(x2 + c);                                                                \
        a20 = MADD(a20, s, w0);                                                  \
        if (NV == 2) a21 = MADD(a21, s, w1);                                     \
        s = wasm_v128_load32_splat(x3 + c);                                                                \
        a30 = MADD(a30, s, w0);                                                  \
        if (NV == 2) a31 = MADD(a31, s, w1);                                     \
      }                                                                                                    \
    }                                                                                                      \
  }

EXPORT(conv2d_direct)
void conv2d_direct(const f32 *x, i32 b0, i32 b1, i32 h, i32 w, i32 ci, const f32 *filter, const f32 *bias, i32 oh, i32 ow,
                   i32 co, i32 fh, i32 fw, i32 sh, i32 sw, i32 top, i32 left, f32 *xp, f32 *y) {
  const i32 hp = (oh - 1) * sh + fh, wp = (ow - 1) * sw + fw;
  const long xstep = (long)sw * ci;
  pad_nhwc(x, b0, b1, h, w, ci, hp, wp, top, left, xp);
  for (i32 b = b0; b < b1; b++) {
    const f32 *xb = xp + (long)b * hp * wp * ci;
    for (i32 i = 0; i < oh; i++) {
      f32 *yrow = y + ((long)b * oh + i) * ow * co;
      i32 j = 0;
      // Blocks of 4 pixels; when ow is not a multiple of 4 the last block overlaps the one before
      // (its pixels are computed twice, to the same values) rather than taking the slow 1-pixel path.
      for (; ow >= 4 && j < ow; j += 4) {
        if (j + 4 > ow) j = ow - 4;
        f32 *yq = yrow + (long)j * co;
        i32 o = 0;
        for (; o + 8 <= co; o += 8) {
          v128_t z = bias ? ld(bias + o) : wasm_f32x4_splat(0), z1 = bias ? ld(bias + o + 4) : wasm_f32x4_splat(0);
          v128_t a00 = z, a01 = z1, a10 = z, a11 = z1, a20 = z, a21 = z1, a30 = z, a31 = z1;
          CONV_PIXELS4(2)
          st(yq + o, a00), st(yq + o + 4, a01), st(yq + co + o, a10), st(yq + co + o + 4, a11);
          st(yq + 2 * co + o, a20), st(yq + 2 * co + o + 4, a21), st(yq + 3 * co + o, a30), st(yq + 3 * co + o + 4, a31);
        }
        for (; o < co; o += 4) {
          v128_t z = bias ? ld(bias + o) : wasm_f32x4_splat(0);
          v128_t a00 = z, a01 = z, a10 = z, a11 = z, a20 = z, a21 = z, a30 = z, a31 = z;
          CONV_PIXELS4(1)
          (void)a01, (void)a11, (void)a21, (void)a31;
          st(yq + o, a00), st(yq + co + o, a10), st(yq + 2 * co + o, a20), st(yq + 3 * co + o, a30);
        }
      }
      for (; j < ow; j++) {
        f32 *yq = yrow + (long)j * co;
        for (i32 o = 0; o < co; o += 4) {
          v128_t a = bias ? ld(bias + o) : wasm_f32x4_splat(0);
          for (i32 kh = 0; kh < fh; kh++) {
            for (i32 kw = 0; kw < fw; kw++) {
              const f32 *x0 = xb + (((long)i * sh + kh) * wp + (long)j * sw + kw) * ci;
              const f32 *f = filter + (long)(kh * fw + kw) * ci * co + o;
              for (i32 c = 0; c < ci; c++, f += co) a = MADD(a, wasm_v128_load32_splat(x0 + c), ld(f));
            }
          }
          st(yq + o, a);
        }
      }
    }
  }
}

/*
 * Inference passes over activations (evaluation runs them on batches of 1,000 images):
 *   scale_shift: y[p, j] = x[p, j]·a[j] + b[j] over positions [p0, p1), c % 4 = 0: batch norm with
 *                moving statistics folded into a, b; a multiply, then an add (the numbers of tfjs's
 *                Multiply then Add, which it replaces), in one pass instead of two.
 *   relu:        y[i] = x[i] ≤ 0 ? +0 : x[i] over [i0, i1) (NaN passes, −0 becomes +0, as tfjs's kernels).
 */
EXPORT(scale_shift)
void scale_shift(const f32 *x, i32 p0, i32 p1, i32 c, const f32 *a, const f32 *b, f32 *y) {
  for (long p = p0; p < p1; p++) {
    const f32 *xr = x + p * c;
    f32 *yr = y + p * c;
    for (i32 j = 0; j < c; j += 4) st(yr + j, wasm_f32x4_add(wasm_f32x4_mul(ld(xr + j), ld(a + j)), ld(b + j)));
  }
}

EXPORT(relu)
void relu(const f32 *x, i32 i0, i32 i1, f32 *y) {
  const v128_t zero = wasm_f32x4_splat(0);
  i32 i = i0;
  for (; i + 4 <= i1; i += 4) {
    v128_t v = ld(x + i);
    st(y + i, wasm_v128_andnot(v, wasm_f32x4_le(v, zero)));
  }
  for (; i < i1; i++) y[i] = x[i] <= 0 ? 0 : x[i];
}

/*
 * dst[r, j] = src[r, j] for j < min(cs, cd), 0 for the rest of j < cd, over rows [r0, r1): widens
 * channels to a multiple of 4 (zeros) for the kernels above, and narrows them back.
 */
EXPORT(copy_channels)
void copy_channels(const f32 *src, i32 r0, i32 r1, i32 cs, i32 cd, f32 *dst) {
  const i32 c = cs < cd ? cs : cd;
  for (long r = r0; r < r1; r++) {
    const f32 *s = src + r * cs;
    f32 *d = dst + r * cd;
    i32 j = 0;
    for (; j < c; j++) d[j] = s[j];
    for (; j < cd; j++) d[j] = 0;
  }
}

/* Winograd F(2×2, 3×3) and F(2×2, 5×5) convolutions (generated by winograd.py; ../fused.ts conv2dDirect). */
#include "winograd.h"

/*
 * Fully connected layers with few outputs (n ≤ 12, e.g. the 10 logits), three products:
 *   fc_forward:  y[r, o] = bias[o] + Σ_i a[r, i]·w[i, o]            (a: [rows, kin], w: [kin, n])
 *   fc_grad_wt:  wt[o, i] = Σ_r a[r, i]·dy[r, o]                     (the weight gradient, transposed: [12, kin])
 *   fc_grad_a:   da[r, i] = Σ_o dy[r, o]·wt[o, i]                    (wt = wᵀ: [n, kin])
 * Operands with n columns are first copied to 12 columns (zeros beyond n) by pad12, so that every
 * load is in bounds; kin is a multiple of 4 for the last two. Sums run in order over i, r or o.
 */
EXPORT(pad12)
void pad12(const f32 *src, i32 rows, i32 n, f32 *dst) {
  for (i32 r = 0; r < rows; r++)
    for (i32 o = 0; o < 12; o++) dst[(long)r * 12 + o] = o < n ? src[(long)r * n + o] : 0;
}

/* dst[c, r] = src[r, c] for rows [r0, r1) of src [rows, cols]. */
EXPORT(transpose)
void transpose(const f32 *src, i32 r0, i32 r1, i32 rows, i32 cols, f32 *dst) {
  for (i32 r = r0; r < r1; r++)
    for (i32 c = 0; c < cols; c++) dst[(long)c * rows + r] = src[(long)r * cols + c];
}

#define STORE_LANES(p, n, v0, v1, v2)                                                                      \
  do {                                                                                                     \
    if (n > 0) wasm_v128_store32_lane(p, v0, 0);                                                           \
    if (n > 1) wasm_v128_store32_lane(p + 1, v0, 1);                                                       \
    if (n > 2) wasm_v128_store32_lane(p + 2, v0, 2);                                                       \
    if (n > 3) wasm_v128_store32_lane(p + 3, v0, 3);                                                       \
    if (n > 4) wasm_v128_store32_lane(p + 4, v1, 0);                                                       \
    if (n > 5) wasm_v128_store32_lane(p + 5, v1, 1);                                                       \
    if (n > 6) wasm_v128_store32_lane(p + 6, v1, 2);                                                       \
    if (n > 7) wasm_v128_store32_lane(p + 7, v1, 3);                                                       \
    if (n > 8) wasm_v128_store32_lane(p + 8, v2, 0);                                                       \
    if (n > 9) wasm_v128_store32_lane(p + 9, v2, 1);                                                       \
    if (n > 10) wasm_v128_store32_lane(p + 10, v2, 2);                                                     \
    if (n > 11) wasm_v128_store32_lane(p + 11, v2, 3);                                                     \
  } while (0)

/* rows [r0, r1) of y [rows, n]; w12: w padded to [kin, 12]; bias12: 12 floats (zeros without bias). */
EXPORT(fc_forward)
void fc_forward(const f32 *a, i32 r0, i32 r1, i32 kin, const f32 *w12, const f32 *bias12, i32 n, f32 *y) {
  for (i32 r = r0; r < r1; r++) {
    const f32 *ar = a + (long)r * kin;
    v128_t y0 = ld(bias12), y1 = ld(bias12 + 4), y2 = ld(bias12 + 8);
    const f32 *wr = w12;
    for (i32 i = 0; i < kin; i++, wr += 12) {
      v128_t s = wasm_v128_load32_splat(ar + i);
      y0 = MADD(y0, s, ld(wr));
      y1 = MADD(y1, s, ld(wr + 4));
      y2 = MADD(y2, s, ld(wr + 8));
    }
    f32 *yr = y + (long)r * n;
    STORE_LANES(yr, n, y0, y1, y2);
  }
}

/* columns [i0, i1) (multiples of 4) of wt [12, kin]; a: [rows, kin]; dy12: dy padded to [rows, 12]. */
EXPORT(fc_grad_wt)
void fc_grad_wt(const f32 *a, i32 rows, i32 kin, const f32 *dy12, i32 i0, i32 i1, f32 *wt) {
  for (i32 i = i0; i < i1; i += 4) {
    v128_t z = wasm_f32x4_splat(0);
    v128_t c0 = z, c1 = z, c2 = z, c3 = z, c4 = z, c5 = z, c6 = z, c7 = z, c8 = z, c9 = z, c10 = z, c11 = z;
    const f32 *ap = a + i;
    const f32 *d = dy12;
    for (i32 r = 0; r < rows; r++, ap += kin, d += 12) {
      v128_t x = ld(ap);
      c0 = MADD(c0, x, wasm_v128_load32_splat(d));
      c1 = MADD(c1, x, wasm_v128_load32_splat(d + 1));
      c2 = MADD(c2, x, wasm_v128_load32_splat(d + 2));
      c3 = MADD(c3, x, wasm_v128_load32_splat(d + 3));
      c4 = MADD(c4, x, wasm_v128_load32_splat(d + 4));
      c5 = MADD(c5, x, wasm_v128_load32_splat(d + 5));
      c6 = MADD(c6, x, wasm_v128_load32_splat(d + 6));
      c7 = MADD(c7, x, wasm_v128_load32_splat(d + 7));
      c8 = MADD(c8, x, wasm_v128_load32_splat(d + 8));
      c9 = MADD(c9, x, wasm_v128_load32_splat(d + 9));
      c10 = MADD(c10, x, wasm_v128_load32_splat(d + 10));
      c11 = MADD(c11, x, wasm_v128_load32_splat(d + 11));
    }
    f32 *o = wt + i;
    st(o, c0), st(o + kin, c1), st(o + 2 * kin, c2), st(o + 3 * kin, c3), st(o + 4 * kin, c4), st(o + 5 * kin, c5);
    st(o + 6 * kin, c6), st(o + 7 * kin, c7), st(o + 8 * kin, c8), st(o + 9 * kin, c9), st(o + 10 * kin, c10);
    st(o + 11 * kin, c11);
  }
}

/* rows [r0, r1) of da [rows, kin]; dy: [rows, n]; wt: [n, kin]. */
EXPORT(fc_grad_a)
void fc_grad_a(const f32 *dy, i32 r0, i32 r1, i32 n, const f32 *wt, i32 kin, f32 *da) {
  for (i32 r = r0; r < r1; r++) {
    const f32 *d = dy + (long)r * n;
    f32 *out = da + (long)r * kin;
    for (i32 i = 0; i < kin; i += 4) {
      v128_t acc = wasm_f32x4_splat(0);
      const f32 *wp = wt + i;
      for (i32 o = 0; o < n; o++, wp += kin) acc = MADD(acc, wasm_v128_load32_splat(d + o), ld(wp));
      st(out + i, acc);
    }
  }
}
