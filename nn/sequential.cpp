// Sequential: children by position, and forward as a loop over them.
#include "nn/sequential.hpp"

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace nn {

Sequential& Sequential::add(std::unique_ptr<Module> m) {
  if (!m) throw std::invalid_argument(fmt::format("Sequential: module {} is a null pointer", modules_.size()));
  modules_.push_back(std::move(m));
  return *this;
}

void Sequential::list(ModuleVisitor& v) {
  for (std::size_t i = 0; i < modules_.size(); ++i) v.child(std::to_string(i), *modules_[i]);
}

autodiff::Tensor Sequential::forward(const autodiff::Tensor& x) const {
  autodiff::Tensor a = x;
  for (const auto& m : modules_) a = m->forward(a);
  return a;
}

Module& Sequential::operator[](std::size_t i) {
  if (i >= modules_.size())
    throw std::out_of_range(fmt::format("Sequential: index {} out of range (size {})", i, modules_.size()));
  return *modules_[i];
}

const Module& Sequential::operator[](std::size_t i) const { return const_cast<Sequential&>(*this)[i]; }

void Sequential::throw_wrong_type(std::size_t i) const {
  throw std::invalid_argument(fmt::format("Sequential: module {} is not of the requested type (size {})", i, modules_.size()));
}

}  // namespace nn
