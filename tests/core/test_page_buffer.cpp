#include <doctest/doctest.h>

#include <cstdint>
#include <utility>

#include "rapid/core/page_buffer.hpp"

using rapid::page_buffer;

TEST_CASE("page_buffer: aligned, zero-filled, writable to its last byte, movable") {
  const std::size_t bytes = 3 * page_buffer::huge_page + 12345;  // not a whole number of pages
  page_buffer b(bytes);
  REQUIRE(b.data() != nullptr);
  CHECK(b.size() == bytes);
#if defined(__linux__)
  CHECK(reinterpret_cast<std::uintptr_t>(b.data()) % page_buffer::huge_page == 0);
#else
  CHECK(reinterpret_cast<std::uintptr_t>(b.data()) % 64 == 0);
#endif
  for (std::size_t i : {std::size_t{0}, page_buffer::huge_page, bytes - 1}) CHECK(b.data()[i] == std::byte{0});
  b.data()[0] = std::byte{7};
  b.data()[bytes - 1] = std::byte{9};

  page_buffer moved(std::move(b));
  CHECK(b.data() == nullptr);
  CHECK(b.size() == 0);
  REQUIRE(moved.size() == bytes);
  CHECK(moved.data()[0] == std::byte{7});
  CHECK(moved.data()[bytes - 1] == std::byte{9});

  page_buffer assigned(64);
  assigned = std::move(moved);  // releases its own 64 bytes, takes moved's
  CHECK(assigned.size() == bytes);
  CHECK(assigned.data()[bytes - 1] == std::byte{9});
}

TEST_CASE("page_buffer: an empty buffer holds nothing; an impossible size is a capacity_error") {
  page_buffer empty(0);
  CHECK(empty.data() == nullptr);
  CHECK(empty.size() == 0);
  CHECK_THROWS_AS(page_buffer(std::size_t{1} << 62), rapid::capacity_error);  // 4 EiB
}
