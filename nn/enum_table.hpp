// One table per enumeration: its names (parsing, printing, command-line choices) and its stored codes (checkpoints).
#pragma once

#include "autodiff/format.hpp"

#include <fmt/format.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace nn {

/// One value of an enumeration: the name users type and see, and the code stored in files. Codes are explicit and
/// never change once released (they are not the enumerators' positions), so a reordered enum still reads old files.
template <class E>
struct EnumEntry {
  E value;
  std::string_view name;
  std::uint8_t code;
};

/// The names and codes of enumeration E. `what` names the set in messages ("activation").
template <class E, std::size_t N>
struct EnumTable {
  std::string_view what;
  std::array<EnumEntry<E>, N> entries;

  /// True when every value, name and code appears once (checked by a static_assert next to each table).
  constexpr bool valid() const {
    for (std::size_t i = 0; i < N; ++i)
      for (std::size_t j = i + 1; j < N; ++j)
        if (entries[i].value == entries[j].value || entries[i].name == entries[j].name ||
            entries[i].code == entries[j].code)
          return false;
    return N > 0;
  }

  constexpr std::string_view name(E e) const {
    for (const auto& x : entries)
      if (x.value == e) return x.name;
    return "?";
  }
  constexpr std::uint8_t code(E e) const {
    for (const auto& x : entries)
      if (x.value == e) return x.code;
    return 0xff;
  }
  constexpr std::optional<E> find(std::string_view s) const {
    for (const auto& x : entries)
      if (x.name == s) return x.value;
    return std::nullopt;
  }
  constexpr std::optional<E> from_code(double code) const {
    for (const auto& x : entries)
      if (x.code == code) return x.value;
    return std::nullopt;
  }

  /// The value named s. @throws std::invalid_argument "parse_<what>: unknown <what> '<s>' (expected a, b or c)".
  E parse(std::string_view s) const {
    if (auto e = find(s)) return *e;
    throw std::invalid_argument(fmt::format("parse_{}: unknown {} {} (expected {})", what, what, autodiff::quote(s), choices()));
  }

  /// The names in table order, for command-line choices.
  std::vector<std::string> names() const {
    std::vector<std::string> v;
    for (const auto& x : entries) v.emplace_back(x.name);
    return v;
  }
  /// "a, b or c".
  std::string choices() const {
    std::string s;
    for (std::size_t i = 0; i < N; ++i) {
      if (i > 0) s += i + 1 == N ? " or " : ", ";
      s += entries[i].name;
    }
    return s;
  }
  /// "0 a, 1 b, 2 c": the known codes, for messages about a stored code.
  std::string codes() const {
    std::string s;
    for (std::size_t i = 0; i < N; ++i) s += fmt::format("{}{} {}", i ? ", " : "", entries[i].code, entries[i].name);
    return s;
  }
};

template <class E, std::size_t N>
EnumTable(std::string_view, std::array<EnumEntry<E>, N>) -> EnumTable<E, N>;

}  // namespace nn
