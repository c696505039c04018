// Shape ops: reshape and its relatives that share storage (squeeze, unsqueeze, flatten), the strided copies
// (permute, transpose, expand, narrow, select, slice and its adjoint slice_backward), and joins and splits (cat,
// stack, split, chunk). Every copy moves elements of any dtype through one strided kernel.
#include "autodiff/check.hpp"
#include "autodiff/ops.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>

namespace autodiff {

namespace {

using Sizes = std::array<std::int64_t, Shape::max_rank>;

// One side of a copy seen through strides: element (i_0, .., i_{r-1}) sits at offset + sum_k i_k * stride[k]. The
// other side is contiguous, row-major, with the same sizes.
struct Strided {
  int rank = 0;
  Sizes size{};
  Sizes stride{};
  std::int64_t offset = 0;
};

Strided view_of(const Shape& s) {
  Strided v;
  v.rank = s.rank();
  std::copy(s.begin(), s.end(), v.size.begin());
  v.stride = s.strides();
  return v;
}

// Drops an axis of a view.
Strided drop_axis(const Strided& v, int axis) {
  Strided r = v;
  r.rank = v.rank - 1;
  for (int k = axis; k < r.rank; ++k) {
    r.size[static_cast<std::size_t>(k)] = v.size[static_cast<std::size_t>(k + 1)];
    r.stride[static_cast<std::size_t>(k)] = v.stride[static_cast<std::size_t>(k + 1)];
  }
  return r;
}

Shape shape_of(const Strided& v) { return Shape(std::span<const std::int64_t>(v.size.data(), static_cast<std::size_t>(v.rank))); }

// Size-1 axes dropped, and neighbours that are contiguous on the strided side merged, so the inner loop is as long
// as it can be: a [B,C,H,W] -> [B,H,W,C] permute becomes B transposes of [C, H*W]. (Needs no axis of size 0.)
Strided simplify(const Strided& v) {
  Strided s;
  s.offset = v.offset;
  for (int k = 0; k < v.rank; ++k) {
    const auto u = static_cast<std::size_t>(k);
    if (v.size[u] == 1) continue;
    if (s.rank > 0) {
      const auto p = static_cast<std::size_t>(s.rank - 1);
      if (s.stride[p] == v.stride[u] * v.size[u]) {
        s.size[p] *= v.size[u];
        s.stride[p] = v.stride[u];
        continue;
      }
    }
    s.size[static_cast<std::size_t>(s.rank)] = v.size[u];
    s.stride[static_cast<std::size_t>(s.rank)] = v.stride[u];
    ++s.rank;
  }
  return s;
}

// Calls fn(o, off) for every index of the first `outer` axes of s: o counts them in row-major order (the contiguous
// side's block number) and off is the strided side's offset.
template <class Fn>
void for_each_outer(const Strided& s, int outer, Fn&& fn) {
  std::int64_t count = 1;
  for (int k = 0; k < outer; ++k) count *= s.size[static_cast<std::size_t>(k)];
  Sizes idx{};
  std::int64_t off = s.offset;
  for (std::int64_t o = 0; o < count; ++o) {
    fn(o, off);
    for (int k = outer - 1; k >= 0; --k) {
      const auto u = static_cast<std::size_t>(k);
      off += s.stride[u];
      if (++idx[u] < s.size[u]) break;
      off -= s.stride[u] * s.size[u];
      idx[u] = 0;
    }
  }
}

// dst (contiguous) = the elements of src seen through s (simplified, nonempty), in row-major order.
template <class T>
void gather(const T* src, T* dst, const Strided& s) {
  if (s.rank == 0) {
    dst[0] = src[s.offset];
    return;
  }
  const auto last = static_cast<std::size_t>(s.rank - 1);
  const std::int64_t n = s.size[last], st = s.stride[last];
  if (st == 1) {  // rows stay rows: one memcpy each
    for_each_outer(s, s.rank - 1, [&](std::int64_t o, std::int64_t off) {
      std::memcpy(dst + o * n, src + off, static_cast<std::size_t>(n) * sizeof(T));
    });
  } else if (st == 0) {  // a broadcast axis (expand)
    for_each_outer(s, s.rank - 1, [&](std::int64_t o, std::int64_t off) { std::fill_n(dst + o * n, n, src[off]); });
  } else if (s.rank >= 2 && s.stride[last - 1] == 1) {
    // The last two axes swapped: copied in tiles, so reads and writes both stay in cache.
    constexpr std::int64_t tile = 16;  // 32 rows 4 KiB apart thrash L1 sets on [C, H*W] transposes
    const std::int64_t m = s.size[last - 1];
    for_each_outer(s, s.rank - 2, [&](std::int64_t o, std::int64_t off) {
      T* d = dst + o * m * n;
      const T* p = src + off;
      for (std::int64_t i0 = 0; i0 < m; i0 += tile)
        for (std::int64_t j0 = 0; j0 < n; j0 += tile) {
          const std::int64_t i1 = std::min(i0 + tile, m), j1 = std::min(j0 + tile, n);
          for (std::int64_t i = i0; i < i1; ++i)
            for (std::int64_t j = j0; j < j1; ++j) d[i * n + j] = p[i + j * st];
        }
    });
  } else {
    for_each_outer(s, s.rank - 1, [&](std::int64_t o, std::int64_t off) {
      T* d = dst + o * n;
      const T* p = src + off;
      for (std::int64_t j = 0; j < n; ++j) d[j] = p[j * st];
    });
  }
}

// The elements of dst seen through s (simplified, nonempty, no element twice) = src (contiguous): gather's adjoint.
template <class T>
void scatter(const T* src, T* dst, const Strided& s) {
  if (s.rank == 0) {
    dst[s.offset] = src[0];
    return;
  }
  const auto last = static_cast<std::size_t>(s.rank - 1);
  const std::int64_t n = s.size[last], st = s.stride[last];
  for_each_outer(s, s.rank - 1, [&](std::int64_t o, std::int64_t off) {
    if (st == 1) {
      std::memcpy(dst + off, src + o * n, static_cast<std::size_t>(n) * sizeof(T));
    } else {
      const T* p = src + o * n;
      for (std::int64_t j = 0; j < n; ++j) dst[off + j * st] = p[j];
    }
  });
}

// x's elements seen through `view` as a new array of its shape, in any dtype. Shares x's storage when the view
// takes every element in order.
Array gather_array(const Array& x, const Strided& view) {
  const Shape out_shape = shape_of(view);
  if (out_shape.numel() == 0) return Array(out_shape, x.dtype());
  const Strided s = simplify(view);
  if (s.offset == 0 && out_shape.numel() == x.numel() && (s.rank == 0 || (s.rank == 1 && s.stride[0] == 1)))
    return x.reshaped(out_shape);
  Array out(out_shape, x.dtype());
  dispatch_all(x.dtype(), [&]<class T>(T) { gather(x.data<T>(), out.data<T>(), s); });
  return out;
}

Array permuted(const Array& x, std::span<const int> perm) {
  const Strided whole = view_of(x.shape());
  Strided v;
  v.rank = whole.rank;
  for (std::size_t i = 0; i < perm.size(); ++i) {
    v.size[i] = whole.size[static_cast<std::size_t>(perm[i])];
    v.stride[i] = whole.stride[static_cast<std::size_t>(perm[i])];
  }
  return gather_array(x, v);
}

// Python's slice bounds on an axis of size n: the first index and the count taken.
struct Range {
  std::int64_t begin = 0, count = 0;
};
Range slice_range(std::int64_t n, std::int64_t start, std::int64_t end, std::int64_t step) {
  const auto clamp = [n](std::int64_t i) { return i < 0 ? std::max<std::int64_t>(i + n, 0) : std::min(i, n); };
  const std::int64_t b = clamp(start), e = clamp(end);
  return {b, e <= b ? 0 : 1 + (e - b - 1) / step};
}

// x viewed along `axis` as elements begin, begin + step, ... (count of them).
Strided sliced(const Shape& xs, int axis, Range r, std::int64_t step) {
  Strided v = view_of(xs);
  const auto a = static_cast<std::size_t>(axis);
  v.offset = r.begin * v.stride[a];
  v.size[a] = r.count;
  v.stride[a] *= step;
  return v;
}

void check_step(std::string_view op, std::int64_t step) {
  if (step <= 0) throw std::invalid_argument(fmt::format("{}: step must be positive (got {})", op, step));
}

// An axis in [-rank-1, rank], where a new axis goes (unsqueeze, stack).
int new_axis(std::string_view op, int axis, int rank, const std::string& what) {
  if (axis < -rank - 1 || axis > rank)
    throw std::invalid_argument(
        fmt::format("{}: axis {} out of range for a new axis of {} (expected [{}, {}])", op, axis, what, -rank - 1, rank));
  if (rank == Shape::max_rank)
    throw std::invalid_argument(fmt::format("{}: a new axis would exceed the maximum rank {} ({})", op, Shape::max_rank, what));
  return axis < 0 ? axis + rank + 1 : axis;
}

// Products of the sizes before and after `axis` (x seen as [outer, size, inner]).
std::int64_t outer_of(const Shape& s, int axis) {
  std::int64_t p = 1;
  for (int k = 0; k < axis; ++k) p *= s[k];
  return p;
}
std::int64_t inner_of(const Shape& s, int axis) {
  std::int64_t p = 1;
  for (int k = axis; k < s.rank(); ++k) p *= s[k];
  return p;
}

// Blocks joined: the result seen as [outer, total, inner], part i as [outer, along[i], inner] (along[i] <= 0:
// skipped), placed one after another along the middle axis.
Array join(const std::vector<Tensor>& parts, const std::vector<std::int64_t>& along, const Shape& out_shape, Dtype dtype,
           std::int64_t outer, std::int64_t inner) {
  Array out(out_shape, dtype);
  if (out_shape.numel() == 0) return out;
  const std::int64_t row = out_shape.numel() / outer;
  dispatch_all(dtype, [&]<class T>(T) {
    T* po = out.data<T>();
    std::int64_t col = 0;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      const std::int64_t block = std::max<std::int64_t>(along[i], 0) * inner;
      if (block == 0) continue;
      const T* pi = parts[i].value().data<T>();
      for (std::int64_t o = 0; o < outer; ++o)
        std::memcpy(po + o * row + col, pi + o * block, static_cast<std::size_t>(block) * sizeof(T));
      col += block;
    }
  });
  return out;
}

// The storage-sharing ops: the same elements under another shape, with reshape's backward.
Tensor same_elements(OpName op, const Tensor& x, const Shape& shape, Site site) {
  return make_op(op, x.value().reshaped(shape), {x},
                 [xs = x.shape()](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += reshape(grad, xs); }, site);
}

std::string sizes_str(std::span<const std::int64_t> sizes) { return fmt::format("[{}]", fmt::join(sizes, ",")); }

}  // namespace

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

