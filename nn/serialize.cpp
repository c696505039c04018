// Checkpoint files: encoding (written atomically by nn/file.cpp) and a bounded, checksummed decoder.
#include "nn/serialize.hpp"

#include "autodiff/format.hpp"
#include "nn/file.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <zlib.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <string_view>
#include <stdexcept>

namespace nn {

using autodiff::Array;
using autodiff::Dtype;
using autodiff::Shape;

namespace {

constexpr char magic[4] = {'A', 'D', 'N', 'N'};
constexpr std::uint32_t version = 1;

std::uint32_t crc32_of(const std::uint8_t* p, std::size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (n > 0) {  // zlib takes uInt lengths
    const auto chunk = static_cast<uInt>(std::min<std::size_t>(n, std::numeric_limits<uInt>::max()));
    crc = crc32(crc, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return static_cast<std::uint32_t>(crc);
}

// ---- encoding ---------------------------------------------------------------------------------------

struct Writer {
  std::vector<std::uint8_t> bytes;
  template <class U>
  void put(U v) {
    for (std::size_t i = 0; i < sizeof(U); ++i) bytes.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(v) >> (8 * i)));
  }
  void put_bytes(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    bytes.insert(bytes.end(), b, b + n);
  }
};

void put_data(Writer& w, const Array& a) {
  autodiff::dispatch(a.dtype(), [&]<class T>(T) {
    const T* p = a.data<T>();
    const auto n = static_cast<std::size_t>(a.numel());
    if constexpr (std::endian::native == std::endian::little) {
      w.put_bytes(p, n * sizeof(T));
    } else {
      using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
      for (std::size_t i = 0; i < n; ++i) w.put(std::bit_cast<U>(p[i]));
    }
  });
}

// ---- decoding ---------------------------------------------------------------------------------------

[[noreturn]] void fail(const char* op, const std::filesystem::path& file, const std::string& what) {
  throw std::invalid_argument(fmt::format("{}: {}: {}", op, file.string(), what));
}

struct Reader {
  const std::vector<std::uint8_t>& bytes;
  std::size_t pos;
  std::size_t end;  // the checksum's offset: entries may not read past it
  const std::filesystem::path& file;

  std::size_t remaining() const { return pos <= end ? end - pos : 0; }
  void need(std::size_t n, const std::string& what) const {
    if (n > remaining())
      fail("load_arrays", file,
           fmt::format("truncated file: {} needs {} bytes but only {} remain before the checksum (file has {} bytes)",
                       what, n, remaining(), bytes.size()));
  }
  template <class U>
  U get(const std::string& what) {
    need(sizeof(U), what);
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < sizeof(U); ++i) v |= static_cast<std::uint64_t>(bytes[pos + i]) << (8 * i);
    pos += sizeof(U);
    return static_cast<U>(v);
  }
};

// Entry names are keys: a repeated one has no meaning (which value would a reader take?), so neither side accepts it.
// Returns "'name' (entries i and j)" for the first repeat, or an empty string.
std::string repeated_name(const std::vector<std::pair<std::string, Array>>& arrays) {
  std::map<std::string_view, std::size_t> seen;
  for (std::size_t i = 0; i < arrays.size(); ++i)
    if (auto [it, fresh] = seen.emplace(arrays[i].first, i); !fresh)
      return fmt::format("'{}' (entries {} and {})", arrays[i].first, it->second, i);
  return {};
}

}  // namespace

