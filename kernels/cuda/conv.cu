// conv.cu -- im2col / col2im over a chunk of samples, and rows <-> NCHW with the bias and
// the optional ReLU as epilogue: the CUDA twins of kernels/conv.py (plain layout, no wide
// rows), launched by kernels/cuda_ops.Conv2dCuPy. See common.cuh for the launch rules (any
// grid works; every sum is gathered by the one thread that writes it) and conv.cuh for the
// per-element bodies. Name expressions: "im2col<float>", "im2col<double>", and so on.
//
// The convolution they serve, per group g (K = C/g kh kw, L = H_out W_out):
//     out_g (O/g, N L) = W_g (O/g, K) @ cols_g (K, N L)        (cuBLAS, in cuda_ops.py)
//     dW_g = dOut_g @ cols_g^T,   dcols_g = W_g^T @ dOut_g  -> col2im -> dx
#include "conv.cuh"

// cols (C kh kw, N L) of x (N, C, H, W), zero where a window reaches into the padding.
// Reference twin: functional.conv.im2col (the batch moved into the column index).
//     for c, i, j, n, y, x:
//         cols[(c*kh + i)*kw + j, n*L + y*W_out + x] =
//             x[n, c, y*s_h + i*d_h - p_t, x*s_w + j*d_w - p_l]   (0 if outside)
template <typename T>
__global__ void im2col(const T *__restrict__ x, T *__restrict__ cols, int n, int c, int h,
                       int w, int kh, int kw, int sh, int sw, int pt, int pl, int dh, int dw,
                       int h_out, int w_out) {
    const mc_conv_geometry g = {n, c, h, w, kh, kw, sh, sw, pt, pl, dh, dw, h_out, w_out};
    const long long total = (long long)c * kh * kw * n * h_out * w_out;
    MC_GRID_STRIDE_LOOP(e, total) cols[e] = im2col_element(x, g, e);
}

// dx (N, C, H, W) = the adjoint of im2col (same arguments), one thread per input pixel
// summing the column entries that map to it (gather form: no atomics, no zeroing pass;
// entries that fall in the padding are never read). Reference twin: functional.conv.col2im.
//     dx = 0
//     for n, c, i, j, y, x:  dx[n, c, y*s_h + i*d_h - p_t, x*s_w + j*d_w - p_l] +=
//                                cols[(c*kh + i)*kw + j, n*L + y*W_out + x]   (if inside)
template <typename T>
__global__ void col2im(const T *__restrict__ cols, T *__restrict__ dx, int n, int c, int h,
                       int w, int kh, int kw, int sh, int sw, int pt, int pl, int dh, int dw,
                       int h_out, int w_out) {
    const mc_conv_geometry g = {n, c, h, w, kh, kw, sh, sw, pt, pl, dh, dw, h_out, w_out};
    const long long total = (long long)n * c * h * w;
    MC_GRID_STRIDE_LOOP(e, total) dx[e] = col2im_element(cols, g, e);
}

// out (N, O, H_out, W_out) from the product rows (O, N L), plus the bias (has_bias) and
// clipped at 0 when relu = 1 (the fused Conv2dReLU).
//     for n, o, p:  z = rows[o, n*L + p] + b[o];  out[n, o, p] = relu ? z [z > 0] : z
// Reference twin: the reshape and ``out += b`` of functional.conv.Conv2d.forward (and
// Conv2dReLU's ``z * positive``).
template <typename T>
__global__ void rows_to_nchw(const T *__restrict__ rows, const T *__restrict__ bias,
                             T *__restrict__ out, int n, int o, int plane, int has_bias,
                             int relu) {
    const long long total = (long long)n * o * plane;
    MC_GRID_STRIDE_LOOP(e, total)
        out[e] = rows_to_nchw_element(rows, bias, n, o, (long long)plane, has_bias, relu, e);
}

// rows (O, N L) from dout (N, O, H_out, W_out), masked by [y > 0] (y the forward output)
// when relu = 1.
//     for o, n, p:  rows[o, n*L + p] = dout[n, o, p] * [y[n, o, p] > 0]   (or dout[n, o, p])
// Reference twin: ``dout.reshape`` in Conv2d.backward (after Conv2dReLU's dout * positive).
template <typename T>
__global__ void nchw_to_rows(const T *__restrict__ dout, const T *__restrict__ y,
                             T *__restrict__ rows, int n, int o, int plane, int relu) {
    const long long total = (long long)n * o * plane;
    MC_GRID_STRIDE_LOOP(e, total)
        rows[e] = nchw_to_rows_element(dout, y, n, o, (long long)plane, relu, e);
}
