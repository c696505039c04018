// Indexing ops: row selection with its adjoint index_add_rows.
#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"

#include <fmt/format.h>

#include <cstring>
#include <stdexcept>

namespace autodiff {

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
  dispatch_all(v.dtype(), [&]<class T>(T) {
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
  check_float("index_add_rows", g);
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
