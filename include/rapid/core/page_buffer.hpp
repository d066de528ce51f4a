#pragma once
// A large byte buffer on transparent huge pages where the OS offers them (Linux: 2 MiB pages on
// request, `madvise`; elsewhere an ordinary 64-byte aligned allocation). For what every token
// streams end to end: the interleaved weight copies and the KV cache. On 4 KiB pages each page
// of such a stream costs a TLB walk and stops the hardware prefetcher at its boundary; on 2 MiB
// pages a 1.5B decode step measured 3-4 % faster (docs/kernels.md). The bytes read as zeros; on
// Linux the pages stay untouched, and out of the resident set, until first written.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <utility>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "rapid/core/error.hpp"

namespace rapid {

class page_buffer {
public:
  /// Bytes of a huge page; data() is aligned to it on Linux, to 64 bytes elsewhere.
  static constexpr std::size_t huge_page = std::size_t{2} << 20;

  page_buffer() = default;
  /// Throws capacity_error when the memory cannot be had.
  explicit page_buffer(std::size_t bytes) : bytes_(bytes) {
    if (bytes == 0) return;
#if defined(__linux__)
    mapped_ = (bytes + huge_page - 1) / huge_page * huge_page + huge_page;  // room to align up to a huge page
    void* base = ::mmap(nullptr, mapped_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) fail();
    base_ = static_cast<std::byte*>(base);
    const auto addr = reinterpret_cast<std::uintptr_t>(base_);
    data_ = base_ + ((huge_page - addr % huge_page) % huge_page);
    ::madvise(data_, mapped_ - static_cast<std::size_t>(data_ - base_), MADV_HUGEPAGE);  // advice: 4 KiB pages if refused
#else
    data_ = static_cast<std::byte*>(::operator new(bytes, std::align_val_t{64}, std::nothrow));
    if (data_ == nullptr) fail();
    std::memset(data_, 0, bytes);
#endif
  }
  page_buffer(const page_buffer&) = delete;
  page_buffer& operator=(const page_buffer&) = delete;
  page_buffer(page_buffer&& o) noexcept { swap(o); }
  page_buffer& operator=(page_buffer&& o) noexcept {
    page_buffer(std::move(o)).swap(*this);
    return *this;
  }
  ~page_buffer() { release(); }

  /// The buffer; const as a pointer is (like unique_ptr::get): the bytes stay writable.
  [[nodiscard]] std::byte* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return bytes_; }

private:
  [[noreturn]] void fail() const {
    throw capacity_error("cannot allocate " + std::to_string(bytes_) + " bytes (KV cache or interleaved weights): "
                         "lower the context size or free memory");
  }
  void swap(page_buffer& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(base_, o.base_);
    std::swap(bytes_, o.bytes_);
    std::swap(mapped_, o.mapped_);
  }
  void release() noexcept {
#if defined(__linux__)
    if (base_ != nullptr) ::munmap(base_, mapped_);
#else
    ::operator delete(data_, std::align_val_t{64}, std::nothrow);
#endif
  }

  std::byte* data_ = nullptr;  // (bytes_) the buffer
  std::byte* base_ = nullptr;  // the mapping data_ lies in (Linux)
  std::size_t bytes_ = 0;
  std::size_t mapped_ = 0;     // bytes mapped from base_ (Linux)
};

} // namespace rapid
