// pool.cuh -- the per-element bodies of pool.cu, callable from the host and the device.
//
// Padding is never materialised: cells outside the input count as -inf for max pooling and
// are skipped by average pooling (whose divisor, computed by the reference entry point,
// already says how many cells each window counts). The padding given is the one applied:
// the declared padding plus ceil_mode's overhang (bottom / right are implied by H_out, W_out).
#pragma once
#include "common.cuh"

struct mc_pool_geometry {
    int n, c, h, w;             // input (N, C, H, W)
    int kh, kw, sh, sw;         // window, stride
    int pt, pl;                 // padding top / left
    int h_out, w_out;
};

// The maximum of the window of output e (flat index of (N, C, H_out, W_out)) and where it
// is: *where = yy*W + xx in its input plane, or -1 when the winner is padding. The first
// maximum in row-major window order wins ties (numpy's argmax, PyTorch).
template <typename T>
__host__ __device__ __forceinline__ T max_pool_element(const T *__restrict__ x,
                                                       mc_pool_geometry g, long long e,
                                                       int *where) {
    const int xo = (int)(e % g.w_out), y = (int)((e / g.w_out) % g.h_out);
    const long long nc = e / ((long long)g.w_out * g.h_out);
    const T *plane = x + nc * g.h * (long long)g.w;
    T best = mc_neg_inf<T>();
    int at = -1;
    bool first = true;
    for (int i = 0; i < g.kh; ++i) {
        const int yy = y * g.sh + i - g.pt;
        for (int j = 0; j < g.kw; ++j) {
            const int xx = xo * g.sw + j - g.pl;
            const bool inside = yy >= 0 && yy < g.h && xx >= 0 && xx < g.w;
            const T v = inside ? plane[yy * g.w + xx] : mc_neg_inf<T>();
            if (first || v > best) {
                best = v;
                at = inside ? yy * g.w + xx : -1;
                first = false;
            }
        }
    }
    *where = at;
    return best;
}

// The windows that contain input pixel (yy, xx), in the (i, j) order of functional.conv.col2im:
// visit(p) for each, p = y * W_out + x the window's index in its output plane. Window (y, x)
// covers yy when yy + p_t - i = y s_h for a kernel row i, so ys = yy + p_t - i must be a
// non-negative multiple of s_h below H_out s_h (the same for columns).
template <typename F>
__host__ __device__ __forceinline__ void for_windows_containing(mc_pool_geometry g, int yy,
                                                                int xx, F visit) {
    for (int i = 0; i < g.kh; ++i) {
        const int ys = yy + g.pt - i;
        if (ys < 0) break;
        if (ys % g.sh != 0 || ys / g.sh >= g.h_out) continue;
        for (int j = 0; j < g.kw; ++j) {
            const int xs = xx + g.pl - j;
            if (xs < 0) break;
            if (xs % g.sw != 0 || xs / g.sw >= g.w_out) continue;
            visit((ys / g.sh) * g.w_out + xs / g.sw);
        }
    }
}

// dx[n, c, yy, xx] (flat e of (N, C, H, W)): the sum of dout over the windows that contain
// this pixel and chose it as their arg-max.
template <typename T>
__host__ __device__ __forceinline__ T max_pool_backward_element(
        const T *__restrict__ dout, const int *__restrict__ argmax, mc_pool_geometry g,
        long long e) {
    const int xx = (int)(e % g.w), yy = (int)((e / g.w) % g.h);
    const long long nc = e / ((long long)g.w * g.h);
    const long long base = nc * g.h_out * (long long)g.w_out;
    const int me = yy * g.w + xx;
    T total = (T)0;
    for_windows_containing(g, yy, xx, [&](int p) {
        if (argmax[base + p] == me) total += dout[base + p];
    });
    return total;
}

// out[n, c, y, x] (flat e) = the sum of the window's input cells / divisor[y, x].
template <typename T>
__host__ __device__ __forceinline__ T avg_pool_element(const T *__restrict__ x,
                                                       const T *__restrict__ divisor,
                                                       mc_pool_geometry g, long long e) {
    const int xo = (int)(e % g.w_out), y = (int)((e / g.w_out) % g.h_out);
    const long long nc = e / ((long long)g.w_out * g.h_out);
    const T *plane = x + nc * g.h * (long long)g.w;
    T total = (T)0;
    for (int i = 0; i < g.kh; ++i) {
        const int yy = y * g.sh + i - g.pt;
        if (yy < 0 || yy >= g.h) continue;
        for (int j = 0; j < g.kw; ++j) {
            const int xx = xo * g.sw + j - g.pl;
            if (xx >= 0 && xx < g.w) total += plane[yy * g.w + xx];
        }
    }
    return total / divisor[y * g.w_out + xo];
}

// dx[n, c, yy, xx] (flat e): the sum of dout[y, x] / divisor[y, x] over the windows that
// contain the pixel.
template <typename T>
__host__ __device__ __forceinline__ T avg_pool_backward_element(
        const T *__restrict__ dout, const T *__restrict__ divisor, mc_pool_geometry g,
        long long e) {
    const int xx = (int)(e % g.w), yy = (int)((e / g.w) % g.h);
    const long long nc = e / ((long long)g.w * g.h);
    const long long base = nc * g.h_out * (long long)g.w_out;
    T total = (T)0;
    for_windows_containing(g, yy, xx, [&](int p) { total += dout[base + p] / divisor[p]; });
    return total;
}
