#!/usr/bin/python3
"""Writes winograd.h (included by fused.c): Winograd convolution kernels F(m×m, r×r) for output
tiles m = 2 and 4 and filters r = 3 and 5 (forward and input gradient), and F(r×r, m×m) for the
filter gradient, with their input, filter and output transforms.

Run `python3 winograd.py > winograd.h` (build.sh does not: the generated file is committed). Needs
sympy (Debian: python3-sympy) to solve for Bᵀ. The matrices are the Toom-Cook ones with
interpolation points 0, ±1, ±2, ±1/2 (as many as α = m + r − 1 needs) and ∞ (Lavin & Gray, "Fast
Algorithms for Convolutional Neural Networks", 2016); `check()` verifies every pair exactly (in
rationals) against a direct correlation before anything is written. Every transform is written out
as explicit sums (zero terms dropped, ±1 as add/sub), so the kernels need no constant tables: no
data segment, no shadow stack (build.sh checks).
"""
from fractions import Fraction as F
import random

def toom_cook(m, r, points):
    """Aᵀ (m × α), G (α × r), Bᵀ (α × α) of F(m, r), α = m + r − 1, for the finite interpolation
    points given (α − 1 of them) and ∞: Aᵀ and G by their closed forms, Bᵀ solved (exactly, sympy)
    from Σ_j Aᵀ[i][j]·G[j][k]·Bᵀ[j][l] = [l = i + k], the condition for a 1-D F(m, r)."""
    import sympy as sp

    n = m + r - 1
    assert len(points) == n - 1
    pts = [sp.Rational(F(p).numerator, F(p).denominator) for p in points]
    AT = [[p**i for p in pts] + [1 if i == m - 1 else 0] for i in range(m)]
    G = []
    for j, p in enumerate(pts):
        f = sp.Integer(1)
        for l, q in enumerate(pts):
            if l != j:
                f *= p - q
        G.append([p**k / f for k in range(r)])
    G.append([1 if k == r - 1 else 0 for k in range(r)])
    BT = sp.Matrix(n, n, lambda i, j: sp.Symbol(f"b{i}_{j}"))
    equations = [
        sum(AT[i][j] * G[j][k] * BT[j, l] for j in range(n)) - (1 if l == i + k else 0)
        for i in range(m)
        for k in range(r)
        for l in range(n)
    ]
    solution = sp.solve(equations, list(BT))
    BTv = [[sp.sympify(BT[i, j]).subs(solution) for j in range(n)] for i in range(n)]
    free = {s for row in BTv for v in row for s in sp.sympify(v).free_symbols}
    frac = lambda v: F(int(sp.fraction(v)[0]), int(sp.fraction(v)[1]))
    to = lambda M: [[frac(sp.nsimplify(sp.sympify(v).subs({s: 0 for s in free}))) for v in row] for row in M]
    return {"AT": to(AT), "G": to(G), "BT": to(BTv)}


# Points: 0, ±1, ±2 (and ±1/2 for α = 8), then ∞ (Lavin & Gray's choices for F(4, 3) and their analogues).
POINTS = {4: [0, 1, -1], 6: [0, 1, -1, 2, -2], 8: [0, 1, -1, 2, -2, F(1, 2), F(-1, 2)]}
# The (m, r) pairs built: output tiles m×m of r×r convolutions; the filter gradient uses F(r, m).
PAIRS = [(2, 3), (4, 3), (2, 5), (4, 5)]
MATRICES = {(m, r): toom_cook(m, r, POINTS[m + r - 1]) for m, r in PAIRS}
GRAD_MATRICES = {(m, r): toom_cook(r, m, POINTS[m + r - 1]) for m, r in PAIRS}


