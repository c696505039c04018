// Linear algebra on BLAS: matmul for any rank (batches broadcast, transpose flags so backward needs no copies), bmm,
// dot, outer, and the 2-D transpose.
#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"

#include <cblas.h>
#include <fmt/format.h>

#include <array>
#include <limits>
#include <span>
#include <stdexcept>
#include <type_traits>

namespace autodiff {

namespace {

/// One product C = op(A) op(B) of row-major matrices, [m,k] x [k,n] -> [m,n]; lda and ldb are the stored row lengths.
/// With `accumulate`, C += op(A) op(B) onto what C holds (BLAS beta = 1: addmm's bias costs no separate pass).
template <class T>
void gemm_one(const T* a, const T* b, T* c, int m, int n, int k, bool ta, bool tb, int lda, int ldb,
              bool accumulate = false) {
  if (m == 0 || n == 0) return;
  const T beta = accumulate ? T(1) : T(0);
  if (k == 0) {
    if (!accumulate)
      for (std::int64_t i = 0; i < std::int64_t{m} * n; ++i) c[i] = 0;
    return;
  }
  if (k == 1) {
    // Outer product (dW for a batch of one): a plain loop beats sgemm's separate zeroing pass. With k = 1 element i of
    // op(A)'s column and j of op(B)'s row sit at a[i] and b[j] whatever the flags.
    // Without `accumulate`, C is not read: it may hold anything (a pooled buffer), and 0 * NaN is NaN.
    for (int i = 0; i < m; ++i)
      for (int j = 0; j < n; ++j) {
        T& out = c[std::int64_t{i} * n + j];
        out = accumulate ? out + a[i] * b[j] : a[i] * b[j];
      }
    return;
  }
  if (m == 1 || n == 1) {
    // A row vector times a matrix, or a matrix times a column: gemv skips gemm's packing (about 3x faster at 1x784x16).
    // m = 1: c = op(B)^T a, so B goes to gemv transposed exactly when it is not transposed in the product.
    // n = 1: c = op(A) b, and b's k elements are contiguous whatever tb says.
    const bool row = m == 1;
    const T* mat = row ? b : a;
    const T* vec = row ? a : b;
    const bool trans = row ? !tb : ta;
    const int rows = row ? (tb ? n : k) : (ta ? k : m), cols = row ? (tb ? k : n) : (ta ? m : k);
    const int inc = row && ta ? lda : 1;
    const CBLAS_TRANSPOSE tr = trans ? CblasTrans : CblasNoTrans;
    if constexpr (std::is_same_v<T, float>)
      cblas_sgemv(CblasRowMajor, tr, rows, cols, 1.0f, mat, row ? ldb : lda, vec, inc, beta, c, 1);
    else
      cblas_dgemv(CblasRowMajor, tr, rows, cols, 1.0, mat, row ? ldb : lda, vec, inc, beta, c, 1);
    return;
  }
  const CBLAS_TRANSPOSE tra = ta ? CblasTrans : CblasNoTrans, trb = tb ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, tra, trb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, n);
  else
    cblas_dgemm(CblasRowMajor, tra, trb, m, n, k, 1.0, a, lda, b, ldb, beta, c, n);
}

Shape leading(const Shape& s, int drop) { return Shape(s.dims().first(static_cast<std::size_t>(s.rank() - drop))); }

/// The shapes of a (checked) matmul: a 1-D lhs is the row vector [1,k], a 1-D rhs the column [k,1]; batch dims
/// broadcast; the output drops the 1 a vector operand brought in.
struct Plan {
  std::int64_t m = 0, k = 0, n = 0;
  Shape batch_a, batch_b, batch, out;
};

Plan plan(const Shape& a, const Shape& b, bool ta, bool tb) {
  Plan p;
  const bool a1 = a.rank() == 1, b1 = b.rank() == 1;
  p.m = a1 ? 1 : ta ? a[-1] : a[-2];
  p.k = a1 ? a[0] : ta ? a[-2] : a[-1];
  p.n = b1 ? 1 : tb ? b[-2] : b[-1];
  p.batch_a = a.rank() > 2 ? leading(a, 2) : Shape{};
  p.batch_b = b.rank() > 2 ? leading(b, 2) : Shape{};
  p.batch = *try_broadcast(p.batch_a, p.batch_b);
  std::array<std::int64_t, Shape::max_rank> out{};  // no heap: matmul runs in every training step
  std::size_t r = 0;
  for (const std::int64_t d : p.batch) out[r++] = d;
  if (!a1) out[r++] = p.m;
  if (!b1) out[r++] = p.n;
  p.out = Shape(std::span<const std::int64_t>(out.data(), r));
  return p;
}

Array product(const Array& a, const Array& b, bool ta, bool tb, const Plan& p) {
  Array c(p.out, a.dtype());
  // Stored row lengths (a 1-D operand is one row of k, or a column of k with rows of 1).
  const int lda = static_cast<int>(a.rank() == 1 ? p.k : a.shape()[-1]);
  const int ldb = static_cast<int>(b.rank() == 1 ? 1 : b.shape()[-1]);
  const int m = static_cast<int>(p.m), n = static_cast<int>(p.n), k = static_cast<int>(p.k);
  const std::int64_t size_a = p.m * p.k, size_b = p.k * p.n, size_c = p.m * p.n;
  const std::int64_t na = p.batch_a.numel(), nb = p.batch_b.numel(), nc = p.batch.numel();
  dispatch(a.dtype(), [&]<class T>(T) {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* pc = c.data<T>();
    if (nb == 1 && na == nc && !ta && nc * p.m <= std::numeric_limits<int>::max()) {
      // [.., m, k] x [k, n]: the batch of lhs folds into its rows, one GEMM ([B,T,D] x [D,E] in a linear layer).
      gemm_one(pa, pb, pc, static_cast<int>(nc * p.m), n, k, false, tb, lda, ldb);
      return;
    }
    detail::for_each_broadcast(p.batch, detail::broadcast_strides(p.batch_a, p.batch),
                               detail::broadcast_strides(p.batch_b, p.batch),
                               [&](std::int64_t o, std::int64_t ia, std::int64_t ib) {
                                 gemm_one(pa + ia * size_a, pb + ib * size_b, pc + o * size_c, m, n, k, ta, tb, lda, ldb);
                               });
  });
  return c;
}

Shape without_last(const Shape& s) { return leading(s, 1); }

/// matmul and bmm: the checked product recorded under `name`.
Tensor product_op(OpName name, const Tensor& a, const Tensor& b, bool ta, bool tb, Site site) {
  const Plan p = plan(a.shape(), b.shape(), ta, tb);
  return make_op(name, product(a.value(), b.value(), ta, tb, p), {a, b},
                 [a, b, ta, tb](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   // Vector operands take part as [1,k] and [k,1], and the gradient gets back the 1 they dropped.
                   const bool a1 = a.rank() == 1, b1 = b.rank() == 1;
                   const Tensor A = a1 ? reshape(a, Shape{1, a.numel()}) : a;
                   const Tensor B = b1 ? reshape(b, Shape{b.numel(), 1}) : b;
                   Tensor g = grad;
                   if (a1 || b1) {
                     // grad [.., n] -> [.., 1, n] for a vector lhs, [.., m] -> [.., m, 1] for a vector rhs
                     std::array<std::int64_t, Shape::max_rank> gs{};
                     std::size_t r = 0;
                     for (const std::int64_t d : grad.shape()) gs[r++] = d;
                     if (a1) {
                       const std::size_t at = b1 ? r : r - 1;
                       for (std::size_t i = r; i > at; --i) gs[i] = gs[i - 1];
                       gs[at] = 1;
                       ++r;
                     }
                     if (b1) gs[r++] = 1;
                     g = reshape(grad, Shape(std::span<const std::int64_t>(gs.data(), r)));
                   }
                   // Broadcast batch dims are summed back to each input's shape by the engine.
                   if (dx[0].wanted()) dx[0] += ta ? matmul(B, g, tb, true) : matmul(g, B, false, !tb);
                   if (dx[1].wanted()) {
                     Tensor d;
                     if (B.rank() == 2 && A.rank() > 2 && !ta) {
                       // The lhs batch folds into rows: one GEMM [k, B*m] x [B*m, n] instead of B products summed.
                       // Row counts spelled out: -1 cannot be inferred for an empty operand ([0,0] x [0,n]).
                       const auto rows = [](const Tensor& t) { return leading(t.shape(), 1).numel(); };
                       const Tensor af = reshape(A, Shape{rows(A), A.shape()[-1]});
                       const Tensor gf = reshape(g, Shape{rows(g), g.shape()[-1]});
                       d = tb ? matmul(gf, af, true, false) : matmul(af, gf, true, false);
                     } else {
                       d = tb ? matmul(g, A, true, ta) : matmul(A, g, !ta, false);
                     }
                     dx[1] += b1 ? reshape(d, without_last(d.shape())) : d;
                   }
                 }, site);
}

}  // namespace

