#pragma once
// What every AMX tile kernel needs (Intel Sapphire Rapids and later): permission to use the tile
// registers, a tile configuration, and 64-byte aligned buffers for tile rows.
//
// Linux hands AMX tile state only to processes that ask (arch_prctl); ready() asks once.
// RAPID_NO_AMX=1 makes it answer false, so every AMX path can be compared with the one it
// replaces (and a BF16 cache is refused, see attention.hpp).
#if defined(__AMX_TILE__) && defined(__AVX512BW__) && defined(__linux__)
#define RAPID_AMX 1
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace rapid::ops::detail::amx {

/// True when this process may use AMX tiles (granted once per process) and RAPID_NO_AMX is unset.
inline bool ready() noexcept {
  static const bool ok = [] {
    if (const char* off = std::getenv("RAPID_NO_AMX"); off && *off && *off != '0') return false;
    constexpr long arch_req_xcomp_perm = 0x1023, xfeature_xtiledata = 18;
    return syscall(SYS_arch_prctl, arch_req_xcomp_perm, xfeature_xtiledata) == 0;
  }();
  return ok;
}

/// A tile configuration (palette 1): set the shapes of the tiles a kernel uses, then load().
/// A tile product's time grows with its rows, so kernels configure only the rows they need.
struct alignas(64) tile_config {
  std::uint8_t palette = 1, start_row = 0;
  std::uint8_t reserved[14] = {};
  std::uint16_t colsb[16] = {};  // (tile) bytes per row
  std::uint8_t rows[16] = {};    // (tile) rows
  tile_config& shape(int tile, std::size_t tile_rows, std::size_t bytes_per_row) noexcept {
    rows[tile] = static_cast<std::uint8_t>(tile_rows);
    colsb[tile] = static_cast<std::uint16_t>(bytes_per_row);
    return *this;
  }
  void load() const noexcept { _tile_loadconfig(this); }
};

// Tile rows are 64 bytes: on cache-line boundaries, a tile load reads 16 lines, not 32.
template <class T>
struct line_allocator {
  using value_type = T;
  line_allocator() = default;
  template <class U>
  line_allocator(const line_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{64})); }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t{64}); }
  bool operator==(const line_allocator&) const noexcept { return true; }
};
template <class T>
using line_vector = std::vector<T, line_allocator<T>>;

} // namespace rapid::ops::detail::amx
#endif
