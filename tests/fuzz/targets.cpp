// Fuzz target bodies: the IDX reader, the checkpoint loader and random expression graphs, each with its oracle.
#include "tests/fuzz/targets.hpp"

#include "autodiff/autodiff.hpp"
#include "nn/data.hpp"
#include "nn/mlp.hpp"
#include "nn/serialize.hpp"
#include "nn/trainer.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <zlib.h>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <random>
#include <span>
#include <typeinfo>
#include <optional>
#include <vector>

namespace fuzz {

namespace fs = std::filesystem;

[[noreturn]] void fail(const std::string& what) { throw FuzzFailure(what); }

void note(std::string_view what) {
  static const bool verbose = std::getenv("AUTODIFF_FUZZ_VERBOSE") != nullptr;
  if (verbose) fmt::print(stderr, "fuzz: {}\n", what);
}

void expect_documented(const std::exception& e, std::string_view where) {
  const std::string msg = e.what();
  // std::out_of_range: an element index (Tensor::var, at) beyond the tensor, as documented there.
  if (typeid(e) != typeid(std::invalid_argument) && typeid(e) != typeid(std::logic_error) &&
      typeid(e) != typeid(std::out_of_range))
    fail(fmt::format("{}: undocumented exception type {} ({})", where, typeid(e).name(), msg));
  const auto colon = msg.find(": ");
  if (msg.empty() || colon == std::string::npos || colon == 0)
    fail(fmt::format("{}: message not in the form '<op>: <what>' ({})", where, msg));
  note(fmt::format("{}: documented error: {}", where, msg));
}

std::string in_flight() {
  try {
    throw;
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "a non-std exception";
  }
}

void classify(std::string_view where) {
  try {
    throw;
  } catch (const FuzzFailure&) {
    throw;
  } catch (const std::exception& e) {
    expect_documented(e, where);
  } catch (...) {
    fail(fmt::format("{}: a non-std exception", where));
  }
}

fs::path scratch_path(const char* name) {
  const fs::path dir = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
  return dir / fmt::format("autodiff-fuzz-{}-{}", ::getpid(), name);
}

namespace {

using autodiff::Array;
using autodiff::Dtype;
using autodiff::Shape;
using autodiff::Tensor;
using autodiff::Var;

/// An in-memory file with a path (memfd), rewritten for every input; a file in /dev/shm or /tmp if memfd fails.
class MemFile {
 public:
  explicit MemFile(const char* name) {
    fd_ = ::memfd_create(name, 0);
    if (fd_ >= 0) {
      path_ = fmt::format("/proc/self/fd/{}", fd_);
    } else {
      const fs::path dir = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
      path_ = dir / fmt::format("autodiff-fuzz-{}-{}", ::getpid(), name);
    }
  }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  ~MemFile() {
    if (fd_ >= 0) {
      ::close(fd_);
    } else {
      std::error_code ec;
      fs::remove(path_, ec);
    }
  }
  const fs::path& write(std::span<const std::uint8_t> bytes) {
    if (fd_ >= 0) {
      if (::ftruncate(fd_, 0) != 0) fail("MemFile: ftruncate failed");
      std::size_t done = 0;
      while (done < bytes.size()) {
        const ssize_t n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
        if (n <= 0) fail("MemFile: pwrite failed");
        done += static_cast<std::size_t>(n);
      }
    } else {
      std::ofstream f(path_, std::ios::binary | std::ios::trunc);
      f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
      if (!f) fail("MemFile: write failed");
    }
    return path_;
  }
  const fs::path& path() const { return path_; }

 private:
  int fd_ = -1;
  fs::path path_;
};

std::vector<std::uint8_t> read_all(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::uint8_t> gzip(std::span<const std::uint8_t> in) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    fail("gzip: deflateInit2 failed");
  std::vector<std::uint8_t> out(deflateBound(&zs, static_cast<uLong>(in.size())) + 32);
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) fail("gzip: deflate did not finish");
  return out;
}

// ---- IDX --------------------------------------------------------------------------------------------

/// read_idx's promises for a file it accepts.
void check_idx(const nn::IdxFile& idx, std::string_view what) {
  if (idx.dims.empty() || idx.dims.size() > 4) fail(fmt::format("{}: accepted {} dimensions", what, idx.dims.size()));
  std::uint64_t n = 1;
  for (std::uint32_t d : idx.dims) n *= d;  // cannot overflow: bytes.size() bounds it when it is right
  if (n != idx.bytes.size()) fail(fmt::format("{}: dims hold {} elements but {} bytes were returned", what, n, idx.bytes.size()));
}

}  // namespace