void save_arrays(const std::filesystem::path& file, const std::vector<std::pair<std::string, Array>>& arrays) {
  if (arrays.size() > std::numeric_limits<std::uint32_t>::max()) fail("save_arrays", file, "too many entries");
  if (const std::string r = repeated_name(arrays); !r.empty()) fail("save_arrays", file, "duplicate entry " + r);
  Writer w;
  w.put_bytes(magic, 4);
  w.put<std::uint32_t>(version);
  w.put<std::uint32_t>(static_cast<std::uint32_t>(arrays.size()));
  for (const auto& [name, a] : arrays) {
    if (!a.defined()) fail("save_arrays", file, fmt::format("entry '{}' is undefined", name));
    if (name.size() > std::numeric_limits<std::uint32_t>::max()) fail("save_arrays", file, "entry name too long");
    w.put<std::uint32_t>(static_cast<std::uint32_t>(name.size()));
    w.put_bytes(name.data(), name.size());
    w.put<std::uint8_t>(a.dtype() == Dtype::f32 ? 0 : 1);
    w.put<std::uint8_t>(static_cast<std::uint8_t>(a.rank()));
    for (std::int64_t d : a.shape()) w.put<std::uint64_t>(static_cast<std::uint64_t>(d));
    put_data(w, a);
  }
  w.put<std::uint32_t>(crc32_of(w.bytes.data(), w.bytes.size()));

  detail::write_file("save_arrays", file, w.bytes);
}

std::vector<std::pair<std::string, Array>> load_arrays(const std::filesystem::path& file) {
  const std::vector<std::uint8_t> bytes = detail::read_file("load_arrays", file);
  if (bytes.size() < 4) fail("load_arrays", file, fmt::format("truncated file: {} bytes, too short for the header", bytes.size()));
  if (std::memcmp(bytes.data(), magic, 4) != 0) {
    std::string found;
    for (std::size_t i = 0; i < 4; ++i)
      found += (bytes[i] >= 32 && bytes[i] < 127) ? std::string(1, static_cast<char>(bytes[i])) : fmt::format("\\x{:02x}", bytes[i]);
    fail("load_arrays", file, fmt::format("wrong magic (expected \"ADNN\", found \"{}\"): not a checkpoint file", found));
  }
  if (bytes.size() < 16)
    fail("load_arrays", file, fmt::format("truncated file: {} bytes, shorter than an empty checkpoint (16)", bytes.size()));
  Reader r{bytes, 4, bytes.size() - 4, file};
  const auto ver = r.get<std::uint32_t>("version");
  if (ver != version) fail("load_arrays", file, fmt::format("unsupported version {} (expected {})", ver, version));
  const auto count = r.get<std::uint32_t>("entry count");
  // An entry takes at least 6 bytes (name length, dtype, rank), so a garbage count cannot make us reserve much.
  if (count > r.remaining() / 6)
    fail("load_arrays", file,
         fmt::format("truncated file: {} entries need at least {} bytes, only {} remain", count, std::uint64_t{count} * 6,
                     r.remaining()));
  std::vector<std::pair<std::string, Array>> out;
  out.reserve(count);
  for (std::uint32_t e = 0; e < count; ++e) {
    const auto len = r.get<std::uint32_t>(fmt::format("entry {} name length", e));
    r.need(len, fmt::format("entry {} name", e));
    std::string name(reinterpret_cast<const char*>(bytes.data() + r.pos), len);
    r.pos += len;
    const std::string shown = autodiff::quote(name);  // a name from the file, escaped for messages
    const auto code = r.get<std::uint8_t>(fmt::format("entry {} dtype", shown));
    if (code > 1) fail("load_arrays", file, fmt::format("corrupt file: entry {} has dtype code {} (expected 0 or 1)", shown, code));
    const Dtype dtype = code == 0 ? Dtype::f32 : Dtype::f64;
    const auto rank = r.get<std::uint8_t>(fmt::format("entry {} rank", shown));
    if (rank > Shape::max_rank)
      fail("load_arrays", file, fmt::format("corrupt file: entry {} has rank {} (at most {})", shown, rank, Shape::max_rank));
    std::int64_t dims[Shape::max_rank] = {};
    std::uint64_t data_bytes = autodiff::dtype_size(dtype);
    bool too_big = false;
    for (int d = 0; d < rank; ++d) {
      const auto v = static_cast<std::int64_t>(r.get<std::uint64_t>(fmt::format("entry {} dimension {}", shown, d)));
      if (v < 0) fail("load_arrays", file, fmt::format("corrupt file: entry {} has dimension {} = {}", shown, d, v));
      dims[d] = v;
      // Bound the running product by the file size, so it can neither overflow nor allocate from garbage.
      if (v != 0 && data_bytes > bytes.size() / static_cast<std::uint64_t>(v))
        too_big = true;
      else
        data_bytes *= static_cast<std::uint64_t>(v);
    }
    if (too_big)  // (also when a later dimension is 0: such dimensions are garbage, and their product could overflow)
      fail("load_arrays", file,
           fmt::format("truncated file: entry {} [{}] {} data needs more bytes than the whole file has ({} bytes)", shown,
                       fmt::join(std::span<const std::int64_t>(dims, rank), ","), autodiff::dtype_name(dtype), bytes.size()));
    const Shape shape(std::span<const std::int64_t>(dims, rank));
    const std::string what = fmt::format("entry {} {} {} data", shown, shape.str(), autodiff::dtype_name(dtype));
    r.need(data_bytes, what);
    Array a(shape, dtype);
    autodiff::dispatch(dtype, [&]<class T>(T) {
      T* p = a.data<T>();
      const auto n = static_cast<std::size_t>(a.numel());
      if constexpr (std::endian::native == std::endian::little) {
        if (n) std::memcpy(p, bytes.data() + r.pos, n * sizeof(T));
      } else {
        using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
        for (std::size_t i = 0; i < n; ++i) {
          U u = 0;
          for (std::size_t b = 0; b < sizeof(T); ++b) u |= static_cast<U>(bytes[r.pos + i * sizeof(T) + b]) << (8 * b);
          p[i] = std::bit_cast<T>(u);
        }
      }
    });
    r.pos += static_cast<std::size_t>(data_bytes);
    out.emplace_back(std::move(name), std::move(a));
  }
  if (r.pos != r.end)
    fail("load_arrays", file,
         fmt::format("corrupt file: {} unexpected bytes after entry {} of {}", r.end - r.pos, count, count));
  std::uint32_t stored = 0;
  for (std::size_t i = 0; i < 4; ++i) stored |= static_cast<std::uint32_t>(bytes[r.end + i]) << (8 * i);
  const std::uint32_t computed = crc32_of(bytes.data(), r.end);
  if (stored != computed)
    fail("load_arrays", file,
         fmt::format("checksum mismatch (stored {:08x}, computed {:08x}): the file is corrupt", stored, computed));
  if (const std::string r = repeated_name(out); !r.empty()) fail("load_arrays", file, "corrupt file: duplicate entry " + r);
  return out;
}

