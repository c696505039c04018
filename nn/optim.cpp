// Optimizer updates as plain loops over leaf storage (no tape, no backward code), and their checkpoint state.
#include "nn/optim.hpp"

#include "autodiff/format.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace nn {

using autodiff::Array;
using autodiff::Dtype;
using autodiff::Shape;
using autodiff::Tensor;

namespace {
void check_option(const char* who, const char* option, double v, bool below_one = false) {
  if (!std::isfinite(v) || v < 0.0 || (below_one && v >= 1.0))
    throw std::invalid_argument(fmt::format("{}: invalid {} ({}); must be {}", who, option, v,
                                            below_one ? "in [0, 1)" : "finite and >= 0"));
}

Array count_array(double v) { return Array::full(Shape{}, v, Dtype::f64); }
}  // namespace

// ---- Optimizer -------------------------------------------------------------------------------------

Optimizer::Optimizer(std::vector<Tensor> params) : params_(std::move(params)) {
  if (params_.empty()) throw std::invalid_argument("Optimizer: empty parameter list");
  for (std::size_t i = 0; i < params_.size(); ++i)
    if (!params_[i].is_leaf() || !params_[i].requires_grad())
      throw std::invalid_argument(fmt::format("Optimizer: parameter {} is not a leaf that requires grad ({})", i,
                                              params_[i].defined() ? params_[i].shape().str() : "undefined"));
  buffers_.resize(params_.size());
}

Optimizer::~Optimizer() = default;

void Optimizer::init_lr(const char* who, double lr) {
  who_ = who;
  set_lr(lr);
}

void Optimizer::set_lr(double lr) {
  check_option(who_, "lr", lr);
  lr_ = lr;
}

void Optimizer::zero_grad() {
  for (Tensor& p : params_) p.zero_grad();
}

bool Optimizer::has_grad(std::size_t i) const { return params_[i].has_grad(); }

std::vector<std::pair<std::string, Array>> Optimizer::state() const {
  std::vector<std::pair<std::string, Array>> out;
  out.emplace_back("lr", count_array(lr_));
  const std::vector<BufferSpec> specs = buffer_specs();
  for (std::size_t i = 0; i < buffers_.size(); ++i)
    for (std::size_t b = 0; b < buffers_[i].size() && b < specs.size(); ++b)
      if (buffers_[i][b].defined()) out.emplace_back(fmt::format("{}.{}", i, specs[b].name), buffers_[i][b].clone());
  return out;
}

void Optimizer::load_state(const std::vector<std::pair<std::string, Array>>& state) {
  const std::vector<BufferSpec> specs = buffer_specs();
  std::vector<std::vector<Array>> next(params_.size(), std::vector<Array>(specs.size()));
  double lr = lr_;
  for (const auto& [key, a] : state) {
    if (key == "lr") {
      if (a.numel() != 1) throw std::invalid_argument(fmt::format("{}::load_state: 'lr' has shape {}", who_, a.shape().str()));
      lr = a.at(0);
      check_option(who_, "lr", lr);
      continue;
    }
    // "<i>.<buffer>"
    const auto dot = key.find('.');
    std::size_t i = 0;
    const char* first = key.data();
    const char* last = key.data() + (dot == std::string::npos ? 0 : dot);
    const auto [ptr, ec] = std::from_chars(first, last, i);
    std::size_t b = specs.size();
    if (dot != std::string::npos && ec == std::errc() && ptr == last)
      for (std::size_t s = 0; s < specs.size(); ++s)
        if (key.compare(dot + 1, std::string::npos, specs[s].name) == 0) b = s;
    if (b == specs.size() || i >= params_.size())
      throw std::invalid_argument(fmt::format("{}::load_state: unknown entry {} ({} parameters)", who_, autodiff::quote(key), params_.size()));
    const Shape want_shape = specs[b].count ? Shape{} : params_[i].shape();
    const Dtype want_dtype = specs[b].count ? Dtype::f64 : params_[i].dtype();
    if (!(a.shape() == want_shape) || a.dtype() != want_dtype)
      throw std::invalid_argument(fmt::format("{}::load_state: entry {} is {} {}, expected {} {}", who_, autodiff::quote(key),
                                              a.shape().str(), autodiff::dtype_name(a.dtype()), want_shape.str(),
                                              autodiff::dtype_name(want_dtype)));
    if (next[i][b].defined()) throw std::invalid_argument(fmt::format("{}::load_state: duplicate entry {}", who_, autodiff::quote(key)));
    next[i][b] = a.clone();
  }
  for (std::size_t i = 0; i < next.size(); ++i) {
    std::size_t present = 0;
    for (const Array& a : next[i]) present += a.defined() ? 1 : 0;
    if (present != 0 && present != specs.size())
      throw std::invalid_argument(
          fmt::format("{}::load_state: parameter {} has {} of its {} buffers", who_, i, present, specs.size()));
  }
  buffers_ = std::move(next);
  lr_ = lr;
}

// ---- SGD -------------------------------------------------------------------------------------------