def check():
    """For each (m, r): Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A is the m×m correlation of d with g, and with the
    filter gradient's matrices the r×r correlation of d with an m×m tile e; exactly (rationals).
    Both use the same Bᵀ (the same points), so one input transform serves both."""
    mul = lambda X, Y: [[sum(F(X[i][k]) * F(Y[k][j]) for k in range(len(Y))) for j in range(len(Y[0]))] for i in range(len(X))]
    T = lambda X: [list(c) for c in zip(*X)]
    for (m, r), mats in MATRICES.items():
        a = m + r - 1
        AT, G, BT = mats["AT"], mats["G"], mats["BT"]
        assert GRAD_MATRICES[(m, r)]["BT"] == BT, (m, r)
        rnd = random.Random(m * 10 + r)
        d = [[F(rnd.randint(-9, 9)) for _ in range(a)] for _ in range(a)]
        g = [[F(rnd.randint(-9, 9)) for _ in range(r)] for _ in range(r)]
        U, V = mul(mul(G, g), T(G)), mul(mul(BT, d), T(BT))
        Y = mul(mul(AT, [[U[i][j] * V[i][j] for j in range(a)] for i in range(a)]), T(AT))
        ref = [[sum(d[i + p][j + q] * g[p][q] for p in range(r) for q in range(r)) for j in range(m)] for i in range(m)]
        assert Y == ref, (m, r)
        AT2, G2 = GRAD_MATRICES[(m, r)]["AT"], GRAD_MATRICES[(m, r)]["G"]
        e = [[F(rnd.randint(-9, 9)) for _ in range(m)] for _ in range(m)]
        U2 = mul(mul(G2, e), T(G2))
        W = mul(mul(AT2, [[U2[i][j] * V[i][j] for j in range(a)] for i in range(a)]), T(AT2))
        ref2 = [[sum(d[p + i][q + j] * e[i][j] for i in range(m) for j in range(m)) for q in range(r)] for p in range(r)]
        assert W == ref2, (m, r)


def lit(c):
    c = F(c)
    return f"{float(c.numerator)}f" if c.denominator == 1 else f"({float(c.numerator)}f / {float(c.denominator)}f)"


def combo(row, names):
    """C expression of Σ row[k]·names[k] over v128 values (zero terms dropped)."""
    expr = None
    for c, name in zip(row, names):
        c = F(c)
        if c == 0:
            continue
        if expr is None:
            expr = name if c == 1 else f"wasm_f32x4_neg({name})" if c == -1 else f"wasm_f32x4_mul(wasm_f32x4_splat({lit(c)}), {name})"
        elif c == 1:
            expr = f"wasm_f32x4_add({expr}, {name})"
        elif c == -1:
            expr = f"wasm_f32x4_sub({expr}, {name})"
        else:
            expr = f"MADD({expr}, wasm_f32x4_splat({lit(c)}), {name})"
    return expr or "wasm_f32x4_splat(0)"


def transform(M, src, dst, rows_in, cols_in, out_rows):
    """dst = M · src · Mᵀ over v128 variables src{i}_{j} ([rows_in × cols_in]) → dst{i}_{j} ([out_rows × out_rows])."""
    lines = []
    for i in range(out_rows):
        for j in range(cols_in):
            lines.append(f"  v128_t {dst}t{i}_{j} = {combo(M[i], [f'{src}{k}_{j}' for k in range(rows_in)])};")
    for i in range(out_rows):
        for j in range(out_rows):
            lines.append(f"  v128_t {dst}{i}_{j} = {combo(M[j], [f'{dst}t{i}_{k}' for k in range(cols_in)])};")
    return lines