int fuzz_idx(const std::uint8_t* data, std::size_t size) {
  static MemFile images("fuzz-idx-images"), labels("fuzz-idx-labels");
  static const fs::path again = scratch_path("idx-again");
  if (size < 1) return 0;
  const std::uint8_t mode = data[0];
  std::span<const std::uint8_t> rest(data + 1, size - 1);
  const bool compress = mode & 1, pair = mode & 2;
  auto encode = [&](std::span<const std::uint8_t> b) {
    return compress ? gzip(b) : std::vector<std::uint8_t>(b.begin(), b.end());
  };

  if (!pair) {
    const fs::path& file = images.write(encode(rest));
    nn::IdxFile idx;
    try {
      idx = nn::read_idx(file);
    } catch (...) {
      classify("read_idx");
      return 0;
    }
    check_idx(idx, "read_idx");
    // Round trip: what was read writes back to an equal file, plain and gzipped.
    for (bool gz : {false, true}) {
      try {
        nn::write_idx(again, idx.dims, idx.bytes, gz);
      } catch (...) {
        classify("write_idx");
        fail(fmt::format("write_idx: rejected what read_idx accepted ({})", in_flight()));
      }
      nn::IdxFile back;
      try {
        back = nn::read_idx(again);
      } catch (...) {
        classify("read_idx");
        fail(fmt::format("read_idx: rejected what write_idx wrote ({})", in_flight()));
      }
      std::error_code ec;
      fs::remove(again, ec);
      if (back.dims != idx.dims || back.bytes != idx.bytes) fail("read_idx: write_idx round trip differs");
    }
    return 0;
  }

  if (rest.size() < 2) return 0;
  const std::size_t split = std::min<std::size_t>(rest.size() - 2, std::size_t{rest[0]} | std::size_t{rest[1]} << 8);
  const int classes = 1 + (mode >> 2) % 16;
  images.write(encode(rest.subspan(2, split)));
  labels.write(encode(rest.subspan(2 + split)));
  nn::Dataset d;
  try {
    d = nn::load_idx_pair(images.path(), labels.path(), classes);
  } catch (...) {
    classify("load_idx_pair");
    return 0;
  }
  if (d.labels.size() != d.count || d.images.size() != d.count * d.rows * d.cols)
    fail(fmt::format("load_idx_pair: sizes disagree (count {}, rows {}, cols {}, images {}, labels {})", d.count, d.rows,
                     d.cols, d.images.size(), d.labels.size()));
  for (std::int64_t l : d.labels)
    if (l >= classes) fail(fmt::format("load_idx_pair: label {} accepted with {} classes", l, classes));
  for (float p : d.images)
    if (!(p >= 0.0f && p <= 1.0f)) fail(fmt::format("load_idx_pair: pixel {} outside [0,1]", p));
  try {
    const nn::Dataset s = nn::subset(d, d.count / 2);
    if (s.count != d.count / 2 || s.labels.size() != s.count) fail("subset: wrong size");
  } catch (...) {
    classify("subset");
    fail(fmt::format("subset: rejected a loaded dataset ({})", in_flight()));
  }
  return 0;
}

// ---- checkpoints ------------------------------------------------------------------------------------

int fuzz_checkpoint(const std::uint8_t* data, std::size_t size) {
  static MemFile file("fuzz-checkpoint");
  static const fs::path resave = scratch_path("resave");
  if (size < 1) return 0;
  std::vector<std::uint8_t> bytes(data + 1, data + size);
  if ((data[0] & 1) && bytes.size() >= 4) {
    const std::size_t end = bytes.size() - 4;
    const auto crc = static_cast<std::uint32_t>(crc32(crc32(0L, Z_NULL, 0), bytes.data(), static_cast<uInt>(end)));
    for (std::size_t i = 0; i < 4; ++i) bytes[end + i] = static_cast<std::uint8_t>(crc >> (8 * i));
  }
  const fs::path& path = file.write(bytes);

  std::vector<std::pair<std::string, Array>> arrays;
  bool loaded = false;
  try {
    arrays = nn::load_arrays(path);
    loaded = true;
  } catch (...) {
    classify("load_arrays");
  }
  if (loaded) {
    // The format is canonical: saving what was loaded gives back the same bytes.
    try {
      nn::save_arrays(resave, arrays);
    } catch (...) {
      classify("save_arrays");
      fail(fmt::format("save_arrays: rejected what load_arrays returned ({})", in_flight()));
    }
    const std::vector<std::uint8_t> again = read_all(resave);
    std::error_code ec;
    fs::remove(resave, ec);
    if (again != bytes) fail(fmt::format("load_arrays: save_arrays round trip differs ({} bytes in, {} out)", bytes.size(), again.size()));
  }

  // nn::load into a small MLP: either a documented error, or every parameter now holds the file's values.
  std::mt19937_64 gen(0);
  nn::MLP mlp({2, 3, 2}, gen);
  try {
    nn::load(mlp, path);
    const auto params = mlp.named_parameters();
    if (!loaded || params.size() != arrays.size()) fail("load: accepted a file load_arrays rejected");
    for (std::size_t i = 0; i < params.size(); ++i) {
      const Array& got = params[i].second.value();
      const Array& want = arrays[i].second;
      for (std::int64_t k = 0; k < got.numel(); ++k)
        if (!(got.at(k) == want.at(k) || (std::isnan(got.at(k)) && std::isnan(want.at(k)))))
          fail(fmt::format("load: parameter '{}' element {} is {}, file holds {}", params[i].first, k, got.at(k), want.at(k)));
    }
  } catch (...) {
    classify("load");
  }

  try {
    const nn::TrainConfig c = nn::Trainer::checkpoint_config(path);
    for (std::int64_t h : c.hidden)
      if (h < 1) fail(fmt::format("checkpoint_config: accepted hidden size {}", h));
  } catch (...) {
    classify("checkpoint_config");
  }
  return 0;
}