/// Primitive (a strided copy).
/// forward:  y[j_0, .., j_{r-1}] = x[i] where i[dims[k]] = j_k; y.shape[k] = x.shape[dims[k]]
/// backward: dx += permute(grad, inverse of dims)
Tensor permute(const Tensor& x, const Dims& dims, Site site) {
  const int r = x.rank();
  dims.check_count("permute");
  const auto axes = dims.axes();
  if (static_cast<int>(axes.size()) != r)
    throw std::invalid_argument(fmt::format("permute: wrong number of dims (got {} [{}], expected {} for {})", axes.size(),
                                            fmt::join(axes, ","), r, describe(x)));
  if (r > 0) dims.mask("permute", r);  // axes in range, none repeated
  std::array<int, Shape::max_rank> perm{}, inverse{};
  for (int k = 0; k < r; ++k) {
    perm[static_cast<std::size_t>(k)] = normalize_axis("permute", axes[static_cast<std::size_t>(k)], r);
    inverse[static_cast<std::size_t>(perm[static_cast<std::size_t>(k)])] = k;
  }
  const auto n = static_cast<std::size_t>(r);
  return make_op("permute", permuted(x.value(), std::span<const int>(perm.data(), n)), {x},
                 [inverse, n](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += permute(grad, Dims(std::span<const int>(inverse.data(), n)));
                 }, site);
}