def kernels(m, r):
    a = m + r - 1
    mats = MATRICES[(m, r)]
    n = f"{m}x{r}"  # name suffix
    out = []
    # filter transform
    out.append(f"""
/* F({m}×{m}, {r}×{r}): u[(ξ·{a} + ν)·ci·co + c·co + o] = (G g Gᵀ)[ξ][ν], g = filter[:, :, c, o] ({r}×{r}); filter [{r}, {r}, ci, co], co % 4 = 0. */
EXPORT(winograd{n}_filter)
void winograd{n}_filter(const f32 *filter, i32 ci, i32 co, f32 *u) {{
  const long plane = (long)ci * co;
  for (i32 c = 0; c < ci; c++) {{
    for (i32 o = 0; o < co; o += 4) {{
      const f32 *f = filter + (long)c * co + o;""")
    for kh in range(r):
        for kw in range(r):
            out.append(f"      v128_t g{kh}_{kw} = ld(f + {kh * r + kw} * plane);")
    out += ["    " + l for l in transform(mats["G"], "g", "w", r, r, a)]
    out.append("      f32 *dst = u + (long)c * co + o;")
    for i in range(a):
        for j in range(a):
            out.append(f"      st(dst + {i * a + j} * plane, w{i}_{j});")
    out.append("    }\n  }\n}")
    # input transform of one tile (4 channels)
    out.append(f"""
/* v[k·stride] = (Bᵀ d B)[k] for the {a}×{a} patch d at xq (row pitch `pitch` floats), 4 channels. */
static inline __attribute__((always_inline)) void winograd{n}_input(const f32 *xq, long pitch, long ci, f32 *v, long stride) {{""")
    for i in range(a):
        for j in range(a):
            out.append(f"  v128_t d{i}_{j} = ld(xq + {i} * pitch + {j} * ci);")
    out += transform(mats["BT"], "d", "e", a, a, a)
    for i in range(a):
        for j in range(a):
            out.append(f"  st(v + {i * a + j} * stride, e{i}_{j});")
    out.append("}")
    # output transform
    out.append(f"""
/* The {m}×{m} outputs Aᵀ M A (+ bias) of one tile, 4 channels: M[k] at mq + k·stride; rows/cols beyond (nr, nc) are not written. */
static inline __attribute__((always_inline)) void winograd{n}_output(const f32 *mq, long stride, v128_t bias, f32 *yq, long pitch, long co, i32 nr, i32 nc) {{""")
    for i in range(a):
        for j in range(a):
            out.append(f"  v128_t p{i}_{j} = ld(mq + {i * a + j} * stride);")
    out += transform(mats["AT"], "p", "q", a, a, m)
    for i in range(m):
        row = f"yq + {i} * pitch" if i else "yq"
        stores = [f"st({row}{f' + {j} * co' if j else ''}, wasm_f32x4_add(q{i}_{j}, bias));" for j in range(m)]
        body = "  " + stores[0] + "".join(f" if (nc > {j}) {{ {stores[j]}" for j in range(1, m)) + " }" * (m - 1)
        out.append(body if i == 0 else f"  if (nr > {i}) {{ {body.strip()} }}")
    out.append("}")
    # the convolution
    out.append(f"""
/*
 * Convolution {r}×{r}, stride 1, dilation 1, c_in and c_out multiples of 4, over images [b0, b1), by
 * Winograd F({m}×{m}, {r}×{r}): y[b, i, j, o] = bias[o] + Σ xp[b, i + kh, j + kw, c]·filter[kh, kw, c, o],
 * xp the input zero-padded by (top, left) (scratch xp: n·hp·wp·ci floats, hp = {m}·⌈oh/{m}⌉ + {r - 1},
 * wp = {m}·⌈ow/{m}⌉ + {r - 1}; this call writes its images). u: winograd{n}_filter of the filter. Per chunk
 * of WINO_TILES output tiles of {m}×{m}: the input transform into v ({a * a}·WINO_TILES·ci floats of
 * scratch), {a * a} products v[k]·u[k] into mt ({a * a}·WINO_TILES·co floats) with the 4 × 8 register
 * block of conv2d_direct, then the output transform into y. x: [n, h, w, ci]; y: [n, oh, ow, co].
 */
EXPORT(conv2d_winograd{n})
void conv2d_winograd{n}(const f32 *x, i32 b0, i32 b1, i32 h, i32 w, i32 ci, const f32 *u, const f32 *bias, i32 oh, i32 ow,
                       i32 co, i32 top, i32 left, f32 *xp, f32 *v, f32 *mt, f32 *y) {{
  const i32 th = (oh + {m - 1}) / {m}, tw = (ow + {m - 1}) / {m}, tiles = th * tw;
  const i32 hp = {m} * th + {r - 1}, wp = {m} * tw + {r - 1};
  const long vstride = (long)WINO_TILES * ci, mstride = (long)WINO_TILES * co;
  pad_nhwc(x, b0, b1, h, w, ci, hp, wp, top, left, xp);
  for (i32 b = b0; b < b1; b++) {{
    const f32 *xb = xp + (long)b * hp * wp * ci;
    f32 *yb = y + (long)b * oh * ow * co;
    for (i32 t0 = 0; t0 < tiles; t0 += WINO_TILES) {{
      const i32 nt = tiles - t0 < WINO_TILES ? tiles - t0 : WINO_TILES;
      const i32 nt4 = (nt + 3) & ~3;
      for (i32 t = 0; t < nt4; t++) {{
        f32 *vt = v + (long)t * ci;
        if (t >= nt) {{
          for (i32 k = 0; k < {a * a}; k++)
            for (i32 c = 0; c < ci; c += 4) st(vt + k * vstride + c, wasm_f32x4_splat(0));
          continue;
        }}
        const i32 ty = (t0 + t) / tw, tx = (t0 + t) % tw;
        const f32 *xq = xb + ((long)({m} * ty) * wp + {m} * tx) * ci;
        for (i32 c = 0; c < ci; c += 4) winograd{n}_input(xq + c, (long)wp * ci, ci, vt + c, vstride);
      }}
      for (i32 k = 0; k < {a * a}; k++) winograd_products(v + k * vstride, u + (long)k * ci * co, nt4, ci, co, mt + k * mstride);
      for (i32 t = 0; t < nt; t++) {{
        const i32 ty = (t0 + t) / tw, tx = (t0 + t) % tw;
        f32 *yq = yb + ((long)({m} * ty) * ow + {m} * tx) * co;
        const i32 nr = oh - {m} * ty < {m} ? oh - {m} * ty : {m}, nc = ow - {m} * tx < {m} ? ow - {m} * tx : {m};
        for (i32 o = 0; o < co; o += 4) {{
          const v128_t z = bias ? ld(bias + o) : wasm_f32x4_splat(0);
          winograd{n}_output(mt + (long)t * co + o, mstride, z, yq + o, (long)ow * co, co, nr, nc);
        }}
      }}
    }}
  }}
}}""")
    # filter gradient
    g2 = GRAD_MATRICES[(m, r)]
    out.append(f"""
/* dt[k·stride] = (G e Gᵀ)[k] for the {m}×{m} tile e of dy at dq (row pitch `pitch`; rows/cols past (nr, nc) read as 0), 4 channels. */
static inline __attribute__((always_inline)) void winograd{n}_dy(const f32 *dq, long pitch, long co, i32 nr, i32 nc, f32 *dt, long stride) {{
  const v128_t zero = wasm_f32x4_splat(0);""")
    for i in range(m):
        for j in range(m):
            at = "dq" + (f" + {i} * pitch" if i else "") + (f" + {j} * co" if j else "")
            out.append(f"  v128_t y{i}_{j} = nr > {i} && nc > {j} ? ld({at}) : zero;")
    out += transform(g2["G"], "y", "z", m, m, a)
    for i in range(a):
        for j in range(a):
            out.append(f"  st(dt + {i * a + j} * stride, z{i}_{j});")
    out.append("}")
    out.append(f"""
/*
 * Filter gradient of a {r}×{r} convolution, stride 1, dilation 1, c_in and c_out multiples of 4, over
 * images [b0, b1), by Winograd F({r}×{r}, {m}×{m}): dW[kh, kw, c, o] = Σ_b,i,j xp[b, i + kh, j + kw, c]·dy[b, i, j, o],
 * summed per {m}×{m} tile of dy in the transformed domain: m[k, c, o] = Σ_tiles v[k, tile, c]·dt[k, tile, o]
 * ({a * a} products per tile instead of {m * m * r * r}). xp as conv2d_winograd{n}'s (scratch; this call writes
 * its images); v: {a * a}·WINO_TILES·ci and dt: {a * a}·WINO_TILES·co floats of scratch; m: {a * a}·ci·co
 * floats, summed per image in float32, then across images into out ({a * a}·ci·co doubles).
 * filter_grad_winograd{n}_finish adds the parts and transforms back. x: [n, h, w, ci]; dy: [n, oh, ow, co].
 */
EXPORT(filter_grad_winograd{n})
void filter_grad_winograd{n}(const f32 *x, i32 b0, i32 b1, i32 h, i32 w, i32 ci, const f32 *dy, i32 oh, i32 ow, i32 co,
                             i32 top, i32 left, f32 *xp, f32 *v, f32 *dt, f32 *m, double *out) {{
  const i32 th = (oh + {m - 1}) / {m}, tw = (ow + {m - 1}) / {m}, tiles = th * tw;
  const i32 hp = {m} * th + {r - 1}, wp = {m} * tw + {r - 1};
  const long vstride = (long)WINO_TILES * ci, dstride = (long)WINO_TILES * co, size = (long){a * a} * ci * co;
  pad_nhwc(x, b0, b1, h, w, ci, hp, wp, top, left, xp);
  for (long t = 0; t < size; t++) out[t] = 0;
  for (i32 b = b0; b < b1; b++) {{
    const f32 *xb = xp + (long)b * hp * wp * ci;
    const f32 *dyb = dy + (long)b * oh * ow * co;
    for (long t = 0; t < size; t += 4) st(m + t, wasm_f32x4_splat(0));
    for (i32 t0 = 0; t0 < tiles; t0 += WINO_TILES) {{
      const i32 nt = tiles - t0 < WINO_TILES ? tiles - t0 : WINO_TILES;
      for (i32 t = 0; t < nt; t++) {{
        const i32 ty = (t0 + t) / tw, tx = (t0 + t) % tw;
        const f32 *xq = xb + ((long)({m} * ty) * wp + {m} * tx) * ci;
        for (i32 c = 0; c < ci; c += 4) winograd{n}_input(xq + c, (long)wp * ci, ci, v + (long)t * ci + c, vstride);
        const f32 *dq = dyb + ((long)({m} * ty) * ow + {m} * tx) * co;
        const i32 nr = oh - {m} * ty < {m} ? oh - {m} * ty : {m}, nc = ow - {m} * tx < {m} ? ow - {m} * tx : {m};
        for (i32 o = 0; o < co; o += 4) winograd{n}_dy(dq + o, (long)ow * co, co, nr, nc, dt + (long)t * co + o, dstride);
      }}
      for (i32 k = 0; k < {a * a}; k++) winograd_grad_products(v + k * vstride, dt + k * dstride, nt, ci, co, m + (long)k * ci * co);
    }}
    for (long t = 0; t < size; t++) out[t] += m[t];
  }}
}}

/* dW[kh, kw, c, o] (filter [{r}, {r}, ci, co]) = Aᵀ M A for M = Σ_parts out (nparts × {a * a}·ci·co doubles); m: {a * a}·ci·co floats of scratch. */
EXPORT(filter_grad_winograd{n}_finish)
void filter_grad_winograd{n}_finish(const double *parts, i32 nparts, i32 ci, i32 co, f32 *m, f32 *dw) {{
  const long size = (long){a * a} * ci * co, plane = (long)ci * co;
  for (long t = 0; t < size; t++) {{
    double sum = 0;
    for (i32 p = 0; p < nparts; p++) sum += parts[p * size + t];
    m[t] = (f32)sum;
  }}
  for (long t = 0; t < plane; t += 4) {{""")
    for i in range(a):
        for j in range(a):
            out.append(f"    v128_t p{i}_{j} = ld(m + {i * a + j} * plane + t);")
    out += ["  " + l for l in transform(g2["AT"], "p", "q", a, a, r)]
    for i in range(r):
        for j in range(r):
            out.append(f"    st(dw + {i * r + j} * plane + t, q{i}_{j});")
    out.append("  }\n}")
    return "\n".join(out)


