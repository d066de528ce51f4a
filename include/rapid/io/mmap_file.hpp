#pragma once
// A read-only memory map of a whole file. Model weights are used in place from it.
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rapid/core/error.hpp"

namespace rapid::io {

class mmap_file {
public:
  mmap_file() = default;
  explicit mmap_file(std::string path) : path_(std::move(path)) {
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw io_error(std::string("cannot open: ") + std::strerror(errno), {path_, {}, {}});
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw io_error("not a regular file", {path_, {}, {}});
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      const int err = errno;
      ::close(fd);
      if (p == MAP_FAILED) throw io_error(std::string("mmap failed: ") + std::strerror(err), {path_, {}, {}});
      data_ = static_cast<const std::byte*>(p);
    } else {
      ::close(fd);
    }
  }
  mmap_file(const mmap_file&) = delete;
  mmap_file& operator=(const mmap_file&) = delete;
  mmap_file(mmap_file&& o) noexcept { swap(o); }
  mmap_file& operator=(mmap_file&& o) noexcept { mmap_file(std::move(o)).swap(*this); return *this; }
  ~mmap_file() { if (data_) ::munmap(const_cast<std::byte*>(data_), size_); }

  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

  /// Hint that the whole mapping will be read soon (model load); harmless if ignored.
  void will_need() const noexcept { if (data_) ::madvise(const_cast<std::byte*>(data_), size_, MADV_WILLNEED); }

private:
  void swap(mmap_file& o) noexcept {
    std::swap(path_, o.path_); std::swap(data_, o.data_); std::swap(size_, o.size_);
  }
  std::string path_;
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

} // namespace rapid::io
