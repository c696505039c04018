// Indexing ops: index_select and its adjoint index_add, gather and its adjoint scatter_add, one_hot, embedding, and
// rows / index_add_rows on top of them. Kernels are loops over raw pointers, with memcpy for contiguous slices.
#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <type_traits>

namespace autodiff {

namespace {

// x viewed as [outer, n, inner] around `axis`.
struct Split {
  std::int64_t outer = 1, n = 1, inner = 1;
};
Split split(const Shape& s, int axis) {
  Split p;
  for (int i = 0; i < axis; ++i) p.outer *= s[i];
  p.n = s[axis];
  for (int i = axis + 1; i < s.rank(); ++i) p.inner *= s[i];
  return p;
}

Shape with_dim(const Shape& s, int axis, std::int64_t n) {
  Shape r = s;
  r.set(axis, n);
  return r;
}

// s + [last], checked against the maximum rank under the op's name.
Shape append_dim(std::string_view op, const Tensor& idx, std::int64_t last) {
  if (idx.rank() >= Shape::max_rank)
    throw std::invalid_argument(fmt::format("{}: idx {} has rank {}; the result would exceed the maximum rank {}", op,
                                            describe(idx), idx.rank(), Shape::max_rank));
  std::array<std::int64_t, Shape::max_rank> dims{};
  std::copy(idx.shape().begin(), idx.shape().end(), dims.begin());
  dims[static_cast<std::size_t>(idx.rank())] = last;
  return Shape(std::span<const std::int64_t>(dims.data(), static_cast<std::size_t>(idx.rank() + 1)));
}

void check_indexable(std::string_view op, const Tensor& x) {
  if (x.rank() < 1)
    throw std::invalid_argument(fmt::format("{}: x must have rank >= 1 (got {}); reshape a 0-d tensor to [1]", op, describe(x)));
}

// The dtypes that add: float and int64.
void check_addable(std::string_view op, const Tensor& x, const Tensor& src) {
  if (x.dtype() == Dtype::b8)
    throw std::invalid_argument(fmt::format("{}: needs a float or int64 tensor (got bool {}); convert with x.to(Dtype::i64) "
                                            "or x.to(Dtype::f32)",
                                            op, describe(x)));
  check_same_dtype(op, x, src);
}

// index_select and index_add: x of rank >= 1, idx a 1-D (or 0-d) int64 tensor of indices into dim. Returns the dim.
int check_select(std::string_view op, const Tensor& x, int dim, const Tensor& idx) {
  check_indexable(op, x);
  check_int(op, "idx", idx);
  if (idx.rank() > 1) throw std::invalid_argument(fmt::format("{}: idx must be 1-D (got {})", op, describe(idx)));
  const int ax = normalize_axis(op, dim, x.rank());
  check_index_values(op, idx, ax, x.shape()[ax], "x", x);
  return ax;
}

// gather and scatter_add: idx int64 of x's rank, no larger than x outside dim, indices into dim. Returns the dim.
int check_gather(std::string_view op, const Tensor& x, int dim, const Tensor& idx) {
  check_indexable(op, x);
  check_int(op, "idx", idx);
  if (idx.rank() != x.rank())
    throw std::invalid_argument(fmt::format("{}: idx must have the rank of x (x {} has rank {}, idx {} has rank {})", op,
                                            describe(x), x.rank(), describe(idx), idx.rank()));
  const int ax = normalize_axis(op, dim, x.rank());
  for (int d = 0; d < x.rank(); ++d)
    if (d != ax && idx.shape()[d] > x.shape()[d])
      throw std::invalid_argument(fmt::format("{}: idx is larger than x in dim {} ({} > {}; x {}, idx {})", op, d,
                                              idx.shape()[d], x.shape()[d], describe(x), describe(idx)));
  check_index_values(op, idx, ax, x.shape()[ax], "x", x);
  return ax;
}

// Calls fn(f, off) for every element f of idx (shape `is`, row-major): off is the offset in x (shape `xs`) of the
// element idx[f] names, at idx[f] along ax and at idx's own coordinates in the other dims.
template <class Fn>
void for_each_indexed(const Shape& is, const Shape& xs, int ax, const std::int64_t* pi, Fn&& fn) {
  const std::int64_t n = is.numel();
  if (n == 0) return;
  const int r = is.rank();
  const auto st = xs.strides();
  const auto d = is.dims();
  const auto last = static_cast<std::size_t>(r - 1);
  const std::int64_t inner = d[last], sa = st[static_cast<std::size_t>(ax)], sl = r - 1 == ax ? 0 : st[last];
  std::array<std::int64_t, Shape::max_rank> c{};
  std::int64_t base = 0;  // x offset of idx's coordinates in dims 0..r-2, leaving out ax
  for (std::int64_t f = 0; f < n; f += inner) {
    for (std::int64_t k = 0; k < inner; ++k) fn(f + k, base + k * sl + pi[f + k] * sa);
    for (int a = r - 2; a >= 0; --a) {
      const auto u = static_cast<std::size_t>(a);
      const std::int64_t s = a == ax ? 0 : st[u];
      base += s;
      if (++c[u] < d[u]) break;
      base -= s * d[u];
      c[u] = 0;
    }
  }
}

}  // namespace

/// forward:  out[o, j, i] = x[o, idx[j], i], x viewed as [outer, n, inner] around dim
/// backward: dx += index_add(zeros(x.shape), dim, idx, grad) (repeated indices accumulate)
Tensor index_select(const Tensor& x, int dim, const Tensor& idx, Site site) {
  const int ax = check_select("index_select", x, dim, idx);
  const Array& v = x.value();
  const Split p = split(v.shape(), ax);
  const std::int64_t k = idx.numel();
  const std::int64_t* pi = idx.value().data<std::int64_t>();
  Array out(with_dim(v.shape(), ax, k), v.dtype());
  if (out.numel() > 0)
    dispatch_all(v.dtype(), [&]<class T>(T) {
      const T* px = v.data<T>();
      T* po = out.data<T>();
      if (p.inner == 1) {
        for (std::int64_t o = 0; o < p.outer; ++o)
          for (std::int64_t j = 0; j < k; ++j) po[o * k + j] = px[o * p.n + pi[j]];
        return;
      }
      // Contiguous slices: one memcpy each (whole rows when dim is outermost).
      const std::size_t bytes = static_cast<std::size_t>(p.inner) * sizeof(T);
      for (std::int64_t o = 0; o < p.outer; ++o)
        for (std::int64_t j = 0; j < k; ++j) std::memcpy(po + (o * k + j) * p.inner, px + (o * p.n + pi[j]) * p.inner, bytes);
    });
  return make_op("index_select", std::move(out), {x},
                 [ax, idx, xs = v.shape()](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += index_add(zeros(xs, grad.dtype()), ax, idx, grad);
                 }, site);
}

/// forward:  out = x; out[o, idx[j], i] += src[o, j, i] for every j (repeated indices accumulate)
/// backward: dx += grad, dsrc += index_select(grad, dim, idx)
Tensor index_add(const Tensor& x, int dim, const Tensor& idx, const Tensor& src, Site site) {
  const int ax = check_select("index_add", x, dim, idx);
  check_addable("index_add", x, src);
  check_same_shape("index_add", "src", src.shape(), with_dim(x.shape(), ax, idx.numel()));
  const Split p = split(x.shape(), ax);
  const std::int64_t k = idx.numel();
  const std::int64_t* pi = idx.value().data<std::int64_t>();
  Array out = x.value().clone();
  if (src.numel() > 0)
    dispatch_all(out.dtype(), [&]<class T>(T) {
      if constexpr (!std::is_same_v<T, bool>) {
        const T* ps = src.value().data<T>();
        T* po = out.data<T>();
        for (std::int64_t o = 0; o < p.outer; ++o)
          for (std::int64_t j = 0; j < k; ++j) {
            const T* s = ps + (o * k + j) * p.inner;
            T* d = po + (o * p.n + pi[j]) * p.inner;
            for (std::int64_t i = 0; i < p.inner; ++i) d[i] += s[i];
          }
      }
    });
  return make_op("index_add", std::move(out), {x, src}, [ax, idx](const Tensor& grad, const Tensor&, BackwardContext& dx) {
    dx[0] += grad;
    if (dx[1].wanted()) dx[1] += index_select(grad, ax, idx);
  }, site);
}

/// forward:  out[c] = x[c with c[dim] replaced by idx[c]] for every multi-index c of idx
/// backward: dx += scatter_add(zeros(x.shape), dim, idx, grad) (repeated indices accumulate)
Tensor gather(const Tensor& x, int dim, const Tensor& idx, Site site) {
  const int ax = check_gather("gather", x, dim, idx);
  const Array& v = x.value();
  Array out(idx.shape(), v.dtype());
  dispatch_all(v.dtype(), [&]<class T>(T) {
    const T* px = v.data<T>();
    T* po = out.data<T>();
    for_each_indexed(idx.shape(), v.shape(), ax, idx.value().data<std::int64_t>(),
                     [&](std::int64_t f, std::int64_t off) { po[f] = px[off]; });
  });
  return make_op("gather", std::move(out), {x},
                 [ax, idx, xs = v.shape()](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += scatter_add(zeros(xs, grad.dtype()), ax, idx, grad);
                 }, site);
}

/// forward:  out = x; out[c with c[dim] replaced by idx[c]] += src[c] for every multi-index c of idx
/// backward: dx += grad, dsrc += gather(grad, dim, idx)
Tensor scatter_add(const Tensor& x, int dim, const Tensor& idx, const Tensor& src, Site site) {
  const int ax = check_gather("scatter_add", x, dim, idx);
  check_addable("scatter_add", x, src);
  if (!(src.shape() == idx.shape()))
    throw std::invalid_argument(
        fmt::format("scatter_add: src must have idx's shape (src {}, idx {})", describe(src), describe(idx)));
  Array out = x.value().clone();
  dispatch_all(out.dtype(), [&]<class T>(T) {
    if constexpr (!std::is_same_v<T, bool>) {
      const T* ps = src.value().data<T>();
      T* po = out.data<T>();
      for_each_indexed(idx.shape(), out.shape(), ax, idx.value().data<std::int64_t>(),
                       [&](std::int64_t f, std::int64_t off) { po[off] += ps[f]; });
    }
  });
  return make_op("scatter_add", std::move(out), {x, src}, [ax, idx](const Tensor& grad, const Tensor&, BackwardContext& dx) {
    dx[0] += grad;
    if (dx[1].wanted()) dx[1] += gather(grad, ax, idx);
  }, site);
}

/// Composite: index_select(x, 0, indices), checked under its own name.
Tensor rows(const Tensor& x, const std::vector<std::int64_t>& indices, Site site) {
  if (x.rank() < 1) throw std::invalid_argument(fmt::format("rows: input must have rank >= 1 (got {})", describe(x)));
  for (std::int64_t i : indices) check_index("rows", i, x.shape()[0]);
  return index_select(x, 0, tensor_i64(indices, Shape{static_cast<std::int64_t>(indices.size())}), site);
}

/// Composite: index_add(zeros([n, ...]), 0, indices, g), checked under its own name.
Tensor index_add_rows(const Tensor& g, const std::vector<std::int64_t>& indices, std::int64_t n, Site site) {
  if (g.rank() < 1 || g.shape()[0] != static_cast<std::int64_t>(indices.size()))
    throw std::invalid_argument(
        fmt::format("index_add_rows: {} rows of gradient for {} indices", g.rank() ? g.shape()[0] : 0, indices.size()));
  check_float("index_add_rows", g);
  for (std::int64_t i : indices) check_index("index_add_rows", i, n);
  return index_add(zeros(with_dim(g.shape(), 0, n), g.dtype()), 0,
                   tensor_i64(indices, Shape{static_cast<std::int64_t>(indices.size())}), g, site);
}

/// forward:  out[..., c] = (idx[...] == c) as int64, c in [0, num_classes); num_classes -1 is max(idx) + 1
/// (an int64 constant: no backward)
Tensor one_hot(const Tensor& idx, std::int64_t num_classes, Site) {
  check_int("one_hot", "idx", idx);
  if (num_classes < -1)
    throw std::invalid_argument(fmt::format("one_hot: num_classes must be -1 (inferred) or >= 0 (got {})", num_classes));
  const std::int64_t* pi = idx.value().data<std::int64_t>();
  const std::int64_t n = idx.numel();
  if (num_classes == -1) {
    if (n == 0)
      throw std::invalid_argument(
          fmt::format("one_hot: cannot infer num_classes from an empty idx ({}); pass num_classes", describe(idx)));
    const std::int64_t top = *std::max_element(pi, pi + n);
    if (top == std::numeric_limits<std::int64_t>::max())
      throw std::invalid_argument(fmt::format("one_hot: index {} leaves no room for num_classes (idx {})", top, describe(idx)));
    num_classes = top + 1;
  }
  for (std::int64_t f = 0; f < n; ++f)
    if (pi[f] < 0 || pi[f] >= num_classes)
      throw std::invalid_argument(fmt::format("one_hot: index {} at flat position {} of idx {} is {} (num_classes {})", pi[f],
                                              f, describe(idx), pi[f] < 0 ? "negative" : ">= num_classes", num_classes));
  Array out = Array::zeros(append_dim("one_hot", idx, num_classes), Dtype::i64);
  std::int64_t* po = out.data<std::int64_t>();
  for (std::int64_t f = 0; f < n; ++f) po[f * num_classes + pi[f]] = 1;
  return Tensor(std::move(out));
}

/// forward:  out[..., :] = weight[idx[...], :], idx.shape + [dim] (a memcpy per row)
/// backward: dweight += index_add(zeros(weight.shape), 0, flat idx, reshape(grad, [numel(idx), dim]))
/// Primitive so that graphs and errors show "embedding"; its backward is composed of engine ops.
Tensor embedding(const Tensor& weight, const Tensor& idx, Site site) {
  check_rank("embedding", "weight", weight, 2);
  check_float("embedding", weight);
  check_int("embedding", "idx", idx);
  const std::int64_t num = weight.shape()[0], width = weight.shape()[1], n = idx.numel();
  check_index_values("embedding", idx, 0, num, "weight", weight);
  const Array& w = weight.value();
  const std::int64_t* pi = idx.value().data<std::int64_t>();
  Array out(append_dim("embedding", idx, width), w.dtype());
  if (out.numel() > 0)
    dispatch(w.dtype(), [&]<class T>(T) {
      const T* pw = w.data<T>();
      T* po = out.data<T>();
      const std::size_t bytes = static_cast<std::size_t>(width) * sizeof(T);
      for (std::int64_t f = 0; f < n; ++f) std::memcpy(po + f * width, pw + pi[f] * width, bytes);
    });
  return make_op("embedding", std::move(out), {weight},
                 [num, width, n, flat = Tensor(idx.value().reshaped(Shape{n}))](const Tensor& grad, const Tensor&,
                                                                                 BackwardContext& dx) {
                   dx[0] += index_add(zeros(Shape{num, width}, grad.dtype()), 0, flat, reshape(grad, Shape{n, width}));
                 }, site);
}

}  // namespace autodiff
