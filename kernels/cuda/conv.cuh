// conv.cuh -- the per-element bodies of conv.cu (one output element each), callable from
// the host and the device.
//
// Layout ("rows", the whole chunk of samples side by side, as kernels/conv.py):
//     cols (C kh kw, N L)      L = H_out W_out columns per sample
//     cols[(c*kh + i)*kw + j, n*L + y*W_out + x] = x[n, c, y*s_h + i*d_h - p_t,
//                                                       x*s_w + j*d_w - p_l]   (0 outside)
#pragma once
#include "common.cuh"

// The geometry of a convolution, passed by value to the element bodies.
struct mc_conv_geometry {
    int n, c, h, w;             // input (N, C, H, W)
    int kh, kw, sh, sw;         // kernel, stride
    int pt, pl, dh, dw;         // padding top / left (bottom / right implied by H_out), dilation
    int h_out, w_out;
};

// cols[r, q] for the flat index e = r * (N L) + q of cols (C kh kw, N L).
template <typename T>
__host__ __device__ __forceinline__ T im2col_element(const T *__restrict__ x,
                                                     mc_conv_geometry g, long long e) {
    const long long plane = (long long)g.h_out * g.w_out;          // L
    const long long width = plane * g.n;                            // N L
    const long long r = e / width, q = e % width;
    const int j = (int)(r % g.kw), i = (int)((r / g.kw) % g.kh), ci = (int)(r / (g.kw * g.kh));
    const long long b = q / plane, p = q % plane;
    const int y = (int)(p / g.w_out), xo = (int)(p % g.w_out);
    const int yy = y * g.sh + i * g.dh - g.pt, xx = xo * g.sw + j * g.dw - g.pl;
    if (yy < 0 || yy >= g.h || xx < 0 || xx >= g.w) return (T)0;   // the padding
    return x[((b * g.c + ci) * g.h + yy) * (long long)g.w + xx];
}

// dx[n, c, yy, xx] for the flat index e of dx (N, C, H, W): the sum of the column entries
// that im2col copied from this pixel, in (i, j) order as functional.conv.col2im adds them.
template <typename T>
__host__ __device__ __forceinline__ T col2im_element(const T *__restrict__ cols,
                                                     mc_conv_geometry g, long long e) {
    const long long plane = (long long)g.h_out * g.w_out;
    const long long width = plane * g.n;
    const int xx = (int)(e % g.w), yy = (int)((e / g.w) % g.h);
    const long long nc = e / ((long long)g.w * g.h);
    const int ci = (int)(nc % g.c);
    const long long b = nc / g.c;
    T total = (T)0;
    for (int i = 0; i < g.kh; ++i) {
        const int ys = yy + g.pt - i * g.dh;         // = y * s_h for the window row y
        if (ys < 0) break;
        if (ys % g.sh != 0 || ys / g.sh >= g.h_out) continue;
        const int y = ys / g.sh;
        for (int j = 0; j < g.kw; ++j) {
            const int xs = xx + g.pl - j * g.dw;
            if (xs < 0) break;
            if (xs % g.sw != 0 || xs / g.sw >= g.w_out) continue;
            const long long r = ((long long)ci * g.kh + i) * g.kw + j;
            total += cols[r * width + b * plane + (long long)y * g.w_out + xs / g.sw];
        }
    }
    return total;
}

// out[n, o, p] (flat e of (N, O, L)) = relu?(rows[o, n*L + p] + bias[o]).
template <typename T>
__host__ __device__ __forceinline__ T rows_to_nchw_element(
        const T *__restrict__ rows, const T *__restrict__ bias, int n, int o, long long plane,
        int has_bias, int relu, long long e) {
    const long long p = e % plane, no = e / plane;
    const long long oc = no % o, b = no / o;
    T z = rows[oc * (plane * n) + b * plane + p];
    if (has_bias) z += bias[oc];
    return relu ? mc_relu(z) : z;
}

// rows[o, n*L + p] (flat e of (O, N L)) = dout[n, o, p] * [y[n, o, p] > 0] (mask if relu).
template <typename T>
__host__ __device__ __forceinline__ T nchw_to_rows_element(
        const T *__restrict__ dout, const T *__restrict__ y, int n, int o, long long plane,
        int relu, long long e) {
    const long long width = plane * n;
    const long long oc = e / width, q = e % width;
    const long long b = q / plane, p = q % plane;
    const long long src = (b * o + oc) * plane + p;
    const T d = dout[src];
    return relu ? d * (T)(y[src] > (T)0) : d;
}