/// Primitive (a strided copy, named in errors and graphs as transpose).
/// forward:  y = x with axes dim0 and dim1 swapped (a 0-d x accepts 0 and -1 and is unchanged)
/// backward: dx += transpose(grad, dim0, dim1)
Tensor transpose(const Tensor& x, int dim0, int dim1, Site site) {
  const int r = std::max(x.rank(), 1);  // PyTorch wraps the dims of a 0-d tensor as rank 1
  const int a = normalize_axis("transpose", dim0, r), b = normalize_axis("transpose", dim1, r);
  std::array<int, Shape::max_rank> perm{};
  for (int k = 0; k < r; ++k) perm[static_cast<std::size_t>(k)] = k;
  std::swap(perm[static_cast<std::size_t>(a)], perm[static_cast<std::size_t>(b)]);
  Array out = x.rank() == 0 ? x.value() : permuted(x.value(), std::span<const int>(perm.data(), static_cast<std::size_t>(r)));
  return make_op("transpose", std::move(out), {x},
                 [a, b](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += transpose(grad, a, b); }, site);
}

/// forward:  x without its size-1 axes (shares storage)
/// backward: dx += reshape(grad, x.shape)
Tensor squeeze(const Tensor& x, Site site) {
  Sizes d{};
  std::size_t r = 0;
  for (const std::int64_t n : x.shape())
    if (n != 1) d[r++] = n;
  return same_elements("squeeze", x, Shape(std::span<const std::int64_t>(d.data(), r)), site);
}