/// forward:  C = op(A) op(B), op = transpose of the last two dims when its flag is set: [.., m,k] x [.., k,n] -> [.., m,n]
///           with broadcast batch dims; a 1-D lhs is [1,k] and a 1-D rhs [k,1], their 1 dropped from C (torch.matmul)
/// backward: dA += grad op(B)^T (or op(B) grad^T when A is transposed), dB += op(A)^T grad (or grad^T op(A)),
///           each summed over the batch dims its input broadcast along
Tensor matmul(const Tensor& a, const Tensor& b, bool ta, bool tb, Site site) {
  check_matmul("matmul", a, b, ta, tb);
  return product_op("matmul", a, b, ta, tb, site);
}

Tensor matmul(const Tensor& a, const Tensor& b, Site site) { return matmul(a, b, false, false, site); }

/// forward:  C[i] = A[i] B[i], [B,m,k] x [B,k,n] -> [B,m,n] (primitive so errors and graphs say bmm)
/// backward: dA += bmm(grad, B^T), dB += bmm(A^T, grad), as matmul with transpose flags
Tensor bmm(const Tensor& a, const Tensor& b, Site site) {
  check_bmm(a, b);
  return product_op("bmm", a, b, false, false, site);
}

/// forward:  C = input + A B, [m,k] x [k,n] -> [m,n], input broadcast to [m,n] (torch.addmm, beta = alpha = 1); the
///           product accumulates onto the broadcast input in one GEMM (beta = 1), so a linear layer's bias is free
/// backward: dinput += grad (summed back to input's shape), dA += grad B^T, dB += A^T grad
Tensor addmm(const Tensor& input, const Tensor& a, const Tensor& b, Site site) {
  check_matmul("addmm", a, b, false, false);
  if (a.rank() != 2 || b.rank() != 2)
    throw std::invalid_argument(fmt::format("addmm: mat1 and mat2 must be 2-D (mat1 {}, mat2 {})", describe(a), describe(b)));
  check_same_dtype("addmm", input, a);
  const Shape out{a.shape()[0], b.shape()[1]};
  if (!broadcasts_to(input.shape(), out))
    throw std::invalid_argument(fmt::format("addmm: input {} does not broadcast to the product's shape {}", describe(input),
                                            out.str()));
  Array c = broadcast_array(input.value(), out, "addmm");
  const int m = static_cast<int>(out[0]), n = static_cast<int>(out[1]), k = static_cast<int>(a.shape()[1]);
  dispatch(a.dtype(), [&]<class T>(T) {
    gemm_one(a.value().data<T>(), b.value().data<T>(), c.data<T>(), m, n, k, false, false, k, n, true);
  });
  return make_op("addmm", std::move(c), {input, a, b},
                 [a, b](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   if (dx[0].wanted()) dx[0] += grad;
                   if (dx[1].wanted()) dx[1] += matmul(grad, b, false, true);
                   if (dx[2].wanted()) dx[2] += matmul(a, grad, true, false);
                 }, site);
}