// ---- expression graphs --------------------------------------------------------------------------------

namespace {

/// Sequential reader over the fuzz input; past the end it yields zeros.
struct Bytes {
  const std::uint8_t* p;
  std::size_t n, i = 0;
  bool done() const { return i >= n; }
  std::uint8_t u8() { return i < n ? p[i++] : 0; }
  int pick(int k) { return u8() % k; }
  int s8() { return static_cast<std::int8_t>(u8()); }
};

/// Input values: multiples of 1/8 in [-16, 16), which include exact kinks (0, ties), plus a few specials.
double value_of(std::uint8_t b) {
  switch (b) {
    case 0xFF: return std::numeric_limits<double>::infinity();
    case 0xFE: return -std::numeric_limits<double>::infinity();
    case 0xFD: return std::numeric_limits<double>::quiet_NaN();
    case 0xFC: return 1e300;
    default: return static_cast<std::int8_t>(b) / 8.0;
  }
}

constexpr double pow_exponents[] = {2, 3, 0.5, -1, 1.5, 0, -2, 1, 4};
constexpr double constants[] = {0, 1, -1, 2, 0.5, -3, 1e-3, 10};

enum Op : int {
  add, sub, mul, div, neg, exp, log, sqrt, sin, cos, tanh, sigmoid, relu, abs, pow_c, pow_t, minimum, maximum,
  sum_all, sum_axis, mean_all, mean_axis, max_axis, logsumexp, log_softmax, matmul, transpose, reshape, broadcast_to,
  sum_to, rows, index_add_rows, add_c, rsub_c, mul_c, rdiv_c, item_ops, unstack_stack, sigmoid_backward,
  // the model-building ops (issue 14)
  softmax, log1p, expm1, erf, gelu, softplus, leaky_relu, elu, silu, square, rsqrt, clamp, permute, transpose_dims,
  squeeze, unsqueeze, flatten, expand, narrow, select, slice, cat, stack, split, chunk, index_select, gather, where,
  masked_fill, amax, prod, var, std, norm, cumsum, bmm, dot, outer, embedding, conv2d, max_pool2d, avg_pool2d,
  adaptive_avg_pool2d, sum_dims, num_ops
};

struct Instr {
  int op = 0, a = 0, b = 0;
  int p = 0, q = 0;  // axis / flags / table indices
  std::vector<std::int64_t> dims;
};

struct Program {
  bool f32 = false, scalar_mode = false, second_order = false;
  std::vector<Shape> shapes;                // tensor mode inputs
  std::vector<std::vector<double>> values;  // per input (scalar mode: one value each)
  std::vector<Instr> code;
};

Program parse(Bytes& in) {
  Program g;
  const std::uint8_t flags = in.u8();
  g.f32 = flags & 1;
  g.scalar_mode = flags & 2;
  g.second_order = flags & 4;
  const int inputs = 1 + in.pick(3);
  for (int k = 0; k < inputs; ++k) {
    if (g.scalar_mode) {
      g.shapes.push_back(Shape{});
    } else {
      const int rank = in.pick(4);
      std::vector<std::int64_t> d;
      for (int r = 0; r < rank; ++r) d.push_back(in.pick(5));
      g.shapes.push_back(Shape(std::span<const std::int64_t>(d)));
    }
    std::vector<double> v;
    for (std::int64_t e = 0; e < g.shapes.back().numel(); ++e) v.push_back(value_of(in.u8()));
    g.values.push_back(std::move(v));
  }
  while (!in.done() && g.code.size() < 24) {
    Instr c;
    c.op = in.pick(num_ops);
    c.a = in.u8();
    c.b = in.u8();
    c.p = in.s8();
    c.q = in.u8();
    const int len = c.q % 5;
    for (int k = 0; k < len; ++k) c.dims.push_back(in.s8() % 6);
    g.code.push_back(std::move(c));
  }
  return g;
}

/// What the first (recorded) run saw: whether the function is smooth and tame enough for finite differences.
struct Stats {
  bool kink = false;      // relu/abs/max/min/maximum/minimum input within `margin` of its kink
  bool singular = false;  // log/sqrt/div/pow near a pole or branch point
  bool wild = false;      // a non-finite or huge value
  static constexpr double margin = 1e-3, near_pole = 1e-2, huge = 1e4;