void save(const Module& m, const std::filesystem::path& file) {
  std::vector<std::pair<std::string, Array>> arrays;
  for (const auto& [name, t] : m.named_parameters()) arrays.emplace_back(name, t.value());
  save_arrays(file, arrays);
}

void load(Module& m, const std::filesystem::path& file) {
  const auto arrays = load_arrays(file);
  auto params = m.named_parameters();
  if (arrays.size() != params.size())
    fail("load", file, fmt::format("parameter count differs (expected {}, found {})", params.size(), arrays.size()));
  for (std::size_t i = 0; i < params.size(); ++i) {
    const auto& [want_name, t] = params[i];
    const auto& [name, a] = arrays[i];
    if (name != want_name)
      fail("load", file, fmt::format("parameter {} name differs (expected {}, found {})", i, autodiff::quote(want_name),
                                     autodiff::quote(name)));
    if (!(a.shape() == t.shape()))
      fail("load", file, fmt::format("parameter {} shape differs (expected {}, found {})", autodiff::quote(name), t.shape().str(), a.shape().str()));
    if (a.dtype() != t.dtype())
      fail("load", file, fmt::format("parameter {} dtype differs (expected {}, found {})", autodiff::quote(name),
                                     autodiff::dtype_name(t.dtype()), autodiff::dtype_name(a.dtype())));
  }
  // Every entry matches: copy in place, so handles held elsewhere (optimizers) see the new values.
  for (std::size_t i = 0; i < params.size(); ++i) {
    Array& dst = params[i].second.leaf_value();
    const Array& src = arrays[i].second;
    autodiff::dispatch(dst.dtype(), [&]<class T>(T) {
      if (dst.numel()) std::memcpy(dst.data<T>(), src.data<T>(), static_cast<std::size_t>(dst.numel()) * sizeof(T));
    });
  }
}

}  // namespace nn
