// Data-parallel training over MPI; without AUTODIFF_HAVE_MPI only the pure helpers work and Distributed throws.
#include "nn/distributed.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#if AUTODIFF_HAVE_MPI
#include <mpi.h>
#endif

namespace nn {

using autodiff::Array;
using autodiff::Dtype;
using autodiff::Tensor;

Shard shard(std::size_t total, int rank, int size) {
  if (size < 1 || rank < 0 || rank >= size)
    throw std::invalid_argument(fmt::format("shard: rank {} not in [0, {})", rank, size));
  const auto n = static_cast<std::size_t>(size), r = static_cast<std::size_t>(rank);
  const std::size_t base = total / n, extra = total % n;
  return {r * base + std::min(r, extra), base + (r < extra ? 1 : 0)};
}

std::vector<std::pair<std::size_t, std::size_t>> buckets(std::size_t numel, std::size_t bucket_elements) {
  if (bucket_elements == 0) throw std::invalid_argument("buckets: bucket size must be positive");
  std::vector<std::pair<std::size_t, std::size_t>> out;
  for (std::size_t first = 0; first < numel; first += bucket_elements)
    out.emplace_back(first, std::min(numel, first + bucket_elements));
  return out;
}

#if AUTODIFF_HAVE_MPI

namespace {

template <class T>
MPI_Datatype mpi_type() {
  return std::is_same_v<T, float> ? MPI_FLOAT : MPI_DOUBLE;
}

template <class T>
std::vector<T>& pick(std::vector<float>& f32, std::vector<double>& f64) {
  if constexpr (std::is_same_v<T, float>)
    return f32;
  else
    return f64;
}

// The one dtype of all parameters (MPI reduces one element type per call).
Dtype common_dtype(const std::vector<Tensor>& params, const char* who) {
  if (params.empty()) return Dtype::f32;
  const Dtype d = params.front().dtype();
  for (const Tensor& p : params)
    if (p.dtype() != d)
      throw std::invalid_argument(fmt::format("{}: parameters mix {} and {}", who, autodiff::dtype_name(d),
                                              autodiff::dtype_name(p.dtype())));
  return d;
}

std::size_t total_numel(const std::vector<Tensor>& params) {
  std::size_t n = 0;
  for (const Tensor& p : params) n += static_cast<std::size_t>(p.numel());
  return n;
}

// FNV-1a over the bytes of every value.
std::uint64_t hash_values(const std::vector<Tensor>& params) {
  std::uint64_t h = 1469598103934665603ull;
  for (const Tensor& p : params) {
    const Array& v = p.value();
    const auto* bytes = v.data<unsigned char>();
    const std::size_t n = static_cast<std::size_t>(v.numel()) * autodiff::dtype_size(v.dtype());
    for (std::size_t i = 0; i < n; ++i) h = (h ^ bytes[i]) * 1099511628211ull;
  }
  return h;
}

}  // namespace

bool Distributed::available() { return true; }

Distributed::Distributed(DistributedOptions options) : options_(options) {
  if (options_.bucket_bytes < 8)
    throw std::invalid_argument(fmt::format("Distributed: bucket size {} bytes is below 8", options_.bucket_bytes));
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (initialised) throw std::logic_error("Distributed: MPI is already initialised (one Distributed per process)");
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

Distributed::~Distributed() {
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (!finalised) MPI_Finalize();
}

void Distributed::broadcast(const Module& model) { broadcast(model.parameters()); }

void Distributed::broadcast(const std::vector<Tensor>& params) {
  const Dtype d = common_dtype(params, "Distributed::broadcast");
  autodiff::dispatch(d, [&]<class T>(T) {
    std::vector<T>& flat = pick<T>(f32_, f64_);
    flat.resize(total_numel(params));
    std::size_t at = 0;
    for (const Tensor& p : params) {
      const T* v = p.value().template data<T>();
      std::copy(v, v + p.numel(), flat.data() + at);
      at += static_cast<std::size_t>(p.numel());
    }
    const std::size_t per = std::clamp<std::size_t>(options_.bucket_bytes / sizeof(T), 1, INT_MAX);
    for (auto [first, last] : buckets(flat.size(), per))
      MPI_Bcast(flat.data() + first, static_cast<int>(last - first), mpi_type<T>(), 0, MPI_COMM_WORLD);
    at = 0;
    for (const Tensor& p : params) {
      Tensor handle = p;  // shares the parameter's storage
      Array& v = handle.leaf_value();
      std::copy(flat.data() + at, flat.data() + at + p.numel(), v.template data<T>());
      at += static_cast<std::size_t>(p.numel());
    }
  });
}

void Distributed::allreduce_mean(const std::vector<Tensor>& params, double weight) {
  const Dtype d = common_dtype(params, "Distributed::allreduce_mean");
  if (!options_.average) weight = 1.0;
  autodiff::dispatch(d, [&]<class T>(T) {
    std::vector<T>& flat = pick<T>(f32_, f64_);
    flat.resize(total_numel(params));
    // Pack: weight_r * g_r, the product in double and rounded once to T.
    std::size_t at = 0;
    for (const Tensor& p : params) {
      const std::size_t n = static_cast<std::size_t>(p.numel());
      if (p.has_grad()) {
        Tensor handle = p;
        const T* g = handle.leaf_grad().template data<T>();
        for (std::size_t i = 0; i < n; ++i) flat[at + i] = static_cast<T>(static_cast<double>(g[i]) * weight);
      } else {
        std::fill(flat.data() + at, flat.data() + at + n, T(0));
      }
      at += n;
    }
    const std::size_t per = std::clamp<std::size_t>(options_.bucket_bytes / sizeof(T), 1, INT_MAX);
    for (auto [first, last] : buckets(flat.size(), per))
      MPI_Allreduce(MPI_IN_PLACE, flat.data() + first, static_cast<int>(last - first), mpi_type<T>(), MPI_SUM,
                    MPI_COMM_WORLD);
    at = 0;
    for (const Tensor& p : params) {
      Tensor handle = p;
      Array& g = handle.leaf_grad();  // zeros when the parameter had no grad
      if (!g.unique()) g = g.clone();  // never write through storage another array shares
      std::copy(flat.data() + at, flat.data() + at + p.numel(), g.template data<T>());
      at += static_cast<std::size_t>(p.numel());
    }
  });
}

void Distributed::allreduce_sum(std::vector<double>& values) {
  MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}

bool Distributed::in_sync(const std::vector<Tensor>& params) {
  // max(h) and max(~h) = ~min(h) in one call: all ranks agree exactly when max == min.
  const std::uint64_t h = hash_values(params);
  std::uint64_t v[2] = {h, ~h};
  MPI_Allreduce(MPI_IN_PLACE, v, 2, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
  return v[0] == ~v[1];
}

void Distributed::barrier() { MPI_Barrier(MPI_COMM_WORLD); }

void Distributed::abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::abort();
}

#else  // no MPI: the class exists so callers compile; constructing it says how to get MPI.

namespace {

[[noreturn]] void no_mpi(const char* who) {
  throw std::logic_error(fmt::format(
      "{}: this build has no MPI support (install libopenmpi-dev and openmpi-bin, then rebuild with meson "
      "-Dmpi=enabled)",
      who));
}

}  // namespace

bool Distributed::available() { return false; }
Distributed::Distributed(DistributedOptions options) : options_(options) { no_mpi("Distributed"); }
Distributed::~Distributed() = default;
void Distributed::broadcast(const Module&) { no_mpi("Distributed::broadcast"); }
void Distributed::broadcast(const std::vector<Tensor>&) { no_mpi("Distributed::broadcast"); }
void Distributed::allreduce_mean(const std::vector<Tensor>&, double) { no_mpi("Distributed::allreduce_mean"); }
void Distributed::allreduce_sum(std::vector<double>&) { no_mpi("Distributed::allreduce_sum"); }
bool Distributed::in_sync(const std::vector<Tensor>&) { no_mpi("Distributed::in_sync"); }
void Distributed::barrier() { no_mpi("Distributed::barrier"); }
void Distributed::abort(int code) { std::exit(code); }

#endif

}  // namespace nn