/// forward:  x without those of the listed axes whose size is 1 (shares storage)
/// backward: dx += reshape(grad, x.shape)
Tensor squeeze(const Tensor& x, const Dims& dims, Site site) {
  const auto mask = dims.mask("squeeze", std::max(x.rank(), 1));  // a 0-d x accepts 0 and -1
  Sizes d{};
  std::size_t r = 0;
  for (int k = 0; k < x.rank(); ++k)
    if (!mask[static_cast<std::size_t>(k)] || x.shape()[k] != 1) d[r++] = x.shape()[k];
  return same_elements("squeeze", x, Shape(std::span<const std::int64_t>(d.data(), r)), site);
}

/// forward:  x with a size-1 axis inserted before axis dim (shares storage)
/// backward: dx += reshape(grad, x.shape)
Tensor unsqueeze(const Tensor& x, int dim, Site site) {
  const int r = x.rank();
  const int a = new_axis("unsqueeze", dim, r, describe(x));
  Sizes d{};
  for (int k = 0, j = 0; k <= r; ++k) d[static_cast<std::size_t>(k)] = k == a ? 1 : x.shape()[j++];
  return same_elements("unsqueeze", x, Shape(std::span<const std::int64_t>(d.data(), static_cast<std::size_t>(r + 1))), site);
}

/// forward:  x with axes start_dim..end_dim merged into one of their product (shares storage)
/// backward: dx += reshape(grad, x.shape)
Tensor flatten(const Tensor& x, int start_dim, int end_dim, Site site) {
  const int r = std::max(x.rank(), 1);  // a 0-d x flattens to [1]
  const int a = normalize_axis("flatten", start_dim, r), b = normalize_axis("flatten", end_dim, r);
  if (a > b)
    throw std::invalid_argument(
        fmt::format("flatten: start_dim {} comes after end_dim {} (axes {} and {} of {})", start_dim, end_dim, a, b, describe(x)));
  Sizes d{};
  std::size_t n = 0;
  for (int k = 0; k < a; ++k) d[n++] = x.shape()[k];
  std::int64_t merged = 1;
  for (int k = a; k <= b && k < x.rank(); ++k) merged *= x.shape()[k];
  d[n++] = merged;
  for (int k = b + 1; k < x.rank(); ++k) d[n++] = x.shape()[k];
  return same_elements("flatten", x, Shape(std::span<const std::int64_t>(d.data(), n)), site);
}

