// pool.cu -- max and average pooling forward and backward: the CUDA twins of
// kernels/pool.py, launched by kernels/cuda_ops.MaxPool2dCuPy / AvgPool2dCuPy. One thread
// per output element forward and per input element backward (gather form: no atomics).
// See common.cuh for the launch rules and pool.cuh for the per-element bodies.
//
// Arguments shared by all four: n, c, h, w of the input; kh, kw, sh, sw of the window and
// stride; pt, pl the applied padding at the top and left; h_out, w_out of the output.
#include "pool.cuh"

// out (N, C, H_out, W_out) and argmax (int32, same shape: the flat index yy*W + xx of the
// winner in its plane, -1 for padding; written only when with_argmax = 1).
// Reference twin: functional.pool.MaxPool2d.forward (im2col with -inf, first argmax).
//     for n, c, y, x:
//         best, where = None, -1
//         for i, j:  yy, xx = y*s_h + i - p_t, x*s_w + j - p_l
//                    v = x[n, c, yy, xx] if inside else -inf
//                    if best is None or v > best: best, where = v, yy*W + xx (or -1)
//         out[n, c, y, x], argmax[n, c, y, x] = best, where
template <typename T>
__global__ void max_pool2d_forward(const T *__restrict__ x, T *__restrict__ out,
                                   int *__restrict__ argmax, int n, int c, int h, int w,
                                   int kh, int kw, int sh, int sw, int pt, int pl, int h_out,
                                   int w_out, int with_argmax) {
    const mc_pool_geometry g = {n, c, h, w, kh, kw, sh, sw, pt, pl, h_out, w_out};
    const long long total = (long long)n * c * h_out * w_out;
    MC_GRID_STRIDE_LOOP(e, total) {
        int where;
        out[e] = max_pool_element(x, g, e, &where);
        if (with_argmax) argmax[e] = where;
    }
}

// dx (N, C, H, W): each input pixel gathers dout from the windows that contain it and whose
// argmax names it. Reference twin: functional.pool.MaxPool2d.backward.
//     dx = 0
//     for n, c, y, x:  if argmax[n, c, y, x] >= 0: dx[n, c].flat[argmax] += dout[n, c, y, x]
template <typename T>
__global__ void max_pool2d_backward(const T *__restrict__ dout, const int *__restrict__ argmax,
                                    T *__restrict__ dx, int n, int c, int h, int w, int kh,
                                    int kw, int sh, int sw, int pt, int pl, int h_out,
                                    int w_out) {
    const mc_pool_geometry g = {n, c, h, w, kh, kw, sh, sw, pt, pl, h_out, w_out};
    const long long total = (long long)n * c * h * w;
    MC_GRID_STRIDE_LOOP(e, total) dx[e] = max_pool_backward_element(dout, argmax, g, e);
}

// out (N, C, H_out, W_out) = the sum of each window's input cells / divisor (H_out, W_out).
// Reference twin: functional.pool.AvgPool2d.forward.
//     for n, c, y, x:
//         out[n, c, y, x] = sum_{i, j inside} x[n, c, y*s_h + i - p_t, x*s_w + j - p_l]
//                           / divisor[y, x]
template <typename T>
__global__ void avg_pool2d_forward(const T *__restrict__ x, const T *__restrict__ divisor,
                                   T *__restrict__ out, int n, int c, int h, int w, int kh,
                                   int kw, int sh, int sw, int pt, int pl, int h_out,
                                   int w_out) {
    const mc_pool_geometry g = {n, c, h, w, kh, kw, sh, sw, pt, pl, h_out, w_out};
    const long long total = (long long)n * c * h_out * w_out;
    MC_GRID_STRIDE_LOOP(e, total) out[e] = avg_pool_element(x, divisor, g, e);
}

// dx (N, C, H, W): every input cell gathers dout / divisor from the windows containing it.
// Reference twin: functional.pool.AvgPool2d.backward.
//     dx = 0
//     for n, c, y, x, i, j inside:
//         dx[n, c, y*s_h + i - p_t, x*s_w + j - p_l] += dout[n, c, y, x] / divisor[y, x]
template <typename T>
__global__ void avg_pool2d_backward(const T *__restrict__ dout, const T *__restrict__ divisor,
                                    T *__restrict__ dx, int n, int c, int h, int w, int kh,
                                    int kw, int sh, int sw, int pt, int pl, int h_out,
                                    int w_out) {
    const mc_pool_geometry g = {n, c, h, w, kh, kw, sh, sw, pt, pl, h_out, w_out};
    const long long total = (long long)n * c * h * w;
    MC_GRID_STRIDE_LOOP(e, total) dx[e] = avg_pool_backward_element(dout, divisor, g, e);
}
