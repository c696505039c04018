// Linear algebra: matrix product on BLAS (with transpose flags, so backward needs no copies) and transpose.
#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"

#include <cblas.h>

namespace autodiff {

namespace {
Array gemm(const Array& a, const Array& b, bool ta, bool tb) {
  const auto m = static_cast<int>(ta ? a.shape()[1] : a.shape()[0]);
  const auto k = static_cast<int>(ta ? a.shape()[0] : a.shape()[1]);
  const auto n = static_cast<int>(tb ? b.shape()[0] : b.shape()[1]);
  Array c(Shape{m, n}, a.dtype());
  if (m == 0 || n == 0) return c;
  if (k == 0) {
    c.fill(0.0);
    return c;
  }
  if (k == 1) {
    // Outer product (dW for a batch of one): a plain loop beats sgemm's separate zeroing pass.
    dispatch(a.dtype(), [&]<class T>(T) {
      const T* pa = a.data<T>();
      const T* pb = b.data<T>();
      T* pc = c.data<T>();
      for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) pc[i * n + j] = pa[i] * pb[j];
    });
    return c;
  }
  const auto lda = static_cast<int>(a.shape()[1]), ldb = static_cast<int>(b.shape()[1]);
  if (m == 1) {
    // A row vector times a matrix: gemv skips gemm's packing (about 3x faster at 1x784x16).
    // c = op(B)^T a, so B is transposed for gemv exactly when it is not transposed in the product.
    const CBLAS_TRANSPOSE tr = tb ? CblasNoTrans : CblasTrans;
    const int rows = static_cast<int>(b.shape()[0]), cols = static_cast<int>(b.shape()[1]);
    const int inc_a = ta ? lda : 1;
    if (a.dtype() == Dtype::f32)
      cblas_sgemv(CblasRowMajor, tr, rows, cols, 1.0f, b.data<float>(), ldb, a.data<float>(), inc_a, 0.0f, c.data<float>(), 1);
    else
      cblas_dgemv(CblasRowMajor, tr, rows, cols, 1.0, b.data<double>(), ldb, a.data<double>(), inc_a, 0.0, c.data<double>(), 1);
    return c;
  }
  const CBLAS_TRANSPOSE tra = ta ? CblasTrans : CblasNoTrans, trb = tb ? CblasTrans : CblasNoTrans;
  if (a.dtype() == Dtype::f32)
    cblas_sgemm(CblasRowMajor, tra, trb, m, n, k, 1.0f, a.data<float>(), lda, b.data<float>(), ldb, 0.0f, c.data<float>(), n);
  else
    cblas_dgemm(CblasRowMajor, tra, trb, m, n, k, 1.0, a.data<double>(), lda, b.data<double>(), ldb, 0.0, c.data<double>(), n);
  return c;
}
}  // namespace

/// forward:  C = op(A) op(B), op = transpose when its flag is set: [m,k] x [k,n] -> [m,n]
/// backward: dA += grad op(B)^T (or op(B) grad^T when A is transposed), dB += op(A)^T grad (or grad^T op(A))
Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb, Site site) {
  check_matmul("matmul", a, b, ta, tb);
  return make_op("matmul", gemm(a.value(), b.value(), ta, tb), {a, b},
                 [a, b, ta, tb](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   if (dx[0].wanted()) dx[0] += ta ? matmul(b, grad, tb, true) : matmul(grad, b, false, !tb);
                   if (dx[1].wanted()) dx[1] += tb ? matmul(grad, a, true, ta) : matmul(a, grad, !ta, false);
                 }, site);
}

Tensor matmul(const Tensor& a, const Tensor& b, Site site) { return matmul(a, b, false, false, site); }

/// forward:  x^T for a 2-D x (a copy)
/// backward: dx += transpose(grad)
Tensor transpose(const Tensor& x, Site site) {
  check_rank("transpose", "input", x, 2);
  const Array& v = x.value();
  const std::int64_t r = v.shape()[0], c = v.shape()[1];
  Array out(Shape{c, r}, v.dtype());
  dispatch_all(v.dtype(), [&]<class T>(T) {
    const T* pv = v.data<T>();
    T* po = out.data<T>();
    for (std::int64_t i = 0; i < r; ++i)
      for (std::int64_t j = 0; j < c; ++j) po[j * r + i] = pv[i * c + j];
  });
  return make_op("transpose", std::move(out), {x},
                 [](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += transpose(grad); }, site);
}

}  // namespace autodiff