namespace {
/// Primitive (a strided copy with stride 0 on the repeated axes).
/// forward:  y = x repeated along its size-1 axes and new leading axes up to `sizes` (-1: x's size)
/// backward: dx += grad (the engine sums it back to x.shape)
Tensor expand_sizes(const Tensor& x, std::span<const std::int64_t> sizes, Site site) {
  const int r = x.rank();
  const auto n = static_cast<int>(sizes.size());
  if (n < r || n > Shape::max_rank)
    throw std::invalid_argument(fmt::format("expand: {} sizes {} for {} (expected {} to {})", n, sizes_str(sizes), describe(x),
                                            r, Shape::max_rank));
  const Strided whole = view_of(x.shape());
  Strided v;
  v.rank = n;
  for (int i = 0; i < n; ++i) {
    const auto u = static_cast<std::size_t>(i);
    const int j = i - (n - r);  // x's axis, aligned from the right
    const std::int64_t want = sizes[u];
    if (j < 0) {
      if (want < 0)
        throw std::invalid_argument(fmt::format("expand: size {} for the new leading axis {} (expanding {} to {})", want, i,
                                                describe(x), sizes_str(sizes)));
      v.size[u] = want;  // stride 0: repeated
      continue;
    }
    const std::int64_t have = x.shape()[j];
    if (want == have || want == -1) {
      v.size[u] = have;
      v.stride[u] = whole.stride[static_cast<std::size_t>(j)];
    } else if (have == 1 && want >= 0) {
      v.size[u] = want;
    } else {
      throw std::invalid_argument(fmt::format("expand: cannot expand {} to {} (axis {}: size {} to {}; only size-1 axes expand)",
                                              describe(x), sizes_str(sizes), i, have, want));
    }
  }
  return make_op("expand", gather_array(x.value(), v), {x},
                 [](const Tensor& grad, const Tensor&, BackwardContext& dx) { dx[0] += grad; }, site);
}
}  // namespace

Tensor expand(const Tensor& x, std::initializer_list<std::int64_t> shape, Site site) {
  return expand_sizes(x, std::span<const std::int64_t>(shape.begin(), shape.size()), site);
}
Tensor expand(const Tensor& x, const std::vector<std::int64_t>& shape, Site site) { return expand_sizes(x, shape, site); }
Tensor expand(const Tensor& x, const Shape& shape, Site site) { return expand_sizes(x, shape.dims(), site); }

/// Primitive (a strided copy).
/// forward:  y = x[.., start : start + length, ..] along dim (a negative start counts from the end)
/// backward: dx += slice_backward(grad, x.shape, dim, start, start + length, 1)
Tensor narrow(const Tensor& x, int dim, std::int64_t start, std::int64_t length, Site site) {
  const int d = normalize_axis("narrow", dim, x.rank());
  const std::int64_t n = x.shape()[d];
  if (start < -n || start > n)
    throw std::invalid_argument(fmt::format("narrow: start {} out of range for size {} (axis {} of {})", start, n, d, describe(x)));
  const std::int64_t s = start < 0 ? start + n : start;
  if (length < 0 || length > n - s)
    throw std::invalid_argument(fmt::format("narrow: start {} + length {} out of range for size {} (axis {} of {})", start,
                                            length, n, d, describe(x)));
  return make_op("narrow", gather_array(x.value(), sliced(x.shape(), d, {s, length}, 1)), {x},
                 [xs = x.shape(), d, s, length](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += slice_backward(grad, xs, d, s, s + length, 1);
                 }, site);
}

/// Primitive (a strided copy).
/// forward:  y = x[.., index, ..] along dim, that axis dropped (a negative index counts from the end)
/// backward: dx += slice_backward(unsqueeze(grad, dim), x.shape, dim, index, index + 1, 1)
Tensor select(const Tensor& x, int dim, std::int64_t index, Site site) {
  const int d = normalize_axis("select", dim, x.rank());
  const std::int64_t n = x.shape()[d];
  if (index < -n || index >= n)
    throw std::invalid_argument(fmt::format("select: index {} out of range for size {} (axis {} of {})", index, n, d, describe(x)));
  const std::int64_t i = index < 0 ? index + n : index;
  return make_op("select", gather_array(x.value(), drop_axis(sliced(x.shape(), d, {i, 1}, 1), d)), {x},
                 [xs = x.shape(), d, i](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += slice_backward(unsqueeze(grad, d), xs, d, i, i + 1, 1);
                 }, site);
}