def main():
    check()
    print("/* Generated by winograd.py (python3 winograd.py > winograd.h): do not edit. Included by fused.c. */")
    print("""
/* Output tiles per chunk (a multiple of 4): sizes the scratch (v, mt) and keeps it in cache. */
#define WINO_TILES 32

/*
 * mt[t·co + o] = Σ_c v[t·ci + c]·u[c·co + o] for t < nt (a multiple of 4), c_in and c_out multiples of
 * 4: a register block of 4 tiles × 8 output channels (4 at an odd tail), as conv2d_direct's.
 */
static void winograd_products(const f32 *v, const f32 *u, i32 nt, i32 ci, i32 co, f32 *mt) {
  for (i32 t = 0; t < nt; t += 4) {
    const f32 *v0 = v + (long)t * ci, *v1 = v0 + ci, *v2 = v1 + ci, *v3 = v2 + ci;
    f32 *m0 = mt + (long)t * co;
    i32 o = 0;
    for (; o + 8 <= co; o += 8) {
      v128_t z = wasm_f32x4_splat(0);
      v128_t a00 = z, a01 = z, a10 = z, a11 = z, a20 = z, a21 = z, a30 = z, a31 = z;
      const f32 *f = u + o;
      for (i32 c = 0; c < ci; c++, f += co) {
        v128_t w0 = ld(f), w1 = ld(f + 4), s;
        s = wasm_v128_load32_splat(v0 + c);
        a00 = MADD(a00, s, w0);
        a01 = MADD(a01, s, w1);
        s = wasm_v128_load32_splat(v1 + c);
        a10 = MADD(a10, s, w0);
        a11 = MADD(a11, s, w1);
        s = wasm_v128_load32_splat(v2 + c);
        a20 = MADD(a20, s, w0);
        a21 = MADD(a21, s, w1);
        s = wasm_v128_load32_splat(v3 + c);
        a30 = MADD(a30, s, w0);
        a31 = MADD(a31, s, w1);
      }
      st(m0 + o, a00), st(m0 + o + 4, a01), st(m0 + co + o, a10), st(m0 + co + o + 4, a11);
      st(m0 + 2 * co + o, a20), st(m0 + 2 * co + o + 4, a21), st(m0 + 3 * co + o, a30), st(m0 + 3 * co + o + 4, a31);
    }
    for (; o < co; o += 4) {
      v128_t z = wasm_f32x4_splat(0);
      v128_t a0 = z, a1 = z, a2 = z, a3 = z;
      const f32 *f = u + o;
      for (i32 c = 0; c < ci; c++, f += co) {
        v128_t w0 = ld(f);
        a0 = MADD(a0, wasm_v128_load32_splat(v0 + c), w0);
        a1 = MADD(a1, wasm_v128_load32_splat(v1 + c), w0);
        a2 = MADD(a2, wasm_v128_load32_splat(v2 + c), w0);
        a3 = MADD(a3, wasm_v128_load32_splat(v3 + c), w0);
      }
      st(m0 + o, a0), st(m0 + co + o, a1), st(m0 + 2 * co + o, a2), st(m0 + 3 * co + o, a3);
    }
  }
}

/*
 * m[c·co + o] += Σ_{t < nt} v[t·ci + c]·dt[t·co + o], c_in and c_out multiples of 4: a register block
 * of 4 input × 8 output channels (4 at an odd tail) over the tiles, as conv2d_filter_grad's.
 */
static void winograd_grad_products(const f32 *v, const f32 *dt, i32 nt, i32 ci, i32 co, f32 *m) {
  for (i32 c = 0; c < ci; c += 4) {
    f32 *a = m + (long)c * co;
    i32 o = 0;
    for (; o + 8 <= co; o += 8) {
      v128_t a0 = ld(a + o), a1 = ld(a + o + 4), a2 = ld(a + co + o), a3 = ld(a + co + o + 4);
      v128_t a4 = ld(a + 2 * co + o), a5 = ld(a + 2 * co + o + 4), a6 = ld(a + 3 * co + o), a7 = ld(a + 3 * co + o + 4);
      const f32 *vr = v + c, *dr = dt + o;
      for (i32 t = 0; t < nt; t++, vr += ci, dr += co) {
        v128_t d0 = ld(dr), d1 = ld(dr + 4), s;
        s = wasm_v128_load32_splat(vr);
        a0 = MADD(a0, s, d0);
        a1 = MADD(a1, s, d1);
        s = wasm_v128_load32_splat(vr + 1);
        a2 = MADD(a2, s, d0);
        a3 = MADD(a3, s, d1);
        s = wasm_v128_load32_splat(vr + 2);
        a4 = MADD(a4, s, d0);
        a5 = MADD(a5, s, d1);
        s = wasm_v128_load32_splat(vr + 3);
        a6 = MADD(a6, s, d0);
        a7 = MADD(a7, s, d1);
      }
      st(a + o, a0), st(a + o + 4, a1), st(a + co + o, a2), st(a + co + o + 4, a3);
      st(a + 2 * co + o, a4), st(a + 2 * co + o + 4, a5), st(a + 3 * co + o, a6), st(a + 3 * co + o + 4, a7);
    }
    for (; o < co; o += 4) {
      v128_t a0 = ld(a + o), a2 = ld(a + co + o), a4 = ld(a + 2 * co + o), a6 = ld(a + 3 * co + o);
      const f32 *vr = v + c, *dr = dt + o;
      for (i32 t = 0; t < nt; t++, vr += ci, dr += co) {
        v128_t d0 = ld(dr);
        a0 = MADD(a0, wasm_v128_load32_splat(vr), d0);
        a2 = MADD(a2, wasm_v128_load32_splat(vr + 1), d0);
        a4 = MADD(a4, wasm_v128_load32_splat(vr + 2), d0);
        a6 = MADD(a6, wasm_v128_load32_splat(vr + 3), d0);
      }
      st(a + o, a0), st(a + co + o, a2), st(a + 2 * co + o, a4), st(a + 3 * co + o, a6);
    }
  }
}""")
    for m, r in PAIRS:
        print(kernels(m, r))


if __name__ == "__main__":
    main()
