// Shape ops: reshape, and row selection with its adjoint index_add_rows.
#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"

#include <fmt/format.h>

#include <cstring>
#include <stdexcept>

namespace autodiff {

/// forward:  the same elements with another shape (shares storage; a node of its own even when the shape is equal)
/// backward: dx += reshape(grad, x.shape)
Tensor reshape(const Tensor& x, const Shape& shape, Site site) {
  check_reshape("reshape", x, shape);
  return make_op("reshape", x.value().reshaped(shape), {x},
                 [xs = x.shape()](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += reshape(grad, xs); }, site);
}

Tensor reshape(const Tensor& x, std::initializer_list<std::int64_t> dims, Site site) {
  std::vector<std::int64_t> d(dims);
  int infer = -1;
  std::int64_t known = 1;
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (d[i] == -1 && infer < 0) {
      infer = static_cast<int>(i);
    } else if (d[i] < 0) {
      throw std::invalid_argument(fmt::format("reshape: bad dimension {} at axis {} (only one -1 may be inferred)", d[i], i));
    } else {
      known *= d[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || x.numel() % known != 0)
      throw std::invalid_argument(fmt::format("reshape: cannot infer -1 for {} elements from the other dimensions (product {})",
                                              x.numel(), known));
    d[static_cast<std::size_t>(infer)] = x.numel() / known;
  }
  return reshape(x, Shape(std::span<const std::int64_t>(d)), site);
}

namespace {
Shape with_rows(const Shape& s, std::int64_t n) {
  Shape r = s;
  r.set(0, n);
  return r;
}
}  // namespace

/// forward:  rows x[indices[i]] along axis 0
/// backward: dx += index_add_rows(grad, indices, x.shape[0]) (repeated indices accumulate)
Tensor rows(const Tensor& x, const std::vector<std::int64_t>& indices, Site site) {
  if (x.rank() < 1) throw std::invalid_argument(fmt::format("rows: input must have rank >= 1 (got {})", describe(x)));
  const Array& v = x.value();
  const std::int64_t n = v.shape()[0], width = n ? v.numel() / n : 0;
  for (std::int64_t i : indices) check_index("rows", i, n);
  Array out(with_rows(v.shape(), static_cast<std::int64_t>(indices.size())), v.dtype());
  const std::size_t row_bytes = static_cast<std::size_t>(width) * dtype_size(v.dtype());
  dispatch(v.dtype(), [&]<class T>(T) {
    const auto* src = reinterpret_cast<const std::byte*>(v.data<T>());
    auto* dst = reinterpret_cast<std::byte*>(out.data<T>());
    for (std::size_t r = 0; r < indices.size(); ++r)
      std::memcpy(dst + r * row_bytes, src + static_cast<std::size_t>(indices[r]) * row_bytes, row_bytes);
  });
  return make_op("rows", std::move(out), {x}, [indices, n](const Tensor& grad, const Tensor&, BackwardContext& dx) {
    dx[0] += index_add_rows(grad, indices, n);
  }, site);
}

/// forward:  zeros [n, ...] with row r of g added at row indices[r]
/// backward: dg += rows(grad, indices)
Tensor index_add_rows(const Tensor& g, const std::vector<std::int64_t>& indices, std::int64_t n, Site site) {
  if (g.rank() < 1 || g.shape()[0] != static_cast<std::int64_t>(indices.size()))
    throw std::invalid_argument(
        fmt::format("index_add_rows: {} rows of gradient for {} indices", g.rank() ? g.shape()[0] : 0, indices.size()));
  for (std::int64_t i : indices) check_index("index_add_rows", i, n);
  const Array& v = g.value();
  Array out = Array::zeros(with_rows(v.shape(), n), v.dtype());
  const std::int64_t width = indices.empty() ? 0 : v.numel() / static_cast<std::int64_t>(indices.size());
  dispatch(v.dtype(), [&]<class T>(T) {
    const T* pv = v.data<T>();
    T* po = out.data<T>();
    for (std::size_t r = 0; r < indices.size(); ++r)
      for (std::int64_t j = 0; j < width; ++j) po[indices[r] * width + j] += pv[static_cast<std::int64_t>(r) * width + j];
  });
  return make_op("index_add_rows", std::move(out), {g}, [indices](const Tensor& grad, const Tensor&, BackwardContext& dx) {
    dx[0] += rows(grad, indices);
  }, site);
}

}  // namespace autodiff