/// Primitive (a strided copy).
/// forward:  y = x[.., start:end:step, ..] along dim with Python's bounds (negative: from the end; clamped)
/// backward: dx += slice_backward(grad, x.shape, dim, start, end, step)
Tensor slice(const Tensor& x, int dim, std::int64_t start, std::int64_t end, std::int64_t step, Site site) {
  const int d = normalize_axis("slice", dim, x.rank());
  check_step("slice", step);
  const Range rg = slice_range(x.shape()[d], start, end, step);
  return make_op("slice", gather_array(x.value(), sliced(x.shape(), d, rg, step)), {x},
                 [xs = x.shape(), d, start, end, step](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   dx[0] += slice_backward(grad, xs, d, start, end, step);
                 }, site);
}

/// Primitive (the adjoint of slice: a zero fill and a strided copy).
/// forward:  y = zeros(input_shape); y[.., start:end:step, ..] = grad along dim
/// backward: dgrad += slice(grad_y, dim, start, end, step)
Tensor slice_backward(const Tensor& grad, const Shape& input_shape, int dim, std::int64_t start, std::int64_t end,
                      std::int64_t step, Site site) {
  const int d = normalize_axis("slice_backward", dim, input_shape.rank());
  check_step("slice_backward", step);
  const Range rg = slice_range(input_shape[d], start, end, step);
  const Strided v = sliced(input_shape, d, rg, step);
  check_same_shape("slice_backward", "grad", grad.shape(), shape_of(v));
  Array out = Array::zeros(input_shape, grad.dtype());
  if (grad.numel() > 0) {
    const Strided s = simplify(v);
    dispatch_all(out.dtype(), [&]<class T>(T) { scatter(grad.value().data<T>(), out.data<T>(), s); });
  }
  return make_op("slice_backward", std::move(out), {grad},
                 [d, start, end, step](const Tensor& g, const Tensor&, BackwardContext& dx) {
                   dx[0] += slice(g, d, start, end, step);
                 }, site);
}

/// Primitive (block copies).
/// forward:  y = tensors[0], tensors[1], ... joined along dim (1-D [0] tensors skipped)
/// backward: dtensors[i] += narrow(grad, dim, offset_i, tensors[i].shape[dim]), offset_i = the sizes before it
Tensor cat(const std::vector<Tensor>& tensors, int dim, Site site) {
  if (tensors.empty()) throw std::invalid_argument("cat: empty list of tensors");
  // PyTorch's legacy rule: a 1-D tensor with no elements takes no part.
  const auto skipped = [](const Tensor& t) { return t.rank() == 1 && t.numel() == 0; };
  const auto first = std::find_if(tensors.begin(), tensors.end(), [&](const Tensor& t) { return !skipped(t); });
  if (first == tensors.end()) {
    normalize_axis("cat", dim, 1);
    return make_op("cat", Array(Shape{0}, tensors[0].dtype()), std::span<const Tensor>(tensors),
                   [](const Tensor&, const Tensor&, BackwardContext&) {}, site);
  }
  const Tensor& ref = *first;
  const auto r = static_cast<std::size_t>(first - tensors.begin());
  for (std::size_t i = 0; i < tensors.size(); ++i)
    if (tensors[i].rank() == 0)
      throw std::invalid_argument(fmt::format("cat: tensor {} is 0-d and cannot be concatenated (unsqueeze it first)", i));
  const int d = normalize_axis("cat", dim, ref.rank());
  std::vector<std::int64_t> along(tensors.size(), -1);  // -1: skipped
  std::int64_t total = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (skipped(t)) continue;
    if (t.dtype() != ref.dtype())
      throw std::invalid_argument(fmt::format("cat: dtypes differ (tensor {} {} {}, tensor {} {} {}); convert with x.to()", r,
                                              dtype_name(ref.dtype()), describe(ref), i, dtype_name(t.dtype()), describe(t)));
    bool same = t.rank() == ref.rank();
    for (int k = 0; same && k < ref.rank(); ++k) same = k == d || t.shape()[k] == ref.shape()[k];
    if (!same)
      throw std::invalid_argument(fmt::format("cat: shapes differ outside axis {} (tensor {} {}, tensor {} {})", d, r,
                                              describe(ref), i, describe(t)));
    along[i] = t.shape()[d];
    total += along[i];
  }
  Shape out_shape = ref.shape();
  out_shape.set(d, total);
  Array out = join(tensors, along, out_shape, ref.dtype(), outer_of(ref.shape(), d), inner_of(ref.shape(), d + 1));
  return make_op("cat", std::move(out), std::span<const Tensor>(tensors),
                 [along = std::move(along), d](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   std::int64_t offset = 0;
                   for (std::size_t i = 0; i < along.size(); ++i) {
                     if (along[i] < 0) continue;
                     if (dx[i].wanted()) dx[i] += narrow(grad, d, offset, along[i]);
                     offset += along[i];
                   }
                 }, site);
}