/// forward:  sum_i a_i b_i (0-d)
/// backward: da += grad * b, db += grad * a
Tensor dot(const Tensor& a, const Tensor& b, Site site) {
  check_vectors("dot", a, b);
  if (a.numel() != b.numel())
    throw std::invalid_argument(fmt::format("dot: sizes differ (lhs {}, rhs {})", describe(a), describe(b)));
  if (a.numel() > std::numeric_limits<int>::max())
    throw std::invalid_argument(fmt::format("dot: size {} exceeds the BLAS limit {}", a.numel(), std::numeric_limits<int>::max()));
  Array out(Shape{}, a.dtype());
  const int n = static_cast<int>(a.numel());
  if (a.dtype() == Dtype::f32)
    out.data<float>()[0] = n ? cblas_sdot(n, a.value().data<float>(), 1, b.value().data<float>(), 1) : 0.0f;
  else
    out.data<double>()[0] = n ? cblas_ddot(n, a.value().data<double>(), 1, b.value().data<double>(), 1) : 0.0;
  return make_op("dot", std::move(out), {a, b}, [a, b](const Tensor& grad, const Tensor&, BackwardContext& dx) {
    if (dx[0].wanted()) dx[0] += grad * b;
    if (dx[1].wanted()) dx[1] += grad * a;
  }, site);
}

/// forward:  C[i,j] = a_i b_j, [m] x [n] -> [m,n]
/// backward: da += matmul(grad, b), db += matmul(a, grad)
Tensor outer(const Tensor& a, const Tensor& b, Site site) {
  check_vectors("outer", a, b);
  const std::int64_t m = a.numel(), n = b.numel();
  Array out(Shape{m, n}, a.dtype());
  dispatch(a.dtype(), [&]<class T>(T) {
    const T* pa = a.value().data<T>();
    const T* pb = b.value().data<T>();
    T* po = out.data<T>();
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) po[i * n + j] = pa[i] * pb[j];
  });
  return make_op("outer", std::move(out), {a, b}, [a, b](const Tensor& grad, const Tensor&, BackwardContext& dx) {
    if (dx[0].wanted()) dx[0] += matmul(grad, b);
    if (dx[1].wanted()) dx[1] += matmul(a, grad);
  }, site);
}

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