SGD::SGD(std::vector<Tensor> params, const SGDOptions& options) : Optimizer(std::move(params)), options_(options) {
  init_lr("SGD", options.lr);
  check_option("SGD", "momentum", options.momentum);
  check_option("SGD", "weight_decay", options.weight_decay);
  if (options.nesterov && options.momentum <= 0.0)
    throw std::invalid_argument(fmt::format("SGD: nesterov requires a momentum > 0 (momentum {})", options.momentum));
  buffers_.assign(params_.size(), std::vector<Array>(1));
}

std::vector<Optimizer::BufferSpec> SGD::buffer_specs() const {
  if (options_.momentum == 0.0) return {};
  return {{"momentum_buffer", false}};
}

void SGD::step() {
  const double lr = this->lr(), mu = options_.momentum, wd = options_.weight_decay;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (!has_grad(i)) continue;
    Tensor& p = params_[i];
    Array& value = p.leaf_value();
    const Array& grad = p.leaf_grad();
    Array* buf = nullptr;
    bool first = false;
    if (mu != 0.0) {
      buffers_[i].resize(1);
      buf = &buffers_[i][0];
      if (!buf->defined()) {
        *buf = Array::zeros(value.shape(), value.dtype());
        first = true;
      }
    }
    autodiff::dispatch(value.dtype(), [&]<class T>(T) {
      T* pv = value.data<T>();
      const T* pg = grad.data<T>();
      T* pb = buf ? buf->data<T>() : nullptr;
      const std::int64_t n = value.numel();
      if (!pb && wd == 0.0) {
        // Plain SGD, the hot case: one vectorisable axpy in the parameter's dtype, as PyTorch does.
        const T step = static_cast<T>(lr);
        for (std::int64_t k = 0; k < n; ++k) pv[k] -= step * pg[k];
        return;
      }
      for (std::int64_t k = 0; k < n; ++k) {
        double g = static_cast<double>(pg[k]);
        if (wd != 0.0) g += wd * static_cast<double>(pv[k]);
        if (pb) {
          const double b = first ? g : mu * static_cast<double>(pb[k]) + g;
          pb[k] = static_cast<T>(b);
          g = options_.nesterov ? g + mu * b : b;
        }
        pv[k] = static_cast<T>(static_cast<double>(pv[k]) - lr * g);
      }
    });
  }
}

// ---- Adam ------------------------------------------------------------------------------------------

Adam::Adam(std::vector<Tensor> params, const AdamOptions& options) : Optimizer(std::move(params)), options_(options) {
  const char* who = options.decoupled ? "AdamW" : "Adam";
  init_lr(who, options.lr);
  check_option(who, "eps", options.eps);
  check_option(who, "beta1", options.beta1, true);
  check_option(who, "beta2", options.beta2, true);
  check_option(who, "weight_decay", options.weight_decay);
  buffers_.assign(params_.size(), std::vector<Array>(3));
}

std::vector<Optimizer::BufferSpec> Adam::buffer_specs() const {
  return {{"step", true}, {"exp_avg", false}, {"exp_avg_sq", false}};
}

std::int64_t Adam::steps() const {
  for (const auto& b : buffers_)
    if (!b.empty() && b[0].defined()) return static_cast<std::int64_t>(b[0].at(0));
  return 0;
}

void Adam::step() {
  const double lr = this->lr(), b1 = options_.beta1, b2 = options_.beta2, eps = options_.eps, wd = options_.weight_decay;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (!has_grad(i)) continue;
    Tensor& p = params_[i];
    Array& value = p.leaf_value();
    const Array& grad = p.leaf_grad();
    std::vector<Array>& st = buffers_[i];
    st.resize(3);
    if (!st[0].defined()) {
      st[0] = count_array(0.0);
      st[1] = Array::zeros(value.shape(), value.dtype());
      st[2] = Array::zeros(value.shape(), value.dtype());
    }
    const double t = st[0].at(0) + 1.0;
    st[0].set(0, t);
    const double step_size = lr / (1.0 - std::pow(b1, t));
    const double bc2_sqrt = std::sqrt(1.0 - std::pow(b2, t));
    autodiff::dispatch(value.dtype(), [&]<class T>(T) {
      T* pv = value.data<T>();
      const T* pg = grad.data<T>();
      T* pm = st[1].data<T>();
      T* ps = st[2].data<T>();
      for (std::int64_t k = 0; k < value.numel(); ++k) {
        double w = static_cast<double>(pv[k]), g = static_cast<double>(pg[k]);
        if (wd != 0.0) {
          if (options_.decoupled)
            w *= 1.0 - lr * wd;
          else
            g += wd * w;
        }
        const double m = b1 * static_cast<double>(pm[k]) + (1.0 - b1) * g;
        const double v = b2 * static_cast<double>(ps[k]) + (1.0 - b2) * g * g;
        pm[k] = static_cast<T>(m);
        ps[k] = static_cast<T>(v);
        pv[k] = static_cast<T>(w - step_size * m / (std::sqrt(v) / bc2_sqrt + eps));
      }
    });
  }
}

}  // namespace nn