/// Primitive (block copies).
/// forward:  y = tensors joined along a new axis dim: select(y, dim, i) = tensors[i]
/// backward: dtensors[i] += select(grad, dim, i)
Tensor stack(const std::vector<Tensor>& tensors, int dim, Site site) {
  if (tensors.empty()) throw std::invalid_argument("stack: empty list of tensors");
  const Tensor& ref = tensors[0];
  for (std::size_t i = 1; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    if (t.dtype() != ref.dtype())
      throw std::invalid_argument(fmt::format("stack: dtypes differ (tensor 0 {} {}, tensor {} {} {}); convert with x.to()",
                                              dtype_name(ref.dtype()), describe(ref), i, dtype_name(t.dtype()), describe(t)));
    if (!(t.shape() == ref.shape()))
      throw std::invalid_argument(fmt::format("stack: shapes differ (tensor 0 {}, tensor {} {}); all must be equal",
                                              describe(ref), i, describe(t)));
  }
  const int d = new_axis("stack", dim, ref.rank(), describe(ref));
  const auto n = static_cast<std::int64_t>(tensors.size());
  Sizes s{};
  for (int k = 0, j = 0; k <= ref.rank(); ++k) s[static_cast<std::size_t>(k)] = k == d ? n : ref.shape()[j++];
  const Shape out_shape(std::span<const std::int64_t>(s.data(), static_cast<std::size_t>(ref.rank() + 1)));
  const std::vector<std::int64_t> along(tensors.size(), 1);
  Array out = join(tensors, along, out_shape, ref.dtype(), outer_of(ref.shape(), d), inner_of(ref.shape(), d));
  return make_op("stack", std::move(out), std::span<const Tensor>(tensors),
                 [n, d](const Tensor& grad, const Tensor&, BackwardContext& dx) {
                   for (std::int64_t i = 0; i < n; ++i)
                     if (dx[static_cast<std::size_t>(i)].wanted()) dx[static_cast<std::size_t>(i)] += select(grad, d, i);
                 }, site);
}

/// Composite: narrow(x, dim, k * split_size, min(split_size, size - k * split_size)) for each piece k (one piece,
/// empty, when the axis is empty).
std::vector<Tensor> split(const Tensor& x, std::int64_t split_size, int dim, Site site) {
  const int d = normalize_axis("split", dim, x.rank());
  if (split_size <= 0)
    throw std::invalid_argument(fmt::format("split: split_size must be positive (got {} for {})", split_size, describe(x)));
  const std::int64_t n = x.shape()[d];
  const std::int64_t pieces = std::max<std::int64_t>(n / split_size + (n % split_size != 0), 1);
  std::vector<Tensor> out;
  out.reserve(static_cast<std::size_t>(pieces));
  for (std::int64_t k = 0; k < pieces; ++k) {
    const std::int64_t start = k * split_size;
    out.push_back(narrow(x, d, start, std::min(split_size, n - start), site));
  }
  return out;
}

/// Composite: split(x, ceil(size / chunks), dim); `chunks` empty pieces when the axis is empty (as PyTorch).
std::vector<Tensor> chunk(const Tensor& x, std::int64_t chunks, int dim, Site site) {
  const int d = normalize_axis("chunk", dim, x.rank());
  if (chunks <= 0) throw std::invalid_argument(fmt::format("chunk: chunks must be positive (got {} for {})", chunks, describe(x)));
  const std::int64_t n = x.shape()[d];
  if (n == 0) {
    std::vector<Tensor> out;
    for (std::int64_t k = 0; k < chunks; ++k) out.push_back(narrow(x, d, 0, 0, site));
    return out;
  }
  return split(x, n / chunks + (n % chunks != 0), d, site);
}

}  // namespace autodiff