  void see(const Array& a) {
    for (std::int64_t i = 0; i < a.numel(); ++i) see(a.at(i));
  }
  void see(double v) {
    if (!(std::fabs(v) <= huge)) wild = true, wild_value = v;
  }
  double wild_value = 0;
  void near_zero(const Array& a, double m, bool& flag) {
    for (std::int64_t i = 0; i < a.numel(); ++i)
      if (std::fabs(a.at(i)) < m) flag = true;
  }
  void not_positive(const Array& a) {
    for (std::int64_t i = 0; i < a.numel(); ++i)
      if (!(a.at(i) >= near_pole)) singular = true;
  }
};

Shape shape_of(const std::vector<std::int64_t>& dims) {
  return Shape(std::span<const std::int64_t>(dims));  // throws std::invalid_argument on a negative dimension
}

/// An int64 tensor of the instruction's dims, as indices (negative or too large ones are documented errors).
Tensor indices_of(const std::vector<std::int64_t>& dims) {
  return autodiff::tensor_i64(dims, Shape{static_cast<std::int64_t>(dims.size())});
}

/// Axes from the instruction's dims (permute, multi-axis reductions).
std::vector<int> axes_of(const std::vector<std::int64_t>& dims) {
  std::vector<int> axes;
  for (std::int64_t d : dims) axes.push_back(static_cast<int>(d % 5));
  return axes;
}

/// A kink of max-like ops: some slice along `axes` has two values within the margin of its maximum.
void near_ties(Stats* st, const Tensor& x, const autodiff::Dims& axes) {
  if (!st) return;
  autodiff::NoGrad off;
  const Tensor near = autodiff::where(autodiff::gt(x - autodiff::amax(x, axes, true), -Stats::margin), 1.0,
                                      autodiff::zeros_like(x));
  const Tensor counts = autodiff::sum(near, axes);
  for (std::int64_t i = 0; i < counts.numel(); ++i)
    if (counts.at(i) > 1.5) st->kink = true;
}

/// The same for max_pool2d with a 2x2 kernel, stride 2 and no padding on x [N, C, H, W].
void pool_ties(Stats* st, const Tensor& x) {
  if (!st || x.rank() != 4) return;
  const auto& s = x.shape();
  const std::int64_t H = s[2], W = s[3];
  for (std::int64_t p = 0; p < s[0] * s[1]; ++p)
    for (std::int64_t i = 0; i + 1 < H; i += 2)
      for (std::int64_t j = 0; j + 1 < W; j += 2) {
        double w[4];
        for (int t = 0; t < 4; ++t) w[t] = x.at(p * H * W + (i + t / 2) * W + j + t % 2);
        const double m = std::max(std::max(w[0], w[1]), std::max(w[2], w[3]));
        int near = 0;
        for (double v : w) near += v > m - Stats::margin;
        if (near > 1) st->kink = true;
      }
}

/// Interprets the program. Values hold tensors (tensor mode) or 0-d tensors wrapping Vars (scalar mode uses `vars`).
Tensor run_tensor(const Program& g, const std::vector<Tensor>& x, Stats* st) {
  std::vector<Tensor> v(x.begin(), x.end());
  for (const Instr& c : g.code) {
    const Tensor& a = v[static_cast<std::size_t>(c.a) % v.size()];
    const Tensor& b = v[static_cast<std::size_t>(c.b) % v.size()];
    const double k = constants[static_cast<std::size_t>(c.q) % std::size(constants)];
    Tensor r;
    switch (c.op) {
      case Op::add: r = a + b; break;
      case Op::sub: r = a - b; break;
      case Op::mul: r = a * b; break;
      case Op::div:
        r = a / b;
        if (st) st->near_zero(b.value(), Stats::near_pole, st->singular);
        break;
      case Op::neg: r = -a; break;
      case Op::exp: r = autodiff::exp(a); break;
      case Op::log:
        r = autodiff::log(a);
        if (st) st->not_positive(a.value());
        break;
      case Op::sqrt:
        r = autodiff::sqrt(a);
        if (st) st->not_positive(a.value());
        break;
      case Op::sin: r = autodiff::sin(a); break;
      case Op::cos: r = autodiff::cos(a); break;
      case Op::tanh: r = autodiff::tanh(a); break;
      case Op::sigmoid: r = autodiff::sigmoid(a); break;
      case Op::relu:
        r = autodiff::relu(a);
        if (st) st->near_zero(a.value(), Stats::margin, st->kink);
        break;
      case Op::abs:
        r = autodiff::abs(a);
        if (st) st->near_zero(a.value(), Stats::margin, st->kink);
        break;
      case Op::pow_c: {
        const double p = pow_exponents[static_cast<std::size_t>(c.q) % std::size(pow_exponents)];
        r = autodiff::pow(a, p);
        if (st && !(p == 0 || p == 1 || p == 2 || p == 3 || p == 4)) st->near_zero(a.value(), Stats::near_pole, st->singular);
        if (st && p != std::floor(p)) st->not_positive(a.value());
        break;
      }
      case Op::pow_t:
        r = autodiff::pow(a, b);
        if (st) st->not_positive(a.value());
        break;
      case Op::minimum:
      case Op::maximum:
        r = c.op == Op::minimum ? autodiff::minimum(a, b) : autodiff::maximum(a, b);
        if (st) {
          autodiff::NoGrad off;
          st->near_zero((a - b).value(), Stats::margin, st->kink);
        }
        break;
      case Op::sum_all: r = autodiff::sum(a); break;
      case Op::sum_axis: r = autodiff::sum(a, c.p % 5, c.q & 1); break;
      case Op::mean_all: r = autodiff::mean(a); break;
      case Op::mean_axis: r = autodiff::mean(a, c.p % 5, c.q & 1); break;
      case Op::max_axis:
        r = autodiff::max(a, c.p % 5, c.q & 1).values;
        if (st) {
          // A kink when a slice's top two values are within the margin: count the near-maximal elements per slice.
          autodiff::NoGrad off;
          const Tensor d = a - autodiff::max(a, c.p % 5, true).values;
          std::vector<double> near(static_cast<std::size_t>(d.numel()));
          for (std::size_t i = 0; i < near.size(); ++i) near[i] = d.at(static_cast<std::int64_t>(i)) > -Stats::margin;
          const Tensor counts = autodiff::sum(autodiff::tensor(near, d.shape(), Dtype::f64), c.p % 5);
          for (std::int64_t i = 0; i < counts.numel(); ++i)
            if (counts.at(i) > 1.5) st->kink = true;
        }
        break;
      case Op::logsumexp: r = autodiff::logsumexp(a, c.p % 5, c.q & 1); break;
      case Op::log_softmax: r = autodiff::log_softmax(a, c.p % 5); break;
      case Op::matmul: r = autodiff::matmul(a, b, c.q & 1, c.q & 2); break;
      case Op::transpose: r = autodiff::transpose(a); break;
      case Op::reshape: {
        const auto& d = c.dims;
        switch (d.size()) {
          case 0: r = autodiff::reshape(a, Shape{}); break;
          case 1: r = autodiff::reshape(a, {d[0]}); break;
          case 2: r = autodiff::reshape(a, {d[0], d[1]}); break;
          case 3: r = autodiff::reshape(a, {d[0], d[1], d[2]}); break;
          default: r = autodiff::reshape(a, {d[0], d[1], d[2], d[3]}); break;
        }
        break;
      }
      case Op::broadcast_to: r = autodiff::broadcast_to(a, shape_of(c.dims)); break;
      case Op::sum_to: r = autodiff::sum_to(a, shape_of(c.dims)); break;
      case Op::rows: r = autodiff::rows(a, c.dims); break;
      case Op::index_add_rows: r = autodiff::index_add_rows(a, c.dims, c.p % 6); break;
      case Op::add_c: r = a + k; break;
      case Op::rsub_c: r = k - a; break;
      case Op::mul_c: r = a * k; break;
      case Op::rdiv_c:
        r = k / a;
        if (st) st->near_zero(a.value(), Stats::near_pole, st->singular);
        break;
      case Op::item_ops: {
        // Tensor -> Var -> Tensor: the scalar path and the tensor path on one tape.
        const Var s = a.var(c.p);
        const Var t = s * s + autodiff::sin(s) - s / 3.0;
        r = autodiff::stack({t, 2.0 * s}, a.dtype());
        break;
      }
      case Op::unstack_stack: r = autodiff::stack(a.vars(), a.shape(), a.dtype()); break;
      case Op::sigmoid_backward: r = autodiff::sigmoid_backward(a, autodiff::sigmoid(b)); break;
      case Op::softmax: r = autodiff::softmax(a, c.p % 5); break;
      case Op::log1p:
        r = autodiff::log1p(a);
        if (st) st->not_positive((a + 1.0).value());
        break;
      case Op::expm1: r = autodiff::expm1(a); break;
      case Op::erf: r = autodiff::erf(a); break;
      case Op::gelu: r = autodiff::gelu(a, c.q & 1 ? autodiff::GeluApproximate::tanh : autodiff::GeluApproximate::none); break;
      case Op::softplus:
        r = autodiff::softplus(a, 1.0, 2.0);  // a low threshold, so the linear branch is reached
        if (st) st->near_zero((a - 2.0).value(), Stats::margin, st->kink);
        break;
      case Op::leaky_relu:
      case Op::elu:
        r = c.op == Op::elu ? autodiff::elu(a, 1.0) : autodiff::leaky_relu(a, 0.1);
        if (st) st->near_zero(a.value(), Stats::margin, st->kink);
        break;
      case Op::silu: r = autodiff::silu(a); break;
      case Op::square: r = autodiff::square(a); break;
      case Op::rsqrt:
        r = autodiff::rsqrt(a);
        if (st) st->not_positive(a.value());
        break;
      case Op::clamp:
        r = autodiff::clamp(a, -0.5, c.q & 1 ? std::optional<double>(1.0) : std::nullopt);
        if (st) {
          st->near_zero((a + 0.5).value(), Stats::margin, st->kink);
          st->near_zero((a - 1.0).value(), Stats::margin, st->kink);
        }
        break;
      case Op::permute: r = autodiff::permute(a, axes_of(c.dims)); break;
      case Op::transpose_dims: r = autodiff::transpose(a, c.p % 5, c.q % 5); break;
      case Op::squeeze: r = c.q & 1 ? autodiff::squeeze(a) : autodiff::squeeze(a, c.p % 5); break;
      case Op::unsqueeze: r = autodiff::unsqueeze(a, c.p % 5); break;
      case Op::flatten: r = autodiff::flatten(a, c.p % 4, c.q % 4 - 1); break;
      case Op::expand: r = autodiff::expand(a, c.dims); break;
      case Op::narrow: r = autodiff::narrow(a, c.p % 5, c.q % 3, c.q / 3 % 3); break;
      case Op::select: r = autodiff::select(a, c.p % 5, c.q % 4 - 1); break;
      case Op::slice: r = autodiff::slice(a, c.p % 5, c.q % 3 - 1, c.q / 3 % 6 - 1, 1 + c.q / 18 % 3); break;
      case Op::cat: r = autodiff::cat({a, b}, c.p % 5); break;
      case Op::stack: r = autodiff::stack(std::vector<Tensor>{a, b}, c.p % 5); break;
      case Op::split: r = autodiff::split(a, 1 + c.q % 3, c.p % 5).back(); break;
      case Op::chunk: r = autodiff::chunk(a, 1 + c.q % 3, c.p % 5).front(); break;
      case Op::index_select: r = autodiff::index_select(a, c.p % 5, indices_of(c.dims)); break;
      case Op::gather: {
        // idx of a's shape with every size capped at 2, values from the dims cycled.
        std::vector<std::int64_t> ds(a.shape().begin(), a.shape().end()), vals;
        for (auto& d : ds) d = std::min<std::int64_t>(d, 2);
        std::int64_t n = 1;
        for (auto d : ds) n *= d;
        for (std::int64_t i = 0; i < n; ++i) vals.push_back(c.dims.empty() ? 0 : c.dims[static_cast<std::size_t>(i) % c.dims.size()]);
        r = autodiff::gather(a, c.p % 5, autodiff::tensor_i64(vals, Shape(std::span<const std::int64_t>(ds))));
        break;
      }
      case Op::where:
        r = autodiff::where(autodiff::gt(a, 0.0), a, b);
        if (st) st->near_zero(a.value(), Stats::margin, st->kink);
        break;
      case Op::masked_fill:
        r = autodiff::masked_fill(a, autodiff::gt(b, 0.0), k);
        if (st) st->near_zero(b.value(), Stats::margin, st->kink);  // the mask flips there
        break;
      case Op::amax:
        r = autodiff::amax(a, axes_of(c.dims), c.q & 1);
        if (!c.dims.empty()) near_ties(st, a, axes_of(c.dims));
        break;
      case Op::prod: r = autodiff::prod(a, c.p % 5, c.q & 1); break;
      case Op::var: r = autodiff::var(a, c.p % 5, c.q & 1, c.q & 2 ? 0.0 : 1.0); break;
      case Op::std:
        r = autodiff::std(a, c.p % 5, c.q & 1, 0.0);
        if (st) st->near_zero(r.value(), Stats::near_pole, st->singular);
        break;
      case Op::norm:
        r = autodiff::norm(a, 2.0, c.p % 5, c.q & 1);
        if (st) st->near_zero(r.value(), Stats::near_pole, st->singular);
        break;
      case Op::cumsum: r = autodiff::cumsum(a, c.p % 5); break;
      case Op::bmm: r = autodiff::bmm(a, b); break;
      case Op::dot: r = autodiff::dot(a, b); break;
      case Op::outer: r = autodiff::outer(a, b); break;
      case Op::embedding: r = autodiff::embedding(a, indices_of(c.dims)); break;
      case Op::conv2d: r = autodiff::conv2d(a, b, {}, 1 + c.q % 2, c.p % 2); break;
      case Op::max_pool2d:
        r = autodiff::max_pool2d(a, 2);
        pool_ties(st, a);
        break;
      case Op::avg_pool2d: r = autodiff::avg_pool2d(a, 1 + c.q % 2, std::nullopt, c.p % 2 && c.q % 2); break;
      case Op::adaptive_avg_pool2d: r = autodiff::adaptive_avg_pool2d(a, {1 + c.q % 2, 1 + c.p % 3}); break;
      case Op::sum_dims: r = autodiff::sum(a, axes_of(c.dims), c.q & 1); break;
      default: fail("unreachable op");
    }
    if (st) st->see(r.value());
    v.push_back(std::move(r));
  }
  return v.back();
}

Var run_scalar(const Program& g, const std::vector<Var>& x, Stats* st) {
  std::vector<Var> v(x.begin(), x.end());
  auto pole = [&](double d) {
    if (st && std::fabs(d) < Stats::near_pole) st->singular = true;
  };
  auto positive = [&](double d) {
    if (st && !(d >= Stats::near_pole)) st->singular = true;
  };
  auto kink = [&](double d) {
    if (st && std::fabs(d) < Stats::margin) st->kink = true;
  };
  for (const Instr& c : g.code) {
    const Var& a = v[static_cast<std::size_t>(c.a) % v.size()];
    const Var& b = v[static_cast<std::size_t>(c.b) % v.size()];
    const double k = constants[static_cast<std::size_t>(c.q) % std::size(constants)];
    const double p = pow_exponents[static_cast<std::size_t>(c.q) % std::size(pow_exponents)];
    Var r;
    switch (c.op % 24) {
      case 0: r = a + b; break;
      case 1: r = a - b; break;
      case 2: r = a * b; break;
      case 3: r = a / b; pole(b.value()); break;
      case 4: r = -a; break;
      case 5: r = autodiff::exp(a); break;
      case 6: r = autodiff::log(a); positive(a.value()); break;
      case 7: r = autodiff::sqrt(a); positive(a.value()); break;
      case 8: r = autodiff::sin(a); break;
      case 9: r = autodiff::cos(a); break;
      case 10: r = autodiff::tanh(a); break;
      case 11: r = autodiff::sigmoid(a); break;
      case 12: r = autodiff::relu(a); kink(a.value()); break;
      case 13: r = autodiff::abs(a); kink(a.value()); break;
      case 14:
        r = autodiff::pow(a, p);
        if (!(p == 0 || p == 1 || p == 2 || p == 3 || p == 4)) pole(a.value());
        if (p != std::floor(p)) positive(a.value());
        break;
      case 15: r = autodiff::pow(a, b); positive(a.value()); break;
      case 16: r = autodiff::pow(k, a); positive(k); break;
      case 17: r = autodiff::min(a, b); kink(a.value() - b.value()); break;
      case 18: r = autodiff::max(a, b); kink(a.value() - b.value()); break;
      case 19: r = a + k; break;
      case 20: r = k - a; break;
      case 21: r = a * k; break;
      case 22: r = k / a; pole(a.value()); break;
      default: {
        r = a;
        r += b;  // compound assignment records like the binary op
        r *= k;
        break;
      }
    }
    if (st) st->see(r.value());
    v.push_back(std::move(r));
  }
  return v.back();
}

/// gradcheck at three step sizes: a correct gradient passes at one at least, a wrong one at none.
template <class Check>
void expect_gradcheck(const Check& check, std::string_view what) {
  autodiff::GradcheckReport first;
  bool first_set = false;
  for (double eps : {1e-6, 1e-4, 1e-8}) {
    autodiff::GradcheckOptions opt;
    opt.eps = eps;
    opt.atol = 1e-5;
    opt.rtol = 1e-4;
    const autodiff::GradcheckReport rep = check(opt);
    if (rep.ok) {
      note(fmt::format("{}: pass at eps {}", what, eps));
      return;
    }
    if (!first_set) first = rep, first_set = true;
  }
  fail(fmt::format("{}: wrong gradient\n{}", what, first));
}

bool close(double a, double b) { return std::fabs(a - b) <= 1e-9 * std::max(std::fabs(a), std::fabs(b)) + 1e-12; }

void graph_tensor(const Program& g) {
  const Dtype dtype = g.f32 ? Dtype::f32 : Dtype::f64;
  std::vector<Tensor> inputs;
  for (std::size_t k = 0; k < g.shapes.size(); ++k) inputs.push_back(autodiff::tensor(g.values[k], g.shapes[k], dtype, true));

  if (std::getenv("AUTODIFF_FUZZ_VERBOSE")) {
    std::string code;
    for (const Instr& c : g.code) code += fmt::format(" [op {} a {} b {} p {} q {} dims {}]", c.op, c.a, c.b, c.p, c.q, fmt::join(c.dims, ","));
    std::string shapes;
    for (const Tensor& t : inputs) shapes += fmt::format(" {}", t.shape().str());
    note(fmt::format("program: f32 {} second order {}, inputs{}, code{}", g.f32, g.second_order, shapes, code));
  }
  Stats st;
  for (const Tensor& t : inputs) st.see(t.value());
  bool differentiable = false;
  {
    autodiff::TapeScope scope;
    Tensor out;
    try {
      out = run_tensor(g, inputs, &st);
    } catch (...) {
      classify("graph (forward)");
      // The tape stays usable after an op threw.
      const Tensor t = autodiff::full(Shape{2}, 3.0, Dtype::f64, true);
      autodiff::backward(autodiff::sum(t * t));
      if (t.grad().at(0) != 6.0 || t.grad().at(1) != 6.0) fail("graph: tape broken after an op threw");
      return;
    }
    if (!out.requires_grad()) return;
    differentiable = true;
    const Tensor root = autodiff::sum(out);
    // An input the output does not depend on has no gradient (undefined, PyTorch's None), before and after.
    std::vector<std::optional<std::vector<double>>> once;
    try {
      autodiff::backward(root);
      for (const Tensor& t : inputs) once.push_back(t.grad().defined() ? std::optional(t.grad().to_vector()) : std::nullopt);
      autodiff::backward(root);  // backward twice adds the same gradient again
    } catch (...) {
      classify("graph (backward)");
      fail(fmt::format("graph: an error was first discovered in backward, not at op construction ({})", in_flight()));
    }
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      if (inputs[k].grad().defined() != once[k].has_value()) fail(fmt::format("graph: input {} gained or lost its gradient in a second backward", k));
      if (!once[k]) continue;
      const std::vector<double>& first = *once[k];
      const std::vector<double> twice = inputs[k].grad().to_vector();
      if (twice.size() != first.size()) fail("graph: gradient shape changed between backward calls");
      for (std::size_t i = 0; i < twice.size(); ++i) {
        st.see(first[i]);
        if (std::isfinite(first[i]) && !close(twice[i], 2 * first[i]))
          fail(fmt::format("graph: backward twice gave {} for input {} element {}, expected 2 * {}", twice[i], k, i, first[i]));
      }
    }
  }
  if (!differentiable || g.f32 || st.kink || st.singular || st.wild) {
    note(fmt::format("graph: no gradcheck (differentiable {}, f32 {}, kink {}, singular {}, wild {} {})", differentiable,
                     g.f32, st.kink, st.singular, st.wild, st.wild_value));
    return;
  }

  const autodiff::TensorFunction f = [&g](const std::vector<Tensor>& x) { return run_tensor(g, x, nullptr); };
  try {
    expect_gradcheck([&](const autodiff::GradcheckOptions& o) { return autodiff::gradcheck(f, inputs, o); }, "gradcheck");
    if (g.second_order) {
      try {
        expect_gradcheck([&](const autodiff::GradcheckOptions& o) { return autodiff::gradgradcheck(f, inputs, o); },
                         "gradgradcheck");
      } catch (const std::logic_error& e) {
        // Documented limit (tape.hpp): scalar Var nodes record numbers, so create_graph cannot pass through them.
        if (typeid(e) != typeid(std::logic_error) || std::string_view(e.what()).find("create_graph does not flow") ==
                                                          std::string_view::npos)
          throw;
        note(e.what());
      }
    }
  } catch (...) {
    classify("gradcheck");
    fail(fmt::format("gradcheck: a documented error on a graph that ran once already ({})", in_flight()));
  }
}

void graph_scalar(const Program& g) {
  std::vector<double> x0;
  for (const auto& v : g.values) x0.push_back(v[0]);
  std::vector<Var> inputs(x0.begin(), x0.end());
  Stats st;
  for (double v : x0) st.see(v);
  {
    autodiff::TapeScope scope;
    Var out;
    try {
      out = run_scalar(g, inputs, &st);
    } catch (...) {
      classify("graph (scalar forward)");
      return;
    }
    if (out.is_leaf()) return;
    std::vector<double> once;
    try {
      autodiff::backward(out);
      for (const Var& x : inputs) once.push_back(x.grad());
      autodiff::backward(out);
    } catch (...) {
      classify("graph (scalar backward)");
      fail(fmt::format("graph: an error was first discovered in scalar backward ({})", in_flight()));
    }
    for (std::size_t k = 0; k < inputs.size(); ++k) {
      st.see(once[k]);
      if (std::isfinite(once[k]) && !close(inputs[k].grad(), 2 * once[k]))
        fail(fmt::format("graph: scalar backward twice gave {} for input {}, expected 2 * {}", inputs[k].grad(), k, once[k]));
    }
  }
  if (st.kink || st.singular || st.wild) {
    note(fmt::format("graph: no scalar gradcheck (kink {}, singular {}, wild {})", st.kink, st.singular, st.wild));
    return;
  }
  const autodiff::ScalarFunction f = [&g](const std::vector<Var>& x) { return run_scalar(g, x, nullptr); };
  try {
    expect_gradcheck([&](const autodiff::GradcheckOptions& o) { return autodiff::gradcheck(f, x0, o); }, "scalar gradcheck");
  } catch (...) {
    classify("gradcheck");
    fail(fmt::format("gradcheck: a documented error on a scalar graph that ran once already ({})", in_flight()));
  }
}

}  // namespace

int fuzz_graph(const std::uint8_t* data, std::size_t size) {
  Bytes in{data, size};
  const Program g = parse(in);
  if (g.scalar_mode)
    graph_scalar(g);
  else
    graph_tensor(g);
  return 0;
}

int run_target(const std::string& name, const std::uint8_t* data, std::size_t size) {
  if (name == "idx") return fuzz_idx(data, size);
  if (name == "checkpoint") return fuzz_checkpoint(data, size);
  if (name == "graph") return fuzz_graph(data, size);
  if (name == "train") return fuzz_train(data, size);
  throw std::invalid_argument(fmt::format("run_target: unknown target '{}' (expected idx, checkpoint, graph or train)", name));
}

}  // namespace fuzz
